//! A failover group as the decision sees it: validated members, VIPs and the route
//! tables that carry (or must carry) the VIP routes.
//!
//! Building a [`Group`] is where the tag contract is enforced. Anything inconsistent
//! is refused here, before a plan exists, so bad tags can never cause a write.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::error::ConfigError;
use crate::tags::{split_list, TagContract, DEFAULT_PRIORITY};
use crate::world::{
    CheckStatus, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord, RouteTarget,
};

/// One server that can hold the VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub instance_id: String,
    pub eni_id: String,
    pub availability_zone: Option<String>,
    pub priority: u32,
    pub state: InstanceState,
    pub instance_status: CheckStatus,
    pub system_status: CheckStatus,
    pub source_dest_check: Option<bool>,
}

impl Member {
    /// Running and not failing a status check. `initializing` counts as healthy: a
    /// freshly started standby is better than none, and EC2 reports `impaired`
    /// explicitly when a check fails.
    pub fn is_healthy(&self) -> bool {
        self.state == InstanceState::Running
            && self.instance_status != CheckStatus::Impaired
            && self.system_status != CheckStatus::Impaired
    }

    /// Whether a route target points at this member.
    pub fn is_target_of(&self, target: &RouteTarget) -> bool {
        match target {
            RouteTarget::NetworkInterface(eni) => *eni == self.eni_id,
            RouteTarget::Instance(id) => *id == self.instance_id,
            RouteTarget::Other(_) => false,
        }
    }
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
    pub tables: Vec<GroupTable>,
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
            .collect();
        ids.join(", ")
    }
}

/// The group name an instance belongs to, if tagged.
pub fn group_of<'a>(instance: &'a InstanceRecord, tags: &TagContract) -> Option<&'a str> {
    instance
        .tags
        .get(&tags.group())
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether a route table's group tag names `group`.
pub fn table_is_tagged_for(table: &RouteTableRecord, group: &str, tags: &TagContract) -> bool {
    table
        .tags
        .get(&tags.group())
        .is_some_and(|v| split_list(v).any(|g| g == group))
}

/// Builds and validates a group from the members (instances tagged with the group),
/// the route tables of their VPC and that VPC's CIDRs.
pub fn build(
    name: &str,
    instances: &[InstanceRecord],
    tables: &[RouteTableRecord],
    vpc_cidrs: &[IpNet],
    tags: &TagContract,
) -> Result<Group, ConfigError> {
    let records: Vec<&InstanceRecord> = instances
        .iter()
        .filter(|i| group_of(i, tags) == Some(name))
        .collect();
    let Some(first) = records.first() else {
        return Err(ConfigError::UnknownGroup {
            group: name.to_string(),
            tag_key: tags.group(),
        });
    };

    let vpc_id = vpc_of(first)?;
    let vips = vips_of(first, tags)?;
    let mut preempt_votes = BTreeMap::new();
    let mut members = Vec::with_capacity(records.len());
    for record in &records {
        let vpc = vpc_of(record)?;
        if vpc != vpc_id {
            return Err(ConfigError::MixedVpcs {
                group: name.to_string(),
                first: first.id.clone(),
                first_vpc: vpc_id,
                second: record.id.clone(),
                second_vpc: vpc,
            });
        }
        let record_vips = vips_of(record, tags)?;
        if record_vips != vips {
            return Err(ConfigError::VipMismatch {
                group: name.to_string(),
                tag_key: tags.vip(),
                detail: format!(
                    "instance {} has VIPs [{}] but instance {} has [{}]",
                    first.id,
                    display_list(&vips),
                    record.id,
                    display_list(&record_vips)
                ),
            });
        }
        preempt_votes.insert(record.id.clone(), preempt_of(record, tags)?);
        members.push(member_of(record, tags)?);
    }

    for vip in &vips {
        if let Some(cidr) = vpc_cidrs.iter().find(|c| overlaps(c, vip)) {
            return Err(ConfigError::VipInsideVpc {
                group: name.to_string(),
                vip: vip.to_string(),
                vpc: vpc_id,
                cidr: cidr.to_string(),
            });
        }
    }

    let preempt = agreed_preempt(name, &preempt_votes, tags)?;
    members.sort_by(|a, b| (a.priority, &a.instance_id).cmp(&(b.priority, &b.instance_id)));

    let tables = tables
        .iter()
        .filter(|t| t.vpc_id == vpc_id)
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
            })
        })
        .collect();

    Ok(Group {
        name: name.to_string(),
        vpc_id,
        vips,
        preempt,
        members,
        tables,
    })
}

fn vpc_of(record: &InstanceRecord) -> Result<String, ConfigError> {
    record.vpc_id.clone().ok_or_else(|| ConfigError::NoVpc {
        instance: record.id.clone(),
    })
}

/// Parses the VIP tag. A bare address is accepted as a host route; anything wider
/// than a host route is refused, since the route would capture more than the VIP.
fn vips_of(record: &InstanceRecord, tags: &TagContract) -> Result<Vec<IpNet>, ConfigError> {
    let key = tags.vip();
    let Some(value) = record.tags.get(&key) else {
        return Err(ConfigError::MissingVip {
            instance: record.id.clone(),
            tag_key: key,
        });
    };
    let invalid = |reason: String| ConfigError::InvalidVip {
        instance: record.id.clone(),
        tag_key: key.clone(),
        value: value.clone(),
        reason,
    };
    let mut vips = Vec::new();
    for item in split_list(value) {
        let net = match item.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(addr) => IpNet::from(addr),
                Err(_) => {
                    return Err(invalid(format!(
                        "{item:?} is not an IP address or CIDR; write e.g. 192.168.100.10/32"
                    )))
                }
            },
        };
        if net.prefix_len() != net.max_prefix_len() {
            return Err(invalid(format!(
                "{item} is not a host route; a VIP is one address: use /{}",
                net.max_prefix_len()
            )));
        }
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

fn preempt_of(record: &InstanceRecord, tags: &TagContract) -> Result<Option<bool>, ConfigError> {
    let key = tags.preempt();
    match record.tags.get(&key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(ConfigError::InvalidPreempt {
            instance: record.id.clone(),
            tag_key: key,
            value: v,
        }),
    }
}

/// Preemption is a group-wide choice: members that say anything must say the same.
fn agreed_preempt(
    group: &str,
    votes: &BTreeMap<String, Option<bool>>,
    tags: &TagContract,
) -> Result<bool, ConfigError> {
    let said: BTreeMap<&String, bool> = votes
        .iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
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

fn member_of(record: &InstanceRecord, tags: &TagContract) -> Result<Member, ConfigError> {
    let priority_key = tags.priority();
    let priority = match record.tags.get(&priority_key) {
        None => DEFAULT_PRIORITY,
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| ConfigError::InvalidPriority {
                instance: record.id.clone(),
                tag_key: priority_key,
                value: v.clone(),
            })?,
    };

    let eni_key = tags.eni();
    let eni = match record.tags.get(&eni_key).map(|v| v.trim()) {
        Some(wanted) => record.enis.iter().find(|e| e.id == wanted).ok_or_else(|| {
            ConfigError::EniNotAttached {
                instance: record.id.clone(),
                tag_key: eni_key.clone(),
                eni: wanted.to_string(),
            }
        })?,
        None => record
            .enis
            .iter()
            .find(|e| e.device_index == 0)
            .ok_or_else(|| ConfigError::NoEni {
                instance: record.id.clone(),
                tag_key: eni_key.clone(),
            })?,
    };

    Ok(Member {
        instance_id: record.id.clone(),
        eni_id: eni.id.clone(),
        availability_zone: record.availability_zone.clone(),
        priority,
        state: record.state,
        instance_status: record.instance_status,
        system_status: record.system_status,
        source_dest_check: eni.source_dest_check,
    })
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

fn display_list(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
