//! The probe function's Lambda entrypoint: wiring only. It runs inside the
//! members' VPC with no AWS rights; the failover function dispatches probe
//! rounds to it by async invoke and gets the results through the on-success
//! destination. See `vip_failover::probe`.

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;
use vip_failover::probe::handle;
use vip_failover::probe::wire::ProbeResultEnvelope;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Lambda's advanced logging controls (AWS_LAMBDA_LOG_FORMAT=JSON,
    // AWS_LAMBDA_LOG_LEVEL) apply; RUST_LOG otherwise.
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(probe)).await
}

/// One round. Bad input is an `InvalidProbeRequest` error, so the failover
/// function (and a person reading the on-failure destination) can tell a
/// contract mismatch from a crashed prober.
async fn probe(event: LambdaEvent<Value>) -> Result<ProbeResultEnvelope, Diagnostic> {
    handle(event.payload).await.map_err(|message| {
        tracing::warn!(error = %message, "invalid probe request");
        Diagnostic {
            error_type: "InvalidProbeRequest".to_string(),
            error_message: message,
        }
    })
}
