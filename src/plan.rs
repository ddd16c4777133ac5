//! The decision: given a group snapshot, what was asked and the time, which member
//! should hold the VIP and which routes must change. Pure, so every rule is
//! unit-tested without AWS.
//!
//! The rules, each a function below:
//! - **holder by majority**: the member most VIP routes point at holds the VIP; a
//!   stray table (blackhole, foreign target, another member) is repaired towards
//!   it, never a reason to move it;
//! - **a recorded move is finished**: a move recorded before its first write and
//!   not yet finished wins over the majority while its target is not failed, so
//!   an interrupted move is finished, never reverted;
//! - **stay while healthy**: the VIP stays on its member while that member is
//!   healthy, and while it is of unknown health but no other member is healthy;
//!   a failed member never keeps it; preference never outranks health;
//! - **best candidate**: otherwise it goes to the preferred healthy member, else
//!   the preferred member of unknown health, never to a failed one;
//! - **preempt only onto healthy**: with preemption a healthy, better-priority
//!   member takes the VIP back;
//! - **hold-down**: shortly after a move, automatic moves wait; a holder that
//!   failed by its alarms alone is kept, and the invocation fails retryably so
//!   that a later one acts once the hold-down ends. EC2's own verdicts (stopped,
//!   impaired) are never held.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::group::{Group, GroupTable, Member, MoveRecord};
use crate::health::Grade;
use crate::world::RouteTarget;

/// What the decision was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Alarms, state changes and the schedule: put the VIP where the levels read
    /// now say it belongs. Hold-down applies.
    Automatic,
    /// An operator asks for a move, to `target` or to the best other member.
    Failover { target: Option<String> },
}

/// The outcome class, as reported to callers and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The VIP moves to another member.
    FailedOver,
    /// The VIP stays on its member; stray or missing routes are written.
    Repaired,
    /// Everything already points at the right member.
    NoChange,
    /// Moving would be unsafe or impossible; nothing is written.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The table is tagged for the group: a replace whose route vanished may
    /// become a create. In an untagged table no route is ever added.
    pub may_create: bool,
}

/// Why nothing may be written. Each maps to its own `errorType`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no route table in {vpc} has a route for [{vips}] and none is tagged for group {group}; tag the clients' route tables with the group tag")]
    NoRouteTables {
        group: String,
        vpc: String,
        vips: String,
    },
    #[error("{target} is not a member of the group; choose one of [{members}]")]
    UnknownTarget { target: String, members: String },
    #[error("target {target} is unhealthy ({health}); fix it or choose another member")]
    TargetFailed { target: String, health: String },
    #[error("no healthy member to move the VIP to; members: {members}")]
    NoHealthyMember { members: String },
    #[error("no healthy member other than the current holder; members: {members}")]
    NoOtherMember { members: String },
    #[error("hold-down until {until}: {holder} keeps the VIP although it failed ({health}); it moved there at {moved_at}; a retry or the scheduled reconcile moves it once the hold-down ends")]
    HeldDown {
        holder: String,
        health: String,
        moved_at: String,
        until: String,
    },
}

impl Refusal {
    /// A short, stable name for dashboards and the Lambda error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NoRouteTables { .. } => "NoRouteTables",
            Self::UnknownTarget { .. } => "UnknownTarget",
            Self::TargetFailed { .. } => "TargetUnhealthy",
            Self::NoHealthyMember { .. } | Self::NoOtherMember { .. } => "FailoverRefused",
            Self::HeldDown { .. } => "HeldDown",
        }
    }

    /// Whether the same request may succeed later without anyone changing
    /// anything: members recover, hold-downs end; tags and names do not fix
    /// themselves.
    pub fn retryable(&self) -> bool {
        !matches!(
            self,
            Self::NoRouteTables { .. } | Self::UnknownTarget { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub reason: String,
    /// Set exactly when `action` is `Refused`.
    pub refusal: Option<Refusal>,
    /// The holder by majority before the decision.
    pub from: Option<Member>,
    /// The member that holds (or keeps) the VIP; `None` when refused.
    pub to: Option<Member>,
    pub writes: Vec<RouteWrite>,
    /// The move to record on the group's tables before the first route write.
    pub record: Option<MoveRecord>,
    pub warnings: Vec<String>,
}

/// Time-dependent rules, kept out of the snapshot so the decision stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub now: DateTime<Utc>,
    /// After a move, automatic triggers may not move the VIP again for this long.
    /// Zero disables it.
    pub hold_down: Duration,
}

impl Policy {
    /// No hold-down, at the current time.
    #[cfg(test)]
    pub fn immediate() -> Self {
        Self {
            now: Utc::now(),
            hold_down: Duration::ZERO,
        }
    }
}

/// SigV4 refuses requests signed more than five minutes off AWS's clock, so no
/// genuine writer can date a move record later than this.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// How long a recorded move may still be unfinished: the template drops events
/// older than 15 minutes (`MaximumEventAgeInSeconds`), and by then three
/// scheduled reconciles have had their turn. An older record is history, not a
/// move in flight: it no longer outranks the majority.
pub const PENDING_MOVE_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// Where the VIP is, and where a recorded move says it is going.
#[derive(Debug, Clone)]
struct View<'a> {
    /// Holder by majority.
    holder: Option<&'a Member>,
    /// The newest move record carried by a majority of the tables.
    record: Option<MoveRecord>,
    /// The recorded move's target, while it is not failed and the move is unfinished.
    pending: Option<&'a Member>,
}

impl<'a> View<'a> {
    fn of(group: &'a Group, policy: &Policy, warnings: &mut Vec<String>) -> Self {
        let record = recorded_move(group, policy, warnings);
        let pending = record
            .as_ref()
            .filter(|r| policy.now < r.at + PENDING_MOVE_TTL)
            .and_then(|r| group.member(&r.to))
            .filter(|m| !m.is_failed() && !writes_towards(group, m).is_empty());
        Self {
            holder: holder(group),
            record,
            pending,
        }
    }

    /// Rule "a recorded move is finished".
    fn incumbent(&self) -> Option<&'a Member> {
        self.pending.or(self.holder)
    }
}

/// A chosen member and why.
struct Choice<'a> {
    member: &'a Member,
    note: Option<String>,
}

pub fn decide(group: &Group, intent: &Intent, policy: &Policy) -> Plan {
    let mut warnings = health_warnings(group);
    warnings.extend(foreign_routes(group));
    let view = View::of(group, policy, &mut warnings);
    if group.tables.is_empty() {
        let refusal = Refusal::NoRouteTables {
            group: group.name.clone(),
            vpc: group.vpc_id.clone(),
            vips: crate::group::display_list(&group.vips),
        };
        return refused(&view, refusal, warnings);
    }
    let choice = match intent {
        Intent::Automatic => choose_automatic(group, &view, policy, &mut warnings),
        Intent::Failover { target } => choose_manual(group, &view, target.as_deref()),
    };
    match choice {
        Ok(choice) => plan_writes(group, &view, choice, policy, warnings),
        Err(refusal) => refused(&view, refusal, warnings),
    }
}

fn refused(view: &View<'_>, refusal: Refusal, warnings: Vec<String>) -> Plan {
    Plan {
        action: Action::Refused,
        reason: refusal.to_string(),
        refusal: Some(refusal),
        from: view.holder.cloned(),
        to: None,
        writes: Vec::new(),
        record: None,
        warnings,
    }
}

/// Rules "stay while healthy", "preempt only onto healthy", "best candidate"
/// and the hold-down, for automatic triggers.
fn choose_automatic<'a>(
    group: &'a Group,
    view: &View<'a>,
    policy: &Policy,
    warnings: &mut Vec<String>,
) -> Result<Choice<'a>, Refusal> {
    let held = view.incumbent().and_then(|m| held_until(view, m, policy));
    if let Some(incumbent) = view.incumbent().filter(|m| !m.is_failed()) {
        let Some((better, note)) = better_than(group, incumbent) else {
            return Ok(Choice {
                member: incumbent,
                note: None,
            });
        };
        if let Some(until) = held {
            warnings.push(format!(
                "hold-down: {} waits until {} to take the VIP from {}",
                better.instance_id,
                until.to_rfc3339(),
                incumbent.instance_id
            ));
            return Ok(Choice {
                member: incumbent,
                note: None,
            });
        }
        return Ok(Choice {
            member: better,
            note: Some(note),
        });
    }
    let best = best_candidate(group, None).ok_or_else(|| Refusal::NoHealthyMember {
        members: member_health(group),
    })?;
    match (view.incumbent(), held) {
        (Some(incumbent), Some(until)) if incumbent.health.failed_by_alarms_only() => {
            Err(Refusal::HeldDown {
                holder: incumbent.instance_id.clone(),
                health: incumbent.health.summary(),
                moved_at: view
                    .record
                    .as_ref()
                    .map(|r| r.at.to_rfc3339())
                    .unwrap_or_default(),
                until: until.to_rfc3339(),
            })
        }
        _ => Ok(Choice {
            member: best,
            note: None,
        }),
    }
}

/// An operator's move: to the named member unless it failed, or away from the
/// holder to the best other member. Never held down.
fn choose_manual<'a>(
    group: &'a Group,
    view: &View<'a>,
    target: Option<&str>,
) -> Result<Choice<'a>, Refusal> {
    let Some(target) = target else {
        let member =
            best_candidate(group, view.incumbent()).ok_or_else(|| Refusal::NoOtherMember {
                members: member_health(group),
            })?;
        return Ok(Choice { member, note: None });
    };
    if let Some(unusable) = group.unresolved.iter().find(|u| u.instance_id == target) {
        return Err(Refusal::TargetFailed {
            target: target.to_string(),
            health: unusable.detail.clone(),
        });
    }
    let member = group.member(target).ok_or_else(|| Refusal::UnknownTarget {
        target: target.to_string(),
        members: group.member_ids(),
    })?;
    if member.is_failed() {
        return Err(Refusal::TargetFailed {
            target: target.to_string(),
            health: member.health.summary(),
        });
    }
    Ok(Choice { member, note: None })
}

/// Turns the chosen member into writes, an action and the move record.
fn plan_writes(
    group: &Group,
    view: &View<'_>,
    choice: Choice<'_>,
    policy: &Policy,
    mut warnings: Vec<String>,
) -> Plan {
    let chosen = choice.member;
    warnings.extend(target_warnings(group, chosen));
    let writes = writes_towards(group, chosen);
    let moving = view.holder.map(|h| &h.instance_id) != Some(&chosen.instance_id);
    let finishing = view.pending.map(|p| &p.instance_id) == Some(&chosen.instance_id);
    let (action, reason) = match (writes.is_empty(), moving) {
        (true, _) => (
            Action::NoChange,
            format!("every VIP route already points at {}", chosen.instance_id),
        ),
        (false, true) => (
            Action::FailedOver,
            move_reason(view, chosen, choice.note, finishing),
        ),
        (false, false) => (
            Action::Repaired,
            format!(
                "{} keeps the VIP; writing {} VIP routes that are missing or point elsewhere",
                chosen.instance_id,
                writes.len()
            ),
        ),
    };
    let record = (action == Action::FailedOver && !finishing).then(|| MoveRecord {
        at: policy.now,
        from: view.holder.map(|h| h.instance_id.clone()),
        to: chosen.instance_id.clone(),
    });
    Plan {
        action,
        reason,
        refusal: None,
        from: view.holder.cloned(),
        to: Some(chosen.clone()),
        writes,
        record,
        warnings,
    }
}

fn move_reason(view: &View<'_>, chosen: &Member, note: Option<String>, finishing: bool) -> String {
    if finishing {
        let at = view
            .record
            .as_ref()
            .map(|r| r.at.to_rfc3339())
            .unwrap_or_default();
        return format!(
            "finishing the move to {} recorded at {at}",
            chosen.instance_id
        );
    }
    if let Some(note) = note {
        return note;
    }
    match view.holder {
        Some(h) => format!(
            "moving the VIP from {} to {}",
            h.instance_id, chosen.instance_id
        ),
        None => format!(
            "VIP routes are missing or point at no member; converging on {}",
            chosen.instance_id
        ),
    }
}

/// Rule "holder by majority": the member most of the group's VIP routes point
/// at (blackholes count for nobody); a tie goes to the preferred member.
pub fn holder(group: &Group) -> Option<&Member> {
    let mut best: Option<(&Member, usize)> = None;
    for member in &group.members {
        let held = group
            .routes()
            .filter_map(|(_, r)| r.current.as_ref())
            .filter(|c| !c.blackhole && member.is_target_of(&c.target))
            .count();
        if held > best.map_or(0, |(_, n)| n) {
            best = Some((member, held));
        }
    }
    best.map(|(m, _)| m)
}

/// Rule "best candidate": the preferred healthy member, else the preferred one
/// of unknown health; never a failed one, never `excluding`.
fn best_candidate<'a>(group: &'a Group, excluding: Option<&Member>) -> Option<&'a Member> {
    let eligible = |grade: Grade| {
        group
            .members
            .iter()
            .filter(move |m| m.health.grade == grade)
            .find(|m| excluding.map(|e| &e.instance_id) != Some(&m.instance_id))
    };
    eligible(Grade::Healthy).or_else(|| eligible(Grade::Unknown))
}

/// A member that should take the VIP from an incumbent that has not failed:
/// rule "prefer healthy over unknown" (an incumbent of unknown health yields to
/// the preferred healthy member), then rule "preempt only onto healthy".
fn better_than<'a>(group: &'a Group, incumbent: &Member) -> Option<(&'a Member, String)> {
    if incumbent.health.grade == Grade::Unknown {
        let healthy =
            best_candidate(group, Some(incumbent)).filter(|m| m.health.grade == Grade::Healthy)?;
        let note = format!(
            "{} is healthy and {}'s health is unknown ({})",
            healthy.instance_id,
            incumbent.instance_id,
            incumbent.health.summary()
        );
        return Some((healthy, note));
    }
    let better = preemptor(group, incumbent)?;
    let note = format!(
        "preemption: {} (priority {}) is healthy and preferred over {} (priority {})",
        better.instance_id, better.priority, incumbent.instance_id, incumbent.priority
    );
    Some((better, note))
}

/// Rule "preempt only onto healthy".
fn preemptor<'a>(group: &'a Group, incumbent: &Member) -> Option<&'a Member> {
    if !group.preempt {
        return None;
    }
    group
        .members
        .iter()
        .find(|m| m.health.grade == Grade::Healthy && m.priority < incumbent.priority)
}

/// End of the hold-down protecting `holder`, if it is the target of the recorded
/// move and that move is recent. Records dated further ahead than
/// [`MAX_CLOCK_SKEW`] were dropped, so a skewed clock extends a hold-down by five
/// minutes at most.
fn held_until(view: &View<'_>, holder: &Member, policy: &Policy) -> Option<DateTime<Utc>> {
    let record = view
        .record
        .as_ref()
        .filter(|r| r.to == holder.instance_id)?;
    let hold = chrono::Duration::from_std(policy.hold_down).ok()?;
    let until = record.at.checked_add_signed(hold)?;
    (policy.now < until).then_some(until)
}

/// The newest move record that a majority of the group's own tables carry. A
/// record on a few tables only, dated in the future or unreadable is not
/// authority: it is reported and ignored (anyone allowed to tag a route table can
/// write one); a record on a table that is not the group's is not read at all.
fn recorded_move(group: &Group, policy: &Policy, warnings: &mut Vec<String>) -> Option<MoveRecord> {
    let own: Vec<&GroupTable> = group.own_tables().collect();
    let quorum = own.len() / 2 + 1;
    let mut carried: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for table in &own {
        if let Some(value) = table.record.as_deref() {
            carried.entry(value).or_default().push(&table.id);
        }
    }
    let mut valid: Vec<MoveRecord> = Vec::new();
    for (value, tables) in carried {
        let problem = match MoveRecord::parse(value) {
            None => Some("cannot be read".to_string()),
            Some(r) if r.at > policy.now + MAX_CLOCK_SKEW => {
                Some("is dated in the future".to_string())
            }
            Some(_) if tables.len() < quorum => Some(format!(
                "is carried by {} of {} tables",
                tables.len(),
                own.len()
            )),
            Some(r) => {
                valid.push(r);
                None
            }
        };
        if let Some(problem) = problem {
            warnings.push(format!(
                "move record {value:?} on {} {problem}; ignored",
                tables.join(", ")
            ));
        }
    }
    valid.into_iter().max_by_key(|r| r.at)
}

/// The writes that make every VIP route of the group point at `member`'s ENI.
fn writes_towards(group: &Group, member: &Member) -> Vec<RouteWrite> {
    let wanted = RouteTarget::NetworkInterface(member.eni_id.clone());
    group
        .routes()
        .filter_map(|(table, route)| {
            let kind = match &route.current {
                Some(r) if r.target == wanted && !r.blackhole => return None,
                Some(r) if group.leaves_alone(table, r) => return None,
                Some(_) => WriteKind::Replace,
                None if table.tagged => WriteKind::Create,
                // An untagged table opted in by holding a VIP route; we only move
                // routes there, never add ones its owner did not create.
                None => return None,
            };
            Some(RouteWrite {
                route_table_id: table.id.clone(),
                destination: route.vip,
                kind,
                before: route.current.as_ref().map(|r| r.target.clone()),
                eni_id: member.eni_id.clone(),
                may_create: table.tagged,
            })
        })
        .collect()
}

/// The routes the trust boundary ([`Group::leaves_alone`]) keeps out of every
/// plan, one warning each.
fn foreign_routes(group: &Group) -> Vec<String> {
    group
        .routes()
        .filter_map(|(table, route)| {
            let current = route.current.as_ref()?;
            group.leaves_alone(table, current).then(|| {
                format!(
                    "{} is not tagged for the group and routes {} to {}, which is not the group's: left alone; tag the table for the group to have it follow the VIP",
                    table.id,
                    route.vip,
                    current.target.id()
                )
            })
        })
        .collect()
}

/// One line per member that is not healthy, and per tagged instance that cannot
/// be a member.
fn health_warnings(group: &Group) -> Vec<String> {
    let mut warnings: Vec<String> = group
        .members
        .iter()
        .filter(|m| m.health.grade != Grade::Healthy)
        .map(|m| match m.health.grade {
            Grade::Failed => format!("member {} failed: {}", m.instance_id, m.health.summary()),
            _ => format!(
                "member {} health is unknown: {}",
                m.instance_id,
                m.health.summary()
            ),
        })
        .collect();
    warnings.extend(group.unresolved.iter().map(|u| {
        format!(
            "instance {} is tagged for the group but cannot be a member: {}",
            u.instance_id, u.detail
        )
    }));
    if group.members.len() + group.unresolved.len() < 2 {
        warnings.push(format!(
            "group {} has a single member: there is nothing to fail over to",
            group.name
        ));
    }
    warnings
}

fn target_warnings(group: &Group, chosen: &Member) -> Vec<String> {
    let mut warnings = Vec::new();
    if chosen.health.grade == Grade::Unknown {
        // An operator may name (or leave) a target of unknown health while
        // another member is healthy; only say "none is" when it is true.
        let none_healthy = group
            .members
            .iter()
            .all(|m| m.health.grade != Grade::Healthy);
        warnings.push(format!(
            "{} was chosen although its health is unknown ({}){}",
            chosen.instance_id,
            chosen.health.summary(),
            if none_healthy {
                ": no member is healthy"
            } else {
                ""
            }
        ));
    }
    if chosen.source_dest_check == Some(true) {
        warnings.push(format!(
            "ENI {} of {} has source/dest check enabled and will drop traffic for the VIP; disable it (aws ec2 modify-network-interface-attribute --network-interface-id {} --no-source-dest-check)",
            chosen.eni_id, chosen.instance_id, chosen.eni_id
        ));
    }
    warnings
}

/// `i-a (failed: state stopped); i-b (healthy)`.
fn member_health(group: &Group) -> String {
    let members = group.members.iter().map(|m| {
        let grade = match m.health.grade {
            Grade::Healthy => "healthy".to_string(),
            Grade::Unknown => format!("unknown: {}", m.health.summary()),
            Grade::Failed => format!("failed: {}", m.health.summary()),
        };
        format!("{} ({grade})", m.instance_id)
    });
    let unresolved = group
        .unresolved
        .iter()
        .map(|u| format!("{} (failed: {})", u.instance_id, u.detail));
    members.chain(unresolved).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests;
