//! Every way an invocation can fail, and how Lambda should treat it.
//!
//! The split that matters to an operator is retryable or not: Lambda retries
//! asynchronous invocations that return an error, which helps after throttling, a
//! partial write, a deadline or a hold-down, and is pointless for a bad tag or a
//! malformed event.

use lambda_runtime::Diagnostic;

use super::{GroupProblem, Report};
use crate::aws::AwsError;
use crate::group::ConfigError;
use crate::plan::Refusal;
use crate::trigger::TriggerError;

/// Why one invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// An alarm event for an alarm no later run can read: it is refused, so a
    /// failure it reports never lasts only as long as its event.
    #[error("alarm {alarm} is outside ALARM_NAME_PREFIX {prefix:?}: later runs cannot read its level, so it would fail its member only until this event is handled; rename the alarm to start with {prefix:?} (the stack's AlarmNamePrefix), or set ALARM_NAME_PREFIX to a prefix it shares (empty reads every alarm)")]
    AlarmOutsidePrefix { alarm: String, prefix: String },
    #[error("group {}: refused to move the VIP: {refusal}{}", report.group, kept_whole(report))]
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
    #[error("group {}: the move to {} could not be recorded before its first route write ({error}); nothing was written; {}", report.group, report.to.as_ref().map_or("-", |t| t.instance_id.as_str()), unrecorded_hint(error))]
    MoveNotRecorded {
        error: AwsError,
        report: Box<Report>,
    },
    /// The invocation's deadline came before every write could start.
    #[error("group {}: the deadline came with {} VIP routes still to write ({}; {} written); a retry or the next reconcile writes them, and a move recorded before its writes is finished towards the same member", report.group, report.pending_routes().len(), report.pending_routes().join(", "), report.written_routes())]
    DeadlineReached { report: Box<Report> },
    /// Some groups of a reconcile failed, each with its own error; the others'
    /// reports are kept (a group may have moved while another failed).
    #[error("{} of {} groups failed: {}{}{}", failures.len(), failures.len() + done.len() + attention.len(), failures.iter().map(|(g, e)| format!("{g}: {}: {e}", e.diagnostic_type())).collect::<Vec<_>>().join(" | "), done_summary(done), attention_summary(attention))]
    Groups {
        failures: Vec<(String, Error)>,
        done: Vec<Report>,
        /// Groups set aside for a reason a retry cannot fix.
        attention: Vec<GroupProblem>,
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

/// What a refused run wrote anyway: the routes towards the member a hold-down
/// keeps (rule "a hold-down keeps the VIP whole").
fn kept_whole(report: &Report) -> String {
    match (report.written_routes(), &report.to) {
        (0, _) | (_, None) => String::new(),
        (n, Some(to)) => format!(
            "; meanwhile {n} VIP routes were written towards {}, which the hold-down keeps, so the VIP is not split",
            to.instance_id
        ),
    }
}

/// What to do about a move that waits for its record: only a move for
/// preference waits (a move off a failed member goes ahead regardless).
fn unrecorded_hint(error: &AwsError) -> &'static str {
    if error.retryable() {
        "it is a move for preference, which waits for its record: a retry records it and moves"
    } else {
        "it is a move for preference, which waits for its record, and a retry will not help until the cause is fixed (a table at EC2's 50 tags: remove one; a table outside the function's permissions: tag it for the group); a move off a failed member never waits for this"
    }
}

/// ` | needs attention: db: InvalidGroupConfiguration.NotRetryable`.
fn attention_summary(attention: &[GroupProblem]) -> String {
    if attention.is_empty() {
        return String::new();
    }
    let each: Vec<String> = attention
        .iter()
        .map(|p| format!("{}: {}", p.group, p.error_type))
        .collect();
    format!(" | needs attention: {}", each.join(", "))
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
            Self::AlarmOutsidePrefix { .. } => "AlarmOutsidePrefix",
            Self::Refused { refusal, .. } => refusal.error_type(),
            Self::Aws(e) if e.is_cloudwatch() => "CloudWatchApiError",
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
            Self::Trigger(_) | Self::Config(_) | Self::AlarmOutsidePrefix { .. } => false,
            Self::Refused { refusal, .. } => refusal.retryable(),
            Self::Aws(e) => e.retryable(),
            Self::PartialFailure { .. } | Self::DeadlineReached { .. } => true,
            Self::MoveNotRecorded { error, .. } => error.retryable(),
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
