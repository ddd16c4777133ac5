//! Contract tests: the public reference events (copies of AWS docs and other
//! projects' samples, in `tests/fixtures/reference-events`) and the user-facing
//! samples in `events/` each parse to the outcome their name promises.

use serde_json::json;

use super::sns::SNS_ALARM;
use super::test_support::{
    alarm_hint, failover, reference, sample, state_hint, PREFIX, SERVER_A, SERVER_B,
    STOPPED_SAMPLE_TIME,
};
use super::{parse, ManualCommand, Trigger, TriggerError};
use crate::world::{AlarmState, InstanceState};

fn without_instance(alarm: &str) -> TriggerError {
    TriggerError::AlarmWithoutInstance {
        alarm: alarm.to_string(),
        key: format!("{PREFIX}instance="),
    }
}

// -- Public sample events from AWS docs and other projects -----------------

type Expected = Result<Trigger, TriggerError>;

/// The reference alarm events (Lambda action and EventBridge).
fn reference_alarms() -> Vec<(&'static str, Expected)> {
    vec![
        (
            "cloudwatch-alarm-lambda-action.metric.rust-runtime.json",
            Ok(alarm_hint(
                AlarmState::Alarm,
                "lambda-demo-metric-alarm",
                "i-12345678",
                "alarm lambda-demo-metric-alarm (ALARM)",
            )),
        ),
        (
            // No metrics, no description, and neither the name nor the ARN
            // carries an instance id: nothing to fail over.
            "cloudwatch-alarm-lambda-action.composite.rust-runtime.json",
            Err(without_instance("CompositeDemo.Main")),
        ),
        (
            // Both metricStat metrics are Lambda metrics with empty dimensions.
            "cloudwatch-alarm-lambda-action.metric-math.powertools.json",
            Err(without_instance("Test alert")),
        ),
        (
            "eventbridge-cloudwatch-alarm-state-change.single-metric.awsdocs.json",
            Ok(alarm_hint(
                AlarmState::Alarm,
                "ServerCpuTooHigh",
                "i-12345678901234567",
                "alarm ServerCpuTooHigh (ALARM) via EventBridge",
            )),
        ),
        (
            // Two metricStat metrics naming the same instance count once.
            "eventbridge-cloudwatch-alarm-state-change.metric-math.awsdocs.json",
            Ok(alarm_hint(
                AlarmState::Alarm,
                "TotalNetworkTrafficTooHigh",
                "i-12345678901234567",
                "alarm TotalNetworkTrafficTooHigh (ALARM) via EventBridge",
            )),
        ),
    ]
}

/// The reference EC2 state changes and SNS notifications.
fn reference_others() -> Vec<(&'static str, Expected)> {
    vec![
        (
            "eventbridge-ec2-instance-state-change.pending.awsdocs.json",
            Ok(state_hint(
    InstanceState::Pending,
    "i-abcd1111",
    Some("2021-11-11T21:29:54Z"),
    "EC2 state change i-abcd1111 (pending)",
)),
        ),
        (
            "eventbridge-ec2-instance-state-change.pending.rust-runtime.json",
            Ok(state_hint(
    InstanceState::Pending,
    "i-abcd1111",
    Some("2021-11-11T21:29:54Z"),
    "EC2 state change i-abcd1111 (pending)",
)),
        ),
        (
            // The sample's InstanceId dimension is the placeholder "TestInstance".
            "sns-cloudwatch-alarm-notification.single-metric.rust-runtime.json",
            Err(TriggerError::Malformed {
                shape: SNS_ALARM,
                detail: "the InstanceId dimension of alarm EXAMPLE is \"TestInstance\", which is not an EC2 instance id (i- followed by 8 or 17 lowercase hex digits, e.g. i-0a1b2c3d4e5f60718)".to_string(),
            }),
        ),
        (
            // Two records in one invocation, which SNS never sends.
            "sns-cloudwatch-alarm-notification.multiple-metrics.rust-runtime.json",
            Err(TriggerError::Malformed {
                shape: SNS_ALARM,
                detail: "Records holds 2 records; SNS delivers exactly one per invocation"
                    .to_string(),
            }),
        ),
    ]
}

/// The `.json` files of a folder of the crate, sorted.
fn json_files_in(dir: &str) -> Vec<String> {
    let path = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .expect(&path)
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// Every file of `dir` has an expectation, and no expectation names a missing file.
fn covers_every_file<T>(dir: &str, table: &[(&str, T)]) {
    let mut tested: Vec<String> = table.iter().map(|(f, _)| f.to_string()).collect();
    tested.sort();
    assert_eq!(
        json_files_in(dir),
        tested,
        "every file in {dir} needs an expectation"
    );
}

#[test]
fn every_reference_event_yields_its_documented_outcome() {
    let table: Vec<_> = reference_alarms()
        .into_iter()
        .chain(reference_others())
        .collect();
    covers_every_file("tests/fixtures/reference-events", &table);
    for (file, expected) in table {
        assert_eq!(parse(&reference(file), PREFIX), expected, "{file}");
    }
}

#[test]
fn sns_reference_events_work_once_they_name_a_real_instance() {
    // The SNS fixtures are refused only for their placeholder id; with a real
    // one, both the flat `Trigger.Dimensions` and the metric-math
    // `Trigger.Metrics[].MetricStat.Metric.Dimensions` layouts resolve.
    for file in [
        "sns-cloudwatch-alarm-notification.single-metric.rust-runtime.json",
        "sns-cloudwatch-alarm-notification.multiple-metrics.rust-runtime.json",
    ] {
        let mut event = reference(file);
        let records = event["Records"].as_array_mut().expect("Records");
        records.truncate(1);
        let message = records[0]["Sns"]["Message"].as_str().expect("Message");
        records[0]["Sns"]["Message"] = json!(message.replace("TestInstance", SERVER_A));
        assert_eq!(
            parse(&event, PREFIX),
            Ok(alarm_hint(
                AlarmState::Alarm,
                "EXAMPLE",
                SERVER_A,
                "alarm EXAMPLE (ALARM) via SNS"
            )),
            "{file}"
        );
    }
}

#[test]
fn reference_events_are_byte_for_byte_copies_with_their_readme() {
    let dir = "tests/fixtures/reference-events";
    let readme = std::fs::read_to_string(format!("{}/{dir}/README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md");
    for name in json_files_in(dir) {
        assert!(readme.contains(&name), "README.md does not describe {name}");
    }
}

// -- User-facing samples in events/ ---------------------------------------

/// The manual samples.
fn manual_samples() -> Vec<(&'static str, Trigger)> {
    vec![
        ("failover.json", failover(None, false)),
        ("failover-dry-run.json", failover(None, true)),
        ("failover-to-target.json", failover(Some(SERVER_B), false)),
        (
            "status.json",
            Trigger::Manual(ManualCommand::Status {
                group: "web".to_string(),
            }),
        ),
        (
            "check.json",
            Trigger::Manual(ManualCommand::Check {
                group: "web".to_string(),
            }),
        ),
        (
            "reconcile.json",
            Trigger::Reconcile {
                groups: Some(vec!["web".to_string()]),
                source: "manual".to_string(),
            },
        ),
        (
            "eventbridge-scheduled.json",
            Trigger::Reconcile {
                groups: None,
                source:
                    "schedule arn:aws:events:eu-west-1:123456789012:rule/vip-failover-reconcile"
                        .to_string(),
            },
        ),
    ]
}

/// The samples of AWS-delivered events.
fn event_samples() -> Vec<(&'static str, Trigger)> {
    vec![
        (
            "alarm-lambda-action.json",
            alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (ALARM)",
            ),
        ),
        (
            "alarm-lambda-action-metric-math.json",
            alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-network-silent",
                SERVER_A,
                "alarm vip-failover-web-serverA-network-silent (ALARM)",
            ),
        ),
        (
            "alarm-lambda-action-composite.json",
            alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-unhealthy",
                SERVER_A,
                "alarm vip-failover-web-serverA-unhealthy (ALARM)",
            ),
        ),
        (
            "eventbridge-alarm-state-change.json",
            alarm_hint(
                AlarmState::Ok,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (OK) via EventBridge",
            ),
        ),
        (
            "eventbridge-ec2-state-change-stopped.json",
            state_hint(
                InstanceState::Stopped,
                SERVER_A,
                Some(STOPPED_SAMPLE_TIME),
                "EC2 state change i-0a1b2c3d4e5f60718 (stopped)",
            ),
        ),
        (
            "sns-alarm-notification.json",
            alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (ALARM) via SNS",
            ),
        ),
    ]
}

#[test]
fn every_sample_in_events_dir_parses_to_what_its_name_promises() {
    let table: Vec<_> = manual_samples()
        .into_iter()
        .chain(event_samples())
        .collect();
    covers_every_file("events", &table);
    for (file, expected) in table {
        assert_eq!(parse(&sample(file), PREFIX), Ok(expected), "events/{file}");
    }
}
