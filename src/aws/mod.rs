//! The AWS adapter: reads the world into [`crate::world`] records and applies a
//! [`crate::plan::Plan`]. Nothing here decides anything.
//!
//! Every call goes through [`Aws::call`], the one retry policy of the function:
//! it waits for a token of the operation's bucket ([`pace`]), sends one attempt,
//! and on `RequestLimitExceeded` waits for the next token (a throttle costs time,
//! never an attempt); other transient failures (5xx, timeouts, dropped
//! connections) get a bounded number of attempts with jittered backoff. The SDK's
//! own retries are off: its standard mode shares one retry budget per client,
//! which a burst of throttles empties in a second, leaving every later call
//! without retries.

pub(crate) mod cloudwatch;
pub(crate) mod ec2;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod lambda;
pub mod ops;
pub mod pace;
pub(crate) mod routes;
pub(crate) mod transit;

pub use error::is_missing_stack;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use ipnet::IpNet;
use tokio::time::Instant;

use crate::config::Config;
use crate::ttl::TtlCache;
pub(crate) use error::AwsError;
use error::Failure;
use ops::Op;
use pace::Pacer;

/// The AWS APIs as vip-failover uses them.
#[derive(Debug, Clone)]
pub struct Aws {
    ec2: aws_sdk_ec2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// Dispatches probe rounds; `None` where nothing probes (the CLI, tests
    /// that do not need it).
    lambda: Option<aws_sdk_lambda::Client>,
    /// Publishes the "VIP moved" event; `None` where nothing publishes.
    events: Option<aws_sdk_eventbridge::Client>,
    pacer: Arc<Pacer>,
    retry: Retry,
    write_concurrency: usize,
    /// VPC CIDRs by VPC id, kept for the life of a warm Lambda container: CIDR
    /// associations change rarely, and dropping the read takes a call off every
    /// failover after the first.
    vpc_cidrs: TtlCache<String, Vec<IpNet>>,
}

/// When calls may start, and when they must be over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// No new request (or retry) starts after this.
    pub(crate) start_by: Instant,
    /// No request runs past this.
    pub(crate) end: Instant,
}

impl Window {
    pub(crate) fn until(end: Instant) -> Self {
        Self { start_by: end, end }
    }
}

/// How long cached VPC CIDRs are trusted.
const VPC_CIDR_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Retry {
    max_attempts: u32,
    attempt_timeout: Duration,
    operation_timeout: Duration,
}

impl Aws {
    pub fn new(
        ec2: aws_sdk_ec2::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        config: &Config,
    ) -> Self {
        Self {
            ec2,
            cloudwatch,
            lambda: None,
            events: None,
            pacer: Arc::new(Pacer::new(&config.rate_limits)),
            retry: Retry {
                max_attempts: config.max_attempts.max(1),
                attempt_timeout: config.attempt_timeout,
                operation_timeout: config.operation_timeout,
            },
            write_concurrency: config.write_concurrency.max(1),
            vpc_cidrs: TtlCache::new(VPC_CIDR_TTL),
        }
    }

    /// Builds both SDK clients from the environment (credentials, region,
    /// `AWS_ENDPOINT_URL`) with the SDK's retries off and per-attempt timeouts.
    pub async fn from_env(config: &Config) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config(config))
            .load()
            .await;
        Self::new(
            aws_sdk_ec2::Client::new(&sdk),
            aws_sdk_cloudwatch::Client::new(&sdk),
            config,
        )
        .with_lambda(aws_sdk_lambda::Client::new(&sdk))
        .with_events(aws_sdk_eventbridge::Client::new(&sdk))
    }

    /// The EventBridge client that publishes "VIP moved".
    pub fn with_events(mut self, events: aws_sdk_eventbridge::Client) -> Self {
        self.events = Some(events);
        self
    }

    /// The Lambda client that dispatches probe rounds.
    pub fn with_lambda(mut self, lambda: aws_sdk_lambda::Client) -> Self {
        self.lambda = Some(lambda);
        self
    }

    /// The EC2 client (the bench reads through it).
    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    /// One operation under the function's retry policy (see the module docs).
    /// Attempts may only start until `window.start_by`:
    /// throttles wait for tokens until then, transient failures retry within the
    /// operation timeout, and no attempt outlives `window.end`.
    async fn call_in<T, E, R, Fut>(
        &self,
        op: Op,
        window: Window,
        send: impl Fn() -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        // Rule "retries are real": the operation timeout counts from the first
        // attempt, and every later wait for a token extends it, so a call
        // that waited its turn behind a paced burst keeps its retries.
        let mut give_up: Option<Instant> = None;
        let mut attempts = 0;
        loop {
            let asked = Instant::now();
            if self.pacer.acquire(op, window.start_by).await.is_err() {
                return Err(AwsError::new(op, Failure::NotStarted));
            }
            let budget = match give_up {
                None => Instant::now() + self.retry.operation_timeout,
                Some(at) => at + asked.elapsed(),
            };
            give_up = Some(budget.min(window.start_by));
            let left = window.end.saturating_duration_since(Instant::now());
            let error =
                match tokio::time::timeout(self.retry.attempt_timeout.min(left), send()).await {
                    Ok(Ok(value)) => {
                        self.pacer.succeeded(op);
                        return Ok(value);
                    }
                    Ok(Err(e)) => aws_error(op, e),
                    Err(_) => AwsError::new(op, Failure::Timeout),
                };
            if error.is_throttle() {
                self.pacer.throttled(op);
                continue;
            }
            attempts += 1;
            let pause = backoff(attempts);
            if !error.retryable()
                || attempts >= self.retry.max_attempts
                || give_up.is_none_or(|at| Instant::now() + pause > at)
            {
                return Err(error);
            }
            tokio::time::sleep(pause).await;
        }
    }
}

/// After the first failed attempt 200 ms, then 400 ms, 800 ms... up to 2 s,
/// with up to 50% jitter so calls that failed together do not come back
/// together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100u64 << attempt.min(5)).min(Duration::from_secs(2));
    base + base.mul_f64(fastrand::f64() / 2.0)
}

/// Per-attempt timeouts: an attempt that hangs is abandoned and retried.
pub fn timeout_config(config: &Config) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(config.attempt_timeout)
        .build()
}

/// The SDK's retries stay off: [`Aws::call_in`] retries (see the module docs).
pub fn retry_config() -> RetryConfig {
    RetryConfig::disabled()
}

/// Maps an SDK error to ours, keeping the service's error code for operators.
fn aws_error<E, R>(op: Op, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transport = |retryable: bool| Failure::Transport {
        message: error_chain(&error),
        retryable,
    };
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let message = inner.message().unwrap_or("no message");
            match inner.code() {
                Some(code) => AwsError::service(op, code, message),
                None => AwsError::new(
                    op,
                    Failure::Transport {
                        message: message.to_string(),
                        retryable: false,
                    },
                ),
            }
        }
        SdkError::TimeoutError(_) => AwsError::new(op, Failure::Timeout),
        SdkError::ConstructionFailure(_) => AwsError::new(op, transport(false)),
        _ => AwsError::new(op, transport(true)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::replace_route::ReplaceRouteError;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn aws(config: &Config) -> Aws {
        let sdk = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let cloudwatch = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .build();
        Aws::new(
            aws_sdk_ec2::Client::from_conf(sdk),
            aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
            config,
        )
    }

    fn internal_error() -> SdkError<ReplaceRouteError, ()> {
        let meta = ErrorMetadata::builder()
            .code("InternalError")
            .message("try again")
            .build();
        SdkError::service_error(ReplaceRouteError::generic(meta), ())
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_write_that_waited_for_its_token_when_it_fails_once_then_it_is_retried() {
        let config = Config {
            rate_limits: pace::RateLimits::parse("ReplaceRoute=1/1").expect("limits"),
            ..Config::default()
        };
        let aws = aws(&config);
        let window = Window::until(Instant::now() + Duration::from_secs(600));
        // Ten calls before it take the bucket's next ten seconds: it waits far
        // longer than the 6 s operation timeout before it is first sent.
        for _ in 0..10 {
            aws.pacer
                .acquire(Op::ReplaceRoute, window.start_by)
                .await
                .ok();
        }
        let tries = AtomicU32::new(0);
        let result = aws
            .call_in(Op::ReplaceRoute, window, || {
                let first = tries.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        Err(internal_error())
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert_eq!(
            result,
            Ok(()),
            "one transient error after a long wait is retried"
        );
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
