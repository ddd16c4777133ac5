//! What EC2 and CloudWatch reported, as plain data with no SDK types, so the
//! decision logic can be unit-tested on snapshots built by hand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// EC2 instance lifecycle state, as far as failover cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    Unknown,
}

impl InstanceState {
    pub(crate) fn from_ec2(name: &str) -> Self {
        match name {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => Self::Unknown,
        }
    }

    /// The instance is going away or gone: it cannot answer for the VIP, whatever
    /// any other signal says.
    pub(crate) fn is_down(self) -> bool {
        matches!(
            self,
            Self::Stopping | Self::Stopped | Self::ShuttingDown | Self::Terminated
        )
    }

    /// Terminated or on its way there: it will not come back.
    pub(crate) fn is_gone(self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Unknown => "unknown",
        }
    }
}

/// Result of one EC2 status check (instance, system or attached EBS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Ok,
    Impaired,
    Initializing,
    InsufficientData,
    NotApplicable,
    /// No status was returned (e.g. the instance is stopped).
    Unknown,
}

impl CheckStatus {
    pub(crate) fn from_ec2(name: &str) -> Self {
        match name {
            "ok" => Self::Ok,
            "impaired" => Self::Impaired,
            "initializing" => Self::Initializing,
            "insufficient-data" => Self::InsufficientData,
            "not-applicable" => Self::NotApplicable,
            _ => Self::Unknown,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Impaired => "impaired",
            Self::Initializing => "initializing",
            Self::InsufficientData => "insufficient-data",
            Self::NotApplicable => "not-applicable",
            Self::Unknown => "unknown",
        }
    }
}

/// The three status checks EC2 runs on an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChecks {
    pub instance: CheckStatus,
    pub system: CheckStatus,
    /// Attached-EBS reachability. `NotApplicable` when EC2 reports none (instances
    /// without EBS, older regions, the emulator).
    pub attached_ebs: CheckStatus,
}

impl StatusChecks {
    /// What an instance has before `DescribeInstanceStatus` is read.
    pub(crate) const UNKNOWN: Self = Self {
        instance: CheckStatus::Unknown,
        system: CheckStatus::Unknown,
        attached_ebs: CheckStatus::NotApplicable,
    };

    #[cfg(test)]
    pub(crate) const OK: Self = Self {
        instance: CheckStatus::Ok,
        system: CheckStatus::Ok,
        attached_ebs: CheckStatus::NotApplicable,
    };
}

/// A network interface attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EniRecord {
    pub(crate) id: String,
    pub(crate) device_index: i32,
    /// `Some(true)` means the ENI drops packets addressed to the VIP: failover to it
    /// would black-hole traffic, so it is reported.
    pub(crate) source_dest_check: Option<bool>,
    /// An instance may carry ENIs of other VPCs (multi-VPC attachment); a route
    /// can only target an ENI of the route table's own VPC.
    pub(crate) vpc_id: Option<String>,
    /// Its primary private address: what the in-VPC prober connects to.
    pub(crate) private_ip: Option<std::net::IpAddr>,
    /// The security groups on it (what lets the prober in, or not).
    pub(crate) security_groups: Vec<String>,
}

/// A security group's inbound rules, as far as reaching a TCP port goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecurityGroupRecord {
    pub(crate) id: String,
    pub(crate) ingress: Vec<Ingress>,
}

/// One inbound rule: a protocol and port range, from groups or address ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ingress {
    /// `tcp`, `6`, or `-1` (everything).
    pub(crate) protocol: String,
    pub(crate) from_port: Option<i32>,
    pub(crate) to_port: Option<i32>,
    pub(crate) groups: Vec<String>,
    pub(crate) cidrs: Vec<IpNet>,
}

impl Ingress {
    /// Whether this rule lets TCP to `port` in, from the group `source` or
    /// from an address range holding every address of `from`.
    pub(crate) fn admits(&self, port: u16, source: Option<&str>, from: &[IpNet]) -> bool {
        let tcp = matches!(self.protocol.as_str(), "tcp" | "6" | "-1");
        let all = self.protocol == "-1";
        let in_range = all
            || (self.from_port.unwrap_or(0) <= i32::from(port)
                && i32::from(port) <= self.to_port.unwrap_or(65_535));
        let by_group = source.is_some_and(|sg| self.groups.iter().any(|g| g == sg));
        let by_range = !from.is_empty()
            && from
                .iter()
                .all(|net| self.cidrs.iter().any(|c| c.contains(net)));
        tcp && in_range && (by_group || by_range)
    }
}

/// One EC2 instance with the facts the group snapshot needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub(crate) id: String,
    pub(crate) state: InstanceState,
    pub(crate) availability_zone: Option<String>,
    pub(crate) vpc_id: Option<String>,
    pub(crate) enis: Vec<EniRecord>,
    pub(crate) tags: BTreeMap<String, String>,
    /// When the instance last started: a state-change event older than this
    /// speaks of an earlier life of the instance.
    pub(crate) launch_time: Option<DateTime<Utc>>,
    pub(crate) checks: StatusChecks,
}

/// The three states of a CloudWatch alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub(crate) fn from_cloudwatch(value: &str) -> Option<Self> {
        match value {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// A CloudWatch alarm as read now (`DescribeAlarms`), already mapped to the
/// instance it speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AlarmRecord {
    pub(crate) name: String,
    pub(crate) instance_id: String,
    pub(crate) state: AlarmState,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub(crate) enum RouteTarget {
    NetworkInterface(String),
    Instance(String),
    /// Gateways, peering, endpoints...: never ours, but recognisable in reports.
    Other(String),
}

impl RouteTarget {
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::NetworkInterface(id) | Self::Instance(id) | Self::Other(id) => id,
        }
    }
}

/// One route of a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteRecord {
    /// Destination as EC2 wrote it; `None` for prefix-list destinations.
    pub(crate) destination: Option<IpNet>,
    pub(crate) target: RouteTarget,
    /// EC2 marks a route `blackhole` when its target (ENI or instance) is gone.
    pub(crate) blackhole: bool,
}

/// A VPC route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteTableRecord {
    pub(crate) id: String,
    pub(crate) vpc_id: String,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) routes: Vec<RouteRecord>,
    /// The subnets explicitly associated with it.
    pub(crate) subnets: Vec<String>,
    /// The VPC's main table: it routes every subnet with no table of its own.
    pub(crate) main: bool,
}

/// A route of a Transit Gateway route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransitRouteRecord {
    pub(crate) destination: Option<IpNet>,
    /// The attachment it leads to (`None`: a blackhole).
    pub(crate) attachment: Option<String>,
    /// What that attachment is (a VPC id, a VPN or Direct Connect gateway).
    pub(crate) resource: Option<String>,
    pub(crate) blackhole: bool,
    /// Learned from an attachment (VPN, Direct Connect, another VPC), not static.
    pub(crate) propagated: bool,
}

/// A Transit Gateway route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransitTableRecord {
    pub(crate) id: String,
    pub(crate) transit_gateway_id: String,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) routes: Vec<TransitRouteRecord>,
}

/// A VPC attachment of a Transit Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransitAttachmentRecord {
    pub(crate) id: String,
    pub(crate) transit_gateway_id: String,
    pub(crate) vpc_id: String,
    /// The subnets the Transit Gateway puts its traffic into the VPC through.
    pub(crate) subnets: Vec<String>,
    pub(crate) available: bool,
}

impl RouteTableRecord {
    pub(crate) fn route_to(&self, destination: &IpNet) -> Option<&RouteRecord> {
        self.routes
            .iter()
            .find(|r| r.destination.as_ref() == Some(destination))
    }
}
