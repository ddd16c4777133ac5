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
//!   impaired) are never held;
//! - **a hold-down keeps the VIP whole**: a kept member that is not failed still
//!   gets every VIP route (a move the hold-down interrupted is finished), so the
//!   VIP is never split between two live members while the refusal waits.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::group::{Group, Member, MoveRecord};
use crate::world::RouteTarget;

mod rules;
mod writes;

pub(crate) use rules::holder;
use rules::{choose_automatic, choose_manual, Choice, View};
use writes::{foreign_routes, health_warnings, target_warnings, writes_towards};

/// What the decision was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Intent {
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
    /// Moving would be unsafe or impossible; nothing is written, except the
    /// routes towards a member a hold-down keeps (rule "a hold-down keeps the
    /// VIP whole").
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WriteKind {
    Create,
    Replace,
}

/// One route to write. Its destination is always a group VIP: the plan never names
/// any other route, which is what keeps unrelated routes safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RouteWrite {
    pub(crate) route_table_id: String,
    pub(crate) destination: IpNet,
    pub(crate) kind: WriteKind,
    pub(crate) before: Option<RouteTarget>,
    pub(crate) eni_id: String,
    /// The table is tagged for the group: a replace whose route vanished may
    /// become a create. In an untagged table no route is ever added.
    pub(crate) may_create: bool,
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
    #[error("{holder} is in maintenance and no other member is fit to take the VIP (members: {members}); it stays there until one is, or the maintenance tag is removed")]
    MaintenanceRefused { holder: String, members: String },
    #[error("target {target} is in maintenance (its maintenance tag is true): remove the tag first, or choose another member")]
    TargetInMaintenance { target: String },
    #[error("hold-down until {until}: {holder} keeps the VIP although it is not healthy ({health}); it moved there at {moved_at}; a retry or the scheduled reconcile moves it once the hold-down ends")]
    HeldDown {
        holder: String,
        health: String,
        moved_at: String,
        until: String,
    },
}

impl Refusal {
    /// A short, stable name for dashboards and the Lambda error type.
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            Self::NoRouteTables { .. } => "NoRouteTables",
            Self::UnknownTarget { .. } => "UnknownTarget",
            Self::TargetFailed { .. } => "TargetUnhealthy",
            Self::NoHealthyMember { .. } | Self::NoOtherMember { .. } => "FailoverRefused",
            Self::HeldDown { .. } => "HeldDown",
            Self::MaintenanceRefused { .. } => "MaintenanceRefused",
            Self::TargetInMaintenance { .. } => "TargetInMaintenance",
        }
    }

    /// Whether the same request may succeed later without anyone changing
    /// anything: members recover, hold-downs end; tags and names do not fix
    /// themselves.
    pub(crate) fn retryable(&self) -> bool {
        !matches!(
            self,
            Self::NoRouteTables { .. }
                | Self::UnknownTarget { .. }
                | Self::TargetInMaintenance { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) action: Action,
    pub(crate) reason: String,
    /// Set exactly when `action` is `Refused`.
    pub(crate) refusal: Option<Refusal>,
    /// The holder by majority before the decision.
    pub(crate) from: Option<Member>,
    /// The member that holds (or keeps) the VIP; `None` when refused, unless a
    /// hold-down keeps it (rule "a hold-down keeps the VIP whole").
    pub(crate) to: Option<Member>,
    pub(crate) writes: Vec<RouteWrite>,
    /// The move to record on the group's tables before the first route write.
    pub(crate) record: Option<MoveRecord>,
    /// The move takes the VIP off a failed member (or converges it from no
    /// member): bookkeeping never blocks it.
    pub(crate) urgent: bool,
    pub(crate) warnings: Vec<String>,
}

impl Plan {
    /// Rule "record before write": a move over more than one route is recorded
    /// on the group's tables before its first route write, so a run killed half
    /// way is finished by the next one, never reverted; a move that cannot be
    /// recorded is not started. A one-route move cannot stop half way: its record
    /// goes out with its write, one round trip sooner.
    pub(crate) fn records_first(&self) -> bool {
        self.writes.len() > 1 && self.record.is_some()
    }

    /// Rule "a move off a failed holder is never blocked by bookkeeping": only a
    /// move for preference (preemption, an operator's choice of a healthy
    /// holder) waits for its record; an urgent one goes ahead with a warning.
    pub(crate) fn waits_for_record(&self) -> bool {
        self.records_first() && !self.urgent
    }
}

/// What happened to one route write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// EC2 accepted it: the planned kind, or the other one when the route appeared
    /// or vanished since it was read (another invocation, an operator).
    Written(WriteKind),
    /// Refused or failed beyond its retries: why, as the adapter said it.
    Failed(String),
    /// Not done before the last moment a write could start.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteOutcome {
    pub(crate) write: RouteWrite,
    pub(crate) outcome: Outcome,
}

/// Time-dependent rules, kept out of the snapshot so the decision stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) now: DateTime<Utc>,
    /// After a move, automatic triggers may not move the VIP again for this long.
    /// Zero disables it.
    pub(crate) hold_down: Duration,
    /// How long an operator's move is pinned against preemption.
    pub(crate) pin: Duration,
}

impl Policy {
    /// No hold-down, at the current time.
    #[cfg(test)]
    pub(crate) fn immediate() -> Self {
        Self {
            now: Utc::now(),
            hold_down: Duration::ZERO,
            pin: Duration::from_secs(86_400),
        }
    }
}

/// The operator's pin in force on the group, if any: the record that pins and
/// until when (for `status` and the `release` action).
pub(crate) fn pin(group: &Group, policy: &Policy) -> Option<(MoveRecord, DateTime<Utc>)> {
    let record = rules::recorded_move(group, policy, &mut Vec::new())?;
    let until = rules::pin_end(&record, policy)?;
    Some((record, until))
}

/// SigV4 refuses requests signed more than five minutes off AWS's clock, so no
/// genuine writer can date a move record later than this.
pub(crate) const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// How long a recorded move may still be unfinished: the template drops events
/// older than 15 minutes (`MaximumEventAgeInSeconds`), and by then three
/// scheduled reconciles have had their turn. An older record is history, not a
/// move in flight: it no longer outranks the majority.
pub(crate) const PENDING_MOVE_TTL: chrono::Duration = chrono::Duration::minutes(15);

pub(crate) fn decide(group: &Group, intent: &Intent, policy: &Policy) -> Plan {
    let mut warnings = health_warnings(group);
    warnings.extend(group.warnings.iter().cloned());
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
    let pinned_until = match intent {
        Intent::Automatic => None,
        Intent::Failover { .. } => chrono::Duration::from_std(policy.pin)
            .ok()
            .and_then(|pin| policy.now.checked_add_signed(pin)),
    };
    match choice {
        Ok(choice) => plan_writes(group, &view, choice, (policy, pinned_until), warnings),
        Err(refusal) => kept_whole(group, &view, refused(&view, refusal, warnings)),
    }
}

/// Rule "a hold-down keeps the VIP whole": a held-down refusal still writes
/// the routes towards the member it keeps, when that member is not failed (a
/// move the hold-down interrupted, strays). A failed kept member gets none: the
/// clients whose routes point elsewhere keep their service until it ends.
fn kept_whole(group: &Group, view: &View<'_>, plan: Plan) -> Plan {
    match (&plan.refusal, view.incumbent()) {
        (Some(Refusal::HeldDown { .. }), Some(kept)) if !kept.is_failed() => Plan {
            writes: writes_towards(group, kept),
            to: Some(kept.clone()),
            ..plan
        },
        _ => plan,
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
        urgent: false,
        warnings,
    }
}

/// Turns the chosen member into writes, an action and the move record.
fn plan_writes(
    group: &Group,
    view: &View<'_>,
    choice: Choice<'_>,
    (policy, pinned_until): (&Policy, Option<DateTime<Utc>>),
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
        pinned_until,
    });
    Plan {
        action,
        reason,
        refusal: None,
        from: view.holder.cloned(),
        to: Some(chosen.clone()),
        writes,
        record,
        urgent: view.holder.is_none_or(Member::is_failed),
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

#[cfg(test)]
mod tests;
