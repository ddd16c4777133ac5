//! One failed AWS call, typed: which operation, and what went wrong. Error codes
//! from AWS are compared here and nowhere else; the rest of the crate asks
//! questions ([`AwsError::is_throttle`], [`AwsError::is_denied`]...).

use std::fmt;

use super::ops::{Op, Service};

/// What went wrong with one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The service answered with an error code.
    Service {
        code: String,
        message: String,
        retryable: bool,
    },
    /// An attempt took longer than its timeout.
    Timeout,
    /// Not sent: the invocation's deadline comes before the next request token.
    NotStarted,
    /// The request never got an answer (connection refused or dropped, a body
    /// that could not be read), or could not be built (`retryable: false`).
    Transport { message: String, retryable: bool },
}

/// One failed AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub(crate) op: Op,
    pub(crate) failure: Failure,
}

/// EC2 and CloudWatch error codes after which the same call may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
];

/// "Slow down", in EC2's and CloudWatch's words.
const THROTTLE_CODES: &[&str] = &["RequestLimitExceeded", "Throttling", "ThrottlingException"];

impl AwsError {
    pub(crate) fn new(op: Op, failure: Failure) -> Self {
        Self { op, failure }
    }

    /// A service error, retryable when its code says so.
    pub(crate) fn service(op: Op, code: &str, message: &str) -> Self {
        let failure = Failure::Service {
            code: code.to_string(),
            message: message.to_string(),
            retryable: RETRYABLE_CODES.contains(&code),
        };
        Self::new(op, failure)
    }

    /// The service's error code, if it answered with one.
    pub(crate) fn code(&self) -> Option<&str> {
        match &self.failure {
            Failure::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything.
    pub(crate) fn retryable(&self) -> bool {
        match &self.failure {
            Failure::Service { retryable, .. } | Failure::Transport { retryable, .. } => *retryable,
            Failure::Timeout | Failure::NotStarted => true,
        }
    }

    pub(crate) fn is_throttle(&self) -> bool {
        self.code().is_some_and(|c| THROTTLE_CODES.contains(&c))
    }

    /// Not sent because the deadline came first: the work is owed, not failed.
    pub(crate) fn not_started(&self) -> bool {
        self.failure == Failure::NotStarted
    }

    /// EC2 answers a ReplaceRoute of a missing route with `InvalidParameterValue`
    /// ("There is no route defined for ... Use CreateRoute instead"), like any
    /// other bad parameter; only that message means "create it instead".
    pub(crate) fn route_not_found(&self) -> bool {
        match &self.failure {
            Failure::Service { code, message, .. } => match code.as_str() {
                "InvalidRoute.NotFound" => true,
                "InvalidParameterValue" => message.contains("no route defined"),
                _ => false,
            },
            _ => false,
        }
    }

    /// EC2's eventual consistency: an id just created may not be known to every
    /// endpoint yet (`InvalidInstanceID.NotFound` from DescribeInstanceStatus).
    pub(crate) fn id_not_found(&self) -> bool {
        self.code()
            .is_some_and(|c| c.starts_with("Invalid") && c.ends_with(".NotFound"))
    }

    /// The service's message, if it answered with one.
    pub(crate) fn message(&self) -> Option<&str> {
        match &self.failure {
            Failure::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    pub(crate) fn route_exists(&self) -> bool {
        self.code() == Some("RouteAlreadyExists")
    }

    pub(crate) fn service_name(&self) -> &'static str {
        self.op.service().name()
    }

    pub(crate) fn is_cloudwatch(&self) -> bool {
        self.op.service() == Service::CloudWatch
    }
}

impl std::error::Error for AwsError {}

/// `EC2 ReplaceRoute failed (RequestLimitExceeded): Request limit exceeded.`
impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (service, op) = (self.service_name(), self.op.name());
        match &self.failure {
            Failure::Service { code, message, .. } => {
                write!(f, "{service} {op} failed ({code}): {message}")
            }
            Failure::Timeout => write!(f, "{service} {op} failed (Timeout): the attempt timed out"),
            Failure::NotStarted => write!(
                f,
                "{service} {op} failed (DeadlineReached): not started: the invocation's deadline comes before the next request token"
            ),
            Failure::Transport { message, .. } => write!(f, "{service} {op} failed: {message}"),
        }
    }
}

/// CloudFormation's answer to `DescribeStacks` for a stack name that names no
/// stack: `ValidationError`, "Stack with id X does not exist" (it has no typed
/// error for it). For the operator CLI, which must not read codes itself.
pub fn is_missing_stack(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_cloudformations_answers_then_only_a_stack_that_does_not_exist_is_missing() {
        let missing = Some("Stack with id no-such-stack does not exist");
        assert!(is_missing_stack(Some("ValidationError"), missing));
        assert!(!is_missing_stack(
            Some("ValidationError"),
            Some("1 validation error detected: stackName")
        ));
        assert!(!is_missing_stack(Some("AccessDenied"), missing));
        assert!(!is_missing_stack(None, missing));
    }

    #[test]
    fn given_codes_then_each_question_has_its_answer() {
        let throttled = AwsError::service(Op::ReplaceRoute, "RequestLimitExceeded", "slow down");
        assert!(throttled.is_throttle() && throttled.retryable());
        let denied = AwsError::service(Op::CreateTags, "UnauthorizedOperation", "no");
        assert!(!denied.is_throttle() && !denied.retryable());
        let missing = "There is no route defined for '192.168.100.10/32' in the route table. Use CreateRoute instead.";
        assert!(
            AwsError::service(Op::ReplaceRoute, "InvalidParameterValue", missing).route_not_found()
        );
        assert!(
            AwsError::service(Op::ReplaceRoute, "InvalidRoute.NotFound", "gone").route_not_found()
        );
        assert!(!AwsError::service(
            Op::ReplaceRoute,
            "InvalidParameterValue",
            "Value (eni-x) for parameter networkInterfaceId is invalid"
        )
        .route_not_found());
        let unknown = AwsError::service(
            Op::DescribeInstanceStatus,
            "InvalidInstanceID.NotFound",
            "The instance ID 'i-0a1b2c3d4e5f60718' does not exist",
        );
        assert!(unknown.id_not_found() && !unknown.retryable());
        let late = AwsError::new(Op::ReplaceRoute, Failure::NotStarted);
        assert!(late.not_started() && late.retryable() && late.code().is_none());
    }

    #[test]
    fn given_each_failure_then_the_message_reads_as_before() {
        let throttled = AwsError::service(Op::ReplaceRoute, "RequestLimitExceeded", "slow down");
        assert_eq!(
            throttled.to_string(),
            "EC2 ReplaceRoute failed (RequestLimitExceeded): slow down"
        );
        let timeout = AwsError::new(Op::DescribeAlarms, Failure::Timeout);
        assert_eq!(
            timeout.to_string(),
            "CloudWatch DescribeAlarms failed (Timeout): the attempt timed out"
        );
        assert!(timeout.is_cloudwatch());
    }
}
