//! EC2 reads into world records (the writes are in [`super::routes`]).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::{Filter, RouteState, Tag};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use tokio::time::Instant;

use super::ops::Op;
use super::{Aws, AwsError, Window};
use crate::alarms::ids_in_text;
use crate::world::{
    CheckStatus, EniRecord, Ingress, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord,
    RouteTarget, SecurityGroupRecord, StatusChecks,
};

impl Aws {
    /// Every instance carrying `tag_key`, of every group, without status checks.
    /// Terminated instances are kept: one may still be the target of VIP routes.
    pub async fn tagged_instances(
        &self,
        tag_key: &str,
        until: Instant,
    ) -> Result<Vec<InstanceRecord>, AwsError> {
        let filter = Filter::builder().name("tag-key").values(tag_key).build();
        let mut records = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .ec2
                .describe_instances()
                .filters(filter.clone())
                .set_next_token(token.clone());
            let page = self
                .call_in(Op::DescribeInstances, Window::until(until), || {
                    request.clone().send()
                })
                .await?;
            let instances = page.reservations().iter().flat_map(|r| r.instances());
            records.extend(instances.filter_map(instance_record));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(records);
            }
        }
    }

    /// Instance, system and attached-EBS checks of the given instances. EC2 only
    /// reports checks for running instances; the others are absent. Rule "EC2's
    /// eventual consistency is not a verdict": an id EC2 says it does not know
    /// (an instance launched a moment ago) is left out, so that member's checks
    /// are unknown this run, and the others are read again.
    pub(crate) async fn status_checks(
        &self,
        mut ids: Vec<String>,
        until: Instant,
    ) -> Result<HashMap<String, StatusChecks>, AwsError> {
        loop {
            match self.read_status_checks(&ids, until).await {
                Err(e) if e.id_not_found() => {
                    let named = ids_in_text(e.message().unwrap_or_default());
                    let before = ids.len();
                    ids.retain(|id| !named.contains(id));
                    if ids.len() == before {
                        // Not told which: every member is unknown this run.
                        return Ok(HashMap::new());
                    }
                }
                done => return done,
            }
        }
    }

    async fn read_status_checks(
        &self,
        ids: &[String],
        until: Instant,
    ) -> Result<HashMap<String, StatusChecks>, AwsError> {
        let mut checks = HashMap::new();
        if ids.is_empty() {
            return Ok(checks);
        }
        let mut token: Option<String> = None;
        loop {
            let request = self
                .ec2
                .describe_instance_status()
                .set_instance_ids(Some(ids.to_vec()))
                .include_all_instances(true)
                .set_next_token(token.clone());
            let page = self
                .call_in(Op::DescribeInstanceStatus, Window::until(until), || {
                    request.clone().send()
                })
                .await?;
            for status in page.instance_statuses() {
                if let Some(id) = status.instance_id() {
                    checks.insert(id.to_string(), status_checks(status));
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(checks);
            }
        }
    }

    /// Route tables of one VPC (`vpc`), of one tag key (`tag_key`, any VPC), or the
    /// listed tables (`ids`). Filtering by route target is done by the caller:
    /// EC2-compatible emulators do not all support those filters.
    pub(crate) async fn route_tables(
        &self,
        select: TableSelect,
        until: Instant,
    ) -> Result<Vec<RouteTableRecord>, AwsError> {
        let mut base = self.ec2.describe_route_tables();
        base = match select {
            TableSelect::Vpcs(vpcs) if vpcs.is_empty() => return Ok(Vec::new()),
            TableSelect::Vpcs(vpcs) => base.filters(
                Filter::builder()
                    .name("vpc-id")
                    .set_values(Some(vpcs))
                    .build(),
            ),
            TableSelect::TagKey(key) => {
                base.filters(Filter::builder().name("tag-key").values(key).build())
            }
            TableSelect::Ids(ids) => base.set_route_table_ids(Some(ids)),
        };
        let mut tables = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = base.clone().set_next_token(token.clone());
            let page = self
                .call_in(Op::DescribeRouteTables, Window::until(until), || {
                    request.clone().send()
                })
                .await?;
            tables.extend(page.route_tables().iter().filter_map(route_table_record));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(tables);
            }
        }
    }

    /// IPv4 and IPv6 CIDRs associated with a VPC (cached, see [`VPC_CIDR_TTL`]).
    pub(crate) async fn vpc_cidrs(
        &self,
        vpc_id: &str,
        until: Instant,
    ) -> Result<Vec<IpNet>, AwsError> {
        if let Some(cidrs) = self.vpc_cidrs.fresh(&vpc_id.to_string()) {
            return Ok(cidrs);
        }
        let request = self.ec2.describe_vpcs().vpc_ids(vpc_id);
        let out = self
            .call_in(Op::DescribeVpcs, Window::until(until), || {
                request.clone().send()
            })
            .await?;
        let cidrs = vpc_cidr_list(&out);
        self.vpc_cidrs.store(vpc_id.to_string(), cidrs.clone());
        Ok(cidrs)
    }
}

impl Aws {
    /// The inbound rules of the given security groups (for `check`).
    pub(crate) async fn security_groups(
        &self,
        ids: Vec<String>,
        until: Instant,
    ) -> Result<Vec<SecurityGroupRecord>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.ec2.describe_security_groups().set_group_ids(Some(ids));
        let out = self
            .call_in(Op::DescribeSecurityGroups, Window::until(until), || {
                request.clone().send()
            })
            .await?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(security_group)
            .collect())
    }
}

fn security_group(group: &aws_sdk_ec2::types::SecurityGroup) -> Option<SecurityGroupRecord> {
    let ingress = group
        .ip_permissions()
        .iter()
        .map(|p| Ingress {
            protocol: p.ip_protocol().unwrap_or("-1").to_string(),
            from_port: p.from_port(),
            to_port: p.to_port(),
            groups: p
                .user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id())
                .map(str::to_string)
                .collect(),
            cidrs: p
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip()?.parse().ok())
                .chain(
                    p.ipv6_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ipv6()?.parse().ok()),
                )
                .collect(),
        })
        .collect();
    Some(SecurityGroupRecord {
        id: group.group_id()?.to_string(),
        ingress,
    })
}

/// Which route tables to read.
#[derive(Debug, Clone)]
pub(crate) enum TableSelect {
    Vpcs(Vec<String>),
    TagKey(String),
    Ids(Vec<String>),
}

fn check(summary: Option<&aws_sdk_ec2::types::InstanceStatusSummary>) -> CheckStatus {
    summary
        .and_then(|s| s.status())
        .map(|s| CheckStatus::from_ec2(s.as_str()))
        .unwrap_or(CheckStatus::Unknown)
}

fn status_checks(status: &aws_sdk_ec2::types::InstanceStatus) -> StatusChecks {
    StatusChecks {
        instance: check(status.instance_status()),
        system: check(status.system_status()),
        attached_ebs: status
            .attached_ebs_status()
            .and_then(|s| s.status())
            .map(|s| CheckStatus::from_ec2(s.as_str()))
            .unwrap_or(CheckStatus::NotApplicable),
    }
}

fn vpc_cidr_list(out: &aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput) -> Vec<IpNet> {
    let mut cidrs = Vec::new();
    for vpc in out.vpcs() {
        let v4 = vpc
            .cidr_block_association_set()
            .iter()
            .filter_map(|a| a.cidr_block());
        let v6 = vpc
            .ipv6_cidr_block_association_set()
            .iter()
            .filter_map(|a| a.ipv6_cidr_block());
        cidrs.extend(
            vpc.cidr_block()
                .into_iter()
                .chain(v4)
                .chain(v6)
                .filter_map(|c| c.parse::<IpNet>().ok()),
        );
    }
    cidrs.sort();
    cidrs.dedup();
    cidrs
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn eni_record(eni: &aws_sdk_ec2::types::InstanceNetworkInterface) -> Option<EniRecord> {
    Some(EniRecord {
        id: eni.network_interface_id()?.to_string(),
        device_index: eni
            .attachment()
            .and_then(|a| a.device_index())
            .unwrap_or(i32::MAX),
        source_dest_check: eni.source_dest_check(),
        vpc_id: eni.vpc_id().map(str::to_string),
        private_ip: eni.private_ip_address().and_then(|ip| ip.parse().ok()),
        security_groups: eni
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(str::to_string)
            .collect(),
    })
}

fn instance_record(instance: &aws_sdk_ec2::types::Instance) -> Option<InstanceRecord> {
    Some(InstanceRecord {
        id: instance.instance_id()?.to_string(),
        state: instance
            .state()
            .and_then(|s| s.name())
            .map(|n| InstanceState::from_ec2(n.as_str()))
            .unwrap_or(InstanceState::Unknown),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_string),
        vpc_id: instance.vpc_id().map(str::to_string),
        enis: instance
            .network_interfaces()
            .iter()
            .filter_map(eni_record)
            .collect(),
        tags: tag_map(instance.tags()),
        launch_time: instance
            .launch_time()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
        checks: StatusChecks::UNKNOWN,
    })
}

fn route_target(route: &aws_sdk_ec2::types::Route) -> RouteTarget {
    // An ENI target is reported with its instance too; the ENI is what we write,
    // so it is what we compare.
    if let Some(eni) = route.network_interface_id() {
        return RouteTarget::NetworkInterface(eni.to_string());
    }
    if let Some(instance) = route.instance_id() {
        return RouteTarget::Instance(instance.to_string());
    }
    let other = [
        route.gateway_id(),
        route.nat_gateway_id(),
        route.transit_gateway_id(),
        route.vpc_peering_connection_id(),
        route.egress_only_internet_gateway_id(),
        route.local_gateway_id(),
        route.carrier_gateway_id(),
        route.core_network_arn(),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or("unknown");
    RouteTarget::Other(other.to_string())
}

fn route_table_record(table: &aws_sdk_ec2::types::RouteTable) -> Option<RouteTableRecord> {
    let routes = table
        .routes()
        .iter()
        .map(|route| RouteRecord {
            destination: route
                .destination_cidr_block()
                .or(route.destination_ipv6_cidr_block())
                .and_then(|d| d.parse::<IpNet>().ok()),
            target: route_target(route),
            blackhole: route.state() == Some(&RouteState::Blackhole),
        })
        .collect();
    let associations = table.associations();
    Some(RouteTableRecord {
        id: table.route_table_id()?.to_string(),
        vpc_id: table.vpc_id()?.to_string(),
        tags: tag_map(table.tags()),
        routes,
        subnets: associations
            .iter()
            .filter_map(|a| a.subnet_id())
            .map(str::to_string)
            .collect(),
        main: associations.iter().any(|a| a.main() == Some(true)),
    })
}
