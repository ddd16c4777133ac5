//! The JSON an invocation returns (and that reaches people through the async
//! invocation's destinations): what was decided, what changed, table by table.

use serde::Serialize;

use crate::group::{Group, Member};
use crate::plan::{Action, WriteKind};
use crate::world::{CheckStatus, InstanceState, RouteRecord, RouteTarget};

/// A member as named in reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub instance_id: String,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    /// As read before the move; `true` on the target means dropped VIP traffic.
    pub source_dest_check: Option<bool>,
}

impl From<&Member> for Endpoint {
    fn from(m: &Member) -> Self {
        Self {
            instance_id: m.instance_id.clone(),
            eni_id: m.eni_id.clone(),
            availability_zone: m.availability_zone.clone(),
            source_dest_check: m.source_dest_check,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Missing in a table that is not tagged for the group; left alone by design.
    Absent,
}

impl RouteResult {
    pub fn written(kind: WriteKind) -> Self {
        match kind {
            WriteKind::Create => Self::Created,
            WriteKind::Replace => Self::Replaced,
        }
    }

    pub fn planned(kind: WriteKind) -> Self {
        match kind {
            WriteKind::Create => Self::WouldCreate,
            WriteKind::Replace => Self::WouldReplace,
        }
    }
}

/// One VIP route of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub warnings: Vec<String>,
    pub duration_ms: u64,
}

impl Report {
    pub fn failed_routes(&self) -> Vec<String> {
        self.route_tables
            .iter()
            .filter(|r| r.result == RouteResult::Failed)
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
}

/// A member in a status answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    pub instance_id: String,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    pub priority: u32,
    pub state: InstanceState,
    pub instance_status: CheckStatus,
    pub system_status: CheckStatus,
    pub healthy: bool,
    pub source_dest_check: Option<bool>,
    /// Every VIP route points at this member.
    pub active: bool,
}

/// Where one table's VIP route points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStatus {
    pub route_table_id: String,
    pub tagged: bool,
    pub destination: String,
    pub target: Option<String>,
    /// The member the route points at, if any.
    pub member: Option<String>,
}

/// Answer to the manual `status` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub group: String,
    pub vpc_id: String,
    pub vips: Vec<String>,
    pub preempt: bool,
    pub active: Option<String>,
    pub members: Vec<MemberStatus>,
    pub route_tables: Vec<TableStatus>,
    /// What a reconcile would do now.
    pub reconcile: Action,
    pub reconcile_reason: String,
    pub warnings: Vec<String>,
}

impl StatusReport {
    pub fn new(group: &Group, active: Option<&Member>, reconcile: &crate::plan::Plan) -> Self {
        let active_id = active.map(|a| a.instance_id.clone());
        Self {
            group: group.name.clone(),
            vpc_id: group.vpc_id.clone(),
            vips: group.vips.iter().map(ToString::to_string).collect(),
            preempt: group.preempt,
            active: active_id.clone(),
            members: group
                .members
                .iter()
                .map(|m| MemberStatus {
                    instance_id: m.instance_id.clone(),
                    eni_id: m.eni_id.clone(),
                    availability_zone: m.availability_zone.clone(),
                    priority: m.priority,
                    state: m.state,
                    instance_status: m.instance_status,
                    system_status: m.system_status,
                    healthy: m.is_healthy(),
                    source_dest_check: m.source_dest_check,
                    active: active_id.as_deref() == Some(m.instance_id.as_str()),
                })
                .collect(),
            route_tables: group
                .tables
                .iter()
                .flat_map(|t| {
                    t.routes.iter().map(|r| TableStatus {
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
                })
                .collect(),
            reconcile: reconcile.action,
            reconcile_reason: reconcile.reason.clone(),
            warnings: reconcile.warnings.clone(),
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
        groups: Vec<Report>,
        duration_ms: u64,
    },
    Status(StatusReport),
    Check(crate::preflight::CheckReport),
    /// The event needs no action (e.g. INSUFFICIENT_DATA, an instance in no group).
    Ignored {
        action: &'static str,
        reason: String,
        trigger: String,
    },
}

/// A route target as operators read it.
pub fn describe_route(route: &RouteRecord) -> String {
    let id = route.target.id();
    match (&route.target, route.blackhole) {
        (_, true) => format!("{id} (blackhole)"),
        (RouteTarget::Other(_), false) => format!("{id} (not a group member)"),
        _ => id.to_string(),
    }
}
