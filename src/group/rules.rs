//! Reading one member's tags, and the rules a group's members must agree on.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::error::{ConfigError, MemberError};
use super::{
    display_list, group_of, table_is_tagged_for, GroupTable, Member, Snapshot, Unresolved, VipRoute,
};
use crate::health::{self, Signals};
use crate::tags::{split_list, TagContract, DEFAULT_PRIORITY, MAX_TAG_KEY_CHARS};
use crate::world::{AlarmRecord, EniRecord, InstanceRecord, RouteTableRecord};

/// Every tag key the function writes for the group (its move record) must fit
/// EC2's 127 characters, or every move would fail at its first call.
pub(super) fn writable_name(name: &str, tags: &TagContract) -> Result<(), ConfigError> {
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
pub(super) struct Candidate {
    pub(super) member: Member,
    pub(super) vips: Vec<IpNet>,
    pub(super) preempt: Option<bool>,
}

/// Turns one tagged instance into a member, or says why it cannot be one.
pub(super) fn resolve(
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
pub(super) fn target_eni<'a>(
    record: &'a InstanceRecord,
    group_vpc: &str,
    tags: &TagContract,
) -> Result<&'a EniRecord, MemberError> {
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
pub(super) fn vips_of(
    record: &InstanceRecord,
    tags: &TagContract,
) -> Result<Vec<IpNet>, MemberError> {
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

pub(super) fn parse_vip(item: &str) -> Result<IpNet, String> {
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

pub(super) fn priority_of(record: &InstanceRecord, tags: &TagContract) -> Result<u32, MemberError> {
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

pub(super) fn preempt_of(
    record: &InstanceRecord,
    tags: &TagContract,
) -> Result<Option<bool>, MemberError> {
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
pub(super) fn agreed_vips(
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
pub(super) fn agreed_preempt(
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
pub(super) fn outside_vpc(
    group: &str,
    vpc: &str,
    vips: &[IpNet],
    cidrs: &[IpNet],
) -> Result<(), ConfigError> {
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
pub(super) fn uncontested(
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
pub(super) fn group_tables(
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
