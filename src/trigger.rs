//! The edge: every event the Lambda can receive becomes one typed [`Trigger`]
//! before anything reads or writes EC2, so a malformed or foreign event is refused
//! without side effects.
//!
//! Parsing is deliberately strict about what decides a failover (instance ids,
//! alarm states, manual fields) and lenient about everything else: a route flip
//! must never hinge on a field the decision does not read.

use std::collections::BTreeSet;
use std::io;

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmData};
use aws_lambda_events::event::cloudwatch_events::ec2::InstanceStateChange;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest event accepted (bytes of the serialized JSON); alarms and EventBridge events are a few KB.
///
/// Anything bigger is not one of our events, and refusing it before walking it
/// keeps a stray payload from costing memory or time.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Longest group name accepted; group names are tag values, which EC2 caps at 256.
const MAX_GROUP_CHARS: usize = 256;

/// What asked us to act, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A signal that one instance is failing (alarm in ALARM, instance stopping...).
    InstanceFailed {
        instance_id: String,
        /// Human-readable origin, e.g. `alarm web-a-status (ALARM)`.
        source: String,
    },
    /// A signal that one instance is healthy again (alarm back to OK, instance running).
    /// Only matters for groups with preemption enabled.
    InstanceRecovered { instance_id: String, source: String },
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

// Shape names used in `Malformed`, so an operator can tell which parser refused the event.
const MANUAL: &str = "manual";
const ALARM_ACTION: &str = "CloudWatch alarm action";
const EB_ALARM: &str = "EventBridge alarm state change";
const EB_EC2: &str = "EventBridge EC2 state change";
const EB_SCHEDULE: &str = "EventBridge scheduled";
const EVENTBRIDGE: &str = "EventBridge";
const SNS_ALARM: &str = "SNS alarm notification";

const DETAIL_TYPE_ALARM: &str = "CloudWatch Alarm State Change";
const DETAIL_TYPE_EC2: &str = "EC2 Instance State-change Notification";
const DETAIL_TYPE_SCHEDULE: &str = "Scheduled Event";

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
        return parse_manual(obj);
    }
    if obj.contains_key("alarmData") {
        return parse_alarm_action(event, tag_prefix);
    }
    if obj.contains_key("detail-type") {
        return parse_eventbridge(event, obj, tag_prefix);
    }
    if let Some(records) = obj.get("Records") {
        if is_sns(records) {
            return parse_sns(event, records, tag_prefix);
        }
    }
    Err(TriggerError::UnknownEvent {
        hint: unknown_hint(obj),
    })
}

// ---------------------------------------------------------------------------
// Manual events
// ---------------------------------------------------------------------------

fn parse_manual(obj: &Map<String, Value>) -> Result<Trigger, TriggerError> {
    let action = match obj.get("action") {
        Some(Value::String(action)) => action.as_str(),
        Some(other) => {
            return Err(malformed(
                MANUAL,
                format!(
                    "`action` must be a string such as \"status\", got {}",
                    json_kind(other)
                ),
            ))
        }
        None => return Err(malformed(MANUAL, "`action` is missing")),
    };
    match action {
        "failover" => {
            check_fields(obj, &["action", "group", "target", "dry_run"])?;
            let group = required_group(obj, "group")?;
            let target = match optional(obj, "target") {
                None => None,
                Some(Value::String(id)) => Some(checked_instance_id(id, MANUAL, "`target`")?),
                Some(other) => {
                    return Err(malformed(
                        MANUAL,
                        format!(
                            "`target` must be an instance id string such as \"i-0a1b2c3d4e5f60718\", got {}",
                            json_kind(other)
                        ),
                    ))
                }
            };
            let dry_run = match optional(obj, "dry_run") {
                None => false,
                Some(Value::Bool(flag)) => *flag,
                Some(other) => {
                    return Err(malformed(
                        MANUAL,
                        format!("`dry_run` must be true or false, got {}", json_kind(other)),
                    ))
                }
            };
            Ok(Trigger::Manual(ManualCommand::Failover {
                group,
                target,
                dry_run,
            }))
        }
        "status" => {
            check_fields(obj, &["action", "group"])?;
            Ok(Trigger::Manual(ManualCommand::Status {
                group: required_group(obj, "group")?,
            }))
        }
        "check" => {
            check_fields(obj, &["action", "group"])?;
            Ok(Trigger::Manual(ManualCommand::Check {
                group: required_group(obj, "group")?,
            }))
        }
        "reconcile" => {
            check_fields(obj, &["action", "groups"])?;
            let groups =
                match optional(obj, "groups") {
                    None => None,
                    Some(Value::Array(items)) if items.is_empty() => return Err(malformed(
                        MANUAL,
                        "`groups` is empty; omit it to reconcile every group or list at least one",
                    )),
                    Some(Value::Array(items)) => Some(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| group_name(item, &format!("groups[{i}]")))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(other) => {
                        return Err(malformed(
                            MANUAL,
                            format!(
                                "`groups` must be a list of group names such as [\"web\"], got {}",
                                json_kind(other)
                            ),
                        ))
                    }
                };
            Ok(Trigger::Reconcile {
                groups,
                source: "manual".to_string(),
            })
        }
        other => Err(TriggerError::UnknownAction {
            action: other.to_string(),
        }),
    }
}

/// Rejects unknown keys, because a typo such as `dryrun` silently ignored would
/// turn a rehearsal into a real failover.
fn check_fields(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), TriggerError> {
    let Some(unknown) = obj.keys().find(|key| !allowed.contains(&key.as_str())) else {
        return Ok(());
    };
    // Compare ignoring case, separators and a plural `s`, which covers the
    // slips people make: `dryRun`, `dry-run`, `groups` for `group`.
    let squash = |s: &str| {
        let mut flat: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if flat.ends_with('s') {
            flat.pop();
        }
        flat
    };
    let suggestion = allowed
        .iter()
        .find(|known| squash(known) == squash(unknown))
        .map(|known| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default();
    Err(malformed(
        MANUAL,
        format!(
            "unknown field `{}`{suggestion}; this action accepts {}",
            truncated(unknown),
            allowed
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Treats an explicit `null` like an absent optional field: people writing
/// events by hand use both.
fn optional<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn required_group(obj: &Map<String, Value>, field: &str) -> Result<String, TriggerError> {
    match optional(obj, field) {
        Some(value) => group_name(value, &format!("`{field}`")),
        None => Err(malformed(
            MANUAL,
            format!("`{field}` is missing; name the group, e.g. \"{field}\":\"web\""),
        )),
    }
}

fn group_name(value: &Value, what: &str) -> Result<String, TriggerError> {
    let Value::String(name) = value else {
        return Err(malformed(
            MANUAL,
            format!(
                "{what} must be a group name string such as \"web\", got {}",
                json_kind(value)
            ),
        ));
    };
    if name.trim().is_empty() {
        return Err(malformed(
            MANUAL,
            format!("{what} is empty; name the group, e.g. \"web\""),
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_GROUP_CHARS {
        return Err(malformed(
            MANUAL,
            format!(
                "{what} is {chars} characters; group names are tag values of at most {MAX_GROUP_CHARS}"
            ),
        ));
    }
    Ok(name.clone())
}

// ---------------------------------------------------------------------------
// CloudWatch alarms (Lambda action, EventBridge, SNS)
// ---------------------------------------------------------------------------

/// What every alarm shape reduces to before the instance is resolved.
struct AlarmFacts<'a> {
    name: &'a str,
    state: AlarmState,
    description: Option<&'a str>,
    /// Instance ids found in the alarm's metric dimensions, in order, unvalidated.
    dimension_ids: Vec<&'a str>,
    shape: &'static str,
    /// Appended to the trigger source so logs show which channel delivered the alarm.
    via: &'static str,
}

/// The alarm's direct Lambda action. The crate's generic `CloudWatchAlarm` is
/// used with a `Value` configuration because its metric-alarm configuration
/// type requires `metricStat` on every metric and so refuses metric-math alarms.
fn parse_alarm_action(event: &Value, tag_prefix: &str) -> Result<Trigger, TriggerError> {
    if let Some(source) = event.get("source") {
        if source.as_str() != Some("aws.cloudwatch") {
            return Err(malformed(
                ALARM_ACTION,
                format!(
                    "has alarmData but source is {}, expected \"aws.cloudwatch\"",
                    short_json(source)
                ),
            ));
        }
    }
    let raw = event.get("alarmData").unwrap_or(&Value::Null);
    let state = raw_alarm_state(raw, "alarmData", ALARM_ACTION)?;
    let alarm: CloudWatchAlarm<Value, Value> =
        serde_json::from_value(event.clone()).map_err(|e| {
            malformed(
                ALARM_ACTION,
                format!("{e} (in the alarm event or its alarmData)"),
            )
        })?;
    let facts = alarm_facts(&alarm.alarm_data, state, "alarmData", ALARM_ACTION, "")?;
    alarm_trigger(&facts, tag_prefix)
}

/// The states an alarm can report; anything else is refused rather than guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmState {
    fn as_str(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// Reads `state.value` from the raw payload before any typed parsing: the crate
/// defaults a missing value to OK, and a recovery signal must never be
/// invented; its own error for an unknown state would not name the alarm.
fn raw_alarm_state(
    raw: &Value,
    path: &str,
    shape: &'static str,
) -> Result<AlarmState, TriggerError> {
    let alarm = raw.get("alarmName").and_then(Value::as_str);
    alarm_state(
        raw.pointer("/state/value"),
        &format!("{path}.state.value"),
        alarm,
        shape,
    )
}

fn alarm_state(
    value: Option<&Value>,
    field: &str,
    alarm: Option<&str>,
    shape: &'static str,
) -> Result<AlarmState, TriggerError> {
    let of_alarm = alarm
        .map(|name| format!(" of alarm {name}"))
        .unwrap_or_default();
    match value {
        Some(Value::String(state)) => match state.as_str() {
            "ALARM" => Ok(AlarmState::Alarm),
            "OK" => Ok(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Ok(AlarmState::InsufficientData),
            other => Err(malformed(
                shape,
                format!(
                    "{field}{of_alarm} is {:?}; expected ALARM, OK or INSUFFICIENT_DATA",
                    truncated(other)
                ),
            )),
        },
        None | Some(Value::Null) => Err(malformed(shape, format!("{field}{of_alarm} is missing"))),
        Some(other) => Err(malformed(
            shape,
            format!(
                "{field}{of_alarm} must be a string such as \"ALARM\", got {}",
                json_kind(other)
            ),
        )),
    }
}

/// The fields of a CloudWatch alarm payload (Lambda action `alarmData` or
/// EventBridge `detail`, which share one camelCase shape) that the decision reads.
fn alarm_facts<'a>(
    data: &'a CloudWatchAlarmData<Value, Value>,
    state: AlarmState,
    path: &str,
    shape: &'static str,
    via: &'static str,
) -> Result<AlarmFacts<'a>, TriggerError> {
    let config = &data.configuration;
    let description = match config.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.as_str()),
        Some(other) => {
            return Err(malformed(
                shape,
                format!(
                    "{path}.configuration.description must be a string, got {}",
                    json_kind(other)
                ),
            ))
        }
    };
    let mut dimension_ids = Vec::new();
    if let Some(metrics) = config.get("metrics").and_then(Value::as_array) {
        for (i, metric) in metrics.iter().enumerate() {
            match metric.pointer("/metricStat/metric/dimensions/InstanceId") {
                None | Some(Value::Null) => {}
                Some(Value::String(id)) => dimension_ids.push(id.as_str()),
                Some(other) => {
                    return Err(malformed(
                        shape,
                        format!(
                            "{path}.configuration.metrics[{i}] has an InstanceId dimension that is {}, not a string",
                            json_kind(other)
                        ),
                    ))
                }
            }
        }
    }
    Ok(AlarmFacts {
        name: &data.alarm_name,
        state,
        description,
        dimension_ids,
        shape,
        via,
    })
}

/// Maps an alarm state to a trigger. The instance is resolved even for
/// INSUFFICIENT_DATA so a misconfigured alarm surfaces before it first fires.
fn alarm_trigger(facts: &AlarmFacts<'_>, tag_prefix: &str) -> Result<Trigger, TriggerError> {
    let instance_id = alarm_instance(facts, tag_prefix)?;
    let source = format!(
        "alarm {} ({}){}",
        facts.name,
        facts.state.as_str(),
        facts.via
    );
    Ok(match facts.state {
        AlarmState::Alarm => Trigger::InstanceFailed {
            instance_id,
            source,
        },
        AlarmState::Ok => Trigger::InstanceRecovered {
            instance_id,
            source,
        },
        AlarmState::InsufficientData => Trigger::Ignored {
            reason: format!(
                "{source}: alarm on {instance_id} has no data to judge health by, so nothing changes"
            ),
        },
    })
}

/// Which instance an alarm speaks for. The description convention wins because
/// it is the operator's explicit statement (and the only way to disambiguate a
/// metric-math alarm over several instances); then the metric dimensions; then
/// an id embedded in the alarm name, which is all a composite alarm may have.
fn alarm_instance(facts: &AlarmFacts<'_>, tag_prefix: &str) -> Result<String, TriggerError> {
    let key = format!("{tag_prefix}instance=");
    if let Some(id) = described_instance(facts, &key)? {
        return Ok(id);
    }
    let mut from_dimensions = BTreeSet::new();
    for id in &facts.dimension_ids {
        from_dimensions.insert(checked_instance_id(
            id,
            facts.shape,
            &format!("the InstanceId dimension of alarm {}", facts.name),
        )?);
    }
    if let Some(id) = single(
        from_dimensions,
        facts,
        &key,
        "its metrics' InstanceId dimensions",
    )? {
        return Ok(id);
    }
    let from_name: BTreeSet<String> = ids_in_text(facts.name).into_iter().collect();
    if let Some(id) = single(from_name, facts, &key, "its name")? {
        return Ok(id);
    }
    Err(TriggerError::AlarmWithoutInstance {
        alarm: facts.name.to_string(),
        key,
    })
}

/// Reads every `{prefix}instance=` occurrence; they must agree, since a
/// description naming two instances is a copy-paste slip, not a choice.
fn described_instance(facts: &AlarmFacts<'_>, key: &str) -> Result<Option<String>, TriggerError> {
    let Some(description) = facts.description else {
        return Ok(None);
    };
    let mut found = BTreeSet::new();
    for (at, _) in description.match_indices(key) {
        let rest = &description[at + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        found.insert(checked_instance_id(
            &rest[..end],
            facts.shape,
            &format!("`{key}` in the description of alarm {}", facts.name),
        )?);
    }
    single(found, facts, key, &format!("`{key}` in its description"))
}

fn single(
    ids: BTreeSet<String>,
    facts: &AlarmFacts<'_>,
    key: &str,
    origin: &str,
) -> Result<Option<String>, TriggerError> {
    if ids.len() > 1 {
        return Err(malformed(
            facts.shape,
            format!(
                "alarm {} names several instances ({}) through {origin}; failover needs one, so put `{key}i-...` in its description or split the alarm",
                facts.name,
                ids.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(ids.into_iter().next())
}

/// Finds well-formed instance ids standing as their own token in free text
/// (e.g. `web-i-0a1b2c3d4e5f60718-status`), without a regex crate.
fn ids_in_text(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut ids = Vec::new();
    for (at, _) in text.match_indices("i-") {
        if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &text[at + 2..];
        let hex_len = rest
            .find(|c: char| !matches!(c, '0'..='9' | 'a'..='f'))
            .unwrap_or(rest.len());
        let ends_token = rest[hex_len..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if ends_token && is_instance_id(&text[at..at + 2 + hex_len]) {
            ids.push(text[at..at + 2 + hex_len].to_string());
        }
    }
    ids
}

// ---------------------------------------------------------------------------
// EventBridge
// ---------------------------------------------------------------------------

/// The rule routes on `detail-type`, but the `source` is checked too: only AWS
/// may emit `aws.*` sources, so a look-alike event put on a custom bus by some
/// application cannot move the VIP.
fn parse_eventbridge(
    event: &Value,
    obj: &Map<String, Value>,
    tag_prefix: &str,
) -> Result<Trigger, TriggerError> {
    let (Some(detail_type), Some(source)) = (
        obj.get("detail-type").and_then(Value::as_str),
        obj.get("source").and_then(Value::as_str),
    ) else {
        return Err(malformed(
            EVENTBRIDGE,
            "`detail-type` and `source` must both be strings",
        ));
    };
    let expected_source = match detail_type {
        DETAIL_TYPE_ALARM => "aws.cloudwatch",
        DETAIL_TYPE_EC2 => "aws.ec2",
        DETAIL_TYPE_SCHEDULE => "aws.events",
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
    let shape = match detail_type {
        DETAIL_TYPE_ALARM => EB_ALARM,
        DETAIL_TYPE_EC2 => EB_EC2,
        _ => EB_SCHEDULE,
    };
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(event.clone()).map_err(|e| malformed(shape, e.to_string()))?;
    match detail_type {
        DETAIL_TYPE_ALARM => {
            let state = raw_alarm_state(&envelope.detail, "detail", EB_ALARM)?;
            let data: CloudWatchAlarmData<Value, Value> =
                serde_json::from_value(envelope.detail.clone())
                    .map_err(|e| malformed(EB_ALARM, format!("{e} (in detail)")))?;
            let facts = alarm_facts(&data, state, "detail", EB_ALARM, " via EventBridge")?;
            alarm_trigger(&facts, tag_prefix)
        }
        DETAIL_TYPE_EC2 => ec2_state_change(envelope.detail),
        _ => {
            let rule = envelope
                .resources
                .as_ref()
                .and_then(|r| r.first())
                .map(|arn| format!(" {arn}"))
                .unwrap_or_default();
            Ok(Trigger::Reconcile {
                groups: None,
                source: format!("schedule{rule}"),
            })
        }
    }
}

/// A stop or termination is failure we can see before any health alarm fires;
/// `pending`/`running` count as recovery so preempting groups can fail back.
fn ec2_state_change(detail: Value) -> Result<Trigger, TriggerError> {
    let change: InstanceStateChange = serde_json::from_value(detail).map_err(|e| {
        malformed(
            EB_EC2,
            format!("{e} (detail needs string fields `instance-id` and `state`)"),
        )
    })?;
    let instance_id = checked_instance_id(&change.instance_id, EB_EC2, "detail.instance-id")?;
    let source = format!("EC2 state change {instance_id} ({})", change.state);
    Ok(match change.state.as_str() {
        "stopping" | "stopped" | "shutting-down" | "terminated" => Trigger::InstanceFailed {
            instance_id,
            source,
        },
        "pending" | "running" => Trigger::InstanceRecovered {
            instance_id,
            source,
        },
        other => Trigger::Ignored {
            reason: format!(
                "{source}: state {:?} says nothing about health",
                truncated(other)
            ),
        },
    })
}

// ---------------------------------------------------------------------------
// SNS
// ---------------------------------------------------------------------------

fn is_sns(records: &Value) -> bool {
    records.get(0).is_some_and(|r| {
        r.get("EventSource").and_then(Value::as_str) == Some("aws:sns") || r.get("Sns").is_some()
    })
}

/// SNS invokes Lambda with one record per message, so more than one means the
/// event was assembled by hand and which alarm it speaks for is unclear.
///
/// The envelope uses the crate's `SnsEvent`; the message itself is read as
/// JSON because the crate's alarm payload type requires a `Trigger` and a
/// string `AlarmDescription`, which composite alarms and alarms without a
/// description do not have.
fn parse_sns(event: &Value, records: &Value, tag_prefix: &str) -> Result<Trigger, TriggerError> {
    let count = records.as_array().map_or(0, Vec::len);
    if count != 1 {
        return Err(malformed(
            SNS_ALARM,
            format!("Records holds {count} records; SNS delivers exactly one per invocation"),
        ));
    }
    let sns: SnsEvent = serde_json::from_value(event.clone())
        .map_err(|e| malformed(SNS_ALARM, format!("{e} (in Records[0])")))?;
    let Some(record) = sns.records.first() else {
        return Err(malformed(SNS_ALARM, "Records is empty"));
    };
    if record.event_source != "aws:sns" {
        return Err(malformed(
            SNS_ALARM,
            format!(
                "Records[0].EventSource is {:?}, expected \"aws:sns\"",
                truncated(&record.event_source)
            ),
        ));
    }
    let message: Value = serde_json::from_str(&record.sns.message).map_err(|e| {
        malformed(
            SNS_ALARM,
            format!("Records[0].Sns.Message is not JSON ({e}); subscribe vip-failover only to topics that carry CloudWatch alarm notifications"),
        )
    })?;
    let name = match message.get("AlarmName") {
        Some(Value::String(name)) => name.as_str(),
        _ => {
            return Err(malformed(
                SNS_ALARM,
                "Records[0].Sns.Message has no string AlarmName, so it is not a CloudWatch alarm notification",
            ))
        }
    };
    let state = alarm_state(
        message.get("NewStateValue"),
        "Sns.Message NewStateValue",
        Some(name),
        SNS_ALARM,
    )?;
    let description = match message.get("AlarmDescription") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.as_str()),
        Some(other) => {
            return Err(malformed(
                SNS_ALARM,
                format!(
                    "alarm {name}: AlarmDescription must be a string, got {}",
                    json_kind(other)
                ),
            ))
        }
    };
    let mut dimension_ids = Vec::new();
    if let Some(trigger) = message.get("Trigger") {
        sns_instance_dimensions(trigger.get("Dimensions"), name, &mut dimension_ids)?;
        if let Some(metrics) = trigger.get("Metrics").and_then(Value::as_array) {
            for metric in metrics {
                sns_instance_dimensions(
                    metric.pointer("/MetricStat/Metric/Dimensions"),
                    name,
                    &mut dimension_ids,
                )?;
            }
        }
    }
    let facts = AlarmFacts {
        name,
        state,
        description,
        dimension_ids,
        shape: SNS_ALARM,
        via: " via SNS",
    };
    alarm_trigger(&facts, tag_prefix)
}

/// SNS alarm notifications spell dimension keys `name`/`value`, while the
/// CloudWatch API spells them `Name`/`Value`; accept both.
fn sns_instance_dimensions<'a>(
    dimensions: Option<&'a Value>,
    alarm: &str,
    out: &mut Vec<&'a str>,
) -> Result<(), TriggerError> {
    let Some(dimensions) = dimensions.and_then(Value::as_array) else {
        return Ok(());
    };
    for dimension in dimensions {
        let field =
            |lower: &str, upper: &str| dimension.get(lower).or_else(|| dimension.get(upper));
        if field("name", "Name").and_then(Value::as_str) != Some("InstanceId") {
            continue;
        }
        match field("value", "Value") {
            Some(Value::String(id)) => out.push(id.as_str()),
            other => {
                return Err(malformed(
                    SNS_ALARM,
                    format!(
                        "alarm {alarm} has an InstanceId dimension whose value is {}, not a string",
                        other.map_or("missing", json_kind)
                    ),
                ))
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Unknown events
// ---------------------------------------------------------------------------

/// Names the likely origin of a foreign event, since the usual cause is a
/// trigger wired to the wrong function.
fn unknown_hint(obj: &Map<String, Value>) -> String {
    if let Some(records) = obj.get("Records") {
        let source = records
            .get(0)
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        return match source {
            Some("aws:s3") => "looks like an S3 event notification (Records[0].eventSource \"aws:s3\"); remove the S3 trigger from vip-failover".to_string(),
            Some("aws:sqs") => "looks like an SQS message batch (Records[0].eventSource \"aws:sqs\"); vip-failover is not an SQS consumer, use an SNS subscription or a direct alarm action".to_string(),
            Some(other) => format!("Records[0].eventSource is {:?}, which vip-failover does not consume", truncated(other)),
            None => "has Records but no recognisable record (no EventSource \"aws:sns\" or Sns key)".to_string(),
        };
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

fn malformed(shape: &'static str, detail: impl Into<String>) -> TriggerError {
    TriggerError::Malformed {
        shape,
        detail: detail.into(),
    }
}

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
    use super::*;
    use serde_json::json;

    const PREFIX: &str = "vip-failover:";
    const SERVER_A: &str = "i-0a1b2c3d4e5f60718";
    const SERVER_B: &str = "i-0f1e2d3c4b5a69788";

    fn load(dir: &str, name: &str) -> Value {
        let path = format!("{}/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    }

    fn reference(name: &str) -> Value {
        load("tests/fixtures/reference-events", name)
    }

    fn sample(name: &str) -> Value {
        load("events", name)
    }

    /// Returns `event` with the value at JSON pointer `at` replaced (or removed when `None`).
    fn edit(mut event: Value, at: &str, new: Option<Value>) -> Value {
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

    fn failed(id: &str, source: &str) -> Trigger {
        Trigger::InstanceFailed {
            instance_id: id.to_string(),
            source: source.to_string(),
        }
    }

    fn recovered(id: &str, source: &str) -> Trigger {
        Trigger::InstanceRecovered {
            instance_id: id.to_string(),
            source: source.to_string(),
        }
    }

    fn failover(target: Option<&str>, dry_run: bool) -> Trigger {
        Trigger::Manual(ManualCommand::Failover {
            group: "web".to_string(),
            target: target.map(str::to_string),
            dry_run,
        })
    }

    fn without_instance(alarm: &str) -> TriggerError {
        TriggerError::AlarmWithoutInstance {
            alarm: alarm.to_string(),
            key: format!("{PREFIX}instance="),
        }
    }

    fn variant(error: &TriggerError) -> &'static str {
        match error {
            TriggerError::NotAnObject { .. } => "NotAnObject",
            TriggerError::UnknownEvent { .. } => "UnknownEvent",
            TriggerError::Malformed { .. } => "Malformed",
            TriggerError::AlarmWithoutInstance { .. } => "AlarmWithoutInstance",
            TriggerError::UnknownAction { .. } => "UnknownAction",
            TriggerError::TooLarge { .. } => "TooLarge",
        }
    }

    // -- Contract: public sample events from AWS docs and other projects ------

    #[test]
    fn every_reference_event_yields_its_documented_outcome() {
        type Expected = Result<Trigger, TriggerError>;
        let table: Vec<(&str, Expected)> = vec![
            (
                "cloudwatch-alarm-lambda-action.metric.rust-runtime.json",
                Ok(failed("i-12345678", "alarm lambda-demo-metric-alarm (ALARM)")),
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
                Ok(failed(
                    "i-12345678901234567",
                    "alarm ServerCpuTooHigh (ALARM) via EventBridge",
                )),
            ),
            (
                // Two metricStat metrics naming the same instance count once.
                "eventbridge-cloudwatch-alarm-state-change.metric-math.awsdocs.json",
                Ok(failed(
                    "i-12345678901234567",
                    "alarm TotalNetworkTrafficTooHigh (ALARM) via EventBridge",
                )),
            ),
            (
                "eventbridge-ec2-instance-state-change.pending.awsdocs.json",
                Ok(recovered("i-abcd1111", "EC2 state change i-abcd1111 (pending)")),
            ),
            (
                "eventbridge-ec2-instance-state-change.pending.rust-runtime.json",
                Ok(recovered("i-abcd1111", "EC2 state change i-abcd1111 (pending)")),
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
        ];

        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference-events"
        );
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("reference-events dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut tested: Vec<String> = table.iter().map(|(f, _)| f.to_string()).collect();
        tested.sort();
        assert_eq!(
            on_disk, tested,
            "every reference fixture needs an expectation"
        );

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
                Ok(failed(SERVER_A, "alarm EXAMPLE (ALARM) via SNS")),
                "{file}"
            );
        }
    }

    #[test]
    fn reference_events_are_byte_for_byte_copies_with_their_readme() {
        let copy = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference-events"
        );
        let readme = std::fs::read_to_string(format!("{copy}/README.md")).expect("README.md");
        for entry in std::fs::read_dir(copy).expect("dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".json") {
                assert!(readme.contains(&name), "README.md does not describe {name}");
            }
        }
    }

    // -- User-facing samples in events/ ---------------------------------------

    #[test]
    fn every_sample_in_events_dir_parses_to_what_its_name_promises() {
        let table: Vec<(&str, Trigger)> = vec![
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
                "alarm-lambda-action.json",
                failed(SERVER_A, "alarm web-serverA-status-check (ALARM)"),
            ),
            (
                "alarm-lambda-action-metric-math.json",
                failed(SERVER_A, "alarm web-serverA-network-silent (ALARM)"),
            ),
            (
                "alarm-lambda-action-composite.json",
                failed(SERVER_A, "alarm web-serverA-unhealthy (ALARM)"),
            ),
            (
                "eventbridge-alarm-state-change.json",
                recovered(
                    SERVER_A,
                    "alarm web-serverA-status-check (OK) via EventBridge",
                ),
            ),
            (
                "eventbridge-ec2-state-change-stopped.json",
                failed(SERVER_A, "EC2 state change i-0a1b2c3d4e5f60718 (stopped)"),
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
            (
                "sns-alarm-notification.json",
                failed(SERVER_A, "alarm web-serverA-status-check (ALARM) via SNS"),
            ),
        ];

        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/events");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("events dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        on_disk.sort();
        let mut tested: Vec<String> = table.iter().map(|(f, _)| f.to_string()).collect();
        tested.sort();
        assert_eq!(
            on_disk, tested,
            "every file in events/ needs an expectation here"
        );

        for (file, expected) in table {
            assert_eq!(parse(&sample(file), PREFIX), Ok(expected), "events/{file}");
        }
    }

    // -- Scenarios beyond the samples ----------------------------------------

    #[test]
    fn alarm_entering_insufficient_data_changes_nothing() {
        let event = edit(
            sample("alarm-lambda-action.json"),
            "/alarmData/state/value",
            Some(json!("INSUFFICIENT_DATA")),
        );
        let Ok(Trigger::Ignored { reason }) = parse(&event, PREFIX) else {
            panic!("INSUFFICIENT_DATA must be ignored");
        };
        assert!(reason.contains("web-serverA-status-check"), "{reason}");
        assert!(reason.contains(SERVER_A), "{reason}");
    }

    #[test]
    fn alarm_returning_to_ok_reports_recovery_on_every_channel() {
        let action = edit(
            sample("alarm-lambda-action.json"),
            "/alarmData/state/value",
            Some(json!("OK")),
        );
        assert_eq!(
            parse(&action, PREFIX),
            Ok(recovered(SERVER_A, "alarm web-serverA-status-check (OK)"))
        );
        let mut sns = sample("sns-alarm-notification.json");
        let message = sns["Records"][0]["Sns"]["Message"]
            .as_str()
            .expect("Message");
        sns["Records"][0]["Sns"]["Message"] =
            json!(message.replace("\"NewStateValue\":\"ALARM\"", "\"NewStateValue\":\"OK\""));
        assert_eq!(
            parse(&sns, PREFIX),
            Ok(recovered(
                SERVER_A,
                "alarm web-serverA-status-check (OK) via SNS"
            ))
        );
    }

    #[test]
    fn composite_alarm_without_description_falls_back_to_an_id_in_its_name() {
        let event = edit(
            sample("alarm-lambda-action-composite.json"),
            "/alarmData/configuration/description",
            None,
        );
        let event = edit(
            event,
            "/alarmData/alarmName",
            Some(json!("web-i-0a1b2c3d4e5f60718-unhealthy")),
        );
        assert_eq!(
            parse(&event, PREFIX),
            Ok(failed(
                SERVER_A,
                "alarm web-i-0a1b2c3d4e5f60718-unhealthy (ALARM)"
            ))
        );
    }

    #[test]
    fn description_convention_overrides_metric_dimensions() {
        // An operator who writes the convention means it, even on a metric alarm.
        let event = edit(
            sample("alarm-lambda-action.json"),
            "/alarmData/configuration/description",
            Some(json!(format!(
                "Watch B through A. vip-failover:instance={SERVER_B}."
            ))),
        );
        assert_eq!(
            parse(&event, PREFIX),
            Ok(failed(SERVER_B, "alarm web-serverA-status-check (ALARM)"))
        );
    }

    #[test]
    fn description_convention_follows_the_configured_tag_prefix() {
        let event = sample("alarm-lambda-action-composite.json");
        let refused = parse(&event, "ha:").unwrap_err();
        assert_eq!(
            refused,
            TriggerError::AlarmWithoutInstance {
                alarm: "web-serverA-unhealthy".to_string(),
                key: "ha:instance=".to_string(),
            }
        );
        // The fix it suggests uses the configured prefix.
        assert!(refused.to_string().contains("`ha:instance=i-"), "{refused}");
        let event = edit(
            event,
            "/alarmData/configuration/description",
            Some(json!(format!("ha:instance={SERVER_A}"))),
        );
        assert_eq!(
            parse(&event, "ha:"),
            Ok(failed(SERVER_A, "alarm web-serverA-unhealthy (ALARM)"))
        );
    }

    #[test]
    fn eventbridge_composite_alarm_uses_its_description() {
        let event = edit(
            sample("eventbridge-alarm-state-change.json"),
            "/detail/configuration",
            Some(json!({
                "alarmRule": "ALARM(\"web-serverA-status-check\")",
                "description": format!("vip-failover:instance={SERVER_A}")
            })),
        );
        assert_eq!(
            parse(&event, PREFIX),
            Ok(recovered(
                SERVER_A,
                "alarm web-serverA-status-check (OK) via EventBridge"
            ))
        );
    }

    #[test]
    fn sns_alarm_accepts_capitalised_dimension_keys_and_null_description() {
        let mut event = sample("sns-alarm-notification.json");
        let mut message: Value = serde_json::from_str(
            event["Records"][0]["Sns"]["Message"]
                .as_str()
                .expect("Message"),
        )
        .expect("JSON message");
        message["Trigger"]["Dimensions"] = json!([{"Name": "InstanceId", "Value": SERVER_A}]);
        message["AlarmDescription"] = Value::Null;
        event["Records"][0]["Sns"]["Message"] = json!(message.to_string());
        assert_eq!(
            parse(&event, PREFIX),
            Ok(failed(
                SERVER_A,
                "alarm web-serverA-status-check (ALARM) via SNS"
            ))
        );
    }

    #[test]
    fn ec2_lifecycle_states_map_to_failure_recovery_or_nothing() {
        for (state, outcome) in [
            ("pending", "recovered"),
            ("running", "recovered"),
            ("stopping", "failed"),
            ("stopped", "failed"),
            ("shutting-down", "failed"),
            ("terminated", "failed"),
            ("rebooting", "ignored"),
        ] {
            let event = edit(
                sample("eventbridge-ec2-state-change-stopped.json"),
                "/detail/state",
                Some(json!(state)),
            );
            let source = format!("EC2 state change {SERVER_A} ({state})");
            let got = parse(&event, PREFIX);
            match outcome {
                "recovered" => assert_eq!(got, Ok(recovered(SERVER_A, &source)), "{state}"),
                "failed" => assert_eq!(got, Ok(failed(SERVER_A, &source)), "{state}"),
                _ => assert!(
                    matches!(&got, Ok(Trigger::Ignored { reason }) if reason.contains(state)),
                    "{state}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn scheduled_rule_may_send_constant_reconcile_input() {
        assert_eq!(
            parse(&json!({"action": "reconcile"}), PREFIX),
            Ok(Trigger::Reconcile {
                groups: None,
                source: "manual".to_string()
            })
        );
        assert_eq!(
            parse(
                &json!({"action": "reconcile", "groups": ["web", "db"]}),
                PREFIX
            ),
            Ok(Trigger::Reconcile {
                groups: Some(vec!["web".to_string(), "db".to_string()]),
                source: "manual".to_string()
            })
        );
    }

    #[test]
    fn operator_may_write_null_for_optional_fields() {
        assert_eq!(
            parse(
                &json!({"action": "failover", "group": "web", "target": null, "dry_run": null}),
                PREFIX
            ),
            Ok(failover(None, false))
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

    #[test]
    fn instance_ids_in_alarm_names_must_stand_alone() {
        assert_eq!(ids_in_text("web-i-12345678-status"), vec!["i-12345678"]);
        assert_eq!(ids_in_text(&format!("{SERVER_A} down")), vec![SERVER_A]);
        assert_eq!(ids_in_text(&format!("(web/{SERVER_A})")), vec![SERVER_A]);
        assert!(ids_in_text("wiki-12345678").is_empty());
        assert!(ids_in_text("i-12345678x").is_empty());
        assert!(ids_in_text("i-123456789").is_empty());
        assert!(ids_in_text("i-").is_empty());
        assert!(ids_in_text("CompositeDemo.Main").is_empty());
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
