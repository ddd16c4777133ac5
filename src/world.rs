//! What EC2 reported, as plain data with no SDK types, so the decision logic can be
//! unit-tested on snapshots built by hand.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

/// EC2 instance lifecycle state, as far as failover cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub fn from_ec2(name: &str) -> Self {
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
}

/// Result of one EC2 status check (instance or system reachability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub fn from_ec2(name: &str) -> Self {
        match name {
            "ok" => Self::Ok,
            "impaired" => Self::Impaired,
            "initializing" => Self::Initializing,
            "insufficient-data" => Self::InsufficientData,
            "not-applicable" => Self::NotApplicable,
            _ => Self::Unknown,
        }
    }
}

/// A network interface attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniRecord {
    pub id: String,
    pub device_index: i32,
    /// `Some(true)` means the ENI drops packets addressed to the VIP: failover to it
    /// would black-hole traffic, so it is reported.
    pub source_dest_check: Option<bool>,
}

/// One EC2 instance with the facts the group snapshot needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub id: String,
    pub state: InstanceState,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub enis: Vec<EniRecord>,
    pub tags: BTreeMap<String, String>,
    pub instance_status: CheckStatus,
    pub system_status: CheckStatus,
}

/// The three states of a CloudWatch alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn from_cloudwatch(value: &str) -> Option<Self> {
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

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum RouteTarget {
    NetworkInterface(String),
    Instance(String),
    /// Gateways, peering, endpoints...: never ours, but recognisable in reports.
    Other(String),
}

impl RouteTarget {
    pub fn id(&self) -> &str {
        match self {
            Self::NetworkInterface(id) | Self::Instance(id) | Self::Other(id) => id,
        }
    }
}

/// One route of a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRecord {
    /// Destination as EC2 wrote it; `None` for prefix-list destinations.
    pub destination: Option<IpNet>,
    pub target: RouteTarget,
    /// EC2 marks a route `blackhole` when its target (ENI or instance) is gone.
    pub blackhole: bool,
}

/// A VPC route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableRecord {
    pub id: String,
    pub vpc_id: String,
    pub tags: BTreeMap<String, String>,
    pub routes: Vec<RouteRecord>,
}

impl RouteTableRecord {
    pub fn route_to(&self, destination: &IpNet) -> Option<&RouteRecord> {
        self.routes
            .iter()
            .find(|r| r.destination.as_ref() == Some(destination))
    }
}
