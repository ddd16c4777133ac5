//! The EC2 adapter: reads the world into [`crate::world`] records and applies a
//! [`Plan`]. Nothing here decides anything.
//!
//! Round trips are what failover latency is made of, so reads are batched and run
//! concurrently where they do not depend on each other: one `DescribeInstances`
//! finds every group member, then statuses, route tables and VPC CIDRs are read
//! together. Writes run concurrently (bounded), and one `DescribeRouteTables`
//! verifies all written tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, RouteState, Tag};
use aws_sdk_ec2::Client;
use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;

use crate::config::Config;
use crate::error::Error;
use crate::plan::{RouteWrite, WriteKind};
use crate::world::{
    CheckStatus, EniRecord, InstanceRecord, InstanceState, RouteRecord, RouteTableRecord,
    RouteTarget,
};

/// Error codes after which the same call may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
];

/// The EC2 API as vip-failover uses it.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
    write_concurrency: usize,
    /// VPC CIDRs by VPC id, kept for the life of a warm Lambda container: CIDR
    /// associations change rarely, and dropping the read takes a round trip off
    /// every failover after the first.
    vpc_cidrs: Arc<Mutex<HashMap<String, CachedCidrs>>>,
}

/// When the CIDRs were read, and what they were.
type CachedCidrs = (Instant, Vec<IpNet>);

/// How long cached VPC CIDRs are trusted.
const VPC_CIDR_TTL: Duration = Duration::from_secs(300);

/// What happened to one route write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub write: RouteWrite,
    /// What EC2 did: the planned kind, or the other one when the route appeared or
    /// vanished since it was read (another invocation, an operator).
    pub done: Result<WriteKind, String>,
}

impl Ec2 {
    pub fn new(client: Client, config: &Config) -> Self {
        Self {
            client,
            write_concurrency: config.write_concurrency.max(1),
            vpc_cidrs: Arc::default(),
        }
    }

    /// Builds the SDK client from the environment (credentials, region,
    /// `AWS_ENDPOINT_URL`) with bounded retries and timeouts from `config`.
    pub async fn from_env(config: &Config) -> Self {
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config(config))
            .timeout_config(timeout_config(config))
            .load()
            .await;
        Self::new(Client::new(&sdk_config), config)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every instance carrying `tag_key` (optionally with one value), without
    /// status checks. Terminated instances are kept: one may still be the target
    /// of the VIP routes.
    pub async fn tagged_instances(
        &self,
        tag_key: &str,
        value: Option<&str>,
    ) -> Result<Vec<InstanceRecord>, Error> {
        let filter = match value {
            Some(v) => Filter::builder()
                .name(format!("tag:{tag_key}"))
                .values(v)
                .build(),
            None => Filter::builder().name("tag-key").values(tag_key).build(),
        };
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter)
            .into_paginator()
            .send();
        let mut records = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeInstances", e))?;
            for reservation in page.reservations() {
                for instance in reservation.instances() {
                    if let Some(record) = instance_record(instance) {
                        records.push(record);
                    }
                }
            }
        }
        Ok(records)
    }

    /// Fills in status checks. EC2 only reports checks for running instances;
    /// the others keep `Unknown`, which their state already makes unhealthy.
    pub async fn with_status(
        &self,
        mut instances: Vec<InstanceRecord>,
    ) -> Result<Vec<InstanceRecord>, Error> {
        let ids: Vec<String> = instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| i.id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(instances);
        }
        let mut statuses = HashMap::new();
        let mut pages = self
            .client
            .describe_instance_status()
            .set_instance_ids(Some(ids))
            .include_all_instances(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeInstanceStatus", e))?;
            for status in page.instance_statuses() {
                let check = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                    s.and_then(|s| s.status())
                        .map(|s| CheckStatus::from_ec2(s.as_str()))
                        .unwrap_or(CheckStatus::Unknown)
                };
                if let Some(id) = status.instance_id() {
                    statuses.insert(
                        id.to_string(),
                        (
                            check(status.instance_status()),
                            check(status.system_status()),
                        ),
                    );
                }
            }
        }
        for instance in &mut instances {
            if let Some((instance_status, system_status)) = statuses.get(&instance.id) {
                instance.instance_status = *instance_status;
                instance.system_status = *system_status;
            }
        }
        Ok(instances)
    }

    /// Route tables of one VPC, or the listed tables. Filtering by route target is
    /// done by the caller: EC2-compatible emulators do not all support those filters.
    pub async fn route_tables(
        &self,
        vpc_id: Option<&str>,
        ids: Option<Vec<String>>,
    ) -> Result<Vec<RouteTableRecord>, Error> {
        let mut request = self.client.describe_route_tables();
        if let Some(vpc) = vpc_id {
            request = request.filters(Filter::builder().name("vpc-id").values(vpc).build());
        }
        if let Some(ids) = ids {
            request = request.set_route_table_ids(Some(ids));
        }
        let mut pages = request.into_paginator().send();
        let mut tables = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeRouteTables", e))?;
            tables.extend(page.route_tables().iter().filter_map(route_table_record));
        }
        Ok(tables)
    }

    /// Route tables carrying `tag_key`, in any VPC (for the pre-flight check).
    pub async fn tagged_route_tables(&self, tag_key: &str) -> Result<Vec<RouteTableRecord>, Error> {
        let mut pages = self
            .client
            .describe_route_tables()
            .filters(Filter::builder().name("tag-key").values(tag_key).build())
            .into_paginator()
            .send();
        let mut tables = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeRouteTables", e))?;
            tables.extend(page.route_tables().iter().filter_map(route_table_record));
        }
        Ok(tables)
    }

    /// IPv4 and IPv6 CIDRs associated with a VPC (cached, see [`VPC_CIDR_TTL`]).
    pub async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Vec<IpNet>, Error> {
        let cached = self
            .vpc_cidrs
            .lock()
            .ok()
            .and_then(|c| c.get(vpc_id).cloned())
            .filter(|(at, _)| at.elapsed() < VPC_CIDR_TTL);
        if let Some((_, cidrs)) = cached {
            return Ok(cidrs);
        }
        let cidrs = self.read_vpc_cidrs(vpc_id).await?;
        if let Ok(mut cache) = self.vpc_cidrs.lock() {
            cache.insert(vpc_id.to_string(), (Instant::now(), cidrs.clone()));
        }
        Ok(cidrs)
    }

    async fn read_vpc_cidrs(&self, vpc_id: &str) -> Result<Vec<IpNet>, Error> {
        let out = self
            .client
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .map_err(|e| ec2_error("DescribeVpcs", e))?;
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
        Ok(cidrs)
    }

    /// Applies every write, concurrently up to the configured bound. A failing
    /// write never stops the others: a half-moved VIP is worse than a slow one.
    /// Writes that failed with a retryable error (after the SDK's own retries) get
    /// [`WRITE_ROUNDS`] rounds in all, with a pause between rounds, so a burst of
    /// throttling does not strand tables.
    pub async fn apply(&self, writes: &[RouteWrite]) -> Vec<WriteOutcome> {
        let mut pending: Vec<RouteWrite> = writes.to_vec();
        let mut done = Vec::with_capacity(writes.len());
        for round in 0..WRITE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(200 << round)).await;
            }
            let outcomes: Vec<(RouteWrite, Result<WriteKind, WriteFailure>)> =
                stream::iter(pending.drain(..))
                    .map(|write| async move {
                        let result = self.write(&write).await;
                        (write, result)
                    })
                    .buffer_unordered(self.write_concurrency)
                    .collect()
                    .await;
            for (write, result) in outcomes {
                match result {
                    Err(failure) if failure.retryable && round + 1 < WRITE_ROUNDS => {
                        pending.push(write)
                    }
                    result => done.push(WriteOutcome {
                        write,
                        done: result.map_err(|f| f.message),
                    }),
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        done
    }

    /// One idempotent route write. If the route vanished since the read, a replace
    /// becomes a create; if it appeared, a create becomes a replace.
    async fn write(&self, write: &RouteWrite) -> Result<WriteKind, WriteFailure> {
        let first = self.send_write(write, write.kind).await;
        let fallback = match (&first, write.kind) {
            (Err(failure), WriteKind::Replace)
                if matches!(
                    failure.code.as_deref(),
                    Some("InvalidParameterValue" | "InvalidRoute.NotFound")
                ) =>
            {
                WriteKind::Create
            }
            (Err(failure), WriteKind::Create)
                if failure.code.as_deref() == Some("RouteAlreadyExists") =>
            {
                WriteKind::Replace
            }
            _ => return first.map(|()| write.kind),
        };
        self.send_write(write, fallback).await.map(|()| fallback)
    }

    /// Records a move on the route tables that now carry it (one call for all).
    pub async fn tag_tables(
        &self,
        table_ids: Vec<String>,
        key: &str,
        value: &str,
    ) -> Result<(), Error> {
        if table_ids.is_empty() {
            return Ok(());
        }
        self.client
            .create_tags()
            .set_resources(Some(table_ids))
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ec2_error("CreateTags", e))
    }

    /// Turns off source/dest check so the ENI accepts packets for the VIP.
    pub async fn disable_source_dest_check(&self, eni_id: &str) -> Result<(), Error> {
        self.client
            .modify_network_interface_attribute()
            .network_interface_id(eni_id)
            .source_dest_check(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(false)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ec2_error("ModifyNetworkInterfaceAttribute", e))
    }

    async fn send_write(&self, write: &RouteWrite, kind: WriteKind) -> Result<(), WriteFailure> {
        let (v4, v6) = match write.destination {
            IpNet::V4(_) => (Some(write.destination.to_string()), None),
            IpNet::V6(_) => (None, Some(write.destination.to_string())),
        };
        let result = match kind {
            WriteKind::Replace => self
                .client
                .replace_route()
                .route_table_id(&write.route_table_id)
                .set_destination_cidr_block(v4)
                .set_destination_ipv6_cidr_block(v6)
                .network_interface_id(&write.eni_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(ec2_error("ReplaceRoute", e))),
            WriteKind::Create => self
                .client
                .create_route()
                .route_table_id(&write.route_table_id)
                .set_destination_cidr_block(v4)
                .set_destination_ipv6_cidr_block(v6)
                .network_interface_id(&write.eni_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe(ec2_error("CreateRoute", e))),
        };
        result
    }
}

/// Bounded retries with jittered exponential backoff: enough to ride out EC2
/// throttling, few enough to finish inside the operation timeout.
pub fn retry_config(config: &Config) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(config.max_attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2))
}

/// Timeouts that keep one EC2 operation well below the function timeout.
pub fn timeout_config(config: &Config) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(config.attempt_timeout)
        .operation_timeout(config.operation_timeout)
        .build()
}

/// Rounds of route writes per invocation (see [`Ec2::apply`]).
pub const WRITE_ROUNDS: u32 = 3;

/// A route write that failed, with what decides whether to try again.
#[derive(Debug, Clone)]
struct WriteFailure {
    code: Option<String>,
    message: String,
    retryable: bool,
}

fn describe(error: Error) -> WriteFailure {
    let (code, retryable) = match &error {
        Error::Ec2 {
            code, retryable, ..
        } => (code.clone(), *retryable),
        _ => (None, false),
    };
    WriteFailure {
        code,
        message: error.to_string(),
        retryable,
    }
}

/// Maps an SDK error to ours, keeping EC2's error code for operators.
pub fn ec2_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().map(str::to_string);
            let retryable = code
                .as_deref()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c));
            Error::Ec2 {
                operation,
                message: inner.message().unwrap_or("no message").to_string(),
                code,
                retryable,
            }
        }
        SdkError::TimeoutError(_) => Error::Ec2 {
            operation,
            code: Some("Timeout".to_string()),
            message: "the operation timed out (after retries)".to_string(),
            retryable: true,
        },
        other => Error::Ec2 {
            operation,
            code: None,
            message: error_chain(other),
            retryable: true,
        },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

fn instance_record(instance: &aws_sdk_ec2::types::Instance) -> Option<InstanceRecord> {
    let enis = instance
        .network_interfaces()
        .iter()
        .filter_map(|eni| {
            Some(EniRecord {
                id: eni.network_interface_id()?.to_string(),
                device_index: eni
                    .attachment()
                    .and_then(|a| a.device_index())
                    .unwrap_or(i32::MAX),
                source_dest_check: eni.source_dest_check(),
            })
        })
        .collect();
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
        enis,
        tags: tag_map(instance.tags()),
        instance_status: CheckStatus::Unknown,
        system_status: CheckStatus::Unknown,
    })
}

fn route_table_record(table: &aws_sdk_ec2::types::RouteTable) -> Option<RouteTableRecord> {
    let routes = table
        .routes()
        .iter()
        .map(|route| {
            let destination = route
                .destination_cidr_block()
                .or(route.destination_ipv6_cidr_block())
                .and_then(|d| d.parse::<IpNet>().ok());
            // An ENI target is reported with its instance too; the ENI is what we
            // write, so it is what we compare.
            let target = if let Some(eni) = route.network_interface_id() {
                RouteTarget::NetworkInterface(eni.to_string())
            } else if let Some(instance) = route.instance_id() {
                RouteTarget::Instance(instance.to_string())
            } else {
                RouteTarget::Other(
                    [
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
                    .unwrap_or("unknown")
                    .to_string(),
                )
            };
            RouteRecord {
                destination,
                target,
                blackhole: route.state() == Some(&RouteState::Blackhole),
            }
        })
        .collect();
    Some(RouteTableRecord {
        id: table.route_table_id()?.to_string(),
        vpc_id: table.vpc_id()?.to_string(),
        tags: tag_map(table.tags()),
        routes,
    })
}
