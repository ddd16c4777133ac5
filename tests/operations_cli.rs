//! The operator CLI's ways to a deployment (issue 19), against the emulator:
//! `--stack NAME` finds the function (and its logs) from the stack's outputs,
//! `history` lists the VIP's moves from the function's own decision logs, and
//! `status` shows a member in maintenance.
//!
//! Emulated: EC2, CloudFormation and CloudWatch Logs by moto; the deployed
//! function by the kit's local Lambda running the real binary (Invoke API at
//! `AWS_ENDPOINT_URL_LAMBDA`); CloudWatch Logs' ingestion by the test, which
//! puts the lines the function wrote into the log group as Lambda would; AWS's
//! reading of multi-term filter patterns by the kit's Logs proxy (moto matches
//! none, see testkit::logs).

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_lambda::primitives::Blob;
use serde_json::{json, Value};
use testkit::cli::Run;
use testkit::events::state_change;
use testkit::lambda::{emulator_env, Function, LocalLambda};
use testkit::logs::LogsProxy;
use testkit::topology::{self, GROUP};
use testkit::world::{given_the_two_az_seed, World};

const CLI: &str = env!("CARGO_BIN_EXE_vip-failover-cli");
const FUNCTION: &str = env!("CARGO_BIN_EXE_vip-failover");
/// The name a stack gives its function when the template names none.
const DEPLOYED: &str = "ops-VipFailoverFunction-1A2B3C4D5E6F";

/// The CLI with only the environment set here (as in CI: stdin no terminal).
async fn cli(endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    testkit::cli::run(CLI, endpoint, env, args).await
}

fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_sdk_cloudwatchlogs::config::SharedCredentialsProvider::new(
                aws_sdk_cloudwatchlogs::config::Credentials::new(
                    "test", "test", None, None, "test",
                ),
            ),
        )
        .endpoint_url(url)
        .build()
}

/// Creates stack `name` from a JSON `template` (moto runs it at once).
async fn create_stack(world: &World, name: &str, template: &Value) {
    let client = aws_sdk_cloudformation::Client::new(&sdk_config(&world.emulator.url()));
    client
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .expect("create the stack");
}

/// A deployed stack's outputs, as template.yaml names them: the function
/// (named by CloudFormation, not after the stack) and its log group.
fn deployment_template() -> Value {
    json!({
        "Resources": {
            "Alerts": {"Type": "AWS::SNS::Topic"},
            "FunctionLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": format!("/aws/lambda/{DEPLOYED}")}
            }
        },
        "Outputs": {
            "FunctionName": {"Value": DEPLOYED},
            "LogGroupName": {"Value": {"Ref": "FunctionLogGroup"}}
        }
    })
}

/// Given a stack whose `FunctionName` output names the deployed function,
/// when `--stack` status runs, then it runs inside that function (one
/// invocation, the status document comes back), and `--stack` history reads
/// the log group of its `LogGroupName` output.
#[tokio::test]
async fn given_a_stack_when_a_command_names_it_then_it_runs_in_the_function_of_its_output() {
    let world = given_the_two_az_seed().await;
    let url = world.emulator.url();
    create_stack(&world, "ops", &deployment_template()).await;
    let lambda = LocalLambda::start(Function::new(DEPLOYED, FUNCTION).envs(emulator_env(&url)));
    let env = [("AWS_ENDPOINT_URL_LAMBDA", lambda.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let status = cli(
        &url,
        &env,
        &["--stack", "ops", "status", "--group", GROUP, "--json"],
    )
    .await;

    assert_eq!(status.code, 0, "{status:?}\n{}", lambda.log_text());
    let document = status.json();
    let document = document.as_array().map_or(&document, |all| &all[0]);
    assert_eq!(document["group"], GROUP, "{document:#}");
    assert_eq!(document["active"], world.seed.server_a.instance_id.as_str());
    let invocations = lambda.invocations();
    assert_eq!(invocations.len(), 1, "{invocations:?}");
    assert!(
        invocations[0].event.contains("\"status\""),
        "{invocations:?}"
    );

    let history = cli(&url, &env, &["--stack", "ops", "history"]).await;
    assert_eq!(history.code, 0, "{history:?}");
    let log_group = format!("/aws/lambda/{DEPLOYED}");
    assert!(history.stderr.contains(&log_group), "{history:?}");
}

/// Given a stack without a `FunctionName` output and a stack name that does
/// not exist, when `--stack` names them, then each is one readable error line
/// (no SDK `Debug` dump) with its documented exit code: 2 for a stack that is
/// not a vip-failover stack (usage), 3 for CloudFormation's refusal (an AWS
/// API error).
#[tokio::test]
async fn given_a_stack_without_the_output_or_none_when_named_then_one_readable_line_and_its_code() {
    let world = given_the_two_az_seed().await;
    let url = world.emulator.url();
    let other = json!({
        "Resources": {"Alerts": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"AlertsTopicArn": {"Value": {"Ref": "Alerts"}}}
    });
    create_stack(&world, "not-ours", &other).await;

    let foreign = cli(
        &url,
        &[],
        &["--stack", "not-ours", "status", "--group", GROUP],
    )
    .await;

    assert_eq!(foreign.code, 2, "{foreign:?}");
    let line = foreign.error_line();
    assert!(
        line.contains("not-ours") && line.contains("FunctionName"),
        "{line}"
    );
    assert_eq!(foreign.stderr.lines().count(), 1, "{foreign:?}");
    assert!(foreign.stdout.is_empty(), "{foreign:?}");

    let missing = cli(
        &url,
        &[],
        &["--stack", "no-such-stack", "status", "--group", GROUP],
    )
    .await;

    // A wrong argument (exit 2, as an unknown group), not an AWS failure.
    assert_eq!(missing.code, 2, "{missing:?}");
    let line = missing.error_line();
    assert!(
        line.contains("no-such-stack") && line.contains("does not exist"),
        "{line}"
    );
    assert!(missing.stdout.is_empty(), "{missing:?}");
}

/// Given a function name that names no function, when `--function` status
/// runs, then it is a wrong argument as a missing stack is: exit 2, one line
/// naming the function, nothing on stdout.
#[tokio::test]
async fn given_a_function_name_that_does_not_exist_then_exit_2_and_one_line_naming_it() {
    let world = given_the_two_az_seed().await;
    let url = world.emulator.url();

    let missing = cli(
        &url,
        &[],
        &["--function", "no-such-function", "status", "--group", GROUP],
    )
    .await;

    assert_eq!(missing.code, 2, "{missing:?}");
    let line = missing.error_line();
    assert!(
        line.contains("no-such-function") && line.contains("does not exist"),
        "{line}"
    );
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    assert!(missing.stdout.is_empty(), "{missing:?}");
}

/// The same missing stack, for the complaint of the issue ("blames
/// credentials"): nothing but the error line should be printed.
#[tokio::test]
async fn given_a_stack_name_that_does_not_exist_then_stderr_is_one_line_that_does_not_blame_credentials(
) {
    let world = given_the_two_az_seed().await;
    let url = world.emulator.url();

    let missing = cli(
        &url,
        &[],
        &["--stack", "no-such-stack", "status", "--group", GROUP],
    )
    .await;

    missing.error_line();
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    assert!(!missing.stderr.contains("credentials"), "{missing:?}");
}

/// Given serverB in maintenance, when `status` runs, then serverB's row says
/// so and the JSON document carries `maintenance: true`.
#[tokio::test]
async fn given_a_member_in_maintenance_when_status_runs_then_its_row_says_maintenance() {
    let world = given_the_two_az_seed().await;
    let url = world.emulator.url();
    let b = &world.seed.server_b.instance_id;
    world.tag(b, "vip-failover:maintenance", "true").await;

    let text = cli(&url, &[], &["status", "--group", GROUP]).await;
    let json = cli(&url, &[], &["status", "--group", GROUP, "--json"]).await;

    assert_eq!(text.code, 0, "{text:?}");
    let row = text
        .stdout
        .lines()
        .find(|l| l.contains(b.as_str()))
        .unwrap_or_else(|| panic!("no row for {b}: {text:?}"));
    assert!(row.contains("maintenance"), "{row}");
    let document = json.json();
    let members = document["members"].as_array().expect("members");
    let member = members.iter().find(|m| m["instance_id"] == b.as_str());
    assert_eq!(
        member.map(|m| &m["maintenance"]),
        Some(&json!(true)),
        "{document:#}"
    );
}

/// What Lambda does with a function's output: every line it wrote since the
/// last shipment becomes a log event of its log group, stamped now.
struct Ingestion {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    shipped: usize,
}

impl Ingestion {
    async fn start(url: &str, function: &str) -> Self {
        let client = aws_sdk_cloudwatchlogs::Client::new(&sdk_config(url));
        let group = format!("/aws/lambda/{function}");
        client
            .create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .expect("log group");
        client
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name("2026/12/06/[$LATEST]0123456789abcdef")
            .send()
            .await
            .expect("log stream");
        Self {
            client,
            group,
            shipped: 0,
        }
    }

    /// Ships the new lines of `output`; returns their time (ms since the epoch).
    async fn ship(&mut self, output: &str) -> i64 {
        let at = chrono::Utc::now().timestamp_millis();
        let lines: Vec<&str> = output.lines().collect();
        let events: Vec<InputLogEvent> = lines[self.shipped..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                InputLogEvent::builder()
                    .timestamp(at)
                    .message(*l)
                    .build()
                    .unwrap()
            })
            .collect();
        self.shipped = lines.len();
        if !events.is_empty() {
            self.client
                .put_log_events()
                .log_group_name(&self.group)
                .log_stream_name("2026/12/06/[$LATEST]0123456789abcdef")
                .set_log_events(Some(events))
                .send()
                .await
                .expect("put the log events");
        }
        at
    }
}

/// Invokes the function with `event`; its response document.
async fn invoke(lambda: &LocalLambda, event: &Value) -> Value {
    let out = lambda
        .client()
        .invoke()
        .function_name("vip-failover")
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .expect("invoke");
    let payload = out.payload().expect("a payload").as_ref();
    assert_eq!(
        out.function_error(),
        None,
        "{}",
        String::from_utf8_lossy(payload)
    );
    serde_json::from_slice(payload).expect("JSON")
}

/// The function's real decision lines in its log group: a reconcile with
/// nothing to do, a dry run, then serverA stopped and the VIP moved to serverB
/// (the function runs with the template's `LoggingConfig`: JSON, INFO). The
/// move's response, and when its lines were ingested.
async fn given_the_functions_decision_logs(world: &World) -> (Value, i64) {
    let url = world.emulator.url();
    let lambda = LocalLambda::start(
        Function::new("vip-failover", FUNCTION)
            .envs(emulator_env(&url))
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    );
    let mut logs = Ingestion::start(&url, "vip-failover").await;
    invoke(&lambda, &json!({"action": "reconcile", "groups": [GROUP]})).await;
    logs.ship(&lambda.log_text()).await;
    let dry_run = json!({"action": "failover", "group": GROUP, "dry_run": true});
    invoke(&lambda, &dry_run).await;
    logs.ship(&lambda.log_text()).await;
    let a = &world.seed.server_a.instance_id;
    topology::stop(&world.client, a).await.unwrap();
    let moved = invoke(&lambda, &state_change(a, "stopped", None)).await;
    let at = logs.ship(&lambda.log_text()).await;
    assert_eq!(moved["action"], "failed_over", "{moved:#}");
    let output = lambda.log_text();
    for line in [
        r#""action":"no_change""#,
        r#""dry_run":true"#,
        r#""action":"failed_over""#,
    ] {
        assert!(
            output.contains(line),
            "the function logged no {line}: {output}"
        );
    }
    (moved, at)
}

/// Given the function's decision logs (a no-change reconcile, a dry run, a
/// move), when `history` runs, then it lists the one move: its time, trigger,
/// from, to, tables and duration, and skips the others.
#[tokio::test]
async fn given_the_functions_decision_logs_when_history_runs_then_it_lists_the_move_only() {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;
    let url = world.emulator.url();
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let (moved, at) = given_the_functions_decision_logs(&world).await;
    let proxy = LogsProxy::start(&world.emulator);
    let env = [("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", proxy.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let listed = cli(
        &url,
        &env,
        &["history", "--function", "vip-failover", "--json"],
    )
    .await;

    assert_eq!(listed.code, 0, "{listed:?}");
    let time = chrono::DateTime::from_timestamp_millis(at).unwrap();
    let expected = json!([{
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "group": GROUP,
        "trigger": moved["trigger"],
        "from": a.instance_id,
        "to": b.instance_id,
        "tables": 3,
        "duration_ms": moved["duration_ms"],
    }]);
    assert_eq!(listed.json(), expected, "{listed:?}");

    let table = cli(&url, &env, &["history", "--function", "vip-failover"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let rows: Vec<&str> = table.stdout.lines().filter(|l| l.contains(GROUP)).collect();
    assert_eq!(rows.len(), 1, "{table:?}");
    let duration = format!("{} ms", moved["duration_ms"]);
    for field in [&a.instance_id, &b.instance_id, " 3 ", &duration, "stopped"] {
        assert!(rows[0].contains(field), "{field} missing: {}", rows[0]);
    }
}
