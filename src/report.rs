//! The JSON an invocation returns (and that reaches people through the async
//! invocation's destinations): what was decided, what changed, table by table.
//! Built purely from the snapshot, the plan and what the writes and the
//! verifying read returned.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::group::{Group, Member, VipRoute};
use crate::plan::{Action, Outcome, Plan, RouteWrite, WriteKind, WriteOutcome};

pub mod error;
mod status;
mod transit;

pub use status::{MemberStatus, Pinned, ProbeStatus, StatusReport, TableStatus};

use crate::world::{RouteRecord, RouteTableRecord, RouteTarget};
pub use error::Error;
pub(crate) use transit::{transit_routes, TransitOutcome};

/// A member as named in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub instance_id: String,
    /// The instance's `Name` tag, for people.
    #[serde(default)]
    pub name: Option<String>,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    /// As read before the move; `true` on the target means dropped VIP traffic.
    pub source_dest_check: Option<bool>,
}

impl From<&Member> for Endpoint {
    fn from(m: &Member) -> Self {
        Self {
            instance_id: m.instance_id.clone(),
            name: m.name.clone(),
            eni_id: m.eni_id.clone(),
            availability_zone: m.availability_zone.clone(),
            source_dest_check: m.source_dest_check,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteResult {
    /// Already right; not written.
    Unchanged,
    Created,
    Replaced,
    /// Dry run: would be created.
    WouldCreate,
    /// Dry run: would be replaced.
    WouldReplace,
    /// Write failed, or the re-read did not show the route on the target.
    Failed,
    /// Not written: the deadline came first, or the move could not be recorded.
    /// The next invocation writes it.
    Pending,
    /// Missing in a table that is not tagged for the group; left alone by design.
    Absent,
}

impl RouteResult {
    pub(crate) fn written(kind: WriteKind) -> Self {
        match kind {
            WriteKind::Create => Self::Created,
            WriteKind::Replace => Self::Replaced,
        }
    }

    pub(crate) fn planned(kind: WriteKind) -> Self {
        match kind {
            WriteKind::Create => Self::WouldCreate,
            WriteKind::Replace => Self::WouldReplace,
        }
    }
}

/// One VIP route of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteReport {
    pub route_table_id: String,
    pub destination: String,
    /// Target before, e.g. `eni-0abc`, `eni-0abc (blackhole)`; null when missing.
    pub before: Option<String>,
    /// Target after (re-read from EC2 for written routes).
    pub after: Option<String>,
    pub result: RouteResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub group: String,
    pub action: Action,
    /// A route was created or replaced. The notification topic can filter on it
    /// (an SNS filter policy on the message body) to mail only real changes.
    pub changed: bool,
    pub reason: String,
    /// What triggered the invocation, e.g. `alarm web-a-status (ALARM)`.
    pub trigger: String,
    pub dry_run: bool,
    pub from: Option<Endpoint>,
    pub to: Option<Endpoint>,
    pub route_tables: Vec<RouteReport>,
    /// The VIP routes of the Transit Gateway route tables tagged for the group
    /// (`before`/`after` are attachment ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transit_routes: Vec<RouteReport>,
    pub warnings: Vec<String>,
    pub duration_ms: u64,
}

impl Report {
    pub fn failed_routes(&self) -> Vec<String> {
        self.routes_with(RouteResult::Failed)
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r.route_table_id,
                    r.destination,
                    r.error.as_deref().unwrap_or("not verified")
                )
            })
            .collect()
    }

    pub fn pending_routes(&self) -> Vec<String> {
        self.routes_with(RouteResult::Pending)
            .map(|r| format!("{} {}", r.route_table_id, r.destination))
            .collect()
    }

    /// Whether this run moved the VIP to another member: it wrote VPC routes
    /// (a Transit Gateway repair in the same run is no move, and a hook that
    /// fences the old holder must never run on one) towards a member other
    /// than the holder it found. A failover, or a move a hold-down kept and
    /// finished; not a repair of strays.
    pub fn moved_the_vip(&self) -> bool {
        let to = self.to.as_ref().map(|e| &e.instance_id);
        let from = self.from.as_ref().map(|e| &e.instance_id);
        !self.dry_run && self.written_routes() > 0 && to.is_some() && to != from
    }

    pub fn written_routes(&self) -> usize {
        self.route_tables
            .iter()
            .filter(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced))
            .count()
    }

    /// The VPC's routes: the failover. (Transit Gateway routes that failed are
    /// warnings; see `handler/transit.rs`.)
    fn routes_with(&self, result: RouteResult) -> impl Iterator<Item = &RouteReport> {
        self.route_tables.iter().filter(move |r| r.result == result)
    }
}

/// What the apply step returned, for [`build`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applied<'a> {
    pub(crate) dry_run: bool,
    pub(crate) outcomes: &'a [WriteOutcome],
    /// The written tables as re-read, or why they could not be.
    pub(crate) verified: Result<&'a [RouteTableRecord], &'a str>,
    /// Warnings of the apply step (move record, source/dest check, other writers).
    pub(crate) warnings: &'a [String],
}

/// The report of one group's run.
pub(crate) fn build(
    group: &Group,
    plan: &Plan,
    applied: &Applied<'_>,
    trigger: &str,
    duration_ms: u64,
) -> Report {
    let outcomes: HashMap<(&str, String), &Outcome> = applied
        .outcomes
        .iter()
        .map(|o| {
            (
                (
                    o.write.route_table_id.as_str(),
                    o.write.destination.to_string(),
                ),
                &o.outcome,
            )
        })
        .collect();
    let planned: HashMap<(&str, String), &RouteWrite> = plan
        .writes
        .iter()
        .map(|w| ((w.route_table_id.as_str(), w.destination.to_string()), w))
        .collect();
    let wanted = plan.to.as_ref().map(|m| m.eni_id.as_str());
    let route_tables: Vec<RouteReport> = group
        .routes()
        .map(|(table, route)| {
            let key = (table.id.as_str(), route.vip.to_string());
            let entry = untouched(&table.id, route);
            match planned.get(&key) {
                None => entry,
                Some(write) if applied.dry_run => RouteReport {
                    result: RouteResult::planned(write.kind),
                    after: Some(write.eni_id.clone()),
                    ..entry
                },
                Some(_) => written(
                    entry,
                    outcomes.get(&key).copied(),
                    applied,
                    &table.id,
                    route,
                    wanted,
                ),
            }
        })
        .collect();
    let changed = route_tables
        .iter()
        .any(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced));
    let mut warnings = plan.warnings.clone();
    warnings.extend(applied.warnings.iter().cloned());
    Report {
        group: group.name.clone(),
        action: plan.action,
        changed,
        reason: plan.reason.clone(),
        trigger: trigger.to_string(),
        dry_run: applied.dry_run,
        from: plan.from.as_ref().map(Endpoint::from),
        to: plan.to.as_ref().map(Endpoint::from),
        route_tables,
        transit_routes: Vec::new(),
        warnings,
        duration_ms,
    }
}

fn untouched(table_id: &str, route: &VipRoute) -> RouteReport {
    let before = route.current.as_ref().map(describe_route);
    RouteReport {
        route_table_id: table_id.to_string(),
        destination: route.vip.to_string(),
        after: before.clone(),
        before,
        result: if route.current.is_some() {
            RouteResult::Unchanged
        } else {
            RouteResult::Absent
        },
        error: None,
    }
}

/// A planned write as it turned out: accepted and seen on the target by the
/// re-read, failed, or not started.
fn written(
    entry: RouteReport,
    outcome: Option<&Outcome>,
    applied: &Applied<'_>,
    table_id: &str,
    route: &VipRoute,
    wanted: Option<&str>,
) -> RouteReport {
    let failed = |error: String| RouteReport {
        result: RouteResult::Failed,
        error: Some(error),
        ..entry.clone()
    };
    match outcome {
        None | Some(Outcome::Pending) => RouteReport {
            result: RouteResult::Pending,
            ..entry.clone()
        },
        Some(Outcome::Failed(e)) => failed(e.clone()),
        Some(Outcome::Written(kind)) => {
            let tables = match applied.verified {
                Ok(tables) => tables,
                Err(why) => {
                    return failed(format!("written, but the verifying read failed: {why}"))
                }
            };
            let seen = tables
                .iter()
                .find(|t| t.id == table_id)
                .and_then(|t| t.route_to(&route.vip));
            let after = seen.map(describe_route);
            let problem = match seen {
                None => Some("written, but the re-read does not show the route"),
                Some(r) if r.blackhole => {
                    Some("written, but the re-read shows it as a blackhole: its ENI is gone")
                }
                Some(r) if Some(r.target.id()) != wanted => {
                    Some("written, but the re-read shows it elsewhere: another writer changed it")
                }
                Some(_) => None,
            };
            let result = match problem {
                Some(problem) => failed(problem.to_string()),
                None => RouteReport {
                    result: RouteResult::written(*kind),
                    ..entry.clone()
                },
            };
            RouteReport { after, ..result }
        }
    }
}

/// What an invocation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// A failover decision for one group.
    Group(Report),
    /// A reconcile over several groups.
    Reconcile {
        action: &'static str,
        /// Any group changed a route.
        changed: bool,
        /// A group needs a person: its tags are wrong (see `needs_attention`).
        attention: bool,
        groups: Vec<Report>,
        /// Groups a retry cannot fix, and why: reported, not failed.
        needs_attention: Vec<GroupProblem>,
        duration_ms: u64,
    },
    Status(StatusReport),
    Check(crate::preflight::CheckReport),
    /// A probe round's verdicts, the decision taken from them (a report or an
    /// error document), and the round dispatched next.
    Probe {
        action: &'static str,
        group: String,
        round: String,
        verdict_changes: usize,
        decision: serde_json::Value,
        next_round: Option<String>,
        duration_ms: u64,
    },
    /// The probe tick: the rounds it started (groups whose loop had stopped).
    ProbeTick {
        action: &'static str,
        started: Vec<String>,
        duration_ms: u64,
    },
    /// An operator's pin released (or none was in force).
    Released {
        action: &'static str,
        group: String,
        released: bool,
        reason: String,
    },
    /// The event needs no action (e.g. INSUFFICIENT_DATA, an instance in no group).
    Ignored {
        action: &'static str,
        reason: String,
        trigger: String,
    },
}

impl Response {
    /// Whether a person should hear of this answer: a route was written, or a
    /// group needs attention. The result topic's filter passes only these. A
    /// probe decision that keeps being refused (every round, about a minute)
    /// is not mailed each time: the stack's `refused` alarm says it once.
    pub fn notify(&self) -> bool {
        match self {
            Self::Group(report) => report.changed,
            Self::Reconcile {
                changed, attention, ..
            } => *changed || *attention,
            Self::Probe { decision, .. } => {
                decision["changed"] == true || decision["report"]["changed"] == true
            }
            _ => false,
        }
    }

    /// The answer as the function returns it: the document, plus `notify`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(document) = value.as_object_mut() {
            document.insert("notify".to_string(), self.notify().into());
        }
        value
    }

    pub(crate) fn released(group: &str, released: bool, reason: String) -> Self {
        Self::Released {
            action: "release",
            group: group.to_string(),
            released,
            reason,
        }
    }

    pub(crate) fn ignored(reason: String, trigger: &str) -> Self {
        Self::Ignored {
            action: "ignored",
            reason,
            trigger: trigger.to_string(),
        }
    }
}

/// A group a reconcile could not act on for a reason only a person can fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupProblem {
    pub group: String,
    pub error_type: String,
    pub message: String,
}

impl GroupProblem {
    pub(crate) fn new(group: String, error: &Error) -> Self {
        Self {
            group,
            error_type: error.diagnostic_type(),
            message: error.to_string(),
        }
    }
}

/// A route target as operators read it.
pub(crate) fn describe_route(route: &RouteRecord) -> String {
    let id = route.target.id();
    match (&route.target, route.blackhole) {
        (_, true) => format!("{id} (blackhole)"),
        (RouteTarget::Other(_), false) => format!("{id} (not a group member)"),
        _ => id.to_string(),
    }
}

#[cfg(test)]
mod tests;
