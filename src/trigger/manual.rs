//! Manual events: what an operator types by hand, so every slip (a wrong type,
//! a misspelt field) is refused with a message that says how to fix it.

use serde_json::{Map, Value};

use super::{
    checked_instance_id, json_kind, malformed, truncated, ManualCommand, Trigger, TriggerError,
};

/// Shape name used in `Malformed`, so an operator can tell which parser refused the event.
pub(super) const MANUAL: &str = "manual";

/// Groups one manual reconcile may name.
const MAX_GROUPS: usize = 100;

/// Longest group name accepted; group names are tag values, which EC2 caps at 256.
const MAX_GROUP_CHARS: usize = 256;

/// Reads a manual event: one small block per action over a [`Fields`] reader.
pub(super) fn parse_manual(obj: &Map<String, Value>) -> Result<Trigger, TriggerError> {
    let action = action(obj)?;
    let mut fields = Fields::new(obj);
    match action {
        "failover" => {
            let group = fields.required_group("group");
            let target = fields.optional_instance_id("target");
            let dry_run = fields.optional_bool("dry_run");
            fields.finish()?;
            Ok(Trigger::Manual(ManualCommand::Failover {
                group: group?,
                target: target?,
                dry_run: dry_run?.unwrap_or(false),
            }))
        }
        "status" => {
            let group = fields.required_group("group");
            fields.finish()?;
            Ok(Trigger::Manual(ManualCommand::Status { group: group? }))
        }
        "check" => {
            let group = fields.required_group("group");
            fields.finish()?;
            Ok(Trigger::Manual(ManualCommand::Check { group: group? }))
        }
        "probe" => {
            fields.finish()?;
            Ok(Trigger::ProbeTick)
        }
        "release" => {
            let group = fields.required_group("group");
            fields.finish()?;
            Ok(Trigger::Manual(ManualCommand::Release { group: group? }))
        }
        "reconcile" => {
            let groups = fields.optional_groups("groups");
            fields.finish()?;
            Ok(Trigger::Reconcile {
                groups: groups?,
                source: "manual".to_string(),
            })
        }
        other => Err(TriggerError::UnknownAction {
            action: other.to_string(),
        }),
    }
}

/// The `action` key routes the event, so it is read before any other field.
fn action(obj: &Map<String, Value>) -> Result<&str, TriggerError> {
    match obj.get("action") {
        Some(Value::String(action)) => Ok(action.as_str()),
        Some(other) => Err(malformed(
            MANUAL,
            format!(
                "`action` must be a string such as \"status\", got {}",
                json_kind(other)
            ),
        )),
        None => Err(malformed(MANUAL, "`action` is missing")),
    }
}

/// The fields of one manual event, read one at a time.
///
/// Each reader declares its field as accepted and returns its own verdict;
/// [`Fields::finish`] then refuses any field no reader declared. Callers check
/// `finish` before using any verdict, so an unknown field is reported first: a
/// typo such as `groups` for `group` reads as "did you mean `group`", not as
/// "`group` is missing".
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    /// The accepted fields in the order they were declared, as the refusal lists them.
    accepted: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            accepted: vec!["action"],
        }
    }

    /// Declares `field` and returns its value. An explicit `null` counts as
    /// absent: people writing events by hand use both.
    fn take(&mut self, field: &'static str) -> Option<&'a Value> {
        self.accepted.push(field);
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// A group name that must be there.
    fn required_group(&mut self, field: &'static str) -> Result<String, TriggerError> {
        match self.take(field) {
            Some(value) => group_name(value, &format!("`{field}`")),
            None => Err(malformed(
                MANUAL,
                format!("`{field}` is missing; name the group, e.g. \"{field}\":\"web\""),
            )),
        }
    }

    /// An instance id, checked here so a typo never reaches the EC2 API.
    fn optional_instance_id(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, TriggerError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(id)) => checked_instance_id(id, MANUAL, &format!("`{field}`")).map(Some),
            Some(other) => Err(malformed(
                MANUAL,
                format!(
                    "`{field}` must be an instance id string such as \"i-0a1b2c3d4e5f60718\", got {}",
                    json_kind(other)
                ),
            )),
        }
    }

    /// A flag; a string such as "yes" is refused rather than read as true.
    fn optional_bool(&mut self, field: &'static str) -> Result<Option<bool>, TriggerError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(malformed(
                MANUAL,
                format!("`{field}` must be true or false, got {}", json_kind(other)),
            )),
        }
    }

    /// A non-empty list of group names; absent means every group, while an
    /// empty list is refused because it more likely means a bug than "none".
    fn optional_groups(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Vec<String>>, TriggerError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Array(items)) if items.is_empty() => Err(malformed(
                MANUAL,
                format!(
                    "`{field}` is empty; omit it to reconcile every group or list at least one"
                ),
            )),
            Some(Value::Array(items)) if items.len() > MAX_GROUPS => Err(malformed(
                MANUAL,
                format!(
                    "`{field}` lists {} groups, more than the {MAX_GROUPS} one reconcile runs; omit it to reconcile every group",
                    items.len()
                ),
            )),
            Some(Value::Array(items)) => {
                // One run per group: ["web", " web"] is one group, and two
                // concurrent writers for it would race each other.
                let mut names: Vec<String> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let name = group_name(item, &format!("{field}[{i}]"))?.trim().to_string();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                Ok(Some(names))
            }
            Some(other) => Err(malformed(
                MANUAL,
                format!(
                    "`{field}` must be a list of group names such as [\"web\"], got {}",
                    json_kind(other)
                ),
            )),
        }
    }

    /// Rejects unknown keys, because a typo such as `dryrun` silently ignored
    /// would turn a rehearsal into a real failover.
    fn finish(self) -> Result<(), TriggerError> {
        let Some(unknown) = self
            .obj
            .keys()
            .find(|key| !self.accepted.contains(&key.as_str()))
        else {
            return Ok(());
        };
        let suggestion = self
            .accepted
            .iter()
            .find(|known| squash(known) == squash(unknown))
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        Err(malformed(
            MANUAL,
            format!(
                "unknown field `{}`{suggestion}; this action accepts {}",
                truncated(unknown),
                self.accepted
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// Flattens a field name for the did-you-mean hint, ignoring case, separators
/// and a plural `s`, which covers the slips people make: `dryRun`, `dry-run`,
/// `groups` for `group`.
fn squash(field: &str) -> String {
    let mut flat: String = field
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if flat.ends_with('s') {
        flat.pop();
    }
    flat
}

/// A group name is a tag value: a non-blank string of at most 256 characters.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trigger::parse;
    use crate::trigger::test_support::{failover, PREFIX};

    #[test]
    fn a_reconcile_runs_each_group_once_and_refuses_a_list_too_long() {
        let event = json!({"action": "reconcile", "groups": ["web", " web", "db", "web "]});
        assert_eq!(
            parse(&event, PREFIX),
            Ok(Trigger::Reconcile {
                groups: Some(vec!["web".to_string(), "db".to_string()]),
                source: "manual".to_string(),
            })
        );
        let many: Vec<String> = (0..101).map(|i| format!("g{i}")).collect();
        let err = parse(&json!({"action": "reconcile", "groups": many}), PREFIX).unwrap_err();
        assert!(err.to_string().contains("101 groups"), "{err}");
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
    fn an_unknown_field_is_reported_before_the_fields_it_displaces() {
        // `groups` for `group`: the typo is the cause, "`group` is missing" only its effect.
        let refused = parse(&json!({"action": "status", "groups": "web"}), PREFIX).unwrap_err();
        assert_eq!(
            refused,
            malformed(
                MANUAL,
                "unknown field `groups` (did you mean `group`?); this action accepts `action`, `group`"
            )
        );
    }
}
