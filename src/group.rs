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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, MemberError};
use crate::health::{self, Health, ReportedDown, Signals};
use crate::tags::{split_list, TagContract, DEFAULT_PRIORITY, MAX_TAG_KEY_CHARS};
use crate::world::{
    AlarmRecord, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord, RouteTarget,
    StatusChecks,
};

/// One server that can hold the VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub instance_id: String,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    pub priority: u32,
    pub state: InstanceState,
    pub checks: StatusChecks,
    pub source_dest_check: Option<bool>,
    pub health: Health,
}

impl Member {
    /// Whether a route target points at this member.
    pub fn is_target_of(&self, target: &RouteTarget) -> bool {
        match target {
            RouteTarget::NetworkInterface(eni) => *eni == self.eni_id,
            RouteTarget::Instance(id) => *id == self.instance_id,
            RouteTarget::Other(_) => false,
        }
    }

    pub fn is_failed(&self) -> bool {
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
pub struct VipRoute {
    pub vip: IpNet,
    pub current: Option<RouteRecord>,
}

/// A route table that carries (or, being tagged for the group, must carry) VIP routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTable {
    pub id: String,
    /// Tagged for this group: missing VIP routes are created. Untagged tables only
    /// get their existing VIP routes moved, never new ones.
    pub tagged: bool,
    pub routes: Vec<VipRoute>,
    /// The raw move record (tag value) this table carries for the group, if any.
    pub record: Option<String>,
}

/// A validated failover group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub vpc_id: String,
    pub vips: Vec<IpNet>,
    pub preempt: bool,
    /// Sorted by preference: priority, then instance id, so ties break the same way
    /// on every run.
    pub members: Vec<Member>,
    /// Tagged instances that cannot be members; failed by definition.
    pub unresolved: Vec<Unresolved>,
    pub tables: Vec<GroupTable>,
    /// Every instance id tagged for the group and every ENI attached to one,
    /// usable or not: what a VIP route may point at and still be the group's.
    pub owned: BTreeSet<String>,
}

/// A move as recorded on the group's route tables before its first route write
/// (see [`TagContract::last_move`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveRecord {
    pub at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: String,
}

impl MoveRecord {
    /// Tag value: `2026-11-24T03:00:00Z i-0aaa>i-0bbb` (`-` when there was no holder).
    pub fn to_tag_value(&self) -> String {
        format!(
            "{} {}>{}",
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.from.as_deref().unwrap_or("-"),
            self.to
        )
    }

    /// `None` for a value this version cannot read: a damaged record must never
    /// block a failover, it only loses what it would have told.
    pub fn parse(value: &str) -> Option<Self> {
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
    pub fn member(&self, instance_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.instance_id == instance_id)
    }

    pub fn member_for(&self, target: &RouteTarget) -> Option<&Member> {
        self.members.iter().find(|m| m.is_target_of(target))
    }

    pub fn member_ids(&self) -> String {
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
    pub fn may_move(&self, route: &RouteRecord) -> bool {
        route.blackhole || self.owned.contains(route.target.id())
    }

    /// Rule "trust boundary": a VIP route in a table not tagged for the group
    /// that points at something not the group's (a gateway, a peering, another
    /// group's ENI) belongs to someone else and is never written.
    pub fn leaves_alone(&self, table: &GroupTable, route: &RouteRecord) -> bool {
        !table.tagged && !self.may_move(route)
    }

    /// The tables that are the group's own: tagged for it, or holding a VIP
    /// route that is the group's. Its move records live there, and only there.
    pub fn own_tables(&self) -> impl Iterator<Item = &GroupTable> {
        self.tables.iter().filter(|t| {
            t.tagged
                || t.routes
                    .iter()
                    .any(|r| r.current.as_ref().is_some_and(|c| self.may_move(c)))
        })
    }

    /// Every VIP route of the group, with its table.
    pub fn routes(&self) -> impl Iterator<Item = (&GroupTable, &VipRoute)> {
        self.tables
            .iter()
            .flat_map(|t| t.routes.iter().map(move |r| (t, r)))
    }
}

/// The one membership rule, on every path: an instance belongs to the group its
/// group tag names, compared without surrounding spaces (a console paste of
/// `web ` is still `web`).
pub fn group_of<'a>(instance: &'a InstanceRecord, tags: &TagContract) -> Option<&'a str> {
    instance
        .tags
        .get(&tags.group())
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

pub fn is_member(instance: &InstanceRecord, group: &str, tags: &TagContract) -> bool {
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
pub fn table_is_tagged_for(table: &RouteTableRecord, group: &str, tags: &TagContract) -> bool {
    table
        .tags
        .get(&tags.group())
        .is_some_and(|v| split_list(v).any(|g| g == group.trim()))
}

/// What was read now, for one group (instances: every instance carrying the
/// group tag key, of every group, so that claims can be compared).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    pub instances: &'a [InstanceRecord],
    /// The route tables of the group's VPC.
    pub tables: &'a [RouteTableRecord],
    pub vpc_cidrs: &'a [IpNet],
    pub alarms: &'a [AlarmRecord],
    /// Why the alarm levels could not be read this time, if they could not.
    pub alarms_unread: Option<&'a str>,
    /// A down state an EC2 state-change event reported for one instance.
    pub reported_down: Option<(&'a str, ReportedDown)>,
}

/// The VPC a group lives in: the one its live members share. Terminated or
/// shutting-down members only count when no live member has a VPC.
pub fn vpc_of(
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

/// Every tag key the function writes for the group (its move record) must fit
/// EC2's 127 characters, or every move would fail at its first call.
fn writable_name(name: &str, tags: &TagContract) -> Result<(), ConfigError> {
    let key = tags.last_move(name.trim());
    let len = key.chars().count();
    if len <= MAX_TAG_KEY_CHARS {
        return Ok(());
    }
    Err(ConfigError::GroupNameTooLong {
        group: name.trim().to_string(),
        key,
        len,
        max: MAX_TAG_KEY_CHARS,
    })
}

/// A member that resolved, with the tag values still to be agreed on.
struct Candidate {
    member: Member,
    vips: Vec<IpNet>,
    preempt: Option<bool>,
}

/// Builds and validates a group from what was read now.
pub fn build(
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

/// Turns one tagged instance into a member, or says why it cannot be one.
fn resolve(
    record: &InstanceRecord,
    group_vpc: &str,
    snapshot: &Snapshot<'_>,
    tags: &TagContract,
) -> Result<Candidate, MemberError> {
    let vpc = record.vpc_id.as_deref().ok_or_else(|| MemberError::NoVpc {
        instance: record.id.clone(),
        state: record.state.as_str(),
    })?;
    if vpc != group_vpc {
        return Err(MemberError::OtherVpc {
            instance: record.id.clone(),
            vpc: vpc.to_string(),
            group_vpc: group_vpc.to_string(),
        });
    }
    let vips = vips_of(record, tags)?;
    let preempt = preempt_of(record, tags)?;
    let priority = priority_of(record, tags)?;
    let eni = target_eni(record, group_vpc, tags)?;
    let alarms: Vec<&AlarmRecord> = snapshot
        .alarms
        .iter()
        .filter(|a| a.instance_id == record.id)
        .collect();
    let health = health::assess(&Signals {
        state: record.state,
        checks: record.checks,
        launch_time: record.launch_time,
        alarms: &alarms,
        alarms_unread: snapshot.alarms_unread,
        reported_down: snapshot
            .reported_down
            .filter(|(id, _)| *id == record.id)
            .map(|(_, r)| r),
    });
    let member = Member {
        instance_id: record.id.clone(),
        eni_id: eni.id.clone(),
        availability_zone: record.availability_zone.clone(),
        priority,
        state: record.state,
        checks: record.checks,
        source_dest_check: eni.source_dest_check,
        health,
    };
    Ok(Candidate {
        member,
        vips,
        preempt,
    })
}

/// The ENI the VIP routes to: the tagged one, or the one at device index 0. It
/// must be attached and in the group's VPC, or no route could target it.
fn target_eni<'a>(
    record: &'a InstanceRecord,
    group_vpc: &str,
    tags: &TagContract,
) -> Result<&'a crate::world::EniRecord, MemberError> {
    let key = tags.eni();
    let eni = match record.tags.get(&key).map(|v| v.trim()) {
        Some(wanted) => record.enis.iter().find(|e| e.id == wanted).ok_or_else(|| {
            MemberError::EniNotAttached {
                instance: record.id.clone(),
                tag_key: key.clone(),
                eni: wanted.to_string(),
            }
        })?,
        None => record
            .enis
            .iter()
            .find(|e| e.device_index == 0)
            .ok_or_else(|| MemberError::NoEni {
                instance: record.id.clone(),
                tag_key: key.clone(),
            })?,
    };
    match eni.vpc_id.as_deref() {
        Some(vpc) if vpc != group_vpc => Err(MemberError::EniInOtherVpc {
            instance: record.id.clone(),
            eni: eni.id.clone(),
            vpc: vpc.to_string(),
            group_vpc: group_vpc.to_string(),
        }),
        _ => Ok(eni),
    }
}

/// Parses the VIP tag. A bare address is accepted as a host route; anything wider
/// than a host route is refused, since the route would capture more than the VIP.
fn vips_of(record: &InstanceRecord, tags: &TagContract) -> Result<Vec<IpNet>, MemberError> {
    let key = tags.vip();
    let Some(value) = record.tags.get(&key) else {
        return Err(MemberError::MissingVip {
            instance: record.id.clone(),
            tag_key: key,
        });
    };
    let invalid = |reason: String| MemberError::InvalidVip {
        instance: record.id.clone(),
        tag_key: key.clone(),
        value: value.clone(),
        reason,
    };
    let mut vips = Vec::new();
    for item in split_list(value) {
        let net = parse_vip(item).map_err(&invalid)?;
        if !vips.contains(&net) {
            vips.push(net);
        }
    }
    if vips.is_empty() {
        return Err(invalid("no address given".to_string()));
    }
    vips.sort();
    Ok(vips)
}

fn parse_vip(item: &str) -> Result<IpNet, String> {
    let net = match item.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => item
            .parse::<std::net::IpAddr>()
            .map(IpNet::from)
            .map_err(|_| {
                format!("{item:?} is not an IP address or CIDR; write e.g. 192.168.100.10/32")
            })?,
    };
    if net.prefix_len() != net.max_prefix_len() {
        return Err(format!(
            "{item} is not a host route; a VIP is one address: use /{}",
            net.max_prefix_len()
        ));
    }
    Ok(net)
}

fn priority_of(record: &InstanceRecord, tags: &TagContract) -> Result<u32, MemberError> {
    let key = tags.priority();
    match record.tags.get(&key) {
        None => Ok(DEFAULT_PRIORITY),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| MemberError::InvalidPriority {
                instance: record.id.clone(),
                tag_key: key,
                value: v.clone(),
            }),
    }
}

fn preempt_of(record: &InstanceRecord, tags: &TagContract) -> Result<Option<bool>, MemberError> {
    let key = tags.preempt();
    match record.tags.get(&key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(MemberError::InvalidPreempt {
            instance: record.id.clone(),
            tag_key: key,
            value: v,
        }),
    }
}

/// Every usable member must name the same VIPs: routes for a VIP only some
/// members serve would black-hole it on the others.
fn agreed_vips(
    group: &str,
    candidates: &[Candidate],
    unresolved: &[Unresolved],
    tags: &TagContract,
) -> Result<Vec<IpNet>, ConfigError> {
    let Some(first) = candidates.first() else {
        let detail = unresolved
            .iter()
            .map(|u| u.detail.clone())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ConfigError::NoUsableMember {
            group: group.to_string(),
            detail,
        });
    };
    match candidates.iter().find(|c| c.vips != first.vips) {
        Some(other) => Err(ConfigError::VipMismatch {
            group: group.to_string(),
            tag_key: tags.vip(),
            detail: format!(
                "instance {} has VIPs [{}] but instance {} has [{}]",
                first.member.instance_id,
                display_list(&first.vips),
                other.member.instance_id,
                display_list(&other.vips)
            ),
        }),
        None => Ok(first.vips.clone()),
    }
}

/// Preemption is a group-wide choice: members that say anything must say the same.
fn agreed_preempt(
    group: &str,
    candidates: &[Candidate],
    tags: &TagContract,
) -> Result<bool, ConfigError> {
    let said: BTreeMap<&str, bool> = candidates
        .iter()
        .filter_map(|c| c.preempt.map(|v| (c.member.instance_id.as_str(), v)))
        .collect();
    let yes = said.values().filter(|v| **v).count();
    if yes > 0 && yes < said.len() {
        let detail = said
            .iter()
            .map(|(id, v)| format!("{id}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ConfigError::PreemptMismatch {
            group: group.to_string(),
            tag_key: tags.preempt(),
            detail,
        });
    }
    Ok(yes > 0)
}

/// A VIP inside the VPC's CIDRs would lose to the VPC's local route.
fn outside_vpc(group: &str, vpc: &str, vips: &[IpNet], cidrs: &[IpNet]) -> Result<(), ConfigError> {
    for vip in vips {
        if let Some(cidr) = cidrs.iter().find(|c| c.contains(vip) || vip.contains(*c)) {
            return Err(ConfigError::VipInsideVpc {
                group: group.to_string(),
                vip: vip.to_string(),
                vpc: vpc.to_string(),
                cidr: cidr.to_string(),
            });
        }
    }
    Ok(())
}

/// Rule "one VIP, one group per VPC": two groups naming the same VIP in one VPC
/// (a copy-pasted tag, or an instance tagged to steer the VIP) would each pull
/// every route its way on every run. Neither may act until the tags agree.
fn uncontested(
    group: &str,
    vpc: &str,
    vips: &[IpNet],
    instances: &[InstanceRecord],
    tags: &TagContract,
) -> Result<(), ConfigError> {
    let gone = |i: &InstanceRecord| i.state.is_gone();
    let mut claimants: BTreeMap<IpNet, BTreeSet<String>> = BTreeMap::new();
    for instance in instances
        .iter()
        .filter(|i| !gone(i) && i.vpc_id.as_deref() == Some(vpc))
    {
        let Some(other) = group_of(instance, tags).filter(|g| *g != group) else {
            continue;
        };
        for vip in vips_of(instance, tags).unwrap_or_default() {
            if vips.contains(&vip) {
                claimants
                    .entry(vip)
                    .or_default()
                    .insert(format!("{other} (instance {})", instance.id));
            }
        }
    }
    match claimants.into_iter().next() {
        Some((vip, others)) => Err(ConfigError::ContestedVip {
            group: group.to_string(),
            vip: vip.to_string(),
            vpc: vpc.to_string(),
            others: others.into_iter().collect::<Vec<_>>().join(", "),
            tag_key: tags.group(),
        }),
        None => Ok(()),
    }
}

/// The group's tables: tagged for it, or already holding a route for one of its
/// VIPs, in its VPC.
fn group_tables(
    name: &str,
    vpc: &str,
    vips: &[IpNet],
    tables: &[RouteTableRecord],
    tags: &TagContract,
) -> Vec<GroupTable> {
    let record_key = tags.last_move(name);
    tables
        .iter()
        .filter(|t| t.vpc_id == vpc)
        .filter_map(|t| {
            let tagged = table_is_tagged_for(t, name, tags);
            let routes: Vec<VipRoute> = vips
                .iter()
                .map(|vip| VipRoute {
                    vip: *vip,
                    current: t.route_to(vip).cloned(),
                })
                .collect();
            let holds_vip = routes.iter().any(|r| r.current.is_some());
            (tagged || holds_vip).then(|| GroupTable {
                id: t.id.clone(),
                tagged,
                routes,
                record: t.tags.get(&record_key).cloned(),
            })
        })
        .collect()
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
