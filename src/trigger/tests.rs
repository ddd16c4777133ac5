//! Unit tests of the edge: shapes, refusals.

use serde_json::json;

use super::manual::MANUAL;
use super::test_support::{
    alarm_hint, edit, reference, sample, state_hint, variant, PREFIX, SERVER_A, SERVER_B,
};
use super::*;

#[test]
fn triggers_serialize_with_a_snake_case_kind() {
    let alarm = alarm_hint(
        AlarmState::Ok,
        "web-status",
        SERVER_A,
        "alarm web-status (OK)",
    );
    assert_eq!(
        serde_json::to_value(&alarm).expect("serializable"),
        json!({"kind": "alarm", "alarm": "web-status", "instance_id": SERVER_A,
            "state": "OK", "source": "alarm web-status (OK)"})
    );
    let state = state_hint(
        InstanceState::ShuttingDown,
        SERVER_A,
        Some("2025-03-14T11:03:27Z"),
        "EC2 state change",
    );
    assert_eq!(
        serde_json::to_value(&state).expect("serializable"),
        json!({"kind": "instance_state", "instance_id": SERVER_A, "state": "shutting-down",
            "at": "2025-03-14T11:03:27Z", "source": "EC2 state change"})
    );
}

#[test]
fn event_at_exactly_the_size_limit_is_still_read() {
    let base = json!({"action": "status", "group": ""});
    let padding = MAX_EVENT_BYTES - serialized_len(&base);
    let event = json!({"action": "status", "group": "x".repeat(padding)});
    assert_eq!(serialized_len(&event), MAX_EVENT_BYTES);
    // Reaches field validation (the group is too long), not the size check.
    assert!(matches!(
        parse(&event, PREFIX),
        Err(TriggerError::Malformed { shape: MANUAL, .. })
    ));
}

#[test]
fn instance_id_shapes() {
    for good in ["i-12345678", "i-abcdef01", SERVER_A] {
        assert!(is_instance_id(good), "{good}");
    }
    for bad in [
        "",
        "i-",
        "i-1234567",
        "i-123456789",
        "i-0a1b2c3d4e5f6071",
        "i-0a1b2c3d4e5f607189",
        "i-0A1B2C3D4E5F60718",
        "i-0a1b2c3d4e5f6071g",
        "I-12345678",
        "x-12345678",
        " i-12345678",
        "i-12345678 ",
    ] {
        assert!(!is_instance_id(bad), "{bad:?}");
    }
}

// -- Refusals -------------------------------------------------------------

struct Refusal {
    scenario: &'static str,
    event: Value,
    variant: &'static str,
    /// Every fragment must appear in the Display message.
    mentions: &'static [&'static str],
}

fn refusal(
    scenario: &'static str,
    event: Value,
    variant: &'static str,
    mentions: &'static [&'static str],
) -> Refusal {
    Refusal {
        scenario,
        event,
        variant,
        mentions,
    }
}

fn sns_with_message(message: &str) -> Value {
    edit(
        sample("sns-alarm-notification.json"),
        "/Records/0/Sns/Message",
        Some(json!(message)),
    )
}

fn alarm_action() -> Value {
    sample("alarm-lambda-action.json")
}

#[test]
fn refused_events_name_what_is_wrong() {
    let metric = |id: &str| {
        json!({"id": "m", "metricStat": {"metric": {"namespace": "AWS/EC2", "name": "NetworkIn",
            "dimensions": {"InstanceId": id}}, "period": 60, "stat": "Sum"}, "returnData": false})
    };
    let cases = vec![
        // Not an object at all.
        refusal("null event", Value::Null, "NotAnObject", &["null"]),
        refusal(
            "array event",
            json!([{"action": "status"}]),
            "NotAnObject",
            &["an array"],
        ),
        refusal(
            "string event",
            json!("failover web"),
            "NotAnObject",
            &["a string"],
        ),
        refusal("number event", json!(42), "NotAnObject", &["a number"]),
        refusal("boolean event", json!(true), "NotAnObject", &["a boolean"]),
        refusal(
            "empty object",
            json!({}),
            "UnknownEvent",
            &["empty object", "action"],
        ),
        refusal(
            "oversized payload",
            json!({"action": "status", "group": "x".repeat(MAX_EVENT_BYTES)}),
            "TooLarge",
            &["262144"],
        ),
        // Manual events.
        refusal(
            "action not a string",
            json!({"action": 7, "group": "web"}),
            "Malformed",
            &["`action`", "a number"],
        ),
        refusal(
            "unknown action",
            json!({"action": "explode", "group": "web"}),
            "UnknownAction",
            &["explode", "failover"],
        ),
        refusal(
            "empty action",
            json!({"action": "", "group": "web"}),
            "UnknownAction",
            &["\"\""],
        ),
        refusal(
            "failover without group",
            json!({"action": "failover"}),
            "Malformed",
            &["`group` is missing"],
        ),
        refusal(
            "status without group",
            json!({"action": "status"}),
            "Malformed",
            &["`group` is missing"],
        ),
        refusal(
            "empty group",
            json!({"action": "failover", "group": ""}),
            "Malformed",
            &["`group` is empty"],
        ),
        refusal(
            "blank group",
            json!({"action": "check", "group": "   "}),
            "Malformed",
            &["`group` is empty"],
        ),
        refusal(
            "group is a number",
            json!({"action": "status", "group": 3}),
            "Malformed",
            &["`group`", "a number"],
        ),
        refusal(
            "group is a list",
            json!({"action": "check", "group": ["web"]}),
            "Malformed",
            &["`group`", "an array"],
        ),
        refusal(
            "group too long",
            json!({"action": "status", "group": "g".repeat(257)}),
            "Malformed",
            &["`group`", "257", "256"],
        ),
        refusal(
            "target not an instance id",
            json!({"action": "failover", "group": "web", "target": "serverB"}),
            "Malformed",
            &["`target`", "serverB"],
        ),
        refusal(
            "target with 7 hex digits",
            json!({"action": "failover", "group": "web", "target": "i-0abc123"}),
            "Malformed",
            &["`target`", "i-0abc123"],
        ),
        refusal(
            "target in upper case",
            json!({"action": "failover", "group": "web", "target": "i-0A1B2C3D4E5F60718"}),
            "Malformed",
            &["i-0A1B2C3D4E5F60718", "lowercase"],
        ),
        refusal(
            "target is a number",
            json!({"action": "failover", "group": "web", "target": 12345678}),
            "Malformed",
            &["`target`", "a number"],
        ),
        refusal(
            "dry_run as a string",
            json!({"action": "failover", "group": "web", "dry_run": "yes"}),
            "Malformed",
            &["`dry_run`", "a string"],
        ),
        refusal(
            "misspelt dry_run",
            json!({"action": "failover", "group": "web", "dryRun": true}),
            "Malformed",
            &["`dryRun`", "did you mean `dry_run`"],
        ),
        refusal(
            "target sent with status",
            json!({"action": "status", "group": "web", "target": SERVER_B}),
            "Malformed",
            &["`target`", "`group`"],
        ),
        refusal(
            "groups sent with failover",
            json!({"action": "failover", "groups": ["web"]}),
            "Malformed",
            &["`groups`", "did you mean `group`"],
        ),
        refusal(
            "reconcile groups as a string",
            json!({"action": "reconcile", "groups": "web"}),
            "Malformed",
            &["`groups`", "a string"],
        ),
        refusal(
            "reconcile with empty groups",
            json!({"action": "reconcile", "groups": []}),
            "Malformed",
            &["`groups` is empty"],
        ),
        refusal(
            "reconcile with a non-string group",
            json!({"action": "reconcile", "groups": ["web", 5]}),
            "Malformed",
            &["groups[1]", "a number"],
        ),
        // EventBridge.
        refusal(
            "unknown detail-type",
            json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {}}),
            "UnknownEvent",
            &["AWS API Call via CloudTrail", "aws.ec2"],
        ),
        refusal(
            "EC2 state change from a custom source",
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/source",
                Some(json!("my.app")),
            ),
            "UnknownEvent",
            &["my.app", "aws.ec2"],
        ),
        refusal(
            "detail-type not a string",
            json!({"detail-type": 1, "source": "aws.ec2", "detail": {}}),
            "Malformed",
            &["detail-type"],
        ),
        refusal(
            "EC2 state change without instance-id",
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail/instance-id",
                None,
            ),
            "Malformed",
            &["instance-id"],
        ),
        refusal(
            "EC2 state change without detail",
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail",
                None,
            ),
            "Malformed",
            &["detail"],
        ),
        refusal(
            "EC2 state change with a bad instance id",
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail/instance-id",
                Some(json!("i-xyz")),
            ),
            "Malformed",
            &["detail.instance-id", "i-xyz"],
        ),
        refusal(
            "EC2 state change with a numeric state",
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail/state",
                Some(json!(80)),
            ),
            "Malformed",
            &["state"],
        ),
        refusal(
            "EventBridge alarm with a bad state value",
            edit(
                sample("eventbridge-alarm-state-change.json"),
                "/detail/state/value",
                Some(json!("BROKEN")),
            ),
            "Malformed",
            &["BROKEN", "ALARM"],
        ),
        // CloudWatch alarm Lambda actions.
        refusal(
            "alarm with a bad state value",
            edit(
                alarm_action(),
                "/alarmData/state/value",
                Some(json!("FIRING")),
            ),
            "Malformed",
            &["FIRING", "vip-failover-web-serverA-status-check"],
        ),
        refusal(
            "alarm without a state value",
            edit(alarm_action(), "/alarmData/state/value", None),
            "Malformed",
            &["alarmData.state.value", "missing"],
        ),
        refusal(
            "alarm without instance",
            edit(
                alarm_action(),
                "/alarmData/configuration/metrics/0/metricStat/metric/dimensions",
                Some(json!({})),
            ),
            "AlarmWithoutInstance",
            &["vip-failover-web-serverA-status-check", "InstanceId"],
        ),
        refusal(
            "alarm dimension that is not an instance id",
            edit(
                alarm_action(),
                "/alarmData/configuration/metrics/0/metricStat/metric/dimensions/InstanceId",
                Some(json!("web-1")),
            ),
            "Malformed",
            &[
                "web-1",
                "InstanceId",
                "vip-failover-web-serverA-status-check",
            ],
        ),
        refusal(
            "description convention with a bad id (an alarm without a metric)",
            edit(
                sample("alarm-lambda-action-composite.json"),
                "/alarmData/configuration/description",
                Some(json!("vip-failover:instance=i-zzz")),
            ),
            "Malformed",
            &["i-zzz", "vip-failover:instance="],
        ),
        refusal(
            "description naming two instances (an alarm without a metric)",
            edit(
                sample("alarm-lambda-action-composite.json"),
                "/alarmData/configuration/description",
                Some(json!(format!(
                    "vip-failover:instance={SERVER_A} vip-failover:instance={SERVER_B}"
                ))),
            ),
            "Malformed",
            &[SERVER_A, SERVER_B],
        ),
        refusal(
            "metric-math alarm over two instances",
            edit(
                alarm_action(),
                "/alarmData/configuration/metrics",
                Some(json!([metric(SERVER_A), metric(SERVER_B)])),
            ),
            "Malformed",
            &[SERVER_A, SERVER_B, "vip-failover:instance="],
        ),
        refusal(
            "alarm action from another source",
            edit(alarm_action(), "/source", Some(json!("my.app"))),
            "Malformed",
            &["my.app", "aws.cloudwatch"],
        ),
        refusal(
            "alarm action without alarmName",
            edit(alarm_action(), "/alarmData/alarmName", None),
            "Malformed",
            &["alarmName"],
        ),
        // SNS.
        refusal(
            "SNS message that is not JSON",
            sns_with_message("serverA is down"),
            "Malformed",
            &["Sns.Message", "not JSON"],
        ),
        refusal(
            "SNS message that is not an alarm",
            sns_with_message("{\"hello\":\"world\"}"),
            "Malformed",
            &["AlarmName"],
        ),
        refusal(
            "SNS alarm without state",
            sns_with_message("{\"AlarmName\":\"vip-failover-web-serverA-status-check\"}"),
            "Malformed",
            &["NewStateValue", "vip-failover-web-serverA-status-check"],
        ),
        refusal(
            "SNS alarm with a placeholder instance",
            reference("sns-cloudwatch-alarm-notification.single-metric.rust-runtime.json"),
            "Malformed",
            &["TestInstance"],
        ),
        refusal(
            "SNS with two records",
            reference("sns-cloudwatch-alarm-notification.multiple-metrics.rust-runtime.json"),
            "Malformed",
            &["2 records"],
        ),
        refusal(
            "SNS record without its envelope fields",
            json!({"Records": [{"Sns": {}}]}),
            "Malformed",
            &["Records[0]"],
        ),
        // Foreign events.
        refusal(
            "S3 event",
            json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
                "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "logs"}, "object": {"key": "a.gz"}}}]}),
            "UnknownEvent",
            &["S3", "aws:s3"],
        ),
        refusal(
            "SQS event",
            json!({"Records": [{"messageId": "1", "body": "{}", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q", "awsRegion": "eu-west-1"}]}),
            "UnknownEvent",
            &["SQS", "aws:sqs"],
        ),
        refusal(
            "DynamoDB stream",
            json!({"Records": [{"eventSource": "aws:dynamodb", "eventName": "INSERT"}]}),
            "UnknownEvent",
            &["aws:dynamodb"],
        ),
        refusal(
            "API Gateway REST request",
            json!({"resource": "/", "path": "/", "httpMethod": "POST", "headers": {}, "body": "{}"}),
            "UnknownEvent",
            &["API Gateway"],
        ),
        refusal(
            "function URL request",
            json!({"version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}}}),
            "UnknownEvent",
            &["function URL"],
        ),
        refusal(
            "unknown source without detail-type",
            json!({"source": "custom.app", "detail": {}}),
            "UnknownEvent",
            &["custom.app"],
        ),
        refusal(
            "unrecognised keys",
            json!({"group": "web", "failover": true}),
            "UnknownEvent",
            &["failover", "group"],
        ),
    ];
    assert!(cases.len() >= 30, "only {} refusal cases", cases.len());

    for case in cases {
        let error = match parse(&case.event, PREFIX) {
            Ok(trigger) => panic!("{}: accepted as {trigger:?}", case.scenario),
            Err(error) => error,
        };
        assert_eq!(variant(&error), case.variant, "{}: {error}", case.scenario);
        let message = error.to_string();
        for fragment in case.mentions {
            assert!(
                message.contains(fragment),
                "{}: message lacks {fragment:?}: {message}",
                case.scenario
            );
        }
    }
}

// -- Lambda destination records (the probe loop) ------------------------------

fn record(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/destination-records/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn given_the_probe_functions_success_record_then_it_is_a_probe_report() {
    let Ok(Trigger::ProbeReport(report)) = parse(&record("probe-success.json"), PREFIX) else {
        panic!("a probe report");
    };
    assert_eq!(report.request_id, "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2");
    assert!(report
        .function
        .ends_with(":function:vip-failover-probe:$LATEST"));
    let result = &report.result;
    assert_eq!(
        (result.group.as_str(), result.round.as_str()),
        ("web", "3f2a1c09-7")
    );
    assert!(result.reached_any);
    assert_eq!(result.verdicts[0].up, Some(false));
    assert_eq!(result.verdicts[0].reason, "connection refused");
}

#[test]
fn given_records_that_carry_no_probe_round_then_they_are_refused_or_ignored_naming_why() {
    // AWS's own examples: records of other functions are not ours.
    for name in ["documented-success.json", "documented-failure.json"] {
        let error = parse(&record(name), PREFIX).expect_err(name);
        assert!(
            error.to_string().contains("vip_failover_probe"),
            "{name}: {error}"
        );
    }
    // A probe round that failed: no verdict, and nothing to do but wait for
    // the tick.
    let mut failed = record("probe-success.json");
    failed["requestContext"]["condition"] = json!("RetriesExhausted");
    let Ok(Trigger::Ignored { reason }) = parse(&failed, PREFIX) else {
        panic!("ignored");
    };
    assert!(reason.contains("RetriesExhausted"), "{reason}");
    // A success whose payload is not a probe result.
    let mut garbled = record("probe-success.json");
    garbled["responsePayload"] = json!({"hello": "world"});
    let error = parse(&garbled, PREFIX).expect_err("garbled");
    assert!(error.to_string().contains("not a probe result"), "{error}");
}
