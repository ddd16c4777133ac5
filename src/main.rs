//! Lambda entrypoint: wiring only. Configuration and the AWS clients are built
//! once per cold start and shared by every invocation; each invocation gets the
//! deadline of its Lambda context.

// The handler future nests the SDK's deep futures; its layout needs more depth
// than the default limit.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use vip_failover::aws::Aws;
use vip_failover::deadline::Deadline;
use vip_failover::handler::Handler;
use vip_failover::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = Config::from_env()?;
    let reserve = config.deadline_reserve;
    let aws = Aws::from_env(&config).await;
    let handler = Handler::new(aws, config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_epoch_millis(event.context.deadline, reserve);
        handler.handle(event.payload, deadline).await
    }))
    .await
}

/// JSON logs in Lambda (CloudWatch Logs Insights can query the fields), readable
/// text on a terminal. `RUST_LOG` overrides the level.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time();
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var_os("LOG_JSON").is_some()
    {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}
