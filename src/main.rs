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
    // The runtime's own setup: JSON or text as AWS_LAMBDA_LOG_FORMAT says, at
    // AWS_LAMBDA_LOG_LEVEL (the function's LoggingConfig), RUST_LOG otherwise.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let reserve = config.deadline_reserve;
    let aws = Aws::from_env(&config).await;
    let handler = Handler::new(aws, config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_epoch_millis(event.context.deadline, reserve);
        handler
            .handle(event.payload, deadline)
            .await
            .map(|response| response.to_json())
    }))
    .await
}
