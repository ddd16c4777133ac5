//! Every way an invocation can fail, and how Lambda should treat it.
//!
//! The split that matters to an operator is retryable or not: Lambda retries
//! asynchronous invocations that return an error, which helps after throttling or
//! a partial write and is pointless for a bad tag or a malformed event.

use lambda_runtime::Diagnostic;

use crate::trigger::TriggerError;

/// A tag or topology problem that makes a group unsafe to act on. Each message
/// names the resource and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no instance carries tag {tag_key}={group}; tag the group's instances or fix the group name")]
    UnknownGroup { group: String, tag_key: String },
    #[error("instance {instance} has {tag_key}={value:?}, which is not a non-negative integer; set it to e.g. 10 (lower is preferred)")]
    InvalidPriority {
        instance: String,
        tag_key: String,
        value: String,
    },
    #[error("instance {instance} has no {tag_key} tag; set it to the group's VIP, e.g. 192.168.100.10/32")]
    MissingVip { instance: String, tag_key: String },
    #[error("instance {instance} has {tag_key}={value:?}: {reason}")]
    InvalidVip {
        instance: String,
        tag_key: String,
        value: String,
        reason: String,
    },
    #[error("group {group}: {detail}; give every member the same {tag_key} tag")]
    VipMismatch {
        group: String,
        tag_key: String,
        /// Names both instances and their VIPs.
        detail: String,
    },
    #[error("group {group}: VIP {vip} is inside CIDR {cidr} of {vpc}; a VIP must lie outside the VPC's CIDRs or the VPC's local route wins; pick an address outside it")]
    VipInsideVpc {
        group: String,
        vip: String,
        vpc: String,
        cidr: String,
    },
    #[error("group {group}: instance {first} is in {first_vpc} but instance {second} is in {second_vpc}; a group's members must share one VPC")]
    MixedVpcs {
        group: String,
        first: String,
        first_vpc: String,
        second: String,
        second_vpc: String,
    },
    #[error("instance {instance} is in no VPC; only VPC instances can hold a VIP route")]
    NoVpc { instance: String },
    #[error("instance {instance} has {tag_key}={eni} but that ENI is not attached to it; attach it or fix the tag")]
    EniNotAttached {
        instance: String,
        tag_key: String,
        eni: String,
    },
    #[error("instance {instance} has no network interface at device index 0; set {tag_key} to the ENI that should receive the VIP")]
    NoEni { instance: String, tag_key: String },
    #[error("instance {instance} has {tag_key}={value:?}; use true or false")]
    InvalidPreempt {
        instance: String,
        tag_key: String,
        value: String,
    },
    #[error(
        "group {group}: members disagree on {tag_key} ({detail}); give every member the same value"
    )]
    PreemptMismatch {
        group: String,
        tag_key: String,
        detail: String,
    },
}

/// Why one invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("group {group} has no member {target}; choose one of [{members}]")]
    UnknownTarget {
        group: String,
        target: String,
        members: String,
    },
    #[error("group {group}: refused to move the VIP: {reason}")]
    Refused { group: String, reason: String },
    #[error("EC2 {operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Ec2 {
        operation: &'static str,
        code: Option<String>,
        message: String,
        retryable: bool,
    },
    #[error("group {group}: {} of {total} route tables were not updated: {}; the others were; Lambda's retry or the next reconcile will finish the job", failed.len(), failed.join("; "))]
    PartialFailure {
        group: String,
        total: usize,
        failed: Vec<String>,
    },
}

impl Error {
    /// A short, stable name for dashboards and the Lambda error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Trigger(_) => "InvalidEvent",
            Self::Config(_) => "InvalidGroupConfiguration",
            Self::UnknownTarget { .. } => "UnknownTarget",
            Self::Refused { .. } => "FailoverRefused",
            Self::Ec2 { .. } => "Ec2ApiError",
            Self::PartialFailure { .. } => "PartialFailure",
        }
    }

    /// Whether running the same invocation again may succeed without anyone
    /// changing anything.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Trigger(_) | Self::Config(_) | Self::UnknownTarget { .. } => false,
            // A standby may become healthy by the time Lambda retries.
            Self::Refused { .. } => true,
            Self::Ec2 { retryable, .. } => *retryable,
            Self::PartialFailure { .. } => true,
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Self {
        let retry = if error.retryable() {
            "Retryable"
        } else {
            "NotRetryable"
        };
        Diagnostic {
            error_type: format!("{}.{retry}", error.error_type()),
            error_message: error.to_string(),
        }
    }
}
