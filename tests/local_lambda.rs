//! The built `vip-failover` binary as Lambda runs it: under the test kit's local
//! Lambda (Runtime API, Invoke API, reserved concurrency 1), against a real EC2 API
//! emulator, invoked through `aws_sdk_lambda::Client::invoke`.

use aws_sdk_lambda::primitives::Blob;
use serde_json::{json, Value};
use testkit::lambda::{emulator_env, Function, LocalLambda, RuntimeEvent};
use testkit::topology::{self, GROUP};
use testkit::Emulator;

const FUNCTION: &str = env!("CARGO_BIN_EXE_vip-failover");

async fn invoke(client: &aws_sdk_lambda::Client, event: &Value) -> (Option<String>, Value) {
    let out = client
        .invoke()
        .function_name("vip-failover")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.status_code(), 200);
    let payload = out.payload().expect("a payload").as_ref();
    let document = serde_json::from_slice(payload)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(payload)));
    (out.function_error().map(str::to_string), document)
}

#[tokio::test]
async fn given_the_seed_when_status_is_invoked_through_lambda_then_the_function_answers_and_refuses_bad_events(
) {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    let lambda = LocalLambda::start(
        Function::new("vip-failover", FUNCTION).envs(emulator_env(&emulator.url())),
    );
    let invoker = lambda.client();

    let (error, status) = invoke(&invoker, &json!({"action": "status", "group": GROUP})).await;

    assert_eq!(error, None, "{status:#}\n{}", lambda.log_text());
    assert_eq!(status["group"], GROUP, "{status:#}");
    let text = status.to_string();
    for id in [&seed.server_a.instance_id, &seed.server_b.instance_id] {
        assert!(text.contains(id.as_str()), "{id} missing: {status:#}");
    }
    for table in &seed.tables {
        assert!(text.contains(table.as_str()), "{table} missing: {status:#}");
    }

    let (error, refused) = invoke(&invoker, &json!({"action": "explode"})).await;

    assert_eq!(error.as_deref(), Some("Unhandled"), "{refused:#}");
    let error_type = refused["errorType"].as_str().unwrap_or_default();
    assert!(
        error_type.starts_with("InvalidEvent"),
        "{refused:#}\n{}",
        lambda.log_text()
    );

    // One cold start served both invocations, one after the other.
    let events = lambda.events();
    let spawns = events
        .iter()
        .filter(|e| matches!(e, RuntimeEvent::Spawned { .. }))
        .count();
    assert_eq!(spawns, 1, "{events:?}");
    let answered: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::Response { .. } => Some("response"),
            RuntimeEvent::Error { .. } => Some("error"),
            _ => None,
        })
        .collect();
    assert_eq!(answered, ["response", "error"]);
    assert!(lambda.pid().is_some(), "the function stays warm");
}

/// Given both members stopped, when EventBridge delivers serverA's "stopped"
/// event (an asynchronous invoke, as the rule makes it) and every attempt is
/// refused, then the OnFailure destination receives the invocation record the
/// operator's mail is made of: the event, `RetriesExhausted` after the retry,
/// and the typed error saying a retry may help and what each member is.
/// Emulated: Lambda's asynchronous invocation, retries and destinations (the
/// kit's local service; the template's OnFailure is the SNS NotificationTopic,
/// which publishes this record unfiltered; here the destination is a function
/// the test reads).
#[tokio::test]
async fn given_a_failover_refused_on_every_attempt_then_on_failure_gets_the_typed_error() {
    use std::time::{Duration, Instant};
    use testkit::lambda::Lambdas;

    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    let (a, b) = (&seed.server_a.instance_id, &seed.server_b.instance_id);
    for server in [a, b] {
        topology::stop(&client, server).await.expect("stop");
    }
    let lambdas = Lambdas::start(vec![
        Function::new("vip-failover", FUNCTION)
            .envs(emulator_env(&emulator.url()))
            .on_failure("alerts")
            .max_retry_attempts(1)
            .retry_delay(Duration::from_millis(100)),
        Function::external("alerts"),
    ]);
    let failover = lambdas.get("vip-failover");

    let event = testkit::events::state_change(a, "stopped", None);
    failover.invoke_async(&event.to_string());
    let delivered = failover.wait_for(Instant::now() + Duration::from_secs(60), |h| {
        !h.deliveries.is_empty()
    });

    assert!(delivered, "no record\n{}", failover.log_text());
    let delivery = &failover.deliveries()[0];
    assert_eq!(delivery.to, "alerts");
    let record = &delivery.record;
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        record["requestPayload"]["detail"]["instance-id"],
        a.as_str()
    );
    let error = &record["responsePayload"];
    assert_eq!(
        error["errorType"], "FailoverRefused.Retryable",
        "{record:#}"
    );
    let message = error["errorMessage"].as_str().unwrap_or_default();
    for id in [a, b] {
        assert!(message.contains(id.as_str()), "{id} missing: {message}");
    }
}
