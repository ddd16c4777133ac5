//! CloudWatch alarm payloads, whichever channel delivers them (the alarm's own
//! Lambda action, EventBridge, SNS), and the rule that maps an alarm to the one
//! instance it speaks for. The CloudWatch adapter reuses that rule through
//! [`alarm_instance`], so an alarm read with DescribeAlarms and the same alarm
//! delivered as an event always name the same instance.

use std::collections::BTreeSet;

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmData};
use serde_json::Value;

use super::{
    checked_instance_id, is_instance_id, json_kind, malformed, short_json, truncated, AlarmHint,
    Trigger, TriggerError,
};
use crate::world::AlarmState;

/// Shape name of the alarm's direct Lambda action.
pub(super) const ALARM_ACTION: &str = "CloudWatch alarm action";
/// Shape name for alarms that arrive as data rather than as an event (DescribeAlarms).
const CLOUDWATCH_ALARM: &str = "CloudWatch alarm";

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
    let resolver = Resolver::new(facts.name, facts.shape, tag_prefix);
    let instance_id = resolver.resolve(facts.description, &facts.dimension_ids)?;
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

/// The instance an alarm speaks for, by the same rules as alarm events: a
/// `{tag_prefix}instance=i-...` in the description wins, then the `InstanceId`
/// dimensions of its metric (or metric-math metrics), then an id standing alone
/// in its name. Errors name the shape "CloudWatch alarm".
pub fn alarm_instance(
    name: &str,
    description: Option<&str>,
    dimension_ids: &[&str],
    tag_prefix: &str,
) -> Result<String, TriggerError> {
    Resolver::new(name, CLOUDWATCH_ALARM, tag_prefix).resolve(description, dimension_ids)
}

/// Resolves one alarm's instance; carries what every refusal names (the alarm,
/// the shape that delivered it, the description key to suggest as the fix).
struct Resolver<'a> {
    alarm: &'a str,
    shape: &'static str,
    /// The description convention's key, e.g. `vip-failover:instance=`.
    key: String,
}

impl<'a> Resolver<'a> {
    fn new(alarm: &'a str, shape: &'static str, tag_prefix: &str) -> Self {
        Self {
            alarm,
            shape,
            key: format!("{tag_prefix}instance="),
        }
    }

    /// The description convention wins because it is the operator's explicit
    /// statement (and the only way to disambiguate a metric-math alarm over
    /// several instances); then the metric dimensions; then an id embedded in
    /// the alarm name, which is all a composite alarm may have.
    fn resolve(
        &self,
        description: Option<&str>,
        dimension_ids: &[&str],
    ) -> Result<String, TriggerError> {
        if let Some(id) = self.described(description)? {
            return Ok(id);
        }
        let mut from_dimensions = BTreeSet::new();
        for id in dimension_ids {
            from_dimensions.insert(checked_instance_id(
                id,
                self.shape,
                &format!("the InstanceId dimension of alarm {}", self.alarm),
            )?);
        }
        if let Some(id) = self.single(from_dimensions, "its metrics' InstanceId dimensions")? {
            return Ok(id);
        }
        let from_name: BTreeSet<String> = ids_in_text(self.alarm).into_iter().collect();
        if let Some(id) = self.single(from_name, "its name")? {
            return Ok(id);
        }
        Err(TriggerError::AlarmWithoutInstance {
            alarm: self.alarm.to_string(),
            key: self.key.clone(),
        })
    }

    /// Reads every `{prefix}instance=` occurrence; they must agree, since a
    /// description naming two instances is a copy-paste slip, not a choice.
    fn described(&self, description: Option<&str>) -> Result<Option<String>, TriggerError> {
        let Some(description) = description else {
            return Ok(None);
        };
        let key = &self.key;
        let mut found = BTreeSet::new();
        for (at, _) in description.match_indices(key.as_str()) {
            let rest = &description[at + key.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(rest.len());
            found.insert(checked_instance_id(
                &rest[..end],
                self.shape,
                &format!("`{key}` in the description of alarm {}", self.alarm),
            )?);
        }
        self.single(found, &format!("`{key}` in its description"))
    }

    /// Failover moves one member, so an alarm naming several instances through
    /// one `origin` is refused with the way to make it name one.
    fn single(&self, ids: BTreeSet<String>, origin: &str) -> Result<Option<String>, TriggerError> {
        if ids.len() > 1 {
            return Err(malformed(
                self.shape,
                format!(
                    "alarm {} names several instances ({}) through {origin}; failover needs one, so put `{}i-...` in its description or split the alarm",
                    self.alarm,
                    ids.into_iter().collect::<Vec<_>>().join(", "),
                    self.key
                ),
            ));
        }
        Ok(ids.into_iter().next())
    }
}

/// Finds well-formed instance ids standing as their own token in free text
/// (e.g. `web-i-0a1b2c3d4e5f60718-status`), without a regex crate.
pub(super) fn ids_in_text(text: &str) -> Vec<String> {
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
            Ok(alarm_hint(
                AlarmState::Ok,
                "web-serverA-status-check",
                SERVER_A,
                "alarm web-serverA-status-check (OK)"
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
                "web-serverA-status-check",
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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "web-i-0a1b2c3d4e5f60718-unhealthy",
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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "web-serverA-status-check",
                SERVER_B,
                "alarm web-serverA-status-check (ALARM)"
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
            Ok(alarm_hint(
                AlarmState::Alarm,
                "web-serverA-unhealthy",
                SERVER_A,
                "alarm web-serverA-unhealthy (ALARM)"
            ))
        );
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

    // -- alarm_instance: the rule as the CloudWatch adapter calls it -----------

    #[test]
    fn alarm_instance_reads_a_metric_alarms_dimensions() {
        assert_eq!(
            alarm_instance("web-serverA-status-check", None, &[SERVER_A], PREFIX),
            Ok(SERVER_A.to_string())
        );
        // A metric-math alarm whose metrics all name one instance names it once.
        assert_eq!(
            alarm_instance(
                "web-traffic",
                Some("all traffic"),
                &[SERVER_A, SERVER_A],
                PREFIX
            ),
            Ok(SERVER_A.to_string())
        );
    }

    #[test]
    fn alarm_instance_prefers_the_description_hint() {
        let description = format!("Watch B through A. {PREFIX}instance={SERVER_B}.");
        assert_eq!(
            alarm_instance(
                "web-serverA-status-check",
                Some(&description),
                &[SERVER_A],
                PREFIX
            ),
            Ok(SERVER_B.to_string())
        );
        // A composite alarm has no dimensions at all.
        assert_eq!(
            alarm_instance("web-unhealthy", Some(&description), &[], PREFIX),
            Ok(SERVER_B.to_string())
        );
    }

    #[test]
    fn alarm_instance_falls_back_to_an_id_in_the_name() {
        assert_eq!(
            alarm_instance(&format!("web-{SERVER_A}-unhealthy"), None, &[], PREFIX),
            Ok(SERVER_A.to_string())
        );
        assert_eq!(
            alarm_instance("web-unhealthy", Some("no hint here"), &[], PREFIX),
            Err(TriggerError::AlarmWithoutInstance {
                alarm: "web-unhealthy".to_string(),
                key: format!("{PREFIX}instance="),
            })
        );
    }

    #[test]
    fn alarm_instance_refuses_an_alarm_over_two_instances() {
        let refusals = [
            alarm_instance("web-pair", None, &[SERVER_A, SERVER_B], PREFIX),
            alarm_instance(
                "web-pair",
                Some(&format!(
                    "{PREFIX}instance={SERVER_A} {PREFIX}instance={SERVER_B}"
                )),
                &[],
                PREFIX,
            ),
            alarm_instance(&format!("{SERVER_A}-or-{SERVER_B}"), None, &[], PREFIX),
        ];
        for refused in refusals {
            let Err(TriggerError::Malformed { shape, detail }) = &refused else {
                panic!("two instances must be refused: {refused:?}");
            };
            assert_eq!(*shape, CLOUDWATCH_ALARM);
            for fragment in [SERVER_A, SERVER_B, "vip-failover:instance=i-..."] {
                assert!(detail.contains(fragment), "{detail}");
            }
        }
    }

    #[test]
    fn alarm_instance_agrees_with_the_alarm_events() {
        // The adapter reads the same alarm through DescribeAlarms; it must land on
        // the same instance as the event did.
        let event: Value = sample("alarm-lambda-action-composite.json");
        let description = event
            .pointer("/alarmData/configuration/description")
            .and_then(Value::as_str);
        let by_rule = alarm_instance("web-serverA-unhealthy", description, &[], PREFIX);
        assert_eq!(by_rule, Ok(SERVER_A.to_string()));
        assert_eq!(
            parse(&event, PREFIX).expect("sample parses").instance_id(),
            Some(SERVER_A)
        );
    }
}
