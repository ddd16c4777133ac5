//! A failover group as the decision sees it: validated members, VIPs and the route
//! tables that carry (or must carry) the VIP routes.
//!
//! Building a [`Group`] is where the tag contract is enforced. Anything inconsistent
//! is refused here, before a plan exists, so bad tags can never cause a write.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
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
    /// The most recent move recorded on the group's route tables.
    pub last_move: Option<LastMove>,
}

/// A move recorded on route tables (see [`TagContract::last_move`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastMove {
    pub at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: String,
}

impl LastMove {
    /// Tag value: `2026-11-24T03:00:00Z i-0aaa>i-0bbb` (`-` when there was no holder).
    pub fn to_tag_value(&self) -> String {
        format!(
            "{} {}>{}",
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.from.as_deref().unwrap_or("-"),
            self.to
        )
    }

    /// `None` for a value this version cannot read: a damaged memory must never
    /// block a failover, it only disables the hold-down.
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

    let last_move_key = tags.last_move(name);
    let last_move = tables
        .iter()
        .filter(|t| t.vpc_id == vpc_id)
        .filter_map(|t| t.tags.get(&last_move_key))
        .filter_map(|v| LastMove::parse(v))
        .max_by_key(|m| m.at);

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
        last_move,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn build_err(instances: &[InstanceRecord]) -> ConfigError {
        build(
            "web",
            instances,
            &tables_pointing_at("i-a", 1),
            &[net("10.0.0.0/16"), net("2600:1f18::/56")],
            &TagContract::default(),
        )
        .expect_err("invalid group")
    }

    fn says(err: &ConfigError, needles: &[&str]) {
        let text = err.to_string();
        for needle in needles {
            assert!(text.contains(needle), "{needle:?} missing in: {text}");
        }
    }

    #[test]
    fn given_valid_tags_then_members_are_ordered_by_priority_and_tables_scoped_to_the_vpc() {
        let mut foreign = tables_pointing_at("i-a", 1).remove(0);
        foreign.id = "rtb-foreign".to_string();
        foreign.vpc_id = "vpc-2".to_string();
        let mut tables = tables_pointing_at("i-a", 2);
        tables.push(foreign);
        tables.push(table(
            "rtb-unrelated",
            vec![route("10.1.0.0/16", to_eni_of("i-a"))],
        ));

        let group = web_group(&[member("i-b", 20), member("i-a", 10)], &tables);

        let ids: Vec<_> = group
            .members
            .iter()
            .map(|m| m.instance_id.as_str())
            .collect();
        assert_eq!(ids, ["i-a", "i-b"]);
        let tables: Vec<_> = group.tables.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(tables, ["rtb-1", "rtb-2"]);
        assert_eq!(group.vips, vec![net(VIP)]);
        assert!(!group.preempt);
    }

    #[test]
    fn given_vip_lists_with_bare_addresses_and_ipv6_then_they_are_host_routes() {
        let vips = "192.168.100.10, fd00::10/128";
        let group = web_group(
            &[
                with_tag(member("i-a", 10), "vip-failover:vip", vips),
                with_tag(
                    member("i-b", 20),
                    "vip-failover:vip",
                    "fd00::10/128,192.168.100.10/32",
                ),
            ],
            &tables_pointing_at("i-a", 1),
        );
        assert_eq!(
            group.vips,
            vec![net("192.168.100.10/32"), net("fd00::10/128")]
        );
    }

    #[test]
    fn given_an_eni_tag_then_that_eni_is_the_target_and_an_unattached_one_is_refused() {
        let mut a = member("i-a", 10);
        a.enis.push(crate::world::EniRecord {
            id: "eni-second".into(),
            device_index: 1,
            source_dest_check: Some(false),
        });
        let chosen = with_tag(a.clone(), "vip-failover:eni", "eni-second");
        let group = web_group(&[chosen, member("i-b", 20)], &tables_pointing_at("i-a", 1));
        assert_eq!(group.members[0].eni_id, "eni-second");

        let err = build_err(&[
            with_tag(a, "vip-failover:eni", "eni-nope"),
            member("i-b", 20),
        ]);
        assert!(matches!(err, ConfigError::EniNotAttached { .. }));
        says(&err, &["i-a", "eni-nope", "vip-failover:eni"]);
    }

    #[test]
    fn given_inconsistent_tags_then_each_error_names_the_resource_and_the_fix() {
        let b = || member("i-b", 20);
        let cases: Vec<(InstanceRecord, Vec<&str>)> = vec![
            (
                with_tag(member("i-a", 1), "vip-failover:priority", "high"),
                vec!["i-a", "vip-failover:priority", "high", "integer"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:priority", "-5"),
                vec!["i-a", "-5"],
            ),
            (
                without_tag(member("i-a", 1), "vip-failover:vip"),
                vec!["i-a", "vip-failover:vip", "no"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", "not-an-ip"),
                vec!["i-a", "not-an-ip", "192.168.100.10/32"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", "192.168.100.0/24"),
                vec!["i-a", "host route", "/32"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", " , "),
                vec!["i-a", "no address"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", "192.168.100.11/32"),
                vec![
                    "i-a",
                    "i-b",
                    "192.168.100.11/32",
                    "192.168.100.10/32",
                    "same",
                ],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", "10.0.5.5/32"),
                vec!["10.0.5.5/32", "10.0.0.0/16", "vpc-1", "outside"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:vip", "2600:1f18::5/128"),
                vec!["2600:1f18::5/128", "2600:1f18::/56"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:preempt", "yes"),
                vec!["i-a", "vip-failover:preempt", "true or false"],
            ),
            (
                with_tag(member("i-a", 1), "vip-failover:preempt", "true"),
                vec!["vip-failover:preempt", "i-a=true", "same"],
            ),
        ];
        for (a, needles) in cases {
            // Members other than the first carry the seed VIP unless the case changes it.
            let instances =
                if needles.contains(&"10.0.5.5/32") || needles.contains(&"2600:1f18::5/128") {
                    let vip = a.tags["vip-failover:vip"].clone();
                    vec![a, with_tag(b(), "vip-failover:vip", &vip)]
                } else if needles.contains(&"i-a=true") {
                    vec![a, with_tag(b(), "vip-failover:preempt", "false")]
                } else {
                    vec![a, b()]
                };
            says(&build_err(&instances), &needles);
        }
    }

    #[test]
    fn given_members_in_two_vpcs_then_the_group_is_refused() {
        let mut b = member("i-b", 20);
        b.vpc_id = Some("vpc-2".to_string());
        let err = build_err(&[member("i-a", 10), b]);
        assert!(matches!(err, ConfigError::MixedVpcs { .. }));
        says(&err, &["i-a", "vpc-1", "i-b", "vpc-2"]);
    }

    #[test]
    fn given_no_member_then_the_group_is_unknown_and_the_tag_is_named() {
        let err = build_err(&[with_tag(member("i-a", 10), "vip-failover:group", "db")]);
        assert!(matches!(err, ConfigError::UnknownGroup { .. }));
        says(&err, &["vip-failover:group=web"]);
    }
}
