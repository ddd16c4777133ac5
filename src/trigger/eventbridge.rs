//! EventBridge events: CloudWatch alarm state changes, EC2 instance state
//! changes and scheduled rules.

use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarmData;
use aws_lambda_events::event::cloudwatch_events::ec2::InstanceStateChange;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::alarm::{alarm_facts, alarm_trigger, raw_alarm_state};
use super::{checked_instance_id, malformed, truncated, StateHint, Trigger, TriggerError};
use crate::world::InstanceState;

// Shape names used in `Malformed`, so an operator can tell which parser refused the event.
pub(super) const EB_ALARM: &str = "EventBridge alarm state change";
pub(super) const EB_EC2: &str = "EventBridge EC2 state change";
const EB_SCHEDULE: &str = "EventBridge scheduled";
const EVENTBRIDGE: &str = "EventBridge";

const DETAIL_TYPE_ALARM: &str = "CloudWatch Alarm State Change";
const DETAIL_TYPE_EC2: &str = "EC2 Instance State-change Notification";
const DETAIL_TYPE_SCHEDULE: &str = "Scheduled Event";

/// Reads an EventBridge event whose `detail-type` and `source` are ours.
///
/// The envelope is read without its `time`: the crate refuses a `time` it cannot
/// parse, and no decision may hinge on a timestamp. The time is read on its own
/// ([`event_time`]) and only ever informs an EC2 state hint.
pub(super) fn parse_eventbridge(
    obj: &Map<String, Value>,
    tag_prefix: &str,
) -> Result<Trigger, TriggerError> {
    let (detail_type, shape) = route(obj)?;
    let mut body = obj.clone();
    body.remove("time");
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(Value::Object(body)).map_err(|e| malformed(shape, e.to_string()))?;
    match detail_type {
        DETAIL_TYPE_ALARM => alarm_state_change(&envelope.detail, tag_prefix),
        DETAIL_TYPE_EC2 => ec2_state_change(envelope.detail, event_time(obj)),
        _ => Ok(scheduled(&envelope)),
    }
}

/// The rule routes on `detail-type`, but the `source` is checked too: only AWS
/// may emit `aws.*` sources, so a look-alike event put on a custom bus by some
/// application cannot move the VIP. Returns the detail-type and its shape name.
fn route(obj: &Map<String, Value>) -> Result<(&str, &'static str), TriggerError> {
    let (Some(detail_type), Some(source)) = (
        obj.get("detail-type").and_then(Value::as_str),
        obj.get("source").and_then(Value::as_str),
    ) else {
        return Err(malformed(
            EVENTBRIDGE,
            "`detail-type` and `source` must both be strings",
        ));
    };
    let (expected_source, shape) = match detail_type {
        DETAIL_TYPE_ALARM => ("aws.cloudwatch", EB_ALARM),
        DETAIL_TYPE_EC2 => ("aws.ec2", EB_EC2),
        DETAIL_TYPE_SCHEDULE => ("aws.events", EB_SCHEDULE),
        other => {
            return Err(TriggerError::UnknownEvent {
                hint: format!(
                    "EventBridge detail-type {:?} from source {:?}; point the rule at \"{DETAIL_TYPE_ALARM}\", \"{DETAIL_TYPE_EC2}\" or \"{DETAIL_TYPE_SCHEDULE}\"",
                    truncated(other),
                    truncated(source)
                ),
            })
        }
    };
    if source != expected_source {
        return Err(TriggerError::UnknownEvent {
            hint: format!(
                "EventBridge detail-type {detail_type:?} from source {:?}, but AWS sends it from {expected_source:?}; events from other sources are refused",
                truncated(source)
            ),
        });
    }
    Ok((detail_type, shape))
}

/// The event's `time` when it is valid RFC 3339. A missing or garbled time is
/// no reason to drop a state change: the hint then simply carries no time.
fn event_time(obj: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let time = obj.get("time")?.as_str()?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// The `detail` has the same camelCase shape as a Lambda action's `alarmData`.
fn alarm_state_change(detail: &Value, tag_prefix: &str) -> Result<Trigger, TriggerError> {
    let state = raw_alarm_state(detail, "detail", EB_ALARM)?;
    let data: CloudWatchAlarmData<Value, Value> = serde_json::from_value(detail.clone())
        .map_err(|e| malformed(EB_ALARM, format!("{e} (in detail)")))?;
    let facts = alarm_facts(&data, state, "detail", EB_ALARM, " via EventBridge")?;
    alarm_trigger(&facts, tag_prefix)
}

/// A stop or termination is a failure we can see before any health alarm
/// fires, and `pending`/`running` lets preempting groups fail back; other
/// states (e.g. `rebooting`) say nothing about health and are ignored.
fn ec2_state_change(detail: Value, at: Option<DateTime<Utc>>) -> Result<Trigger, TriggerError> {
    let change: InstanceStateChange = serde_json::from_value(detail).map_err(|e| {
        malformed(
            EB_EC2,
            format!("{e} (detail needs string fields `instance-id` and `state`)"),
        )
    })?;
    let instance_id = checked_instance_id(&change.instance_id, EB_EC2, "detail.instance-id")?;
    let source = format!("EC2 state change {instance_id} ({})", change.state);
    Ok(match InstanceState::from_ec2(&change.state) {
        InstanceState::Unknown => Trigger::Ignored {
            reason: format!(
                "{source}: state {:?} says nothing about health",
                truncated(&change.state)
            ),
        },
        state => Trigger::InstanceState(StateHint {
            instance_id,
            state,
            at,
            source,
        }),
    })
}

/// A scheduled rule reconciles every group; its rule ARN names it in reports.
fn scheduled(envelope: &EventBridgeEvent<Value>) -> Trigger {
    let rule = envelope
        .resources
        .as_ref()
        .and_then(|r| r.first())
        .map(|arn| format!(" {arn}"))
        .unwrap_or_default();
    Trigger::Reconcile {
        groups: None,
        source: format!("schedule{rule}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trigger::parse;
    use crate::trigger::test_support::{
        alarm_hint, edit, sample, state_hint, utc, PREFIX, SERVER_A, STOPPED_SAMPLE_TIME,
    };
    use crate::world::AlarmState;

    #[test]
    fn eventbridge_composite_alarm_uses_its_description() {
        let event = edit(
            sample("eventbridge-alarm-state-change.json"),
            "/detail/configuration",
            Some(json!({
                "alarmRule": "ALARM(\"vip-failover-web-serverA-status-check\")",
                "description": format!("vip-failover:instance={SERVER_A}")
            })),
        );
        assert_eq!(
            parse(&event, PREFIX),
            Ok(alarm_hint(
                AlarmState::Ok,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (OK) via EventBridge"
            ))
        );
    }

    #[test]
    fn ec2_lifecycle_states_become_state_hints_or_nothing() {
        for (name, state) in [
            ("pending", Some(InstanceState::Pending)),
            ("running", Some(InstanceState::Running)),
            ("stopping", Some(InstanceState::Stopping)),
            ("stopped", Some(InstanceState::Stopped)),
            ("shutting-down", Some(InstanceState::ShuttingDown)),
            ("terminated", Some(InstanceState::Terminated)),
            ("rebooting", None),
        ] {
            let event = edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail/state",
                Some(json!(name)),
            );
            let source = format!("EC2 state change {SERVER_A} ({name})");
            let got = parse(&event, PREFIX);
            match state {
                Some(state) => assert_eq!(
                    got,
                    Ok(state_hint(
                        state,
                        SERVER_A,
                        Some(STOPPED_SAMPLE_TIME),
                        &source
                    )),
                    "{name}"
                ),
                None => assert!(
                    matches!(&got, Ok(Trigger::Ignored { reason }) if reason.contains(name)),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn the_event_time_becomes_the_hints_at() {
        for (time, at) in [
            (STOPPED_SAMPLE_TIME, STOPPED_SAMPLE_TIME),
            ("2025-03-14T11:03:27.512Z", "2025-03-14T11:03:27.512Z"),
            // Another offset is the same instant, reported in UTC.
            ("2025-03-14T12:03:27+01:00", STOPPED_SAMPLE_TIME),
        ] {
            let event = edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/time",
                Some(json!(time)),
            );
            let Ok(Trigger::InstanceState(hint)) = parse(&event, PREFIX) else {
                panic!("{time}: not a state hint");
            };
            assert_eq!(hint.at, Some(utc(at)), "{time}");
        }
    }

    #[test]
    fn a_missing_or_invalid_time_leaves_at_empty() {
        let stopped = |time: Option<Value>| {
            edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/time",
                time,
            )
        };
        let expected = state_hint(
            InstanceState::Stopped,
            SERVER_A,
            None,
            "EC2 state change i-0a1b2c3d4e5f60718 (stopped)",
        );
        for (scenario, event) in [
            ("missing", stopped(None)),
            ("null", stopped(Some(Value::Null))),
            ("not a date", stopped(Some(json!("yesterday")))),
            ("no T", stopped(Some(json!("2025-03-14 11:03:27")))),
            (
                "stray spaces",
                stopped(Some(json!("2025-03-14T11: 03: 27Z"))),
            ),
            ("epoch number", stopped(Some(json!(1741950207)))),
        ] {
            assert_eq!(parse(&event, PREFIX), Ok(expected.clone()), "{scenario}");
        }
    }

    #[test]
    fn alarm_and_schedule_events_with_an_invalid_time_still_parse() {
        let alarm = edit(
            sample("eventbridge-alarm-state-change.json"),
            "/time",
            Some(json!("yesterday")),
        );
        assert!(
            matches!(parse(&alarm, PREFIX), Ok(Trigger::Alarm(_))),
            "{:?}",
            parse(&alarm, PREFIX)
        );
        let schedule = edit(sample("eventbridge-scheduled.json"), "/time", None);
        assert!(
            matches!(parse(&schedule, PREFIX), Ok(Trigger::Reconcile { .. })),
            "{:?}",
            parse(&schedule, PREFIX)
        );
    }
}
