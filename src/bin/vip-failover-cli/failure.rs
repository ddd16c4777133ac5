//! Why the CLI stops early, and the exit code each reason maps to.

use serde_json::{json, Value};
use vip_failover::config::ConfigEnvError;
use vip_failover::Error;

/// Exit codes, documented in `--help`.
pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_PROBLEMS: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_AWS: u8 = 3;

/// Why the CLI stops early; each maps to one exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The library refused or failed (here, or inside the function).
    Failed {
        error_type: String,
        message: String,
        report: Option<Value>,
    },
    /// The function could not be invoked at all.
    Invoke(String),
    Env(ConfigEnvError),
    Usage(String),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Failed { error_type, .. } => exit_code(error_type),
            Self::Invoke(_) => EXIT_AWS,
            Self::Env(_) | Self::Usage(_) => EXIT_USAGE,
        }
    }

    /// `{"errorType", "errorMessage"}`, as Lambda reports a function error.
    pub(crate) fn to_json(&self) -> Value {
        let error_type = match self {
            Self::Failed { error_type, .. } => error_type.clone(),
            Self::Invoke(_) => "InvokeFailed".to_string(),
            Self::Env(_) => "InvalidEnvironment".to_string(),
            Self::Usage(_) => "Usage".to_string(),
        };
        json!({"errorType": error_type, "errorMessage": self.to_string()})
    }

    pub(crate) fn report(&self) -> Option<&Value> {
        match self {
            Self::Failed { report, .. } => report.as_ref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed { message, .. } | Self::Invoke(message) | Self::Usage(message) => {
                f.write_str(message)
            }
            Self::Env(e) => e.fmt(f),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Failed {
            error_type: error.diagnostic_type(),
            report: error.report().and_then(|r| serde_json::to_value(r).ok()),
            message: error.to_string(),
        }
    }
}

/// The exit code of a Lambda `errorType` such as `FailoverRefused.Retryable`.
pub(crate) fn exit_code(error_type: &str) -> u8 {
    match error_type.split('.').next().unwrap_or_default() {
        "InvalidEvent" | "UnknownGroup" | "UnknownTarget" => EXIT_USAGE,
        "Ec2ApiError" | "CloudWatchApiError" => EXIT_AWS,
        _ => EXIT_PROBLEMS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_type_has_the_documented_exit_code() {
        for (error_type, code) in [
            ("InvalidEvent.NotRetryable", EXIT_USAGE),
            ("UnknownGroup.NotRetryable", EXIT_USAGE),
            ("UnknownTarget.NotRetryable", EXIT_USAGE),
            ("Ec2ApiError.Retryable", EXIT_AWS),
            ("CloudWatchApiError.Retryable", EXIT_AWS),
            ("FailoverRefused.Retryable", EXIT_PROBLEMS),
            ("TargetUnhealthy.Retryable", EXIT_PROBLEMS),
            ("HeldDown.Retryable", EXIT_PROBLEMS),
            ("InvalidGroupConfiguration.NotRetryable", EXIT_PROBLEMS),
            ("PartialFailure.Retryable", EXIT_PROBLEMS),
            ("DeadlineReached.Retryable", EXIT_PROBLEMS),
        ] {
            assert_eq!(exit_code(error_type), code, "{error_type}");
        }
    }
}
