//! Every way an invocation can fail, and how Lambda should treat it.
//!
//! The split that matters to an operator is retryable or not: Lambda retries
//! asynchronous invocations that return an error, which helps after throttling, a
//! partial write, a deadline or a hold-down, and is pointless for a bad tag or a
//! malformed event.

use lambda_runtime::Diagnostic;

use crate::plan::Refusal;
use crate::report::Report;
use crate::trigger::TriggerError;

/// A group that contradicts itself: any move would be a guess, so nothing is
/// written until its tags agree. Each message names the resources and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no instance carries tag {tag_key}={group}; tag the group's instances or fix the group name")]
    UnknownGroup { group: String, tag_key: String },
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
    #[error(
        "group {group}: members disagree on {tag_key} ({detail}); give every member the same value"
    )]
    PreemptMismatch {
        group: String,
        tag_key: String,
        detail: String,
    },
    #[error("group {group}: VIP {vip} in {vpc} is also claimed by group {others}; a VIP belongs to one group per VPC, so neither acts until the {tag_key} or VIP tags agree")]
    ContestedVip {
        group: String,
        vip: String,
        vpc: String,
        others: String,
        tag_key: String,
    },
    #[error("group {group} has no usable member: {detail}")]
    NoUsableMember { group: String, detail: String },
    #[error("group name {group:?} is too long: the function's tag key {key} would have {len} characters, and EC2 allows {max}; shorten the group name (or the TAG_PREFIX)")]
    GroupNameTooLong {
        group: String,
        key: String,
        len: usize,
        max: usize,
    },
}

/// Why one tagged instance cannot be a member. The group still acts; the
/// instance counts as failed and is named in the warnings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
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
    #[error("instance {instance} ({state}) is in no VPC; only VPC instances can hold a VIP route")]
    NoVpc {
        instance: String,
        state: &'static str,
    },
    #[error("instance {instance} is in {vpc}, not in the group's {group_vpc}")]
    OtherVpc {
        instance: String,
        vpc: String,
        group_vpc: String,
    },
    #[error("instance {instance} has {tag_key}={eni} but that ENI is not attached to it; attach it or fix the tag")]
    EniNotAttached {
        instance: String,
        tag_key: String,
        eni: String,
    },
    #[error("instance {instance}: ENI {eni} is in {vpc}, not in the group's {group_vpc}; a route can only target an ENI of its own VPC")]
    EniInOtherVpc {
        instance: String,
        eni: String,
        vpc: String,
        group_vpc: String,
    },
    #[error("instance {instance} has no network interface at device index 0; set {tag_key} to the ENI that should receive the VIP")]
    NoEni { instance: String, tag_key: String },
    #[error("instance {instance} has {tag_key}={value:?}; use true or false")]
    InvalidPreempt {
        instance: String,
        tag_key: String,
        value: String,
    },
}

/// One failed AWS call: which operation, EC2's or CloudWatch's error code, the
/// message, and whether the same call may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {operation} failed{}: {message}", service, code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub retryable: bool,
}

impl AwsError {
    /// EC2 and CloudWatch say "slow down" with these codes.
    pub fn is_throttle(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException")
        )
    }
}

/// Why one invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("group {}: refused to move the VIP: {refusal}", report.group)]
    Refused {
        refusal: Refusal,
        /// What was decided, with every member's health in the warnings.
        report: Box<Report>,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Some routes were written and some failed beyond their retries; the report
    /// says which.
    #[error("group {}: {} of {} VIP routes were not updated: {}; the others were; a retry or the next reconcile finishes the job", report.group, report.failed_routes().len(), report.route_tables.len(), report.failed_routes().join("; "))]
    PartialFailure { report: Box<Report> },
    /// A move over several routes was not started: its record could not be
    /// written first.
    #[error("group {}: the move to {} could not be recorded before its first route write ({error}); nothing was written; a retry records it and moves", report.group, report.to.as_ref().map_or("-", |t| t.instance_id.as_str()))]
    MoveNotRecorded {
        error: AwsError,
        report: Box<Report>,
    },
    /// The invocation's deadline came before every write could start.
    #[error("group {}: the deadline came with {} VIP routes still to write ({} written); a retry or the next reconcile writes them, and a move recorded before its writes is finished towards the same member", report.group, report.pending_routes().len(), report.written_routes())]
    DeadlineReached { report: Box<Report> },
    /// Some groups of a reconcile failed, each with its own error; the others'
    /// reports are kept (a group may have moved while another failed).
    #[error("{} of {} groups failed: {}{}", failures.len(), failures.len() + done.len(), failures.iter().map(|(g, e)| format!("{g}: {}: {e}", e.diagnostic_type())).collect::<Vec<_>>().join(" | "), done_summary(done))]
    Groups {
        failures: Vec<(String, Error)>,
        done: Vec<Report>,
    },
}

/// ` | done: web failed_over (3 routes written), db no_change`.
fn done_summary(done: &[Report]) -> String {
    if done.is_empty() {
        return String::new();
    }
    let each: Vec<String> = done
        .iter()
        .map(|r| {
            let action = serde_json::to_value(r.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!(
                "{} {action} ({} routes written)",
                r.group,
                r.written_routes()
            )
        })
        .collect();
    format!(" | done: {}", each.join(", "))
}

fn retry_word(retryable: bool) -> &'static str {
    if retryable {
        "Retryable"
    } else {
        "NotRetryable"
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Self::Config(Box::new(error))
    }
}

impl Error {
    /// A short, stable name for dashboards and the Lambda error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Trigger(_) => "InvalidEvent",
            Self::Config(e) if matches!(**e, ConfigError::UnknownGroup { .. }) => "UnknownGroup",
            Self::Config(_) => "InvalidGroupConfiguration",
            Self::Refused { refusal, .. } => refusal.error_type(),
            Self::Aws(e) if e.service == "CloudWatch" => "CloudWatchApiError",
            Self::Aws(_) => "Ec2ApiError",
            Self::PartialFailure { .. } => "PartialFailure",
            Self::DeadlineReached { .. } => "DeadlineReached",
            Self::MoveNotRecorded { .. } => "MoveNotRecorded",
            Self::Groups { .. } => "ReconcileIncomplete",
        }
    }

    /// Whether running the same invocation again may succeed without anyone
    /// changing anything.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Trigger(_) | Self::Config(_) => false,
            Self::Refused { refusal, .. } => refusal.retryable(),
            Self::Aws(e) => e.retryable,
            Self::PartialFailure { .. } | Self::DeadlineReached { .. } => true,
            Self::MoveNotRecorded { error, .. } => error.retryable,
            Self::Groups { failures, .. } => failures.iter().any(|(_, e)| e.retryable()),
        }
    }

    /// The group report behind a failed move, when there is one (the CLI prints
    /// it with `--json`).
    pub fn report(&self) -> Option<&Report> {
        match self {
            Self::PartialFailure { report }
            | Self::DeadlineReached { report }
            | Self::MoveNotRecorded { report, .. }
            | Self::Refused { report, .. } => Some(report),
            _ => None,
        }
    }

    /// `FailoverRefused.Retryable`: the Lambda `errorType`.
    pub fn diagnostic_type(&self) -> String {
        format!("{}.{}", self.error_type(), retry_word(self.retryable()))
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Self {
        Diagnostic {
            error_type: error.diagnostic_type(),
            error_message: error.to_string(),
        }
    }
}
