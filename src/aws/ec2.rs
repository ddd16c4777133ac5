//! EC2 reads into world records, and the paced, deadline-bounded route writes.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::{Filter, RouteState, Tag};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;
use tokio::time::Instant;

use super::ops::Op;
use super::{Aws, Window, VPC_CIDR_TTL};
use crate::error::AwsError;
use crate::plan::{RouteWrite, WriteKind};
use crate::world::{
    CheckStatus, EniRecord, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord,
    RouteTarget, StatusChecks,
};

/// What happened to one route write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// EC2 accepted it: the planned kind, or the other one when the route appeared
    /// or vanished since it was read (another invocation, an operator).
    Written(WriteKind),
    Failed(AwsError),
    /// Not done before the last moment a write could start.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub write: RouteWrite,
    pub outcome: Outcome,
}

/// CreateTags takes at most 1,000 resources per call.
const TAG_BATCH: usize = 1000;

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
    /// reports checks for running instances; the others are absent.
    pub async fn status_checks(
        &self,
        ids: Vec<String>,
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
                .set_instance_ids(Some(ids.clone()))
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
    pub async fn route_tables(
        &self,
        select: TableSelect,
        until: Instant,
    ) -> Result<Vec<RouteTableRecord>, AwsError> {
        let mut base = self.ec2.describe_route_tables();
        base = match select {
            TableSelect::Vpc(vpc) => {
                base.filters(Filter::builder().name("vpc-id").values(vpc).build())
            }
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
    pub async fn vpc_cidrs(&self, vpc_id: &str, until: Instant) -> Result<Vec<IpNet>, AwsError> {
        let cached = self
            .vpc_cidrs
            .lock()
            .ok()
            .and_then(|c| c.get(vpc_id).cloned())
            .filter(|(at, _)| at.elapsed() < VPC_CIDR_TTL);
        if let Some((_, cidrs)) = cached {
            return Ok(cidrs);
        }
        let request = self.ec2.describe_vpcs().vpc_ids(vpc_id);
        let out = self
            .call_in(Op::DescribeVpcs, Window::until(until), || {
                request.clone().send()
            })
            .await?;
        let cidrs = vpc_cidr_list(&out);
        if let Ok(mut cache) = self.vpc_cidrs.lock() {
            cache.insert(vpc_id.to_string(), (Instant::now(), cidrs.clone()));
        }
        Ok(cidrs)
    }

    /// Writes one tag on the given tables (the move record), in batches.
    pub async fn tag_tables(
        &self,
        ids: &[String],
        key: &str,
        value: &str,
        window: Window,
    ) -> Result<(), AwsError> {
        for batch in ids.chunks(TAG_BATCH) {
            let request = self
                .ec2
                .create_tags()
                .set_resources(Some(batch.to_vec()))
                .tags(Tag::builder().key(key).value(value).build());
            self.call_in(Op::CreateTags, window, || request.clone().send())
                .await?;
        }
        Ok(())
    }

    /// Turns off source/dest check so the ENI accepts packets for the VIP.
    pub async fn disable_source_dest_check(
        &self,
        eni_id: &str,
        window: Window,
    ) -> Result<(), AwsError> {
        let off = aws_sdk_ec2::types::AttributeBooleanValue::builder()
            .value(false)
            .build();
        let request = self
            .ec2
            .modify_network_interface_attribute()
            .network_interface_id(eni_id)
            .source_dest_check(off);
        self.call_in(Op::ModifyNetworkInterfaceAttribute, window, || {
            request.clone().send()
        })
        .await
        .map(|_| ())
    }

    /// Applies every write, concurrently up to the configured bound, each paced by
    /// its operation's bucket. A failing write never stops the others: a
    /// half-moved VIP is worse than a slow one. Writes that cannot start before
    /// `window.start_by` are returned as pending.
    pub async fn apply(&self, writes: &[RouteWrite], window: Window) -> Vec<WriteOutcome> {
        stream::iter(writes.iter().cloned())
            .map(|write| async move {
                let outcome = self.write(&write, window).await;
                WriteOutcome { write, outcome }
            })
            .buffer_unordered(self.write_concurrency)
            .collect()
            .await
    }

    /// One idempotent route write. If the route vanished since the read, a replace
    /// becomes a create; if it appeared, a create becomes a replace. Only on those
    /// two answers: any other error is reported as it came.
    async fn write(&self, write: &RouteWrite, window: Window) -> Outcome {
        let first = match self.send_write(write, write.kind, window).await {
            Ok(()) => return Outcome::Written(write.kind),
            Err(e) => e,
        };
        let fallback = match write.kind {
            WriteKind::Replace if write.may_create && route_not_found(&first) => WriteKind::Create,
            WriteKind::Create if first.code.as_deref() == Some("RouteAlreadyExists") => {
                WriteKind::Replace
            }
            _ => return failed(first),
        };
        match self.send_write(write, fallback, window).await {
            Ok(()) => Outcome::Written(fallback),
            Err(second) => after_fallback(first, second),
        }
    }

    async fn send_write(
        &self,
        write: &RouteWrite,
        kind: WriteKind,
        window: Window,
    ) -> Result<(), AwsError> {
        let (v4, v6) = match write.destination {
            IpNet::V4(_) => (Some(write.destination.to_string()), None),
            IpNet::V6(_) => (None, Some(write.destination.to_string())),
        };
        match kind {
            WriteKind::Replace => {
                let request = self
                    .ec2
                    .replace_route()
                    .route_table_id(&write.route_table_id)
                    .set_destination_cidr_block(v4)
                    .set_destination_ipv6_cidr_block(v6)
                    .network_interface_id(&write.eni_id);
                self.call_in(Op::ReplaceRoute, window, || request.clone().send())
                    .await
                    .map(|_| ())
            }
            WriteKind::Create => {
                let request = self
                    .ec2
                    .create_route()
                    .route_table_id(&write.route_table_id)
                    .set_destination_cidr_block(v4)
                    .set_destination_ipv6_cidr_block(v6)
                    .network_interface_id(&write.eni_id);
                self.call_in(Op::CreateRoute, window, || request.clone().send())
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// Which route tables to read.
#[derive(Debug, Clone)]
pub enum TableSelect {
    Vpc(String),
    TagKey(String),
    Ids(Vec<String>),
}

/// EC2 answers a ReplaceRoute of a missing route with `InvalidParameterValue`
/// ("There is no route defined for ... Use CreateRoute instead"), like any other
/// bad parameter; only that message means "create it instead".
fn route_not_found(error: &AwsError) -> bool {
    match error.code.as_deref() {
        Some("InvalidRoute.NotFound") => true,
        Some("InvalidParameterValue") => error.message.contains("no route defined"),
        _ => false,
    }
}

/// A fallback that could not start before the deadline leaves the write owed,
/// so pending, as any write the deadline stopped; otherwise the first error is
/// the one that explains what happened.
fn after_fallback(first: AwsError, second: AwsError) -> Outcome {
    if second.code.as_deref() == Some(super::TOO_LATE) {
        Outcome::Pending
    } else {
        failed(first)
    }
}

fn failed(error: AwsError) -> Outcome {
    if error.code.as_deref() == Some(super::TOO_LATE) {
        Outcome::Pending
    } else {
        Outcome::Failed(error)
    }
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

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
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
    Some(RouteTableRecord {
        id: table.route_table_id()?.to_string(),
        vpc_id: table.vpc_id()?.to_string(),
        tags: tag_map(table.tags()),
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> AwsError {
        AwsError {
            service: "EC2",
            operation: "ReplaceRoute",
            code: Some(code.to_string()),
            message: message.to_string(),
            retryable: false,
        }
    }

    #[test]
    fn only_a_missing_route_turns_a_replace_into_a_create() {
        let missing = "There is no route defined for '192.168.100.10/32' in the route table. Use CreateRoute instead.";
        assert!(route_not_found(&error("InvalidParameterValue", missing)));
        assert!(route_not_found(&error("InvalidRoute.NotFound", "gone")));
        assert!(!route_not_found(&error(
            "InvalidParameterValue",
            "Value (eni-x) for parameter networkInterfaceId is invalid"
        )));
        assert!(!route_not_found(&error("UnauthorizedOperation", "no")));
    }

    #[test]
    fn given_a_fallback_the_deadline_stopped_then_the_write_is_pending_else_the_first_error_counts()
    {
        let missing = || error("InvalidRoute.NotFound", "gone");
        let late = error(crate::aws::TOO_LATE, "not started");
        assert!(matches!(after_fallback(missing(), late), Outcome::Pending));
        let denied = error("UnauthorizedOperation", "no");
        match after_fallback(missing(), denied) {
            Outcome::Failed(first) => {
                assert_eq!(first.code.as_deref(), Some("InvalidRoute.NotFound"))
            }
            other => panic!("expected the first error, got {other:?}"),
        }
    }
}
