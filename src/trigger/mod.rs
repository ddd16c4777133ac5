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
mod destination;
mod eventbridge;
mod manual;
mod sns;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
pub(crate) mod test_support;

use std::io;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::alarms::{bad_id, is_instance_id, truncated};
use crate::world::{AlarmState, InstanceState};

/// Largest event accepted (bytes of the serialized JSON); alarms and EventBridge events are a few KB.
///
/// Anything bigger is not one of our events, and refusing it before walking it
/// keeps a stray payload from costing memory or time.
pub(crate) const MAX_EVENT_BYTES: usize = 256 * 1024;

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
    /// A probe round's verdicts, delivered by Lambda from the probe function.
    ProbeReport(ProbeReport),
    /// The probe schedule: start a round for every probed group that has none.
    ProbeTick,
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
    /// The instance the alarm speaks for (see [`crate::alarms::alarm_instance`]).
    pub instance_id: String,
    /// ALARM or OK; INSUFFICIENT_DATA never becomes a hint (it is `Ignored`).
    pub state: AlarmState,
    /// Human-readable origin, e.g. `alarm web-status (ALARM) via EventBridge`.
    pub(crate) source: String,
}

/// A probe round's result, as Lambda's invocation record delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The probe invocation's request id.
    pub request_id: String,
    /// The function that probed (the record's `functionArn`).
    pub function: String,
    #[serde(skip)]
    pub result: crate::probe::wire::RoundResult,
}

/// "Instance I is now in state S at time T". A down state is authoritative for
/// that member even when DescribeInstances lags behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateHint {
    pub(crate) instance_id: String,
    /// One of pending, running, stopping, stopped, shutting-down, terminated.
    pub(crate) state: InstanceState,
    /// The event's `time` (RFC 3339), when it carries a valid one: it lets the
    /// decision tell a stale event (delivered late or retried) from a fresh one.
    pub(crate) at: Option<DateTime<Utc>>,
    /// Human-readable origin, e.g. `EC2 state change i-... (stopped)`.
    pub(crate) source: String,
}

impl Trigger {
    /// `alarm`, `instance_state`, `manual`, ...: the kind, as logs name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Alarm(_) => "alarm",
            Self::InstanceState(_) => "instance_state",
            Self::Manual(_) => "manual",
            Self::ProbeReport(_) => "probe_report",
            Self::ProbeTick => "probe_tick",
            Self::Reconcile { .. } => "reconcile",
            Self::Ignored { .. } => "ignored",
        }
    }

    /// The instance an Alarm or InstanceState trigger is about.
    pub(crate) fn instance_id(&self) -> Option<&str> {
        match self {
            Self::Alarm(hint) => Some(&hint.instance_id),
            Self::InstanceState(hint) => Some(&hint.instance_id),
            Self::Manual(_)
            | Self::Reconcile { .. }
            | Self::ProbeReport(_)
            | Self::ProbeTick
            | Self::Ignored { .. } => None,
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
    /// Ends an operator's pin: preemption may move the VIP again.
    Release {
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
    #[error(
        "unknown manual action {action:?}; use one of failover, status, check, release, reconcile, probe"
    )]
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
    if destination::is_record(obj) {
        return destination::parse_record(obj);
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

/// [`is_instance_id`] as a refusal that says where the bad id was (`what`).
fn checked_instance_id(id: &str, shape: &'static str, what: &str) -> Result<String, TriggerError> {
    if is_instance_id(id) {
        Ok(id.to_string())
    } else {
        Err(malformed(shape, bad_id(what, id)))
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
mod tests;
