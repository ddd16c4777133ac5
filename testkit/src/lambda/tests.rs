//! The Runtime and Invoke APIs with a runtime client run here (an external
//! function): delivery one at a time, responses, function errors, unknown names.
//! The real binary under the local Lambda is tested in the root `tests/local_lambda.rs`.
//! Several functions, asynchronous retries and destinations: [`destinations`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::primitives::Blob;
use serde_json::{json, Value};

use super::*;

/// Status, headers (lowercase names) and body of an answer.
type Answer = (u16, Vec<(String, String)>, String);

/// One HTTP/1.1 exchange on a fresh connection.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, body.to_string()))
}

/// What the runtime client saw of one invocation.
#[derive(Debug, Clone)]
struct Handled {
    request_id: String,
    /// The event as the function received it.
    event: Value,
    deadline_ms: u128,
    arn: String,
    started: Instant,
    ended: Instant,
}

/// A runtime client: takes each invocation, works 150 ms, answers with the event
/// echoed, or with an error when the event asks for one.
fn run_function(port: u16) -> Arc<Mutex<Vec<Handled>>> {
    let handled = Arc::new(Mutex::new(Vec::new()));
    let seen = handled.clone();
    std::thread::spawn(move || loop {
        let Some((200, headers, event)) =
            http(port, "GET", "/2018-06-01/runtime/invocation/next", &[], "")
        else {
            return;
        };
        let started = Instant::now();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let request_id = header("lambda-runtime-aws-request-id");
        std::thread::sleep(Duration::from_millis(150));
        let event: Value = serde_json::from_str(&event).unwrap_or(Value::Null);
        let (path, body) = if event["fail"] == true {
            (
                format!("/2018-06-01/runtime/invocation/{request_id}/error"),
                json!({"errorType": "Boom.NotRetryable", "errorMessage": "asked to fail"}),
            )
        } else {
            (
                format!("/2018-06-01/runtime/invocation/{request_id}/response"),
                json!({"echo": event}),
            )
        };
        let ended = Instant::now();
        seen.lock().unwrap().push(Handled {
            request_id: request_id.clone(),
            event: event.clone(),
            deadline_ms: header("lambda-runtime-deadline-ms").parse().unwrap_or(0),
            arn: header("lambda-runtime-invoked-function-arn"),
            started,
            ended,
        });
        // The service may be gone by now (the test is over): stop then.
        let answer = http(
            port,
            "POST",
            &path,
            &[("Lambda-Runtime-Function-Error-Type", "unhandled")],
            &body.to_string(),
        );
        if answer.map(|a| a.0) != Some(202) {
            return;
        }
    });
    handled
}

async fn invoke(
    client: &aws_sdk_lambda::Client,
    event: Value,
) -> aws_sdk_lambda::operation::invoke::InvokeOutput {
    client
        .invoke()
        .function_name("echo")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("invoke")
}

fn payload(out: &aws_sdk_lambda::operation::invoke::InvokeOutput) -> Value {
    serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("JSON payload")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invoke_returns_the_response_and_a_function_error_as_lambda_does() {
    let lambda = LocalLambda::start(Function::external("echo").timeout(Duration::from_secs(7)));
    let handled = run_function(lambda.port);
    let client = lambda.client();

    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let out = invoke(&client, json!({"hello": "world"})).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    assert_eq!(out.executed_version(), Some("$LATEST"));
    assert_eq!(payload(&out), json!({"echo": {"hello": "world"}}));

    let out = invoke(&client, json!({"fail": true})).await;
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(payload(&out)["errorType"], "Boom.NotRetryable");

    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), 2);
    let first = &handled[0];
    assert_eq!(
        first.arn,
        "arn:aws:lambda:us-east-1:123456789012:function:echo"
    );
    assert!(
        (before + 7_000..before + 9_000).contains(&first.deadline_ms),
        "deadline {} for an invocation at {before}",
        first.deadline_ms
    );
    let events = lambda.events();
    assert!(events.iter().any(|e| matches!(
        e,
        RuntimeEvent::Next { request_id: Some(id), .. } if *id == first.request_id
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, RuntimeEvent::Error { error_type: Some(t), .. } if t == "unhandled")));
    // Asynchronous invocations are accepted at once, and run.
    lambda.skip_events();
    let out = client
        .invoke()
        .function_name("arn:aws:lambda:us-east-1:123456789012:function:echo")
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .expect("async invoke");
    assert_eq!(out.status_code(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::task::block_in_place(|| lambda.next_event(deadline)) {
            Some(RuntimeEvent::Response { body, .. }) => {
                assert_eq!(body, json!({"echo": {}}).to_string());
                break;
            }
            Some(_) => {}
            None => panic!("the asynchronous invocation did not run"),
        }
    }
}

#[tokio::test]
async fn concurrent_invokes_reach_the_function_one_at_a_time_and_a_busy_one_is_refused() {
    let lambda = LocalLambda::start(Function::external("echo"));
    let handled = run_function(lambda.port);
    let client = lambda.client();

    let runs: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let sent = client
                    .invoke()
                    .function_name("echo")
                    .payload(Blob::new(json!({"n": i}).to_string()))
                    .send()
                    .await;
                (i, sent)
            })
        })
        .collect();
    let mut answered = 0;
    for run in runs {
        match run.await.unwrap() {
            (i, Ok(out)) => {
                assert_eq!(payload(&out), json!({"echo": {"n": i}}));
                answered += 1;
            }
            // Reserved concurrency 1: Lambda refuses a synchronous invoke while
            // the function works; it does not queue it.
            (_, Err(e)) => assert!(
                e.into_service_error().is_too_many_requests_exception(),
                "only a busy function may refuse"
            ),
        }
    }
    assert!(answered >= 1);

    let mut handled = handled.lock().unwrap().clone();
    handled.sort_by_key(|h| h.started);
    assert_eq!(handled.len(), answered);
    for pair in handled.windows(2) {
        assert!(pair[0].ended <= pair[1].started, "overlap: {pair:?}");
    }
}

#[tokio::test]
async fn an_unknown_function_is_not_found() {
    let lambda = LocalLambda::start(Function::external("echo"));
    let error = lambda
        .client()
        .invoke()
        .function_name("other")
        .payload(Blob::new("{}"))
        .send()
        .await
        .expect_err("no such function");
    assert!(error.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn an_invocation_past_the_function_timeout_fails_as_timed_out() {
    let lambda = LocalLambda::start(Function::external("echo").timeout(Duration::from_millis(300)));
    // A function that takes the invocation and never answers.
    let port = lambda.port;
    std::thread::spawn(move || {
        http(port, "GET", "/2018-06-01/runtime/invocation/next", &[], "");
        std::thread::sleep(Duration::from_secs(5));
    });

    let started = Instant::now();
    let out = invoke(&lambda.client(), json!({})).await;

    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(payload(&out)["errorType"], "Sandbox.Timedout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_function_that_exits_fails_the_invocation_with_an_exit_error() {
    let lambda = LocalLambda::start(Function::new("echo", "/bin/false"));

    let out = invoke(&lambda.client(), json!({})).await;

    assert_eq!(out.function_error(), Some("Unhandled"));
    assert_eq!(payload(&out)["errorType"], "Runtime.ExitError");
    assert!(lambda
        .events()
        .iter()
        .any(|e| matches!(e, RuntimeEvent::Spawned { .. })));
    assert_eq!(lambda.pid(), None);
}

mod destinations;
