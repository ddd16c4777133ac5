//! A failover group as the decision sees it: members graded from every signal,
//! the VIPs, and the route tables that carry (or must carry) the VIP routes.
//!
//! Building a [`Group`] is where the tag contract is enforced, with one line drawn
//! on purpose: a group that **contradicts itself** (members disagreeing on the VIP,
//! the VPC or preemption, a VIP inside the VPC, a VIP claimed by two groups) is
//! refused, because any move would be a guess; a **member** that cannot be used
//! (terminated without VPC or ENI, a detached or foreign ENI, a bad tag value) is a
//! failed member named in the warnings, because refusing the whole group would
//! leave the VIP wherever it is, possibly on that very member.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::health::{Health, ReportedDown};
use crate::tags::{split_list, TagContract};
use crate::world::{
    AlarmRecord, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord, RouteTarget,
    StatusChecks,
};

mod error;
mod rules;

pub use error::ConfigError;
use rules::{
    agreed_preempt, agreed_vips, group_tables, outside_vpc, resolve, uncontested, writable_name,
};

/// One server that can hold the VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Member {
    pub(crate) instance_id: String,
    pub(crate) eni_id: String,
    pub(crate) availability_zone: Option<String>,
    pub(crate) priority: u32,
    pub(crate) state: InstanceState,
    pub(crate) checks: StatusChecks,
    pub(crate) source_dest_check: Option<bool>,
    pub(crate) health: Health,
}

impl Member {
    /// Whether a route target points at this member.
    pub(crate) fn is_target_of(&self, target: &RouteTarget) -> bool {
        match target {
            RouteTarget::NetworkInterface(eni) => *eni == self.eni_id,
            RouteTarget::Instance(id) => *id == self.instance_id,
            RouteTarget::Other(_) => false,
        }
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.health.is_failed()
    }
}

/// An instance tagged into the group that cannot serve as a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    pub instance_id: String,
    pub detail: String,
}

/// The VIP route of one table for one VIP, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VipRoute {
    pub(crate) vip: IpNet,
    pub(crate) current: Option<RouteRecord>,
}

/// A route table that carries (or, being tagged for the group, must carry) VIP routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupTable {
    pub(crate) id: String,
    /// Tagged for this group: missing VIP routes are created. Untagged tables only
    /// get their existing VIP routes moved, never new ones.
    pub(crate) tagged: bool,
    pub(crate) routes: Vec<VipRoute>,
    /// The raw move record (tag value) this table carries for the group, if any.
    pub(crate) record: Option<String>,
}

/// A validated failover group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) vpc_id: String,
    pub(crate) vips: Vec<IpNet>,
    pub(crate) preempt: bool,
    /// Sorted by preference: priority, then instance id, so ties break the same way
    /// on every run.
    pub(crate) members: Vec<Member>,
    /// Tagged instances that cannot be members; failed by definition.
    pub(crate) unresolved: Vec<Unresolved>,
    pub(crate) tables: Vec<GroupTable>,
    /// Every instance id tagged for the group and every ENI attached to one,
    /// usable or not: what a VIP route may point at and still be the group's.
    pub(crate) owned: BTreeSet<String>,
}

/// A move as recorded on the group's route tables before its first route write
/// (see [`TagContract::last_move`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MoveRecord {
    pub(crate) at: DateTime<Utc>,
    pub(crate) from: Option<String>,
    pub(crate) to: String,
}

impl MoveRecord {
    /// Tag value: `2026-11-24T03:00:00Z i-0aaa>i-0bbb` (`-` when there was no holder).
    pub(crate) fn to_tag_value(&self) -> String {
        format!(
            "{} {}>{}",
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.from.as_deref().unwrap_or("-"),
            self.to
        )
    }

    /// `None` for a value this version cannot read: a damaged record must never
    /// block a failover, it only loses what it would have told.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (at, moved) = value.trim().split_once(' ')?;
        let (from, to) = moved.trim().split_once('>')?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        let to = to.trim();
        if to.is_empty() {
            return None;
        }
        Some(Self {
            at,
            from: Some(from.trim())
                .filter(|f| !f.is_empty() && *f != "-")
                .map(str::to_string),
            to: to.to_string(),
        })
    }
}

impl Group {
    pub(crate) fn member(&self, instance_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.instance_id == instance_id)
    }

    pub(crate) fn member_for(&self, target: &RouteTarget) -> Option<&Member> {
        self.members.iter().find(|m| m.is_target_of(target))
    }

    pub(crate) fn member_ids(&self) -> String {
        let ids: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.instance_id.as_str())
            .chain(self.unresolved.iter().map(|u| u.instance_id.as_str()))
            .collect();
        ids.join(", ")
    }

    /// Whether a VIP route is the group's to move in a table not tagged for it:
    /// it points at one of the group's instances or ENIs, or at nothing any more.
    pub(crate) fn may_move(&self, route: &RouteRecord) -> bool {
        route.blackhole || self.owned.contains(route.target.id())
    }

    /// Rule "trust boundary": a VIP route in a table not tagged for the group
    /// that points at something not the group's (a gateway, a peering, another
    /// group's ENI) belongs to someone else and is never written.
    pub(crate) fn leaves_alone(&self, table: &GroupTable, route: &RouteRecord) -> bool {
        !table.tagged && !self.may_move(route)
    }

    /// The tables that are the group's own: tagged for it, or holding a VIP
    /// route that is the group's. Its move records live there, and only there.
    pub(crate) fn own_tables(&self) -> impl Iterator<Item = &GroupTable> {
        self.tables.iter().filter(|t| {
            t.tagged
                || t.routes
                    .iter()
                    .any(|r| r.current.as_ref().is_some_and(|c| self.may_move(c)))
        })
    }

    /// Every VIP route of the group, with its table.
    pub(crate) fn routes(&self) -> impl Iterator<Item = (&GroupTable, &VipRoute)> {
        self.tables
            .iter()
            .flat_map(|t| t.routes.iter().map(move |r| (t, r)))
    }
}

/// The one membership rule, on every path: an instance belongs to the group its
/// group tag names, compared without surrounding spaces (a console paste of
/// `web ` is still `web`).
pub(crate) fn group_of<'a>(instance: &'a InstanceRecord, tags: &TagContract) -> Option<&'a str> {
    instance
        .tags
        .get(&tags.group())
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

pub(crate) fn is_member(instance: &InstanceRecord, group: &str, tags: &TagContract) -> bool {
    group_of(instance, tags) == Some(group.trim())
}

/// Every group named by an instance's group tag.
pub fn group_names(instances: &[InstanceRecord], tags: &TagContract) -> BTreeSet<String> {
    instances
        .iter()
        .filter_map(|i| group_of(i, tags))
        .map(str::to_string)
        .collect()
}

/// Whether a route table's group tag names `group`.
pub(crate) fn table_is_tagged_for(
    table: &RouteTableRecord,
    group: &str,
    tags: &TagContract,
) -> bool {
    table
        .tags
        .get(&tags.group())
        .is_some_and(|v| split_list(v).any(|g| g == group.trim()))
}

/// What was read now, for one group (instances: every instance carrying the
/// group tag key, of every group, so that claims can be compared).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot<'a> {
    pub(crate) instances: &'a [InstanceRecord],
    /// The route tables of the group's VPC.
    pub(crate) tables: &'a [RouteTableRecord],
    pub(crate) vpc_cidrs: &'a [IpNet],
    pub(crate) alarms: &'a [AlarmRecord],
    /// Why the alarm levels could not be read this time, if they could not.
    pub(crate) alarms_unread: Option<&'a str>,
    /// A down state an EC2 state-change event reported for one instance.
    pub(crate) reported_down: Option<(&'a str, ReportedDown)>,
}

/// The VPC a group lives in: the one its live members share. Terminated or
/// shutting-down members only count when no live member has a VPC.
pub(crate) fn vpc_of(
    name: &str,
    instances: &[InstanceRecord],
    tags: &TagContract,
) -> Result<String, ConfigError> {
    writable_name(name, tags)?;
    let members: Vec<&InstanceRecord> = instances
        .iter()
        .filter(|i| is_member(i, name, tags))
        .collect();
    if members.is_empty() {
        return Err(ConfigError::UnknownGroup {
            group: name.trim().to_string(),
            tag_key: tags.group(),
        });
    }
    let gone = |i: &&&InstanceRecord| i.state.is_gone();
    let live: Vec<&&InstanceRecord> = members
        .iter()
        .filter(|i| !gone(i) && i.vpc_id.is_some())
        .collect();
    let voters: Vec<&&InstanceRecord> = if live.is_empty() {
        members.iter().filter(|i| i.vpc_id.is_some()).collect()
    } else {
        live
    };
    let Some(first) = voters.first() else {
        return Err(ConfigError::NoUsableMember {
            group: name.trim().to_string(),
            detail: "no member is in a VPC".to_string(),
        });
    };
    let first_vpc = first.vpc_id.clone().unwrap_or_default();
    match voters
        .iter()
        .find(|i| i.vpc_id.as_deref() != Some(first_vpc.as_str()))
    {
        Some(other) => Err(ConfigError::MixedVpcs {
            group: name.trim().to_string(),
            first: first.id.clone(),
            first_vpc,
            second: other.id.clone(),
            second_vpc: other.vpc_id.clone().unwrap_or_default(),
        }),
        None => Ok(first_vpc),
    }
}

/// Builds and validates a group from what was read now.
pub(crate) fn build(
    name: &str,
    snapshot: &Snapshot<'_>,
    tags: &TagContract,
) -> Result<Group, ConfigError> {
    let name = name.trim();
    let vpc_id = vpc_of(name, snapshot.instances, tags)?;
    let mut candidates = Vec::new();
    let mut unresolved = Vec::new();
    for record in snapshot
        .instances
        .iter()
        .filter(|i| is_member(i, name, tags))
    {
        match resolve(record, &vpc_id, snapshot, tags) {
            Ok(candidate) => candidates.push(candidate),
            Err(e) => unresolved.push(Unresolved {
                instance_id: record.id.clone(),
                detail: e.to_string(),
            }),
        }
    }
    let vips = agreed_vips(name, &candidates, &unresolved, tags)?;
    let preempt = agreed_preempt(name, &candidates, tags)?;
    outside_vpc(name, &vpc_id, &vips, snapshot.vpc_cidrs)?;
    uncontested(name, &vpc_id, &vips, snapshot.instances, tags)?;
    let mut members: Vec<Member> = candidates.into_iter().map(|c| c.member).collect();
    members.sort_by(|a, b| (a.priority, &a.instance_id).cmp(&(b.priority, &b.instance_id)));
    let tables = group_tables(name, &vpc_id, &vips, snapshot.tables, tags);
    let owned = snapshot
        .instances
        .iter()
        .filter(|i| is_member(i, name, tags))
        .flat_map(|i| std::iter::once(i.id.clone()).chain(i.enis.iter().map(|e| e.id.clone())))
        .collect();
    Ok(Group {
        name: name.to_string(),
        vpc_id,
        vips,
        preempt,
        members,
        unresolved,
        tables,
        owned,
    })
}

/// `10.0.0.1/32, 192.168.1.0/24`: VIPs as errors and refusals name them.
pub(crate) fn display_list(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
