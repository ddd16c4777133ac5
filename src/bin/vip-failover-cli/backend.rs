//! Where manual commands run: here, on the library's handler with the
//! operator's credentials, or inside the deployed function (`--function`).

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::BehaviorVersion;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vip_failover::aws::Aws;
use vip_failover::group;
use vip_failover::handler::Handler;
use vip_failover::trigger::{ManualCommand, Trigger};
use vip_failover::{Config, Error};

use crate::args::Cli;
use crate::failure::Failure;

/// Where manual commands run.
pub(crate) enum Backend {
    Here {
        handler: Box<Handler>,
        timeout: Duration,
    },
    Function {
        client: aws_sdk_lambda::Client,
        name: String,
        /// How long to wait for the function while it is busy with another run.
        timeout: Duration,
    },
}

impl Backend {
    /// `--timeout`: the longest any one command may take.
    fn timeout(&self) -> Duration {
        match self {
            Self::Here { timeout, .. } | Self::Function { timeout, .. } => *timeout,
        }
    }
}

/// What every command needs: the backend, and the AWS adapter and tag contract
/// to list groups with.
pub(crate) struct Core {
    pub(crate) backend: Backend,
    pub(crate) aws: Aws,
    pub(crate) config: Config,
    pub(crate) region: String,
    /// The SDK configuration, for the CLI's own reads (stack outputs, logs).
    pub(crate) sdk: aws_config::SdkConfig,
}

impl Core {
    /// Same wiring as the Lambda (`Config::from_env`, `Aws::from_env`); `--region`
    /// overrides the SDK's region.
    pub(crate) async fn connect(cli: &Cli) -> Result<Self, Failure> {
        let mut config = Config::from_env().map_err(Failure::Env)?;
        // Run here, the CLI cannot know the stack's ALARM_NAME_PREFIX: unless
        // this shell sets it, every alarm of the account is read, so no alarm
        // the function heeds is missed and no member it considers failed is
        // chosen.
        if std::env::var_os("ALARM_NAME_PREFIX").is_none() {
            config.alarm_name_prefix = None;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(vip_failover::aws::retry_config())
            .timeout_config(vip_failover::aws::timeout_config(&config));
        if let Some(region) = &cli.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let Some(region) = sdk.region().map(ToString::to_string) else {
            return Err(Failure::Usage(
                "no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
                    .to_string(),
            ));
        };
        // A switchover made here publishes "VIP Moved" like the function's, so
        // promotion and fencing hooks run whoever moved the VIP.
        let aws = Aws::new(
            aws_sdk_ec2::Client::new(&sdk),
            aws_sdk_cloudwatch::Client::new(&sdk),
            &config,
        )
        .with_events(aws_sdk_eventbridge::Client::new(&sdk));
        let function = match (&cli.function, &cli.stack) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(stack)) => Some(stack_output(&sdk, stack, "FunctionName").await?),
            (None, None) => None,
        };
        let backend = match function {
            Some(name) => Backend::Function {
                client: lambda_client(&sdk, Duration::from_secs(cli.timeout)),
                name,
                timeout: Duration::from_secs(cli.timeout),
            },
            None => Backend::Here {
                handler: Box::new(Handler::new(aws.clone(), config.clone()).without_metrics()),
                timeout: Duration::from_secs(cli.timeout),
            },
        };
        Ok(Self {
            backend,
            aws,
            config,
            region,
            sdk,
        })
    }

    /// Runs one manual command and reads its answer as `T`.
    pub(crate) async fn manual<T: DeserializeOwned>(
        &self,
        command: ManualCommand,
    ) -> Result<T, Failure> {
        let answer = match &self.backend {
            Backend::Here { handler, timeout } => {
                let deadline = handler.deadline_after(*timeout);
                let response = handler
                    .handle_trigger(Trigger::Manual(command), deadline)
                    .await?;
                serde_json::to_value(response).map_err(|e| Failure::Usage(e.to_string()))?
            }
            Backend::Function {
                client,
                name,
                timeout,
            } => invoke(client, name, &command, *timeout).await?,
        };
        serde_json::from_value(answer.clone())
            .map_err(|e| Failure::Usage(format!("unexpected answer ({e}): {answer}")))
    }

    /// `--group`, or every group that an instance's group tag names.
    pub(crate) async fn groups(&self, only: Option<String>) -> Result<Vec<String>, Failure> {
        if let Some(group) = only {
            return Ok(vec![group]);
        }
        let until = tokio::time::Instant::now() + self.backend.timeout();
        let tagged = self
            .aws
            .tagged_instances(&self.config.tags.group(), until)
            .await
            .map_err(Error::from)?;
        let names: BTreeSet<String> = group::group_names(&tagged, &self.config.tags);
        Ok(names.into_iter().collect())
    }
}

/// The Lambda client: one run of the function takes up to its own timeout, not
/// the EC2 attempt timeout the other clients use.
fn lambda_client(sdk: &aws_config::SdkConfig, wait: Duration) -> aws_sdk_lambda::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(wait + Duration::from_secs(60))
        .build();
    let config = aws_sdk_lambda::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The function runs the command; a function error comes back as its
/// `errorType` and `errorMessage`. With reserved concurrency 1, a synchronous
/// invoke while the function runs is refused (`TooManyRequestsException`), not
/// queued: it is sent again every two seconds, for up to `wait`.
async fn invoke(
    client: &aws_sdk_lambda::Client,
    name: &str,
    command: &ManualCommand,
    wait: Duration,
) -> Result<Value, Failure> {
    let payload = serde_json::to_vec(command).map_err(|e| Failure::Usage(e.to_string()))?;
    let give_up = std::time::Instant::now() + wait;
    let mut noted = false;
    let out = loop {
        let sent = client
            .invoke()
            .function_name(name)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone()))
            .send()
            .await;
        let busy = matches!(&sent, Err(e) if e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception()));
        if !busy || std::time::Instant::now() >= give_up {
            break sent.map_err(|e| {
                missing_function(name, &e).unwrap_or_else(|| {
                    Failure::Invoke(format!("Lambda Invoke of {name} failed: {}", one_line(&e)))
                })
            })?;
        }
        if !std::mem::replace(&mut noted, true) {
            eprintln!("note: {name} is busy with another run; waiting for it (up to --timeout)");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if out.function_error().is_none() {
        return Ok(body);
    }
    let field = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    Err(Failure::Failed {
        error_type: field("errorType"),
        message: field("errorMessage"),
        report: None,
    })
}

/// A function name that names no function is a wrong argument (exit 2), as a
/// stack that does not exist is: Lambda says so with its typed
/// `ResourceNotFoundException`.
fn missing_function<R>(
    name: &str,
    error: &aws_sdk_lambda::error::SdkError<aws_sdk_lambda::operation::invoke::InvokeError, R>,
) -> Option<Failure> {
    let service = error.as_service_error()?;
    service.is_resource_not_found_exception().then(|| {
        Failure::Usage(format!(
            "function {name} does not exist in this account and region: check --function (the function's name) and --region"
        ))
    })
}

/// The value of `key` among `stack`'s outputs.
pub(crate) async fn stack_output(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    key: &str,
) -> Result<String, Failure> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            missing_stack(stack, &e).unwrap_or_else(|| {
                Failure::Invoke(format!(
                    "CloudFormation DescribeStacks of {stack} failed: {}",
                    one_line(&e)
                ))
            })
        })?;
    let outputs = out
        .stacks()
        .first()
        .map(|s| s.outputs())
        .unwrap_or_default();
    outputs
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "stack {stack} has no {key} output: is it a vip-failover stack (deployed from template.yaml)?"
            ))
        })
}

/// A stack name that names no stack is a wrong argument, not an AWS failure
/// (the AWS adapter reads CloudFormation's code: [`vip_failover::aws::is_missing_stack`]).
fn missing_stack<R>(
    stack: &str,
    error: &aws_sdk_cloudformation::error::SdkError<
        aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError,
        R,
    >,
) -> Option<Failure> {
    use aws_sdk_cloudformation::error::ProvideErrorMetadata;
    let service = error.as_service_error()?;
    let missing = vip_failover::aws::is_missing_stack(service.code(), service.message());
    missing.then(|| {
        Failure::Usage(format!(
            "stack {stack} does not exist in this account and region: check --stack (the stack's name) and --region"
        ))
    })
}

/// An SDK error in one readable line: the service's code and message, or the
/// chain of causes; never the raw response.
pub(crate) fn one_line<E, R>(error: &aws_sdk_lambda::error::SdkError<E, R>) -> String
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::SdkError;
    if let SdkError::ServiceError(service) = error {
        let inner = service.err();
        return format!(
            "{}: {}",
            inner.code().unwrap_or("error"),
            inner.message().unwrap_or("no message")
        );
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
