//! The edge: every event the Lambda can receive becomes one typed [`Trigger`]
//! before anything reads or writes EC2, so a malformed or foreign event is refused
//! without side effects.
//!
//! An event is a hint of what to look at, not a verdict: an alarm event says
//! "alarm X on instance I is now in state S, look again", an EC2 event says
//! "instance I is now in state S at time T". The decision reads the levels again.
//!
//! Parsing is deliberately strict about what decides a failover (instance ids,
//! alarm states, manual fields) and lenient about everything else: a route flip
//! must never hinge on a field the decision does not read.
//!
//! One file per channel: `alarm` holds what the three alarm channels share,
//! `eventbridge`, `sns` and `manual` read their own envelopes.

mod alarm;
mod eventbridge;
mod manual;
mod sns;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod test_support;

use std::io;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::plan::Intent;
use serde_json::{Map, Value};

use crate::world::{AlarmState, InstanceState};

pub use alarm::alarm_instance;

/// Largest event accepted (bytes of the serialized JSON); alarms and EventBridge events are a few KB.
///
/// Anything bigger is not one of our events, and refusing it before walking it
/// keeps a stray payload from costing memory or time.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// What asked us to act, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// An alarm changed state. A hint: the decision reads the alarm's level again.
    Alarm(AlarmHint),
    /// EC2 reported an instance state change.
    InstanceState(StateHint),
    /// An operator's explicit request.
    Manual(ManualCommand),
    /// Bring every named group (all groups when `None`) to a consistent, healthy state.
    Reconcile {
        groups: Option<Vec<String>>,
        source: String,
    },
    /// A well-formed event that by design changes nothing (e.g. INSUFFICIENT_DATA).
    Ignored { reason: String },
}

/// "Alarm X, which speaks for instance I, is now in state S": the alarm's level
/// may have moved again since, so the decision treats this as where to look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmHint {
    /// The alarm name, so the decision can read that alarm's current level.
    pub alarm: String,
    /// The instance the alarm speaks for (see [`alarm_instance`]).
    pub instance_id: String,
    /// ALARM or OK; INSUFFICIENT_DATA never becomes a hint (it is `Ignored`).
    pub state: AlarmState,
    /// Human-readable origin, e.g. `alarm web-status (ALARM) via EventBridge`.
    pub source: String,
}

/// "Instance I is now in state S at time T". A down state is authoritative for
/// that member even when DescribeInstances lags behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateHint {
    pub instance_id: String,
    /// One of pending, running, stopping, stopped, shutting-down, terminated.
    pub state: InstanceState,
    /// The event's `time` (RFC 3339), when it carries a valid one: it lets the
    /// decision tell a stale event (delivered late or retried) from a fresh one.
    pub at: Option<DateTime<Utc>>,
    /// Human-readable origin, e.g. `EC2 state change i-... (stopped)`.
    pub source: String,
}

impl Trigger {
    /// What the decision is asked to do: an operator's move, or, for every
    /// automatic trigger, to put the VIP where the levels read now say it belongs.
    pub fn intent(&self) -> Intent {
        match self {
            Self::Manual(ManualCommand::Failover { target, .. }) => Intent::Failover {
                target: target.clone(),
            },
            _ => Intent::Automatic,
        }
    }

    /// The instance an Alarm or InstanceState trigger is about.
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            Self::Alarm(hint) => Some(&hint.instance_id),
            Self::InstanceState(hint) => Some(&hint.instance_id),
            Self::Manual(_) | Self::Reconcile { .. } | Self::Ignored { .. } => None,
        }
    }

    /// Where the trigger came from, for reports ("manual", "schedule <rule arn>",
    /// the hint's source...). An ignored event keeps only its reason, so it is
    /// reported as coming from "event".
    pub fn source(&self) -> String {
        match self {
            Self::Alarm(hint) => hint.source.clone(),
            Self::InstanceState(hint) => hint.source.clone(),
            Self::Manual(ManualCommand::Failover { .. }) => "manual failover".to_string(),
            Self::Manual(_) => "manual".to_string(),
            Self::Reconcile { source, .. } => source.clone(),
            Self::Ignored { .. } => "event".to_string(),
        }
    }
}

/// Commands an operator sends by hand (`cargo lambda invoke`, `sam remote invoke`, console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ManualCommand {
    Failover {
        group: String,
        target: Option<String>,
        dry_run: bool,
    },
    Status {
        group: String,
    },
    Check {
        group: String,
    },
}

/// Why an event was refused. Each message names what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("event is not a JSON object ({found}); send an alarm, EventBridge, SNS or manual event such as {{\"action\":\"status\",\"group\":\"web\"}}")]
    NotAnObject { found: String },
    #[error("unrecognised event ({hint}); vip-failover accepts CloudWatch alarm actions, EventBridge alarm/EC2 state-change/scheduled events, SNS alarm notifications and manual events")]
    UnknownEvent { hint: String },
    #[error("malformed {shape} event: {detail}")]
    Malformed { shape: &'static str, detail: String },
    #[error("alarm {alarm} names no instance: give its metric an InstanceId dimension or put `{key}i-0123456789abcdef0` in its description")]
    AlarmWithoutInstance {
        alarm: String,
        /// The description convention's key, e.g. `vip-failover:instance=`.
        key: String,
    },
    #[error("unknown manual action {action:?}; use one of failover, status, check, reconcile")]
    UnknownAction { action: String },
    #[error("event is {size} bytes, more than the {limit} bytes any supported event needs")]
    TooLarge { size: usize, limit: usize },
}

/// Turns one raw Lambda event into a [`Trigger`].
///
/// `tag_prefix` (e.g. `vip-failover:`) is the same prefix as the instance tags, so
/// the alarm-description convention `vip-failover:instance=i-...` reads like one.
pub fn parse(event: &Value, tag_prefix: &str) -> Result<Trigger, TriggerError> {
    let size = serialized_len(event);
    if size > MAX_EVENT_BYTES {
        return Err(TriggerError::TooLarge {
            size,
            limit: MAX_EVENT_BYTES,
        });
    }
    let Value::Object(obj) = event else {
        return Err(TriggerError::NotAnObject {
            found: json_kind(event).to_string(),
        });
    };

    // Our own key comes first: an EventBridge rule with constant input sends
    // exactly the manual body, and an event carrying `action` is never AWS's.
    if obj.contains_key("action") {
        return manual::parse_manual(obj);
    }
    if obj.contains_key("alarmData") {
        return alarm::parse_alarm_action(event, tag_prefix);
    }
    if obj.contains_key("detail-type") {
        return eventbridge::parse_eventbridge(obj, tag_prefix);
    }
    if let Some(records) = obj.get("Records") {
        if sns::is_sns(records) {
            return sns::parse_sns(event, records, tag_prefix);
        }
    }
    Err(TriggerError::UnknownEvent {
        hint: unknown_hint(obj),
    })
}

/// Names the likely origin of a foreign event, since the usual cause is a
/// trigger wired to the wrong function.
fn unknown_hint(obj: &Map<String, Value>) -> String {
    if let Some(records) = obj.get("Records") {
        return records_hint(records);
    }
    if obj.contains_key("httpMethod")
        || obj.contains_key("requestContext")
        || obj.contains_key("routeKey")
    {
        return "looks like an API Gateway or function URL request (httpMethod/requestContext); invoke the function directly with a manual event instead".to_string();
    }
    if let Some(source) = obj.get("source") {
        return format!(
            "source {} without alarmData or detail-type",
            short_json(source)
        );
    }
    if obj.is_empty() {
        return "empty object; a manual event needs at least \"action\"".to_string();
    }
    let mut keys: Vec<String> = obj.keys().take(8).map(|k| truncated(k)).collect();
    if obj.len() > keys.len() {
        keys.push("...".to_string());
    }
    format!(
        "no action, alarmData, detail-type or Records key; top-level keys: {}",
        keys.join(", ")
    )
}

/// A `Records` batch that is not SNS is most often S3 or SQS wired to the wrong function.
fn records_hint(records: &Value) -> String {
    let source = records
        .get(0)
        .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
        .and_then(Value::as_str);
    match source {
        Some("aws:s3") => "looks like an S3 event notification (Records[0].eventSource \"aws:s3\"); remove the S3 trigger from vip-failover".to_string(),
        Some("aws:sqs") => "looks like an SQS message batch (Records[0].eventSource \"aws:sqs\"); vip-failover is not an SQS consumer, use an SNS subscription or a direct alarm action".to_string(),
        Some(other) => format!("Records[0].eventSource is {:?}, which vip-failover does not consume", truncated(other)),
        None => "has Records but no recognisable record (no EventSource \"aws:sns\" or Sns key)".to_string(),
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Instance ids are `i-` and 8 (older) or 17 (current) lowercase hex digits.
/// Checking here means a garbled id is reported at the edge instead of as a
/// confusing EC2 API error mid-failover.
fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// [`is_instance_id`] as a refusal that says where the bad id was (`what`).
fn checked_instance_id(id: &str, shape: &'static str, what: &str) -> Result<String, TriggerError> {
    if is_instance_id(id) {
        Ok(id.to_string())
    } else {
        Err(malformed(
            shape,
            format!(
                "{what} is {:?}, which is not an EC2 instance id (i- followed by 8 or 17 lowercase hex digits, e.g. i-0a1b2c3d4e5f60718)",
                truncated(id)
            ),
        ))
    }
}

/// `shape` names the parser that refused the event, so an operator can tell
/// which channel to look at.
fn malformed(shape: &'static str, detail: impl Into<String>) -> TriggerError {
    TriggerError::Malformed {
        shape,
        detail: detail.into(),
    }
}

/// Names a JSON type the way the error messages say it ("a number", "an array").
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Keeps error messages readable when a caller sends a huge string.
fn truncated(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Quotes a string value, or names the type of anything else, without ever
/// echoing a large structure into an error message.
fn short_json(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", truncated(s)),
        other => json_kind(other).to_string(),
    }
}

/// Measures the serialized size without building the string, so an oversized
/// event is refused without a second copy of it in memory.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` into an infallible writer cannot fail; if it somehow
    // did, the partial count still errs toward accepting, and the shape checks
    // that follow still apply.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::manual::MANUAL;
    use super::test_support::{
        alarm_hint, edit, reference, sample, state_hint, variant, PREFIX, SERVER_A, SERVER_B,
    };
    use super::*;

    #[test]
    fn hints_name_their_instance_and_every_trigger_its_source() {
        let alarm = alarm_hint(
            AlarmState::Alarm,
            "web-status",
            SERVER_A,
            "alarm web-status (ALARM)",
        );
        let state = state_hint(InstanceState::Stopped, SERVER_B, None, "EC2 state change");
        let schedule = Trigger::Reconcile {
            groups: None,
            source: "schedule arn:rule".to_string(),
        };
        let manual = Trigger::Manual(ManualCommand::Status {
            group: "web".to_string(),
        });
        let ignored = Trigger::Ignored {
            reason: "nothing to see".to_string(),
        };
        assert_eq!(alarm.instance_id(), Some(SERVER_A));
        assert_eq!(state.instance_id(), Some(SERVER_B));
        for other in [&schedule, &manual, &ignored] {
            assert_eq!(other.instance_id(), None, "{other:?}");
        }
        assert_eq!(alarm.source(), "alarm web-status (ALARM)");
        assert_eq!(state.source(), "EC2 state change");
        assert_eq!(schedule.source(), "schedule arn:rule");
        assert_eq!(manual.source(), "manual");
        assert_eq!(ignored.source(), "event");
    }

    #[test]
    fn only_an_operators_failover_asks_for_a_move_every_other_trigger_for_the_levels() {
        let to_b = Trigger::Manual(ManualCommand::Failover {
            group: "web".to_string(),
            target: Some(SERVER_B.to_string()),
            dry_run: false,
        });
        assert_eq!(
            to_b.intent(),
            Intent::Failover {
                target: Some(SERVER_B.to_string())
            }
        );
        assert_eq!(to_b.source(), "manual failover");
        let alarm = alarm_hint(AlarmState::Alarm, "web-status", SERVER_A, "alarm");
        let state = state_hint(InstanceState::Stopped, SERVER_A, None, "EC2 state change");
        let schedule = Trigger::Reconcile {
            groups: None,
            source: "schedule".to_string(),
        };
        for automatic in [alarm, state, schedule] {
            assert_eq!(automatic.intent(), Intent::Automatic, "{automatic:?}");
        }
    }

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
                &["FIRING", "web-serverA-status-check"],
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
                &["web-serverA-status-check", "InstanceId"],
            ),
            refusal(
                "alarm dimension that is not an instance id",
                edit(
                    alarm_action(),
                    "/alarmData/configuration/metrics/0/metricStat/metric/dimensions/InstanceId",
                    Some(json!("web-1")),
                ),
                "Malformed",
                &["web-1", "InstanceId", "web-serverA-status-check"],
            ),
            refusal(
                "description convention with a bad id",
                edit(
                    alarm_action(),
                    "/alarmData/configuration/description",
                    Some(json!("vip-failover:instance=i-zzz")),
                ),
                "Malformed",
                &["i-zzz", "vip-failover:instance="],
            ),
            refusal(
                "description naming two instances",
                edit(
                    alarm_action(),
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
                sns_with_message("{\"AlarmName\":\"web-serverA-status-check\"}"),
                "Malformed",
                &["NewStateValue", "web-serverA-status-check"],
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
}
