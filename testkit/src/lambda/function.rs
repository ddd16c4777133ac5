//! A function's configuration, as its template would give it, and the
//! environment that points a function's SDK at the emulator.

use std::path::PathBuf;
use std::time::Duration;

use super::{ACCOUNT, REGION};

/// The function: its binary and configuration.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// `None`: the caller runs the runtime client itself (against
    /// [`LocalLambda::runtime_api`](super::LocalLambda::runtime_api)); nothing is
    /// spawned.
    pub binary: Option<PathBuf>,
    /// The function timeout (the deadline handed to each invocation).
    pub timeout: Duration,
    pub memory_mb: u32,
    pub version: String,
    /// Environment of the function process, besides Lambda's own variables.
    pub env: Vec<(String, String)>,
    /// Where the process's stdout and stderr go; default: a temporary file,
    /// removed with the service.
    pub log: Option<PathBuf>,
    /// The Lambda-type destination of asynchronous invocations that succeed (a
    /// function name or ARN of the same service).
    pub on_success: Option<String>,
    /// The destination of asynchronous invocations that still fail after their
    /// retries.
    pub on_failure: Option<String>,
    /// Retries of a failed asynchronous invocation (AWS's default is 2; the kit's
    /// is 0, so that a failure is seen once unless a test asks for retries).
    pub max_retry_attempts: u32,
    /// The wait before the first retry; the n-th retry waits n times as long (AWS
    /// waits about 1, then 2 minutes, which is the default; tests set it short).
    pub retry_delay: Duration,
}

impl Function {
    /// `binary`, e.g. `env!("CARGO_BIN_EXE_vip-failover")`, with Lambda's defaults:
    /// 30 s timeout (the template's), 128 MB, version `$LATEST`.
    pub fn new(name: &str, binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: Some(binary.into()),
            ..Self::external(name)
        }
    }

    /// A function whose runtime client the caller runs.
    pub fn external(name: &str) -> Self {
        Self {
            name: name.to_string(),
            binary: None,
            timeout: Duration::from_secs(30),
            memory_mb: 128,
            version: "$LATEST".to_string(),
            env: Vec::new(),
            log: None,
            on_success: None,
            on_failure: None,
            max_retry_attempts: 0,
            retry_delay: Duration::from_secs(60),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    /// Sends the invocation record of each asynchronous invocation that succeeds
    /// to the function `name` (started in the same [`Lambdas`](super::Lambdas)).
    pub fn on_success(mut self, name: &str) -> Self {
        self.on_success = Some(name.to_string());
        self
    }

    /// Sends the invocation record of each asynchronous invocation whose retries
    /// are exhausted to the function `name`.
    pub fn on_failure(mut self, name: &str) -> Self {
        self.on_failure = Some(name.to_string());
        self
    }

    pub fn max_retry_attempts(mut self, retries: u32) -> Self {
        self.max_retry_attempts = retries;
        self
    }

    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", self.name)
    }

    /// Whether the Invoke API's `FunctionName` (a name, an ARN, or a qualified
    /// ARN) names this function.
    pub fn answers_to(&self, name: &str) -> bool {
        let arn = self.arn();
        name == self.name
            || name == arn
            || name
                .strip_prefix(&arn)
                .is_some_and(|qualifier| qualifier.starts_with(':'))
    }
}

/// The environment that points a function's AWS SDK at an emulator (or a proxy)
/// at `endpoint`, with dummy credentials in us-east-1 and nothing read from the
/// developer's machine (no profile, no instance metadata).
pub fn emulator_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
