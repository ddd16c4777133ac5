//! Scenarios of the decision, on snapshots built by hand: given a group, when it
//! is decided, then every route table ends where it should.

use chrono::TimeZone;

use super::*;
use crate::group::MoveRecord;
use crate::testing::*;
use crate::world::{AlarmState, CheckStatus};

fn auto(group: &Group) -> Plan {
    decide(group, &Intent::Automatic, &Policy::immediate())
}

fn to(group: &Group, target: &str) -> Plan {
    let intent = Intent::Failover {
        target: Some(target.to_string()),
    };
    decide(group, &intent, &Policy::immediate())
}

/// An operator's failover with no target named: away from the holder.
fn away(group: &Group) -> Plan {
    decide(
        group,
        &Intent::Failover { target: None },
        &Policy::immediate(),
    )
}

fn targets(plan: &Plan) -> Vec<(String, String)> {
    plan.writes
        .iter()
        .map(|w| (w.route_table_id.clone(), w.eni_id.clone()))
        .collect()
}

fn chosen(plan: &Plan) -> &str {
    plan.to.as_ref().map_or("-", |m| m.instance_id.as_str())
}

/// The plan carries a warning that contains every one of `needles`.
#[track_caller]
fn assert_warns(plan: &Plan, needles: &[&str]) {
    assert!(
        plan.warnings
            .iter()
            .any(|w| needles.iter().all(|n| w.contains(n))),
        "{:?}",
        plan.warnings
    );
}

fn alarmed(
    instances: &[InstanceRecord],
    tables: &[RouteTableRecord],
    on: &str,
    state: AlarmState,
) -> Group {
    web_group_with(instances, tables, &[alarm_on(on, state)])
}

use crate::world::{InstanceRecord, RouteTableRecord};

/// The pair of the seed, both healthy: i-a (priority 10) and i-b (20).
fn pair() -> [InstanceRecord; 2] {
    [member("i-a", 10), member("i-b", 20)]
}

/// The healthy pair, with i-a's alarm in `state` now.
fn pair_with_a_alarm(tables: &[RouteTableRecord], state: AlarmState) -> Group {
    alarmed(&pair(), tables, "i-a", state)
}

#[test]
fn given_a_pair_when_the_active_fails_its_checks_then_every_table_moves_to_the_standby() {
    let group = web_group(
        &[impaired(member("i-a", 10)), member("i-b", 20)],
        &tables_pointing_at("i-a", 3),
    );

    let plan = auto(&group);

    assert_eq!(plan.action, Action::FailedOver);
    assert_eq!(plan.from.as_ref().unwrap().instance_id, "i-a");
    assert_eq!(chosen(&plan), "i-b");
    assert_eq!(
        targets(&plan),
        (1..=3)
            .map(|i| (format!("rtb-{i}"), eni_of("i-b")))
            .collect::<Vec<_>>()
    );
    assert!(plan.writes.iter().all(|w| w.kind == WriteKind::Replace
        && w.destination == net(VIP)
        && w.before == Some(to_eni_of("i-a"))));
    let record = plan.record.expect("a move is recorded");
    assert_eq!(
        (record.from.as_deref(), record.to.as_str()),
        (Some("i-a"), "i-b")
    );
}

#[test]
fn given_a_pair_when_the_active_alarm_is_in_alarm_now_then_the_vip_moves() {
    let group = pair_with_a_alarm(&tables_pointing_at("i-a", 2), AlarmState::Alarm);

    let plan = auto(&group);

    assert_eq!(plan.action, Action::FailedOver);
    assert_eq!(chosen(&plan), "i-b");
    assert_warns(&plan, &["i-a failed", "ALARM"]);
}

#[test]
fn given_an_alarm_that_is_ok_now_then_nothing_moves_whatever_event_brought_us_here() {
    let group = pair_with_a_alarm(&tables_pointing_at("i-a", 2), AlarmState::Ok);

    let plan = auto(&group);

    assert_eq!(plan.action, Action::NoChange);
    assert!(plan.writes.is_empty());
    assert_eq!(chosen(&plan), "i-a");
}

#[test]
fn given_a_healthy_active_when_the_standby_fails_then_nothing_is_written_and_it_is_reported() {
    let group = web_group(
        &[member("i-a", 10), stopped(member("i-b", 20))],
        &tables_pointing_at("i-a", 2),
    );

    let plan = auto(&group);

    assert_eq!(plan.action, Action::NoChange);
    assert!(plan.writes.is_empty());
    assert_eq!(chosen(&plan), "i-a");
    assert_warns(&plan, &["i-b"]);
}

#[test]
fn given_a_failed_active_and_a_failed_standby_then_the_vip_goes_to_the_next_healthy_member() {
    let group = web_group(
        &[
            impaired(member("i-a", 10)),
            stopped(member("i-b", 20)),
            member("i-c", 30),
        ],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(chosen(&auto(&group)), "i-c");
}

#[test]
fn given_no_healthy_standby_when_the_active_fails_then_the_move_is_refused_naming_each_member() {
    let group = web_group(
        &[
            stopped(member("i-a", 10)),
            stopped(member("i-b", 20)),
            impaired(member("i-c", 30)),
        ],
        &tables_pointing_at("i-a", 2),
    );

    let plan = auto(&group);

    assert_eq!(plan.action, Action::Refused);
    assert!(plan.writes.is_empty() && plan.to.is_none() && plan.record.is_none());
    let refusal = plan.refusal.as_ref().unwrap();
    assert!(matches!(refusal, Refusal::NoHealthyMember { .. }));
    assert_eq!(refusal.error_type(), "FailoverRefused");
    assert!(refusal.retryable());
    for needle in ["i-b", "stopped", "i-c", "impaired"] {
        assert!(
            plan.reason.contains(needle),
            "{needle} missing in {}",
            plan.reason
        );
    }
}

#[test]
fn given_three_members_when_the_active_fails_then_the_lowest_priority_wins_and_ties_break_by_id() {
    let members = [
        stopped(member("i-a", 10)),
        member("i-d", 30),
        member("i-c", 20),
        member("i-b", 20),
    ];
    let group = web_group(&members, &tables_pointing_at("i-a", 1));
    assert_eq!(chosen(&auto(&group)), "i-b");
}

#[test]
fn given_a_missing_priority_tag_then_the_default_ranks_after_explicit_ones() {
    let members = [
        stopped(member("i-a", 10)),
        without_tag(member("i-b", 0), "vip-failover:priority"),
        member("i-c", 99),
    ];
    let group = web_group(&members, &tables_pointing_at("i-a", 1));
    assert_eq!(chosen(&auto(&group)), "i-c");
}

#[test]
fn given_one_stray_table_when_reconciling_then_the_holder_by_majority_keeps_the_vip_and_the_stray_is_repaired(
) {
    let mut tables: Vec<_> = tables_pointing_at("i-b", 6)
        .into_iter()
        .map(|t| tagged(t, "web"))
        .collect();
    tables[0].routes[1].blackhole = true;
    tables[1].routes[1].target = RouteTarget::Other("pcx-1".to_string());
    tables[2].routes[1].target = to_eni_of("i-a");

    let plan = auto(&web_group(&pair(), &tables));

    assert_eq!(plan.action, Action::Repaired);
    assert_eq!(plan.from.as_ref().unwrap().instance_id, "i-b");
    assert_eq!(chosen(&plan), "i-b");
    assert_eq!(
        targets(&plan),
        ["rtb-1", "rtb-2", "rtb-3"].map(|t| (t.to_string(), eni_of("i-b")))
    );
    assert!(plan.record.is_none(), "a repair is not a move");
    assert!(plan.writes.iter().all(|w| w.may_create));
}

#[test]
fn given_untagged_tables_then_only_vip_routes_to_the_groups_instances_or_to_nothing_are_moved() {
    let mut tables = tables_pointing_at("i-a", 4);
    tables[0].routes[1].blackhole = true;
    tables[1].routes[1].target = RouteTarget::Other("pcx-1".to_string());
    tables[2].routes[1].target = RouteTarget::NetworkInterface("eni-of-another-group".to_string());
    tables[3].routes[1].target = RouteTarget::Instance("i-a".to_string());
    let group = web_group(&[stopped(member("i-a", 10)), member("i-b", 20)], &tables);

    let plan = auto(&group);

    assert_eq!(
        targets(&plan),
        ["rtb-1", "rtb-4"].map(|t| (t.to_string(), eni_of("i-b")))
    );
    assert!(
        plan.writes.iter().all(|w| !w.may_create),
        "never a new route there"
    );
    for foreign in ["rtb-2", "rtb-3"] {
        assert_warns(&plan, &[foreign, "not tagged for the group", "left alone"]);
    }
}

#[test]
fn given_routes_split_evenly_then_the_preferred_member_holds_and_the_rest_converge_on_it() {
    let mut tables = tables_pointing_at("i-a", 2);
    tables[1].routes[1].target = to_eni_of("i-c");
    let group = web_group(
        &[member("i-a", 10), member("i-b", 20), member("i-c", 30)],
        &tables,
    );

    let plan = auto(&group);

    assert_eq!(plan.action, Action::Repaired);
    assert_eq!(targets(&plan), vec![("rtb-2".to_string(), eni_of("i-a"))]);
}

#[test]
fn given_every_route_blackholed_then_there_is_no_holder_and_the_best_member_takes_the_vip() {
    let mut tables = tables_pointing_at("i-gone", 1);
    tables[0].routes[1].blackhole = true;

    let plan = auto(&web_group(&pair(), &tables));

    assert_eq!(plan.action, Action::FailedOver);
    assert!(plan.from.is_none());
    assert_eq!(chosen(&plan), "i-a");
    assert_eq!(plan.writes[0].kind, WriteKind::Replace);
}

#[test]
fn given_a_route_to_the_instance_id_then_it_is_rewritten_to_target_the_eni() {
    let mut tables = tables_pointing_at("i-a", 1);
    tables[0].routes[1].target = RouteTarget::Instance("i-a".to_string());

    let plan = auto(&web_group(&pair(), &tables));

    assert_eq!(plan.from.as_ref().unwrap().instance_id, "i-a");
    assert_eq!(targets(&plan), vec![("rtb-1".to_string(), eni_of("i-a"))]);
}

#[test]
fn given_an_already_failed_over_group_when_the_old_active_is_still_down_then_nothing_changes() {
    let members = [stopped(member("i-a", 10)), member("i-b", 20)];
    let plan = auto(&web_group(&members, &tables_pointing_at("i-b", 3)));
    assert_eq!(plan.action, Action::NoChange);
    assert!(plan.writes.is_empty());
}

#[test]
fn given_a_recovered_primary_without_preemption_then_the_vip_stays_on_the_standby() {
    let plan = auto(&web_group(&pair(), &tables_pointing_at("i-b", 2)));
    assert_eq!(plan.action, Action::NoChange);
    assert_eq!(chosen(&plan), "i-b");
}

fn preempting(a: InstanceRecord, b: InstanceRecord) -> [InstanceRecord; 2] {
    [
        with_tag(a, "vip-failover:preempt", "true"),
        with_tag(b, "vip-failover:preempt", "true"),
    ]
}

/// The healthy pair, both tagged for preemption.
fn preempting_pair() -> [InstanceRecord; 2] {
    let [a, b] = pair();
    preempting(a, b)
}

#[test]
fn given_a_recovered_primary_with_preemption_then_it_takes_the_vip_back() {
    let group = web_group(&preempting_pair(), &tables_pointing_at("i-b", 2));

    let plan = auto(&group);

    assert_eq!(plan.action, Action::FailedOver);
    assert_eq!(chosen(&plan), "i-a");
    assert!(plan.reason.contains("preemption"), "{}", plan.reason);
}

/// The preempting pair on serverB, probed: a verdict per member (`None`: the
/// container has none yet, as after a cold start).
fn probed(a_up: Option<bool>) -> Group {
    let mut group = web_group(&preempting_pair(), &tables_pointing_at("i-b", 2));
    group.probe = Some(crate::probe::settings::parse("tcp:80").expect("settings"));
    for m in &mut group.members {
        let up = if m.instance_id == "i-a" {
            a_up
        } else {
            Some(true)
        };
        m.probe = up.map(|up| crate::health::ProbeSignal {
            up,
            reason: "test".to_string(),
            streak: 2,
            age_ms: 100,
        });
    }
    group
}

#[test]
fn given_a_probed_group_without_a_verdict_on_the_primary_then_it_is_not_preempted_onto() {
    // A cold container knows nothing of the primary's service: the probe may
    // have moved the VIP off it a minute ago.
    let plan = auto(&probed(None));
    assert_eq!(plan.action, Action::NoChange, "{}", plan.reason);
    assert_eq!(chosen(&plan), "i-b");

    // A fresh verdict that saw it answer vouches for it.
    let plan = auto(&probed(Some(true)));
    assert_eq!(plan.action, Action::FailedOver);
    assert_eq!(chosen(&plan), "i-a");
}

#[test]
fn given_preemption_when_the_primary_alarm_is_still_in_alarm_then_the_vip_stays() {
    let group = alarmed(
        &preempting_pair(),
        &tables_pointing_at("i-b", 2),
        "i-a",
        AlarmState::Alarm,
    );
    let plan = auto(&group);
    assert_eq!(plan.action, Action::NoChange);
    assert_eq!(chosen(&plan), "i-b");
}

#[test]
fn given_preemption_when_the_primary_checks_are_still_initializing_then_the_vip_stays() {
    let mut a = member("i-a", 10);
    a.checks.instance = CheckStatus::Initializing;
    let group = web_group(
        &preempting(a, member("i-b", 20)),
        &tables_pointing_at("i-b", 2),
    );
    assert_eq!(auto(&group).action, Action::NoChange);
}

#[test]
fn given_a_healthy_standby_and_a_preferred_one_still_initializing_then_health_outranks_priority() {
    let mut b = member("i-b", 20);
    b.checks.system = CheckStatus::InsufficientData;
    let group = web_group(
        &[stopped(member("i-a", 10)), b, member("i-c", 30)],
        &tables_pointing_at("i-a", 1),
    );
    assert_eq!(chosen(&auto(&group)), "i-c");
}

#[test]
fn given_a_holder_of_unknown_health_and_a_healthy_standby_then_health_outranks_the_holder() {
    let mut a = member("i-a", 10);
    a.checks.instance = CheckStatus::InsufficientData;
    let group = web_group(&[a, member("i-b", 20)], &tables_pointing_at("i-a", 2));

    let plan = auto(&group);

    assert_eq!(plan.action, Action::FailedOver);
    assert_eq!(chosen(&plan), "i-b");
    assert!(plan.reason.contains("health is unknown"), "{}", plan.reason);
}

#[test]
fn given_a_holder_of_unknown_health_and_no_healthy_standby_then_it_keeps_the_vip() {
    let mut a = member("i-a", 10);
    a.checks.instance = CheckStatus::InsufficientData;
    let mut b = member("i-b", 20);
    b.checks.system = CheckStatus::Initializing;
    let group = web_group(&[a, b], &tables_pointing_at("i-a", 2));
    assert_eq!(auto(&group).action, Action::NoChange);
}

#[test]
fn given_only_members_of_unknown_health_then_the_preferred_one_is_chosen_with_a_warning() {
    let mut b = member("i-b", 20);
    b.checks.instance = CheckStatus::Initializing;
    let group = web_group(
        &[stopped(member("i-a", 10)), b],
        &tables_pointing_at("i-a", 1),
    );

    let plan = auto(&group);

    assert_eq!(chosen(&plan), "i-b");
    assert_warns(
        &plan,
        &["health is unknown", "initializing", "no member is healthy"],
    );
}

#[test]
fn given_an_operator_naming_a_target_of_unknown_health_while_another_is_healthy_then_the_warning_says_only_that(
) {
    let mut b = member("i-b", 20);
    b.checks.instance = CheckStatus::Initializing;
    let group = web_group(&[member("i-a", 10), b], &tables_pointing_at("i-a", 1));

    let plan = to(&group, "i-b");

    assert_eq!(chosen(&plan), "i-b");
    assert_warns(&plan, &["health is unknown", "initializing"]);
    assert!(
        !plan
            .warnings
            .iter()
            .any(|w| w.contains("no member is healthy")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn given_a_tagged_table_without_the_route_then_it_is_created_and_untagged_ones_are_left_alone() {
    let mut tables = tables_pointing_at("i-a", 1);
    tables.push(tagged(table("rtb-new", vec![]), "db,web"));
    tables.push(table(
        "rtb-other",
        vec![route("10.1.0.0/16", to_eni_of("i-a"))],
    ));

    let repaired = auto(&web_group(&pair(), &tables));
    assert_eq!(repaired.action, Action::Repaired);
    assert_eq!(
        targets(&repaired),
        vec![("rtb-new".to_string(), eni_of("i-a"))]
    );
    assert_eq!(repaired.writes[0].kind, WriteKind::Create);

    let moved = auto(&web_group(
        &[stopped(member("i-a", 10)), member("i-b", 20)],
        &tables,
    ));
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
    for group in [
        web_group(&pair(), &tables),
        web_group(&[stopped(member("i-a", 10)), member("i-b", 20)], &tables),
    ] {
        for intent in [
            Intent::Automatic,
            Intent::Failover { target: None },
            Intent::Failover {
                target: Some("i-b".to_string()),
            },
        ] {
            let plan = decide(&group, &intent, &Policy::immediate());
            assert!(
                plan.writes.iter().all(|w| w.destination == net(VIP)),
                "{intent:?}: {:?}",
                plan.writes
            );
        }
    }
}

#[test]
fn given_a_manual_failover_then_it_moves_to_the_named_target_or_refuses_with_a_typed_reason() {
    let group = web_group(
        &[
            member("i-a", 10),
            member("i-b", 20),
            stopped(member("i-c", 30)),
        ],
        &tables_pointing_at("i-a", 1),
    );

    assert_eq!(chosen(&to(&group, "i-b")), "i-b");
    let unhealthy = to(&group, "i-c");
    assert!(matches!(
        unhealthy.refusal,
        Some(Refusal::TargetFailed { .. })
    ));
    assert!(unhealthy.reason.contains("i-c") && unhealthy.reason.contains("stopped"));
    let stranger = to(&group, "i-zzz");
    let refusal = stranger.refusal.as_ref().unwrap();
    assert_eq!(refusal.error_type(), "UnknownTarget");
    assert!(!refusal.retryable(), "a wrong name does not fix itself");
    assert!(
        stranger.reason.contains("i-a, i-b, i-c"),
        "{}",
        stranger.reason
    );
    assert_eq!(to(&group, "i-a").action, Action::NoChange);
    assert_eq!(chosen(&away(&group)), "i-b");
}

#[test]
fn given_an_operator_asking_to_move_away_with_no_other_usable_member_then_it_is_refused() {
    let members = [member("i-a", 10), stopped(member("i-b", 20))];
    let plan = away(&web_group(&members, &tables_pointing_at("i-a", 1)));
    assert!(matches!(plan.refusal, Some(Refusal::NoOtherMember { .. })));
}

#[test]
fn given_no_route_table_for_the_group_then_the_decision_refuses_and_says_what_to_tag() {
    let group = web_group(&[stopped(member("i-a", 10)), member("i-b", 20)], &[]);
    let plan = auto(&group);
    assert_eq!(plan.action, Action::Refused);
    assert_eq!(plan.refusal.as_ref().unwrap().error_type(), "NoRouteTables");
    assert!(plan.reason.contains("tag"), "{}", plan.reason);
}

#[test]
fn given_a_target_with_source_dest_check_enabled_then_a_warning_says_how_to_fix_it() {
    let mut b = member("i-b", 20);
    b.enis[0].source_dest_check = Some(true);
    let group = web_group(
        &[stopped(member("i-a", 10)), b],
        &tables_pointing_at("i-a", 1),
    );

    let plan = auto(&group);

    assert_eq!(plan.action, Action::FailedOver);
    assert_warns(&plan, &["source/dest check", &eni_of("i-b")]);
}

#[test]
fn given_a_member_that_cannot_be_resolved_when_named_as_target_then_it_is_refused_as_failed() {
    let gone = with_tag(member("i-c", 30), "vip-failover:eni", "eni-detached");
    let group = web_group(
        &[member("i-a", 10), member("i-b", 20), gone],
        &tables_pointing_at("i-a", 1),
    );
    let plan = to(&group, "i-c");
    assert!(
        matches!(plan.refusal, Some(Refusal::TargetFailed { .. })),
        "{:?}",
        plan.refusal
    );
    assert!(plan.reason.contains("eni-detached"), "{}", plan.reason);
}

/// The time of the tests' clock, in seconds.
fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn policy_at(secs: i64) -> Policy {
    Policy {
        now: at(secs),
        hold_down: Duration::from_secs(60),
        pin: Duration::from_secs(86_400),
    }
}

/// Rule "an operator's move sticks", its end: a pin lasts until the date its
/// record names, never longer than [`Policy::pin`] after the move (a forged far
/// date pins no longer than a genuine one), and not at all once that is past.
#[test]
fn given_a_pinned_move_then_the_pin_ends_at_its_date_capped_at_the_pin_length() {
    let pinned = |until: Option<i64>| MoveRecord {
        at: at(1_000),
        from: Some("i-a".to_string()),
        to: "i-b".to_string(),
        pinned_until: until.map(at),
    };
    let hour_pins_at = |secs| Policy {
        pin: Duration::from_secs(3_600),
        ..policy_at(secs)
    };
    let end = |until, now| super::rules::pin_end(&pinned(until), &hour_pins_at(now));

    assert_eq!(end(Some(2_000), 1_500), Some(at(2_000)));
    assert_eq!(end(Some(2_000), 2_000), None, "over at its date");
    assert_eq!(end(Some(9_999_999), 1_500), Some(at(4_600)), "capped");
    assert_eq!(end(Some(9_999_999), 4_600), None, "over at the cap");
    assert_eq!(end(None, 1_500), None, "a move the operator did not pin");
}

/// The automatic decision at `secs` on the tests' clock, with a 60 s hold-down.
fn auto_at(group: &Group, secs: i64) -> Plan {
    decide(group, &Intent::Automatic, &policy_at(secs))
}

/// Every table carries the record `value`.
fn recorded(mut tables: Vec<RouteTableRecord>, value: &str) -> Vec<RouteTableRecord> {
    for t in &mut tables {
        t.tags
            .insert("vip-failover:last-move:web".to_string(), value.to_string());
    }
    tables
}

fn moved_to_b_at(secs: i64) -> String {
    MoveRecord {
        at: at(secs),
        from: Some("i-a".to_string()),
        to: "i-b".to_string(),
        pinned_until: None,
    }
    .to_tag_value()
}

/// The healthy pair, the VIP on i-b in `tables`, and i-b's alarm in ALARM now.
fn b_holds_and_alarms(tables: &[RouteTableRecord]) -> Group {
    alarmed(&pair(), tables, "i-b", AlarmState::Alarm)
}

mod hold_down {
    use super::*;

    /// Two tables moved from i-a to i-b at 1,000 s, and recorded so.
    fn moved_to_b_at_1000() -> Vec<RouteTableRecord> {
        recorded(tables_pointing_at("i-b", 2), &moved_to_b_at(1_000))
    }

    #[test]
    fn given_a_recent_move_when_the_new_holder_alarm_fires_then_it_is_held_and_the_run_fails_retryably(
    ) {
        let group = b_holds_and_alarms(&moved_to_b_at_1000());

        let plan = auto_at(&group, 1_030);

        assert_eq!(plan.action, Action::Refused);
        assert!(plan.writes.is_empty());
        let refusal = plan.refusal.unwrap();
        assert_eq!(refusal.error_type(), "HeldDown");
        assert!(
            refusal.retryable(),
            "a held failure must come back, never end as success"
        );
        assert!(
            plan.reason.contains("i-b") && plan.reason.contains("ALARM"),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn given_a_recent_move_when_the_new_holder_is_stopped_then_it_moves_anyway() {
        let members = [member("i-a", 10), stopped(member("i-b", 20))];
        let group = web_group(&members, &moved_to_b_at_1000());

        let plan = auto_at(&group, 1_030);

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(chosen(&plan), "i-a");
    }

    /// Rule "a hold-down keeps the VIP whole": a recorded move to i-b stopped
    /// after one of three tables, then i-b's health became unknown while i-a is
    /// healthy. The hold-down keeps i-b, and the run still fails retryably; but
    /// the VIP is not left split between two live members until it ends: the
    /// move is finished towards the member it keeps.
    #[test]
    fn given_a_half_finished_move_held_down_on_an_unknown_target_then_it_is_finished_not_left_split(
    ) {
        let mut tables = recorded(tables_pointing_at("i-a", 3), &moved_to_b_at(1_000));
        tables[0].routes[1].target = to_eni_of("i-b");
        let mut b = member("i-b", 20);
        b.checks.instance = CheckStatus::Initializing;
        let group = web_group(&[member("i-a", 10), b], &tables);

        let plan = auto_at(&group, 1_030);

        assert_eq!(
            plan.refusal.as_ref().map(Refusal::error_type),
            Some("HeldDown")
        );
        assert_eq!(
            targets(&plan),
            ["rtb-2", "rtb-3"].map(|t| (t.to_string(), eni_of("i-b"))),
            "the split is closed towards the member the hold-down keeps"
        );
        assert!(plan.record.is_none(), "the move is recorded already");
        assert_eq!(
            plan.to.as_ref().map(|m| m.instance_id.as_str()),
            Some("i-b")
        );
        assert_eq!(
            chosen(&auto_at(&group, 1_061)),
            "i-a",
            "once the hold-down ends, health decides"
        );
    }

    /// The same split with the kept member failed by its alarm: no route is
    /// written towards a failed member; the clients on i-a keep their service
    /// until the hold-down ends.
    #[test]
    fn given_a_split_held_down_on_a_failed_member_then_nothing_is_written_towards_it() {
        let mut tables = recorded(tables_pointing_at("i-b", 3), &moved_to_b_at(1_000));
        tables[0].routes[1].target = to_eni_of("i-a");
        let group = b_holds_and_alarms(&tables);

        let plan = auto_at(&group, 1_030);

        assert_eq!(
            plan.refusal.as_ref().map(Refusal::error_type),
            Some("HeldDown")
        );
        assert!(plan.writes.is_empty(), "{:?}", targets(&plan));
    }

    #[test]
    fn given_the_hold_down_has_passed_then_automatic_moves_resume() {
        let group = b_holds_and_alarms(&moved_to_b_at_1000());
        assert_eq!(auto_at(&group, 1_061).action, Action::FailedOver);
    }

    #[test]
    fn given_a_recent_move_when_an_operator_asks_then_the_hold_down_does_not_apply() {
        let group = web_group(&pair(), &moved_to_b_at_1000());
        let plan = decide(
            &group,
            &Intent::Failover { target: None },
            &policy_at(1_001),
        );
        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(chosen(&plan), "i-a");
    }

    #[test]
    fn given_a_recent_move_with_preemption_then_the_recovered_primary_waits() {
        let group = web_group(&preempting_pair(), &moved_to_b_at_1000());

        let held = auto_at(&group, 1_010);
        assert_eq!(held.action, Action::NoChange);
        assert_warns(&held, &["hold-down"]);
        assert_eq!(auto_at(&group, 1_100).action, Action::FailedOver);
    }

    #[test]
    fn given_a_record_dated_years_ahead_then_it_is_ignored_and_holds_nothing() {
        let forged = moved_to_b_at(1_000 + 3 * 365 * 86_400);
        let group = b_holds_and_alarms(&recorded(tables_pointing_at("i-b", 2), &forged));

        let plan = auto_at(&group, 1_030);

        assert_eq!(plan.action, Action::FailedOver);
        assert_warns(&plan, &["in the future"]);
    }

    #[test]
    fn given_a_record_a_little_ahead_from_a_skewed_clock_then_the_hold_down_ends_a_hold_after_it() {
        let tables = recorded(tables_pointing_at("i-b", 2), &moved_to_b_at(1_200));
        let group = b_holds_and_alarms(&tables);
        assert_eq!(auto_at(&group, 1_000).action, Action::Refused);
        assert_eq!(auto_at(&group, 1_259).action, Action::Refused);
        assert_eq!(auto_at(&group, 1_261).action, Action::FailedOver);
    }

    #[test]
    fn given_a_record_on_a_minority_of_the_tables_then_it_is_no_authority() {
        let mut tables = tables_pointing_at("i-b", 3);
        tables[0].tags.insert(
            "vip-failover:last-move:web".to_string(),
            moved_to_b_at(1_000),
        );

        let plan = auto_at(&b_holds_and_alarms(&tables), 1_030);

        assert_eq!(plan.action, Action::FailedOver);
        assert_warns(&plan, &["1 of 3 tables"]);
    }

    #[test]
    fn given_a_move_record_then_it_round_trips_and_damaged_ones_are_ignored() {
        let record = MoveRecord {
            at: Utc.timestamp_opt(1_764_000_000, 0).unwrap(),
            from: None,
            to: "i-b".to_string(),
            pinned_until: None,
        };
        assert_eq!(record.to_tag_value(), "2025-11-24T16:00:00Z ->i-b");
        assert_eq!(MoveRecord::parse(&record.to_tag_value()), Some(record));
        for damaged in [
            "",
            "yesterday i-a>i-b",
            "2025-11-24T16:00:00Z i-a",
            "2025-11-24T16:00:00Z i-a>",
        ] {
            assert_eq!(MoveRecord::parse(damaged), None, "{damaged:?}");
        }
    }
}

mod interrupted {
    use super::*;

    /// Three tables, the first already moved to i-b.
    fn one_of_three_moved() -> Vec<RouteTableRecord> {
        let mut tables = tables_pointing_at("i-a", 3);
        tables[0].routes[1].target = to_eni_of("i-b");
        tables
    }

    #[test]
    fn given_a_move_interrupted_a_third_of_the_way_then_it_is_finished_not_reverted() {
        let unrecorded = web_group(&pair(), &one_of_three_moved());
        assert_eq!(
            chosen(&auto(&unrecorded)),
            "i-a",
            "without a record: the majority holds"
        );

        let tables = recorded(one_of_three_moved(), &moved_to_b_at(1_000));
        let plan = auto_at(&web_group(&pair(), &tables), 1_300);

        assert_eq!(plan.action, Action::FailedOver);
        assert_eq!(chosen(&plan), "i-b");
        assert_eq!(plan.writes.len(), 2);
        assert!(plan.reason.contains("finishing"), "{}", plan.reason);
        assert!(plan.record.is_none(), "the move is already recorded");
    }

    #[test]
    fn given_an_interrupted_move_whose_target_failed_since_then_the_healthy_holder_keeps_the_vip() {
        let tables = recorded(one_of_three_moved(), &moved_to_b_at(1_000));
        let group = web_group(&[member("i-a", 10), stopped(member("i-b", 20))], &tables);

        let plan = auto_at(&group, 1_300);

        assert_eq!(chosen(&plan), "i-a");
        assert_eq!(plan.action, Action::Repaired);
    }

    #[test]
    fn given_a_record_older_than_its_events_can_be_then_it_is_history_and_the_majority_holds() {
        let tables = recorded(one_of_three_moved(), &moved_to_b_at(1_000));
        let group = web_group(&pair(), &tables);
        let fresh = 1_000 + PENDING_MOVE_TTL.num_seconds() - 1;
        assert_eq!(chosen(&auto_at(&group, fresh)), "i-b");
        let plan = auto_at(&group, fresh + 2);
        assert_eq!(chosen(&plan), "i-a");
        assert_eq!(plan.action, Action::Repaired);
    }

    #[test]
    fn given_a_finished_move_then_its_record_changes_nothing() {
        let tables = recorded(tables_pointing_at("i-b", 3), &moved_to_b_at(1_000));
        let group = web_group(&pair(), &tables);
        assert_eq!(auto_at(&group, 5_000).action, Action::NoChange);
    }
}
