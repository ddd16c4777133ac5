//! The answer to `status`: members with their health and probe verdicts,
//! where every VIP route points, and what a reconcile would do.

use serde::{Deserialize, Serialize};

use super::describe_route;
use crate::group::{Group, Member, MoveRecord, Seal, Unresolved};
use crate::health::Grade;
use crate::plan::{Action, Plan};
use crate::world::{InstanceState, StatusChecks};

/// A member in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub instance_id: String,
    /// The instance's `Name` tag, for people.
    #[serde(default)]
    pub name: Option<String>,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    pub priority: u32,
    pub state: InstanceState,
    pub checks: StatusChecks,
    pub health: Grade,
    /// Why it is not healthy, one line per signal.
    pub findings: Vec<String>,
    pub source_dest_check: Option<bool>,
    /// The VIP routes point at this member (holder by majority).
    pub active: bool,
    /// The in-VPC prober's last fresh verdict on the member's service.
    #[serde(default)]
    pub probe: Option<ProbeStatus>,
    /// Taken out of candidacy by its maintenance tag.
    #[serde(default)]
    pub maintenance: bool,
}

/// A probe verdict as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub up: bool,
    /// The last observation: `answered in 3 ms`, `connection refused`...
    pub reason: String,
    pub age_ms: u64,
}

/// Where one table's VIP route points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStatus {
    pub route_table_id: String,
    pub tagged: bool,
    pub destination: String,
    pub target: Option<String>,
    /// The member the route points at, if any.
    pub member: Option<String>,
}

/// Answer to the manual `status` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub group: String,
    pub vpc_id: String,
    pub vips: Vec<String>,
    pub preempt: bool,
    pub active: Option<String>,
    pub members: Vec<MemberStatus>,
    pub unresolved: Vec<Unresolved>,
    pub route_tables: Vec<TableStatus>,
    /// The VIP routes of the Transit Gateway route tables tagged for the group,
    /// as a reconcile would leave them (`would_create`, `would_replace`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transit_routes: Vec<super::RouteReport>,
    /// An operator's move in force against preemption, and how to end it.
    pub pinned: Option<Pinned>,
    /// The sealed member list, when there is one.
    pub sealed: Option<Seal>,
    /// What a reconcile would do now.
    pub reconcile: Action,
    pub reconcile_reason: String,
    pub warnings: Vec<String>,
}

/// An operator's pin: the member it holds the VIP on, until when, and how to
/// release it sooner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub to: String,
    pub until: String,
    pub release: String,
}

impl StatusReport {
    pub(crate) fn new(
        group: &Group,
        reconcile: &Plan,
        pin: Option<&(MoveRecord, chrono::DateTime<chrono::Utc>)>,
    ) -> Self {
        let active = crate::plan::holder(group).map(|a| a.instance_id.clone());
        Self {
            group: group.name.clone(),
            vpc_id: group.vpc_id.clone(),
            vips: group.vips.iter().map(ToString::to_string).collect(),
            preempt: group.preempt,
            members: group
                .members
                .iter()
                .map(|m| member_status(m, active.as_deref() == Some(m.instance_id.as_str())))
                .collect(),
            active,
            unresolved: group.unresolved.clone(),
            route_tables: group
                .routes()
                .map(|(t, r)| TableStatus {
                    route_table_id: t.id.clone(),
                    tagged: t.tagged,
                    destination: r.vip.to_string(),
                    target: r.current.as_ref().map(describe_route),
                    member: r
                        .current
                        .as_ref()
                        .and_then(|c| group.member_for(&c.target))
                        .map(|m| m.instance_id.clone()),
                })
                .collect(),
            transit_routes: Vec::new(),
            pinned: pin.map(|(record, until)| Pinned {
                to: record.to.clone(),
                until: until.to_rfc3339(),
                release: format!(
                    "vip-failover-cli release --group {} (or the action {{\"action\":\"release\",\"group\":\"{}\"}})",
                    group.name, group.name
                ),
            }),
            sealed: group.seal.clone(),
            reconcile: reconcile.action,
            reconcile_reason: reconcile_reason(reconcile),
            warnings: reconcile.warnings.clone(),
        }
    }
}

/// Why a reconcile would do what it would; a refusal that still writes (rule
/// "a hold-down keeps the VIP whole") says so.
fn reconcile_reason(plan: &crate::plan::Plan) -> String {
    match (&plan.refusal, &plan.to) {
        (Some(_), Some(kept)) if !plan.writes.is_empty() => format!(
            "{}; it would still write {} VIP routes towards {}, which the hold-down keeps",
            plan.reason,
            plan.writes.len(),
            kept.instance_id
        ),
        _ => plan.reason.clone(),
    }
}

fn member_status(m: &Member, active: bool) -> MemberStatus {
    MemberStatus {
        instance_id: m.instance_id.clone(),
        name: m.name.clone(),
        eni_id: m.eni_id.clone(),
        availability_zone: m.availability_zone.clone(),
        priority: m.priority,
        state: m.state,
        checks: m.checks,
        health: m.health.grade,
        findings: m.health.findings.iter().map(|f| f.describe()).collect(),
        source_dest_check: m.source_dest_check,
        active,
        probe: m.probe.as_ref().map(|p| ProbeStatus {
            up: p.up,
            reason: p.reason.clone(),
            age_ms: p.age_ms,
        }),
        maintenance: m.maintenance,
    }
}
