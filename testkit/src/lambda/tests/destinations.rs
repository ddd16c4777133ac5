//! Several functions in one service: invoking each other by name, asynchronous
//! retries, and Lambda destinations (the loop the failover function and its probe
//! function run: an asynchronous invoke whose result comes back as an invocation
//! record).

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::types::InvocationType;

use super::*;

type Seen = Arc<Mutex<Vec<Handled>>>;

const ARN_A: &str = "arn:aws:lambda:us-east-1:123456789012:function:a";

/// `a` as configured and a plain `b`, each with a runtime client running.
fn a_and_b(a: Function) -> (Lambdas, Seen, Seen) {
    let lambdas = Lambdas::start(vec![a, Function::external("b")]);
    let seen_a = run_function(lambdas.get("a").port);
    let seen_b = run_function(lambdas.get("b").port);
    (lambdas, seen_a, seen_b)
}

/// An `InvocationType=Event` invoke: accepted with a 202 and a request id.
async fn invoke_event(client: &aws_sdk_lambda::Client, name: &str, event: &Value) -> String {
    let out = client
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("async invoke");
    assert_eq!(out.status_code(), 202);
    out.request_id().expect("a request id").to_string()
}

/// Waits until `lambda` has finished `count` invocations (attempts); panics
/// after 10 s.
fn wait_finished(lambda: &LocalLambda, count: usize) -> Vec<Invocation> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |h: &History| {
        h.invocations
            .iter()
            .filter(|i| i.finished.is_some())
            .count()
            >= count
    };
    assert!(
        lambda.wait_for(deadline, done),
        "{} did not finish {count} invocations: {:#?}",
        lambda.function().name,
        lambda.invocations()
    );
    lambda.invocations()
}

/// Long enough for a delivery that should not happen to have happened.
fn settle() {
    std::thread::sleep(Duration::from_millis(400));
}

fn seen(seen: &Seen) -> Vec<Handled> {
    seen.lock().unwrap().clone()
}

/// The parts of a record that do not depend on the outcome: its version, a
/// timestamp in AWS's format close to now, and exactly the six fields.
fn assert_record_frame(record: &Value) {
    assert_eq!(record["version"], "1.0");
    let timestamp = record["timestamp"].as_str().expect("a timestamp");
    let at = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .unwrap_or_else(|e| panic!("timestamp {timestamp}: {e}"));
    assert_eq!(timestamp.len(), "2026-12-06T03:00:00.123Z".len());
    let age = chrono::Utc::now().naive_utc() - at;
    assert!(age.num_seconds().abs() < 30, "timestamp {timestamp}");
    let mut fields: Vec<&str> = record
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "requestContext",
            "requestPayload",
            "responseContext",
            "responsePayload",
            "timestamp",
            "version"
        ]
    );
}

#[tokio::test]
async fn an_asynchronous_success_goes_to_the_on_success_destination_as_an_invocation_record() {
    let (lambdas, seen_a, seen_b) = a_and_b(Function::external("a").on_success("b"));
    let (a, b) = (lambdas.get("a"), lambdas.get("b"));
    let event = json!({"round": 7, "targets": ["10.0.1.10", "10.0.2.10"]});

    let request_id = invoke_event(&lambdas.client(), "a", &event).await;
    wait_finished(b, 1);

    let record = &seen(&seen_b)[0].event;
    assert_record_frame(record);
    assert_eq!(
        record["requestContext"],
        json!({
            "requestId": request_id,
            "functionArn": format!("{ARN_A}:$LATEST"),
            "condition": "Success",
            "approximateInvokeCount": 1,
        })
    );
    assert_eq!(record["requestPayload"], event);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST"})
    );
    assert_eq!(record["responsePayload"], json!({"echo": event}));
    // The service's own account of it.
    let handled_a = seen(&seen_a);
    assert_eq!(handled_a.len(), 1);
    assert_eq!(handled_a[0].request_id, request_id);
    let deliveries = a.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    let delivery = &deliveries[0];
    assert_eq!(
        (delivery.to.as_str(), delivery.condition.as_str()),
        ("b", "Success")
    );
    assert_eq!(delivery.request_id, request_id);
    assert_eq!(delivery.delivered_as, seen(&seen_b)[0].request_id);
    assert_eq!(&delivery.record, record);
    let ran = &a.invocations()[0];
    assert!(ran.asynchronous && ran.attempt == 1);
    let (started, finished) = (ran.started.unwrap(), ran.finished.unwrap());
    assert!(ran.accepted <= ran.queued && ran.queued <= started && started <= finished);
    assert!(finished <= delivery.at);
    assert!(b.invocations()[0].asynchronous);
    assert!(b.deliveries().is_empty());
}

#[tokio::test]
async fn a_failure_is_retried_with_its_request_id_then_goes_to_the_on_failure_destination() {
    let retry_delay = Duration::from_millis(200);
    let a = Function::external("a")
        .on_failure("b")
        .max_retry_attempts(1)
        .retry_delay(retry_delay);
    let (lambdas, seen_a, seen_b) = a_and_b(a);
    let event = json!({"fail": true});

    let request_id = invoke_event(&lambdas.client(), ARN_A, &event).await;
    wait_finished(lambdas.get("b"), 1);

    let handled_a = seen(&seen_a);
    let ids: Vec<&str> = handled_a.iter().map(|h| h.request_id.as_str()).collect();
    assert_eq!(ids, [request_id.as_str(); 2]);
    let attempts = lambdas.get("a").invocations();
    let numbers: Vec<u32> = attempts.iter().map(|i| i.attempt).collect();
    assert_eq!(numbers, [1, 2]);
    assert!(attempts[1].queued >= attempts[0].finished.unwrap() + retry_delay);
    assert_eq!(attempts[0].accepted, attempts[1].accepted);
    let record = &seen(&seen_b)[0].event;
    assert_record_frame(record);
    assert_eq!(
        record["requestContext"],
        json!({
            "requestId": request_id,
            "functionArn": format!("{ARN_A}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 2,
        })
    );
    assert_eq!(record["requestPayload"], event);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(
        record["responsePayload"],
        json!({"errorType": "Boom.NotRetryable", "errorMessage": "asked to fail"})
    );
    assert_eq!(
        lambdas.get("a").deliveries()[0].condition,
        "RetriesExhausted"
    );
}

#[tokio::test]
async fn a_synchronous_invoke_never_goes_to_a_destination() {
    let a = Function::external("a")
        .on_success("b")
        .on_failure("b")
        .max_retry_attempts(2)
        .retry_delay(Duration::from_millis(10));
    let (lambdas, seen_a, seen_b) = a_and_b(a);
    let client = lambdas.client();

    for event in [json!({"ok": 1}), json!({"fail": true})] {
        let out = client
            .invoke()
            .function_name("a")
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .expect("invoke");
        assert_eq!(out.status_code(), 200);
    }
    settle();

    // Nor is a synchronous failure retried: the caller sees it.
    assert_eq!(seen(&seen_a).len(), 2);
    assert!(lambdas.get("a").deliveries().is_empty());
    assert!(lambdas.get("b").invocations().is_empty());
    assert!(seen(&seen_b).is_empty());
}

#[tokio::test]
async fn only_the_destination_for_how_the_invocation_ended_gets_its_record() {
    let (lambdas, seen_a, seen_b) = a_and_b(Function::external("a").on_success("b"));
    let (a, b) = (lambdas.get("a"), lambdas.get("b"));

    a.invoke_async(&json!({"fail": true}).to_string());
    wait_finished(a, 1);
    settle();
    assert!(a.deliveries().is_empty(), "{:#?}", a.deliveries());
    assert!(seen(&seen_b).is_empty());

    // And a payload that is not JSON is carried as text.
    let request_id = a.invoke_async("not json");
    wait_finished(b, 1);
    let record = &seen(&seen_b)[0].event;
    assert_eq!(record["requestContext"]["requestId"], request_id.as_str());
    assert_eq!(record["requestPayload"], "not json");
    assert_eq!(record["responsePayload"], json!({"echo": null}));
    assert_eq!(seen(&seen_a).len(), 2);
}

#[tokio::test]
async fn every_port_invokes_every_function_by_name_or_arn_and_an_unknown_one_is_not_found() {
    let (lambdas, seen_a, seen_b) = a_and_b(Function::external("a"));
    let (a, b) = (lambdas.get("a"), lambdas.get("b"));
    assert_ne!(a.runtime_api(), b.runtime_api());

    let out = a
        .client()
        .invoke()
        .function_name("b")
        .payload(Blob::new(r#"{"to":"b"}"#))
        .send()
        .await
        .expect("b through a's port");
    assert_eq!(payload(&out), json!({"echo": {"to": "b"}}));
    let out = b
        .client()
        .invoke()
        .function_name(ARN_A)
        .payload(Blob::new(r#"{"to":"a"}"#))
        .send()
        .await
        .expect("a through b's port");
    assert_eq!(payload(&out), json!({"echo": {"to": "a"}}));

    let (handled_a, handled_b) = (seen(&seen_a), seen(&seen_b));
    assert_eq!(handled_a.len(), 1);
    assert_eq!(handled_a[0].arn, ARN_A);
    assert_eq!(handled_b.len(), 1);
    assert_eq!(
        handled_b[0].arn,
        "arn:aws:lambda:us-east-1:123456789012:function:b"
    );
    for lambda in [a, b] {
        let error = lambda
            .client()
            .invoke()
            .function_name("c")
            .payload(Blob::new("{}"))
            .send()
            .await
            .expect_err("no such function");
        assert!(error.into_service_error().is_resource_not_found_exception());
    }
}

#[tokio::test]
async fn records_for_a_busy_destination_queue_and_run_in_order_one_at_a_time() {
    // `b` takes nothing until its runtime client starts: it is busy meanwhile.
    let lambdas = Lambdas::start(vec![
        Function::external("a").on_success("b"),
        Function::external("b"),
    ]);
    let (a, b) = (lambdas.get("a"), lambdas.get("b"));
    let seen_a = run_function(a.port);
    let client = lambdas.client();
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(invoke_event(&client, "a", &json!({"n": n})).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    assert!(a.wait_for(deadline, |h| h.deliveries.len() == 3));
    let refused = client
        .invoke()
        .function_name("b")
        .payload(Blob::new("{}"))
        .send()
        .await
        .expect_err("b is busy with the records");
    assert!(refused
        .into_service_error()
        .is_too_many_requests_exception());

    let seen_b = run_function(b.port);
    wait_finished(b, 3);

    let handled_b = seen(&seen_b);
    let order: Vec<(Value, Value)> = handled_b
        .iter()
        .map(|h| {
            let context = &h.event["requestContext"];
            (
                context["requestId"].clone(),
                h.event["requestPayload"]["n"].clone(),
            )
        })
        .collect();
    let expected: Vec<(Value, Value)> = sent
        .iter()
        .zip(0..)
        .map(|(id, n)| (json!(id), json!(n)))
        .collect();
    assert_eq!(order, expected);
    for handled in [seen(&seen_a), handled_b] {
        for pair in handled.windows(2) {
            assert!(pair[0].ended <= pair[1].started, "overlap: {pair:?}");
        }
    }
}

#[tokio::test]
async fn a_spawned_function_reaches_the_service_unless_its_own_environment_says_otherwise() {
    // `env` prints its environment (to the function log) and exits.
    let lambdas = Lambdas::start(vec![
        Function::new("a", "/usr/bin/env"),
        Function::new("b", "/usr/bin/env").env("AWS_ENDPOINT_URL_LAMBDA", "http://proxy:1"),
    ]);
    let (a, b) = (lambdas.get("a"), lambdas.get("b"));
    for lambda in [a, b] {
        lambda.spawn();
        let deadline = Instant::now() + Duration::from_secs(10);
        while lambda.pid().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let lines = |lambda: &LocalLambda| -> Vec<String> {
        let log = lambda.log_text();
        let endpoint = log
            .lines()
            .filter(|l| l.starts_with("AWS_ENDPOINT_URL_LAMBDA="));
        endpoint.map(str::to_string).collect()
    };
    assert_eq!(lines(a), [format!("AWS_ENDPOINT_URL_LAMBDA={}", a.url())]);
    assert_eq!(lines(b), ["AWS_ENDPOINT_URL_LAMBDA=http://proxy:1"]);
}
