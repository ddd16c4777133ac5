//! The decision: given a group snapshot and what happened, which member should hold
//! the VIP and which routes must change. Pure, so every rule is unit-tested without
//! EC2.
//!
//! Every trigger reduces to one rule, "the VIP belongs on a healthy member, and
//! stays where it is while that member is healthy", with three knobs: a member the
//! trigger reports as failed counts as unhealthy whatever EC2 says (a custom health
//! alarm knows more than status checks); an operator may name the target or ask to
//! move away from the current holder; a group may opt into preemption.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::group::{Group, Member};
use crate::world::RouteTarget;

/// What the decision was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// A trigger reports this member as failed.
    MemberFailed { instance_id: String },
    /// A member looks healthy again; the VIP only moves back with preemption.
    MemberRecovered { instance_id: String },
    /// An operator asks for a move, to `target` or to the best other member.
    Failover { target: Option<String> },
    /// Make sure the VIP is on a healthy member and every route agrees.
    Reconcile,
}

/// The outcome class, as reported to callers and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The VIP moves to another member.
    FailedOver,
    /// The VIP stays on its member; only missing routes of tagged tables are created.
    Repaired,
    /// Everything already points at the right member.
    NoChange,
    /// Moving would be unsafe or impossible; nothing is written.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    Create,
    Replace,
}

/// One route to write. Its destination is always a group VIP: the plan never names
/// any other route, which is what keeps unrelated routes safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteWrite {
    pub route_table_id: String,
    pub destination: IpNet,
    pub kind: WriteKind,
    pub before: Option<RouteTarget>,
    pub eni_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub reason: String,
    /// The member all routes pointed at before, when they agreed on one.
    pub from: Option<Member>,
    /// The member that holds (or keeps) the VIP; `None` when refused.
    pub to: Option<Member>,
    pub writes: Vec<RouteWrite>,
    pub warnings: Vec<String>,
}

/// Where the VIP routes point today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder<'a> {
    /// The one member every existing VIP route points at (no blackholes, no
    /// foreign targets), if there is one.
    pub active: Option<&'a Member>,
    /// A tagged table lacks a VIP route.
    pub missing: bool,
}

pub fn holder(group: &Group) -> Holder<'_> {
    let mut active: Option<&Member> = None;
    let mut agreed = true;
    let mut missing = false;
    for table in &group.tables {
        for route in &table.routes {
            match &route.current {
                None => missing |= table.tagged,
                Some(r) if r.blackhole => agreed = false,
                Some(r) => match (group.member_for(&r.target), active) {
                    (None, _) => agreed = false,
                    (Some(m), None) => active = Some(m),
                    (Some(m), Some(a)) if m.instance_id != a.instance_id => agreed = false,
                    (Some(_), Some(_)) => {}
                },
            }
        }
    }
    Holder {
        active: active.filter(|_| agreed),
        missing,
    }
}

/// Time-dependent rules, kept out of the snapshot so the decision stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub now: DateTime<Utc>,
    /// After a move, automatic triggers may not move the VIP again for this long
    /// while the new holder is healthy: it stops alarm flapping from bouncing the
    /// VIP between AZs. Zero disables it.
    pub hold_down: Duration,
}

impl Policy {
    /// No hold-down: for decisions where the time does not matter.
    pub fn immediate() -> Self {
        Self {
            now: DateTime::<Utc>::MIN_UTC,
            hold_down: Duration::ZERO,
        }
    }
}

/// [`decide_with`] without hold-down.
pub fn decide(group: &Group, intent: &Intent) -> Plan {
    decide_with(group, intent, &Policy::immediate())
}

pub fn decide_with(group: &Group, intent: &Intent, policy: &Policy) -> Plan {
    let holder = holder(group);
    let mut warnings = Vec::new();
    let failed = match intent {
        Intent::MemberFailed { instance_id } => Some(instance_id.as_str()),
        _ => None,
    };
    let usable = |m: &&Member| m.is_healthy() && Some(m.instance_id.as_str()) != failed;

    for m in &group.members {
        if !m.is_healthy() || Some(m.instance_id.as_str()) == failed {
            let why = if Some(m.instance_id.as_str()) == failed {
                "reported failed by the trigger".to_string()
            } else {
                health_summary(m)
            };
            warnings.push(format!("member {} is unhealthy: {why}", m.instance_id));
        }
    }
    if group.members.len() < 2 {
        warnings.push(format!(
            "group {} has a single member: there is nothing to fail over to",
            group.name
        ));
    }

    let refuse = |reason: String, warnings: Vec<String>| Plan {
        action: Action::Refused,
        reason,
        from: holder.active.cloned(),
        to: None,
        writes: Vec::new(),
        warnings,
    };

    if group.tables.is_empty() {
        let vips: Vec<String> = group.vips.iter().map(ToString::to_string).collect();
        return refuse(
            format!(
                "no route table in {} has a route for [{}] and none is tagged for group {}; tag the clients' route tables with the group tag",
                group.vpc_id,
                vips.join(", "),
                group.name
            ),
            warnings,
        );
    }

    let best = group.members.iter().find(usable);
    let active_usable = holder.active.filter(usable);

    let chosen: &Member = match intent {
        Intent::Failover {
            target: Some(target),
        } => {
            let Some(member) = group.member(target) else {
                return refuse(
                    format!(
                        "{target} is not a member of the group; choose one of [{}]",
                        group.member_ids()
                    ),
                    warnings,
                );
            };
            if !member.is_healthy() {
                return refuse(
                    format!(
                        "target {target} is unhealthy ({}); fix it or choose another member",
                        health_summary(member)
                    ),
                    warnings,
                );
            }
            member
        }
        Intent::Failover { target: None } => {
            let away = holder.active;
            match group
                .members
                .iter()
                .filter(usable)
                .find(|m| Some(m.instance_id.as_str()) != away.map(|a| a.instance_id.as_str()))
            {
                Some(m) => m,
                None => {
                    return refuse(
                        format!(
                            "no healthy member other than the current holder; members: {}",
                            member_health(group)
                        ),
                        warnings,
                    )
                }
            }
        }
        Intent::MemberFailed { .. } | Intent::MemberRecovered { .. } | Intent::Reconcile => {
            match (active_usable, best) {
                // Preemption: a healthy member that is preferred over the holder takes over.
                (Some(active), Some(best)) if group.preempt && best.priority < active.priority => {
                    best
                }
                (Some(active), _) => active,
                // Routes disagree: finish the move that was interrupted (recorded,
                // healthy, already holding some routes) rather than bounce back to
                // the preferred member.
                (None, Some(best)) => interrupted_move_target(group)
                    .filter(usable)
                    .unwrap_or(best),
                (None, None) => {
                    return refuse(
                        format!(
                            "no healthy member to move the VIP to; members: {}",
                            member_health(group)
                        ),
                        warnings,
                    )
                }
            }
        }
    };

    let automatic = !matches!(intent, Intent::Failover { .. });
    if let (true, Some(active), Some(held)) = (automatic, holder.active, held_until(group, policy))
    {
        // An operator's explicit failover is never held; an unhealthy holder never is.
        if active.instance_id != chosen.instance_id && active.is_healthy() {
            warnings.push(format!(
                "hold-down: the VIP moved to {} at {}; automatic moves away from a healthy holder wait until {}",
                active.instance_id,
                group.last_move.as_ref().map(|m| m.at.to_rfc3339()).unwrap_or_default(),
                held.to_rfc3339()
            ));
            let writes = writes_towards(group, active);
            return Plan {
                action: if writes.is_empty() { Action::NoChange } else { Action::Repaired },
                reason: format!(
                    "hold-down until {}: {} stays on the VIP (it passes its EC2 checks) instead of moving to {}",
                    held.to_rfc3339(),
                    active.instance_id,
                    chosen.instance_id
                ),
                from: Some(active.clone()),
                to: Some(active.clone()),
                writes,
                warnings,
            };
        }
    }

    if chosen.source_dest_check == Some(true) {
        warnings.push(format!(
            "ENI {} of {} has source/dest check enabled and will drop traffic for the VIP; disable it (aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check)",
            chosen.eni_id, chosen.instance_id, chosen.eni_id
        ));
    }

    let writes = writes_towards(group, chosen);
    let moving = holder.active.map(|a| a.instance_id.as_str()) != Some(chosen.instance_id.as_str());
    let (action, reason) = match (writes.is_empty(), moving) {
        (true, _) => (
            Action::NoChange,
            format!("every VIP route already points at {}", chosen.instance_id),
        ),
        (false, true) => (
            Action::FailedOver,
            match holder.active {
                Some(a) => format!(
                    "moving the VIP from {} to {}",
                    a.instance_id, chosen.instance_id
                ),
                None => format!(
                    "VIP routes disagree, are missing or point at no member; converging on {}",
                    chosen.instance_id
                ),
            },
        ),
        (false, false) => (
            Action::Repaired,
            format!(
                "{} keeps the VIP; creating missing routes in tagged tables",
                chosen.instance_id
            ),
        ),
    };

    Plan {
        action,
        reason,
        from: holder.active.cloned(),
        to: Some(chosen.clone()),
        writes,
        warnings,
    }
}

/// The target of the last recorded move, if it still holds at least one VIP route.
fn interrupted_move_target(group: &Group) -> Option<&Member> {
    let to = group.member(&group.last_move.as_ref()?.to)?;
    let holds_some = group.tables.iter().flat_map(|t| &t.routes).any(|r| {
        r.current
            .as_ref()
            .is_some_and(|c| !c.blackhole && to.is_target_of(&c.target))
    });
    holds_some.then_some(to)
}

/// End of the hold-down that applies now, if any: only a recent move *to the
/// current holder* holds it in place.
fn held_until(group: &Group, policy: &Policy) -> Option<DateTime<Utc>> {
    let last = group.last_move.as_ref()?;
    let hold = chrono::Duration::from_std(policy.hold_down).ok()?;
    let until = last.at.checked_add_signed(hold)?;
    let holder = holder(group).active?;
    (policy.now < until && holder.instance_id == last.to).then_some(until)
}

/// The writes that make every VIP route of the group point at `member`'s ENI.
fn writes_towards(group: &Group, member: &Member) -> Vec<RouteWrite> {
    let wanted = RouteTarget::NetworkInterface(member.eni_id.clone());
    let mut writes = Vec::new();
    for table in &group.tables {
        for route in &table.routes {
            let kind = match &route.current {
                Some(r) if r.target == wanted && !r.blackhole => continue,
                Some(_) => WriteKind::Replace,
                None if table.tagged => WriteKind::Create,
                // An untagged table opted in by holding a VIP route; we only move
                // routes there, never add ones its owner did not create.
                None => continue,
            };
            writes.push(RouteWrite {
                route_table_id: table.id.clone(),
                destination: route.vip,
                kind,
                before: route.current.as_ref().map(|r| r.target.clone()),
                eni_id: member.eni_id.clone(),
            });
        }
    }
    writes
}

pub fn health_summary(member: &Member) -> String {
    format!(
        "state {}, instance status {}, system status {}",
        serde_plain(&member.state),
        serde_plain(&member.instance_status),
        serde_plain(&member.system_status)
    )
}

fn member_health(group: &Group) -> String {
    group
        .members
        .iter()
        .map(|m| format!("{} ({})", m.instance_id, health_summary(m)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn serde_plain<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn failed(id: &str) -> Intent {
        Intent::MemberFailed {
            instance_id: id.to_string(),
        }
    }

    fn targets(plan: &Plan) -> Vec<(String, String)> {
        plan.writes
            .iter()
            .map(|w| (w.route_table_id.clone(), w.eni_id.clone()))
            .collect()
    }

    #[test]
    fn given_a_healthy_pair_when_the_active_fails_then_every_table_moves_to_the_standby() {
        let group = web_group(
            &[member("i-a", 10), member("i-b", 20)],
            &tables_pointing_at("i-a", 3),
        );

        let plan = decide(&group, &failed("i-a"));

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(plan.from.as_ref().unwrap().instance_id, "i-a");
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-b");
        assert_eq!(
            targets(&plan),
            (1..=3)
                .map(|i| (format!("rtb-{i}"), eni_of("i-b")))
                .collect::<Vec<_>>()
        );
        assert!(plan.writes.iter().all(|w| w.kind == WriteKind::Replace
            && w.destination == net(VIP)
            && w.before == Some(to_eni_of("i-a"))));
    }

    #[test]
    fn given_a_healthy_active_when_the_standby_fails_then_nothing_is_written_and_it_is_reported() {
        let group = web_group(
            &[member("i-a", 10), member("i-b", 20)],
            &tables_pointing_at("i-a", 2),
        );

        let plan = decide(&group, &failed("i-b"));

        assert_eq!(plan.action, Action::NoChange);
        assert!(plan.writes.is_empty());
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-a");
        assert!(
            plan.warnings.iter().any(|w| w.contains("i-b")),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn given_an_unhealthy_active_when_the_standby_fails_then_the_vip_goes_to_the_next_healthy_member(
    ) {
        let group = web_group(
            &[
                impaired(member("i-a", 10)),
                member("i-b", 20),
                member("i-c", 30),
            ],
            &tables_pointing_at("i-a", 1),
        );

        let plan = decide(&group, &failed("i-b"));

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-c");
    }

    #[test]
    fn given_no_healthy_standby_when_the_active_fails_then_the_move_is_refused_naming_each_member()
    {
        let group = web_group(
            &[
                member("i-a", 10),
                stopped(member("i-b", 20)),
                impaired(member("i-c", 30)),
            ],
            &tables_pointing_at("i-a", 2),
        );

        let plan = decide(&group, &failed("i-a"));

        assert_eq!(plan.action, Action::Refused);
        assert!(plan.writes.is_empty());
        assert!(plan.to.is_none());
        for needle in ["i-b", "stopped", "i-c", "impaired"] {
            assert!(
                plan.reason.contains(needle),
                "{needle} missing in {}",
                plan.reason
            );
        }
    }

    #[test]
    fn given_three_members_when_the_active_fails_then_the_lowest_priority_wins_and_ties_break_by_id(
    ) {
        let members = [
            member("i-a", 10),
            member("i-d", 30),
            member("i-c", 20),
            member("i-b", 20),
        ];
        let group = web_group(&members, &tables_pointing_at("i-a", 1));

        assert_eq!(
            decide(&group, &failed("i-a")).to.unwrap().instance_id,
            "i-b"
        );
    }

    #[test]
    fn given_a_missing_priority_tag_then_the_default_ranks_after_explicit_ones() {
        let members = [
            member("i-a", 10),
            without_tag(member("i-b", 0), "vip-failover:priority"),
            member("i-c", 99),
        ];
        let group = web_group(&members, &tables_pointing_at("i-a", 1));

        assert_eq!(
            decide(&group, &failed("i-a")).to.unwrap().instance_id,
            "i-c"
        );
    }

    #[test]
    fn given_routes_that_disagree_when_any_trigger_arrives_then_all_converge_on_the_best_healthy_member(
    ) {
        let mut tables = tables_pointing_at("i-a", 2);
        tables[1].routes[1].target = to_eni_of("i-c");
        let group = web_group(
            &[member("i-a", 10), member("i-b", 20), member("i-c", 30)],
            &tables,
        );

        let plan = decide(&group, &Intent::Reconcile);

        assert_eq!(plan.action, Action::FailedOver);
        assert!(plan.from.is_none());
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-a");
        assert_eq!(targets(&plan), vec![("rtb-2".to_string(), eni_of("i-a"))]);
    }

    #[test]
    fn given_a_blackholed_route_then_it_counts_as_no_active_member_and_is_replaced() {
        let mut tables = tables_pointing_at("i-gone", 1);
        tables[0].routes[1].blackhole = true;
        let group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);

        let plan = decide(&group, &Intent::Reconcile);

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-a");
        assert_eq!(plan.writes[0].kind, WriteKind::Replace);
    }

    #[test]
    fn given_a_route_to_the_instance_id_then_it_is_rewritten_to_target_the_eni() {
        let mut tables = tables_pointing_at("i-a", 1);
        tables[0].routes[1].target = RouteTarget::Instance("i-a".to_string());
        let group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);

        let plan = decide(&group, &Intent::Reconcile);

        assert_eq!(plan.from.as_ref().unwrap().instance_id, "i-a");
        assert_eq!(targets(&plan), vec![("rtb-1".to_string(), eni_of("i-a"))]);
    }

    #[test]
    fn given_an_already_failed_over_group_when_the_old_active_fails_again_then_nothing_changes() {
        let group = web_group(
            &[stopped(member("i-a", 10)), member("i-b", 20)],
            &tables_pointing_at("i-b", 3),
        );

        let plan = decide(&group, &failed("i-a"));

        assert_eq!(plan.action, Action::NoChange);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn given_a_recovered_primary_without_preemption_then_the_vip_stays_on_the_standby() {
        let group = web_group(
            &[member("i-a", 10), member("i-b", 20)],
            &tables_pointing_at("i-b", 2),
        );

        let plan = decide(
            &group,
            &Intent::MemberRecovered {
                instance_id: "i-a".to_string(),
            },
        );

        assert_eq!(plan.action, Action::NoChange);
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-b");
    }

    #[test]
    fn given_a_recovered_primary_with_preemption_then_it_takes_the_vip_back() {
        let members = [
            with_tag(member("i-a", 10), "vip-failover:preempt", "true"),
            with_tag(member("i-b", 20), "vip-failover:preempt", "true"),
        ];
        let group = web_group(&members, &tables_pointing_at("i-b", 2));

        let plan = decide(
            &group,
            &Intent::MemberRecovered {
                instance_id: "i-a".to_string(),
            },
        );

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(plan.to.as_ref().unwrap().instance_id, "i-a");
    }

    #[test]
    fn given_a_tagged_table_without_the_route_then_it_is_created_and_untagged_ones_are_left_alone()
    {
        let mut tables = tables_pointing_at("i-a", 1);
        tables.push(tagged(table("rtb-new", vec![]), "db,web"));
        tables.push(table(
            "rtb-other",
            vec![route("10.1.0.0/16", to_eni_of("i-a"))],
        ));
        let group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);

        let repaired = decide(&group, &failed("i-b"));
        assert_eq!(repaired.action, Action::Repaired);
        assert_eq!(
            targets(&repaired),
            vec![("rtb-new".to_string(), eni_of("i-a"))]
        );
        assert_eq!(repaired.writes[0].kind, WriteKind::Create);

        let moved = decide(&group, &failed("i-a"));
        assert_eq!(
            targets(&moved),
            vec![
                ("rtb-1".to_string(), eni_of("i-b")),
                ("rtb-new".to_string(), eni_of("i-b"))
            ]
        );
    }

    #[test]
    fn given_any_decision_then_only_vip_destinations_are_ever_written() {
        let mut tables = tables_pointing_at("i-a", 3);
        tables[0]
            .routes
            .push(route("172.16.0.0/12", to_eni_of("i-a")));
        tables[1]
            .routes
            .push(route("10.99.0.0/16", to_eni_of("i-b")));
        let group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);
        let intents = [
            failed("i-a"),
            failed("i-b"),
            Intent::Reconcile,
            Intent::Failover { target: None },
            Intent::Failover {
                target: Some("i-b".to_string()),
            },
        ];
        for intent in intents {
            let plan = decide(&group, &intent);
            assert!(
                plan.writes.iter().all(|w| w.destination == net(VIP)),
                "{intent:?}: {:?}",
                plan.writes
            );
        }
    }

    #[test]
    fn given_a_manual_failover_then_it_moves_to_the_named_healthy_target_or_refuses() {
        let group = web_group(
            &[
                member("i-a", 10),
                member("i-b", 20),
                stopped(member("i-c", 30)),
            ],
            &tables_pointing_at("i-a", 1),
        );
        let to = |t: &str| Intent::Failover {
            target: Some(t.to_string()),
        };

        assert_eq!(decide(&group, &to("i-b")).to.unwrap().instance_id, "i-b");
        let unhealthy = decide(&group, &to("i-c"));
        assert_eq!(unhealthy.action, Action::Refused);
        assert!(unhealthy.reason.contains("i-c") && unhealthy.reason.contains("stopped"));
        let stranger = decide(&group, &to("i-zzz"));
        assert_eq!(stranger.action, Action::Refused);
        assert!(
            stranger.reason.contains("i-a, i-b, i-c"),
            "{}",
            stranger.reason
        );
        assert_eq!(decide(&group, &to("i-a")).action, Action::NoChange);
        assert_eq!(
            decide(&group, &Intent::Failover { target: None })
                .to
                .unwrap()
                .instance_id,
            "i-b"
        );
    }

    #[test]
    fn given_no_route_table_for_the_group_then_the_decision_refuses_and_says_what_to_tag() {
        let group = web_group(&[member("i-a", 10), member("i-b", 20)], &[]);

        let plan = decide(&group, &failed("i-a"));

        assert_eq!(plan.action, Action::Refused);
        assert!(plan.reason.contains("tag"), "{}", plan.reason);
    }

    #[test]
    fn given_a_target_with_source_dest_check_enabled_then_a_warning_says_how_to_fix_it() {
        let mut b = member("i-b", 20);
        b.enis[0].source_dest_check = Some(true);
        let group = web_group(&[member("i-a", 10), b], &tables_pointing_at("i-a", 1));

        let plan = decide(&group, &failed("i-a"));

        assert_eq!(plan.action, Action::FailedOver);
        assert!(plan
            .warnings
            .iter()
            .any(|w| w.contains("source/dest check") && w.contains(&eni_of("i-b"))));
    }

    mod hold_down {
        use super::*;
        use crate::group::LastMove;
        use chrono::TimeZone;

        fn moved_to_b_at(secs: i64) -> Group {
            let mut group = web_group(
                &[member("i-a", 10), member("i-b", 20)],
                &tables_pointing_at("i-b", 2),
            );
            group.last_move = Some(LastMove {
                at: Utc.timestamp_opt(secs, 0).unwrap(),
                from: Some("i-a".to_string()),
                to: "i-b".to_string(),
            });
            group
        }

        fn at(secs: i64) -> Policy {
            Policy {
                now: Utc.timestamp_opt(secs, 0).unwrap(),
                hold_down: Duration::from_secs(60),
            }
        }

        #[test]
        fn given_a_recent_move_when_an_alarm_flaps_on_the_healthy_new_holder_then_the_vip_stays() {
            let plan = decide_with(&moved_to_b_at(1_000), &failed("i-b"), &at(1_030));

            assert_eq!(plan.action, Action::NoChange);
            assert!(plan.writes.is_empty());
            assert!(plan.reason.contains("hold-down"), "{}", plan.reason);
            assert!(plan.warnings.iter().any(|w| w.contains("hold-down")));
        }

        #[test]
        fn given_a_recent_move_when_the_new_holder_is_really_unhealthy_then_it_moves_anyway() {
            let mut group = moved_to_b_at(1_000);
            group.members[1].state = crate::world::InstanceState::Stopped;

            let plan = decide_with(&group, &failed("i-b"), &at(1_030));

            assert_eq!(plan.action, Action::FailedOver);
            assert_eq!(plan.to.unwrap().instance_id, "i-a");
        }

        #[test]
        fn given_the_hold_down_has_passed_then_automatic_moves_resume() {
            let plan = decide_with(&moved_to_b_at(1_000), &failed("i-b"), &at(1_061));
            assert_eq!(plan.action, Action::FailedOver);
        }

        #[test]
        fn given_a_recent_move_when_an_operator_asks_then_the_hold_down_does_not_apply() {
            let plan = decide_with(
                &moved_to_b_at(1_000),
                &Intent::Failover { target: None },
                &at(1_001),
            );
            assert_eq!(plan.action, Action::FailedOver);
            assert_eq!(plan.to.unwrap().instance_id, "i-a");
        }

        #[test]
        fn given_a_recent_move_with_preemption_then_the_recovered_primary_waits() {
            let mut group = moved_to_b_at(1_000);
            group.preempt = true;
            let recovered = Intent::MemberRecovered {
                instance_id: "i-a".to_string(),
            };

            assert_eq!(
                decide_with(&group, &recovered, &at(1_010)).action,
                Action::NoChange
            );
            assert_eq!(
                decide_with(&group, &recovered, &at(1_100)).action,
                Action::FailedOver
            );
        }

        #[test]
        fn given_a_move_record_then_it_round_trips_and_damaged_ones_are_ignored() {
            let record = LastMove {
                at: Utc.timestamp_opt(1_764_000_000, 0).unwrap(),
                from: None,
                to: "i-b".to_string(),
            };
            assert_eq!(record.to_tag_value(), "2025-11-24T16:00:00Z ->i-b");
            assert_eq!(LastMove::parse(&record.to_tag_value()), Some(record));
            for damaged in [
                "",
                "yesterday i-a>i-b",
                "2025-11-24T16:00:00Z i-a",
                "2025-11-24T16:00:00Z i-a>",
            ] {
                assert_eq!(LastMove::parse(damaged), None, "{damaged:?}");
            }
        }
    }

    #[test]
    fn given_a_move_interrupted_half_way_when_reconciling_then_it_is_finished_not_reverted() {
        let mut tables = tables_pointing_at("i-a", 3);
        tables[0].routes[1].target = to_eni_of("i-b");
        let mut group = web_group(&[member("i-a", 10), member("i-b", 20)], &tables);
        let before_record = decide(&group, &Intent::Reconcile);
        assert_eq!(
            before_record.to.unwrap().instance_id,
            "i-a",
            "without a record: best priority"
        );

        group.last_move = Some(crate::group::LastMove {
            at: chrono::Utc::now(),
            from: Some("i-a".to_string()),
            to: "i-b".to_string(),
        });
        let plan = decide(&group, &Intent::Reconcile);

        assert_eq!(plan.to.unwrap().instance_id, "i-b");
        assert_eq!(plan.writes.len(), 2);
    }
}
