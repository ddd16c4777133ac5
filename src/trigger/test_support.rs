//! Events and expected triggers shared by the trigger module's unit tests.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AlarmHint, ManualCommand, StateHint, Trigger, TriggerError};
use crate::world::{AlarmState, InstanceState};

pub(crate) const PREFIX: &str = "vip-failover:";
pub(crate) const SERVER_A: &str = "i-0a1b2c3d4e5f60718";
pub(crate) const SERVER_B: &str = "i-0f1e2d3c4b5a69788";

/// The `time` of `events/eventbridge-ec2-state-change-stopped.json`.
pub(crate) const STOPPED_SAMPLE_TIME: &str = "2025-03-14T11:03:27Z";

fn load(dir: &str, name: &str) -> Value {
    let path = format!("{}/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// A public sample from `tests/fixtures/reference-events`.
pub(crate) fn reference(name: &str) -> Value {
    load("tests/fixtures/reference-events", name)
}

/// A user-facing sample from `events/`.
pub(crate) fn sample(name: &str) -> Value {
    load("events", name)
}

/// Returns `event` with the value at JSON pointer `at` replaced (or removed when `None`).
pub(crate) fn edit(mut event: Value, at: &str, new: Option<Value>) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("pointer has a parent");
    let target = event
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in test event"));
    match (target, new) {
        (Value::Object(map), Some(new)) => {
            map.insert(key.to_string(), new);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(new)) => {
            items[key.parse::<usize>().expect("array index")] = new;
        }
        (Value::Array(items), None) => {
            items.remove(key.parse::<usize>().expect("array index"));
        }
        (other, _) => panic!("{parent} is {other}, not a container"),
    }
    event
}

/// The trigger an alarm event must become: alarm `alarm` on `instance_id` is now `state`.
pub(crate) fn alarm_hint(
    state: AlarmState,
    alarm: &str,
    instance_id: &str,
    source: &str,
) -> Trigger {
    Trigger::Alarm(AlarmHint {
        alarm: alarm.to_string(),
        instance_id: instance_id.to_string(),
        state,
        source: source.to_string(),
    })
}

/// The trigger an EC2 state change must become; `at` is the event's RFC 3339 `time`.
pub(crate) fn state_hint(
    state: InstanceState,
    instance_id: &str,
    at: Option<&str>,
    source: &str,
) -> Trigger {
    Trigger::InstanceState(StateHint {
        instance_id: instance_id.to_string(),
        state,
        at: at.map(utc),
        source: source.to_string(),
    })
}

/// Parses an RFC 3339 time written in a test.
pub(crate) fn utc(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .with_timezone(&Utc)
}

pub(crate) fn failover(target: Option<&str>, dry_run: bool) -> Trigger {
    Trigger::Manual(ManualCommand::Failover {
        group: "web".to_string(),
        target: target.map(str::to_string),
        dry_run,
    })
}

/// The variant's name, so a table of refusals can say which one it expects.
pub(crate) fn variant(error: &TriggerError) -> &'static str {
    match error {
        TriggerError::NotAnObject { .. } => "NotAnObject",
        TriggerError::UnknownEvent { .. } => "UnknownEvent",
        TriggerError::Malformed { .. } => "Malformed",
        TriggerError::AlarmWithoutInstance { .. } => "AlarmWithoutInstance",
        TriggerError::UnknownAction { .. } => "UnknownAction",
        TriggerError::TooLarge { .. } => "TooLarge",
    }
}
