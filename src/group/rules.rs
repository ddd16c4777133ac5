//! Reading one member's tags, and the rules a group's members must agree on.

use ipnet::IpNet;

use super::error::{ConfigError, MemberError};
use super::{table_is_tagged_for, GroupTable, Member, Scope, Snapshot, VipRoute};
use crate::health::{self, Signals};
use crate::probe::ProbeSettings;
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
    /// The probe tag: absent, or its settings or why they do not parse.
    pub(super) probe: Option<Result<ProbeSettings, String>>,
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
    let maintenance = maintenance_of(record, tags)?;
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
        probe: snapshot.probes.get(&record.id),
    });
    let member = Member {
        instance_id: record.id.clone(),
        eni_id: eni.id.clone(),
        availability_zone: record.availability_zone.clone(),
        priority,
        state: record.state,
        checks: record.checks,
        source_dest_check: eni.source_dest_check,
        address: eni.private_ip,
        probe: snapshot.probes.get(&record.id).cloned(),
        security_groups: eni.security_groups.clone(),
        maintenance,
        name: record.tags.get("Name").cloned(),
        health,
    };
    Ok(Candidate {
        member,
        vips,
        preempt,
        probe: record.tags.get(&tags.probe()).map(|v| v.parse()),
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

/// The maintenance tag: absent or `false` is a candidate, `true` is not.
pub(super) fn maintenance_of(
    record: &InstanceRecord,
    tags: &TagContract,
) -> Result<bool, MemberError> {
    let key = tags.maintenance();
    match record.tags.get(&key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" || v.is_empty() => Ok(false),
        Some(v) => Err(MemberError::InvalidMaintenance {
            instance: record.id.clone(),
            tag_key: key,
            value: v,
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

/// The group's tables: tagged for it, or already holding a route for one of its
/// VIPs, in its VPC.
pub(super) fn group_tables(
    name: &str,
    vpc: &str,
    vips: &[IpNet],
    tables: &[RouteTableRecord],
    (tags, scope): (&TagContract, &Scope),
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
                listed: scope.listed.contains(&t.id),
                routes,
                record: t.tags.get(&record_key).cloned(),
            })
        })
        .collect()
}
