//! CloudWatch alarm payloads, whichever channel delivers them (the alarm's own
//! Lambda action, EventBridge, SNS). The rule that maps an alarm to the one
//! instance it speaks for is the domain's ([`crate::alarms`]), shared with the
//! CloudWatch adapter, so an alarm read with DescribeAlarms and the same alarm
//! delivered as an event always name the same instance.

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmData};
use serde_json::Value;

use super::{json_kind, malformed, short_json, truncated, AlarmHint, Trigger, TriggerError};
use crate::alarms::{alarm_instance, AlarmInstanceError};
use crate::world::AlarmState;

/// Shape name of the alarm's direct Lambda action.
pub(super) const ALARM_ACTION: &str = "CloudWatch alarm action";

/// What every alarm shape reduces to before the instance is resolved.
pub(super) struct AlarmFacts<'a> {
    pub(super) name: &'a str,
    pub(super) state: AlarmState,
    pub(super) description: Option<&'a str>,
    /// Instance ids found in the alarm's metric dimensions, in order, unvalidated.
    pub(super) dimension_ids: Vec<&'a str>,
    pub(super) shape: &'static str,
    /// Appended to the trigger source so logs show which channel delivered the alarm.
    pub(super) via: &'static str,
}

/// The alarm's direct Lambda action. The crate's generic `CloudWatchAlarm` is
/// used with a `Value` configuration because its metric-alarm configuration
/// type requires `metricStat` on every metric and so refuses metric-math alarms.
pub(super) fn parse_alarm_action(event: &Value, tag_prefix: &str) -> Result<Trigger, TriggerError> {
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

/// Reads `state.value` from the raw payload before any typed parsing: the crate
/// defaults a missing value to OK, and a recovery signal must never be
/// invented; its own error for an unknown state would not name the alarm.
pub(super) fn raw_alarm_state(
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

/// The states an alarm can report; anything else is refused rather than guessed.
pub(super) fn alarm_state(
    value: Option<&Value>,
    field: &str,
    alarm: Option<&str>,
    shape: &'static str,
) -> Result<AlarmState, TriggerError> {
    let of_alarm = alarm
        .map(|name| format!(" of alarm {name}"))
        .unwrap_or_default();
    match value {
        Some(Value::String(state)) => AlarmState::from_cloudwatch(state).ok_or_else(|| {
            malformed(
                shape,
                format!(
                    "{field}{of_alarm} is {:?}; expected ALARM, OK or INSUFFICIENT_DATA",
                    truncated(state)
                ),
            )
        }),
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
pub(super) fn alarm_facts<'a>(
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
    Ok(AlarmFacts {
        name: &data.alarm_name,
        state,
        description,
        dimension_ids: metric_instance_ids(config, path, shape)?,
        shape,
        via,
    })
}

/// The `InstanceId` dimension of each metric (one for a metric alarm, one per
/// `metricStat` for metric math); expressions and other dimensions are skipped.
fn metric_instance_ids<'a>(
    config: &'a Value,
    path: &str,
    shape: &'static str,
) -> Result<Vec<&'a str>, TriggerError> {
    let mut ids = Vec::new();
    let Some(metrics) = config.get("metrics").and_then(Value::as_array) else {
        return Ok(ids);
    };
    for (i, metric) in metrics.iter().enumerate() {
        match metric.pointer("/metricStat/metric/dimensions/InstanceId") {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) => ids.push(id.as_str()),
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
    Ok(ids)
}

/// Maps an alarm state to a trigger. The instance is resolved even for
/// INSUFFICIENT_DATA so a misconfigured alarm surfaces before it first fires.
pub(super) fn alarm_trigger(
    facts: &AlarmFacts<'_>,
    tag_prefix: &str,
) -> Result<Trigger, TriggerError> {
    let instance_id = alarm_instance(
        facts.name,
        facts.description,
        &facts.dimension_ids,
        tag_prefix,
    )
    .map_err(|e| refusal(e, facts.shape))?;
    let source = format!(
        "alarm {} ({}){}",
        facts.name,
        facts.state.as_str(),
        facts.via
    );
    Ok(match facts.state {
        AlarmState::InsufficientData => Trigger::Ignored {
            reason: format!(
                "{source}: alarm on {instance_id} has no data to judge health by, so nothing changes"
            ),
        },
        state => Trigger::Alarm(AlarmHint {
            alarm: facts.name.to_string(),
            instance_id,
            state,
            source,
        }),
    })
}

/// The domain's refusal, in the words of the channel (`shape`) that delivered
/// the alarm.
fn refusal(error: AlarmInstanceError, shape: &'static str) -> TriggerError {
    match error {
        AlarmInstanceError::Nothing { alarm, key } => {
            TriggerError::AlarmWithoutInstance { alarm, key }
        }
        other => malformed(shape, other.detail()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::trigger::parse;
    use crate::trigger::test_support::{alarm_hint, edit, sample, PREFIX, SERVER_A, SERVER_B};

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
        assert!(
            reason.contains("vip-failover-web-serverA-status-check"),
            "{reason}"
        );
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
            Ok(alarm_hint(
                AlarmState::Ok,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (OK)"
            ))
        );
        let mut sns = sample("sns-alarm-notification.json");
        let message = sns["Records"][0]["Sns"]["Message"]
            .as_str()
            .expect("Message");
        sns["Records"][0]["Sns"]["Message"] =
            json!(message.replace("\"NewStateValue\":\"ALARM\"", "\"NewStateValue\":\"OK\""));
        assert_eq!(
            parse(&sns, PREFIX),
            Ok(alarm_hint(
                AlarmState::Ok,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (OK) via SNS"
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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "web-i-0a1b2c3d4e5f60718-unhealthy",
                SERVER_A,
                "alarm web-i-0a1b2c3d4e5f60718-unhealthy (ALARM)"
            ))
        );
    }

    #[test]
    fn a_metric_alarms_own_instance_wins_over_the_description_convention() {
        // Whoever may edit descriptions must not point an alarm at another member.
        let event = edit(
            sample("alarm-lambda-action.json"),
            "/alarmData/configuration/description",
            Some(json!(format!(
                "Watch B through A. vip-failover:instance={SERVER_B}."
            ))),
        );
        assert_eq!(
            parse(&event, PREFIX),
            Ok(alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (ALARM)"
            ))
        );
    }

    #[test]
    fn description_convention_follows_the_configured_tag_prefix() {
        let event = sample("alarm-lambda-action-composite.json");
        let refused = parse(&event, "ha:").unwrap_err();
        assert_eq!(
            refused,
            TriggerError::AlarmWithoutInstance {
                alarm: "vip-failover-web-serverA-unhealthy".to_string(),
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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-unhealthy",
                SERVER_A,
                "alarm vip-failover-web-serverA-unhealthy (ALARM)"
            ))
        );
    }

    #[test]
    fn alarm_instance_agrees_with_the_alarm_events() {
        // The adapter reads the same alarm through DescribeAlarms; it must land on
        // the same instance as the event did.
        let event: Value = sample("alarm-lambda-action-composite.json");
        let description = event
            .pointer("/alarmData/configuration/description")
            .and_then(Value::as_str);
        let by_rule = alarm_instance(
            "vip-failover-web-serverA-unhealthy",
            description,
            &[],
            PREFIX,
        );
        assert_eq!(by_rule, Ok(SERVER_A.to_string()));
        assert_eq!(
            parse(&event, PREFIX).expect("sample parses").instance_id(),
            Some(SERVER_A)
        );
    }
}
