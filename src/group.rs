//! A failover group as the decision sees it: members graded from every signal,
//! the VIPs, and the route tables that carry (or must carry) the VIP routes.
//!
//! Building a [`Group`] is where the tag contract is enforced, with one line drawn
//! on purpose: a **member** that cannot be used (terminated without VPC or ENI, a
//! detached or foreign ENI, a bad tag value, a VPC or VIP the group's own route
//! tables do not carry, outside a sealed member list) is a failed member named in
//! the warnings, because refusing the whole group would leave the VIP wherever it
//! is, possibly on that very member; the incumbent configuration wins over a
//! dissenting tag (`incumbent.rs`). A group is refused only when nothing tells
//! which configuration is the incumbent, or when it cannot work at all (a VIP
//! inside the VPC, a name too long for its tags).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::health::{Health, ProbeSignal, ReportedDown};
use crate::probe::ProbeSettings;
use crate::tags::{split_list, TagContract};
use crate::world::{
    AlarmRecord, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord, RouteTarget,
    StatusChecks,
};

mod error;
mod incumbent;
mod record;
mod rules;

pub(crate) use record::MoveRecord;

pub use error::ConfigError;
use error::MemberError;
use incumbent::{
    group_preempt, group_probe, incumbent_vips, incumbent_vpc, seal_of, uncontested, vips_elsewhere,
};
use rules::{group_tables, outside_vpc, resolve, writable_name, Candidate};

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
    /// The private address of the ENI the VIP routes to (what is probed).
    pub(crate) address: Option<std::net::IpAddr>,
    /// The prober's last fresh verdict, up or down.
    pub(crate) probe: Option<ProbeSignal>,
    /// The security groups of that ENI.
    pub(crate) security_groups: Vec<String>,
    /// Taken out of candidacy by its maintenance tag.
    pub(crate) maintenance: bool,
    /// Its `Name` tag, for people.
    pub(crate) name: Option<String>,
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
    /// Listed in the stack's `RouteTableIds`: the function may write it though
    /// it is not tagged.
    pub(crate) listed: bool,
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
    /// The sealed member list, when there is one.
    pub(crate) seal: Option<Seal>,
    /// How the in-VPC prober checks the members' service, when they agree on it.
    pub(crate) probe: Option<ProbeSettings>,
    /// The other groups using one of the VIPs in another VPC: by VIP, by VPC.
    pub(crate) vips_elsewhere: BTreeMap<IpNet, BTreeMap<String, BTreeSet<String>>>,
    /// What the tags disagree on that did not stop the group (preemption turned
    /// off, a VIP another group also claims).
    pub(crate) warnings: Vec<String>,
}

impl GroupTable {
    /// The group's own table: tagged for it, or listed in the stack.
    pub(crate) fn own(&self) -> bool {
        self.tagged || self.listed
    }
}

/// What the stack scopes: the route tables it lists (`RouteTableIds`) and, when
/// set, the only instances that may be members (`MemberInstanceIds`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub(crate) listed: BTreeSet<String>,
    pub(crate) members: Option<BTreeSet<String>>,
}

impl Scope {
    /// From the stack's comma-separated lists (empty: nothing listed, no allowlist).
    pub fn new(listed: &str, members: &str) -> Self {
        let set =
            |list: &str| -> BTreeSet<String> { split_list(list).map(str::to_string).collect() };
        let members = set(members);
        Self {
            listed: set(listed),
            members: (!members.is_empty()).then_some(members),
        }
    }
}

/// A sealed member list and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub members: BTreeSet<String>,
    pub sources: Vec<String>,
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
        !table.own() && !self.may_move(route)
    }

    /// Rule "only the group's own tables vote": the tables tagged for the group
    /// or listed in the stack decide who holds the VIP and carry its move
    /// records; other tables only follow. A group with no table of its own
    /// falls back to the tables whose VIP route is the group's.
    pub(crate) fn voting_tables(&self) -> impl Iterator<Item = &GroupTable> {
        let any_own = self.tables.iter().any(GroupTable::own);
        self.tables.iter().filter(move |t| {
            if any_own {
                t.own()
            } else {
                t.routes
                    .iter()
                    .any(|r| r.current.as_ref().is_some_and(|c| self.may_move(c)))
            }
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
    /// The route tables of the VPCs the group's members are in.
    pub(crate) tables: &'a [RouteTableRecord],
    /// The CIDRs of those VPCs, by VPC id.
    pub(crate) vpc_cidrs: &'a BTreeMap<String, Vec<IpNet>>,
    pub(crate) scope: &'a Scope,
    pub(crate) alarms: &'a [AlarmRecord],
    /// Why the alarm levels could not be read this time, if they could not.
    pub(crate) alarms_unread: Option<&'a str>,
    /// A down state an EC2 state-change event reported for one instance.
    pub(crate) reported_down: Option<(&'a str, ReportedDown)>,
    /// The prober's fresh verdicts, by instance id.
    pub(crate) probes: &'a BTreeMap<String, ProbeSignal>,
}

/// The instances tagged for group `name`, or why there is no such group (a
/// name whose tags EC2 could not carry is no group either).
pub(crate) fn members_of<'a>(
    name: &str,
    instances: &'a [InstanceRecord],
    tags: &TagContract,
) -> Result<Vec<&'a InstanceRecord>, ConfigError> {
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
    Ok(members)
}

/// The VPCs the group's route tables are to be read from: its live members'.
pub(crate) fn vpcs_of(members: &[&InstanceRecord]) -> Vec<String> {
    incumbent::candidate_vpcs(members)
}

/// Builds and validates a group from what was read now.
pub(crate) fn build(
    name: &str,
    snapshot: &Snapshot<'_>,
    tags: &TagContract,
) -> Result<Group, ConfigError> {
    let name = name.trim();
    let scoped = (tags, snapshot.scope);
    let records = members_of(name, snapshot.instances, tags)?;
    let vpc_id = incumbent_vpc(name, &records, snapshot.tables, scoped)?;
    let seal = seal_of(name, &vpc_id, snapshot.tables, scoped);
    let (candidates, mut unresolved) = sort_out(&records, &vpc_id, seal.as_ref(), snapshot, tags);
    let (vips, candidates, dissent) =
        incumbent_vips(name, &vpc_id, candidates, snapshot.tables, scoped)?;
    unresolved.extend(dissent.into_iter().map(|(instance, error)| Unresolved {
        instance_id: instance,
        detail: error.to_string(),
    }));
    if candidates.is_empty() {
        let detail: Vec<String> = unresolved.iter().map(|u| u.detail.clone()).collect();
        return Err(ConfigError::NoUsableMember {
            group: name.to_string(),
            detail: detail.join("; "),
        });
    }
    let cidrs = snapshot
        .vpc_cidrs
        .get(&vpc_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    outside_vpc(name, &vpc_id, &vips, cidrs)?;
    let (preempt, preempt_warning) = group_preempt(&candidates, tags);
    let (probe, probe_warning) = group_probe(&candidates, tags);
    let contest = uncontested(
        name,
        &vpc_id,
        &vips,
        snapshot.instances,
        snapshot.tables,
        tags,
    )?;
    let elsewhere = vips_elsewhere(name, &vpc_id, &vips, snapshot.instances, tags);
    let mut members: Vec<Member> = candidates.into_iter().map(|c| c.member).collect();
    members.sort_by(|a, b| (a.priority, &a.instance_id).cmp(&(b.priority, &b.instance_id)));
    let tables = group_tables(name, &vpc_id, &vips, snapshot.tables, scoped);
    let owned = records
        .iter()
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
        seal,
        probe,
        vips_elsewhere: elsewhere,
        warnings: [preempt_warning, probe_warning, contest]
            .into_iter()
            .flatten()
            .collect(),
    })
}

/// The tagged instances that can serve, and those set aside with why: one that
/// cannot be resolved (no ENI, a bad tag...), or one outside a sealed list.
fn sort_out(
    records: &[&InstanceRecord],
    vpc_id: &str,
    seal: Option<&Seal>,
    snapshot: &Snapshot<'_>,
    tags: &TagContract,
) -> (Vec<Candidate>, Vec<Unresolved>) {
    let mut candidates = Vec::new();
    let mut unresolved = Vec::new();
    for record in records {
        let error = match resolve(record, vpc_id, snapshot, tags) {
            Err(e) => e,
            Ok(_) if !seal.is_none_or(|s| s.members.contains(&record.id)) => {
                MemberError::NotSealed {
                    instance: record.id.clone(),
                    sources: seal.map(|s| s.sources.join(", ")).unwrap_or_default(),
                }
            }
            Ok(candidate) => {
                candidates.push(candidate);
                continue;
            }
        };
        unresolved.push(Unresolved {
            instance_id: record.id.clone(),
            detail: error.to_string(),
        });
    }
    (candidates, unresolved)
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
