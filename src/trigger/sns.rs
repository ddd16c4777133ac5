//! SNS notifications carrying a CloudWatch alarm's JSON.

use aws_lambda_events::event::sns::SnsEvent;
use serde_json::Value;

use super::alarm::{alarm_state, alarm_trigger, AlarmFacts};
use super::{json_kind, malformed, truncated, Trigger, TriggerError};

/// Shape name used in `Malformed`, so an operator can tell which parser refused the event.
pub(super) const SNS_ALARM: &str = "SNS alarm notification";

/// Whether a `Records` batch is SNS's, so foreign batches (S3, SQS...) get a hint instead.
pub(super) fn is_sns(records: &Value) -> bool {
    records.get(0).is_some_and(|r| {
        r.get("EventSource").and_then(Value::as_str) == Some("aws:sns") || r.get("Sns").is_some()
    })
}

/// Reads the one alarm notification an SNS invocation carries.
pub(super) fn parse_sns(
    event: &Value,
    records: &Value,
    tag_prefix: &str,
) -> Result<Trigger, TriggerError> {
    let message = sns_message(event, records)?;
    let facts = message_facts(&message)?;
    alarm_trigger(&facts, tag_prefix)
}

/// SNS invokes Lambda with one record per message, so more than one means the
/// event was assembled by hand and which alarm it speaks for is unclear.
///
/// The envelope uses the crate's `SnsEvent`; the message itself is read as
/// JSON because the crate's alarm payload type requires a `Trigger` and a
/// string `AlarmDescription`, which composite alarms and alarms without a
/// description do not have.
fn sns_message(event: &Value, records: &Value) -> Result<Value, TriggerError> {
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
    serde_json::from_str(&record.sns.message).map_err(|e| {
        malformed(
            SNS_ALARM,
            format!("Records[0].Sns.Message is not JSON ({e}); subscribe vip-failover only to topics that carry CloudWatch alarm notifications"),
        )
    })
}

/// The alarm notification's PascalCase fields that the decision reads.
fn message_facts(message: &Value) -> Result<AlarmFacts<'_>, TriggerError> {
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
    Ok(AlarmFacts {
        name,
        state,
        description,
        dimension_ids: trigger_instance_ids(message.get("Trigger"), name)?,
        shape: SNS_ALARM,
        via: " via SNS",
    })
}

/// A metric alarm lists its dimensions under `Trigger.Dimensions`, a
/// metric-math alarm under each `Trigger.Metrics[].MetricStat.Metric.Dimensions`.
fn trigger_instance_ids<'a>(
    trigger: Option<&'a Value>,
    alarm: &str,
) -> Result<Vec<&'a str>, TriggerError> {
    let mut ids = Vec::new();
    let Some(trigger) = trigger else {
        return Ok(ids);
    };
    instance_dimensions(trigger.get("Dimensions"), alarm, &mut ids)?;
    if let Some(metrics) = trigger.get("Metrics").and_then(Value::as_array) {
        for metric in metrics {
            instance_dimensions(
                metric.pointer("/MetricStat/Metric/Dimensions"),
                alarm,
                &mut ids,
            )?;
        }
    }
    Ok(ids)
}

/// SNS alarm notifications spell dimension keys `name`/`value`, while the
/// CloudWatch API spells them `Name`/`Value`; accept both.
fn instance_dimensions<'a>(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trigger::parse;
    use crate::trigger::test_support::{alarm_hint, sample, PREFIX, SERVER_A};
    use crate::world::AlarmState;

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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "vip-failover-web-serverA-status-check",
                SERVER_A,
                "alarm vip-failover-web-serverA-status-check (ALARM) via SNS"
            ))
        );
    }
}
