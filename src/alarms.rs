//! CloudWatch alarms as the domain sees them: the rule that maps an alarm to the
//! one instance it speaks for (shared by the alarm events at the edge and by the
//! alarm levels read each run, so both always name the same instance), and the
//! merge of the levels read now with the alarm an event named. Pure.

use std::collections::BTreeSet;

use crate::world::{AlarmRecord, AlarmState};

/// Instance ids are `i-` and 8 (older) or 17 (current) lowercase hex digits.
pub(crate) fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Why an alarm names no single instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AlarmInstanceError {
    /// `what` holds `id`, which is not an instance id.
    BadId { what: String, id: String },
    /// The alarm names several instances through one `origin`.
    Several {
        alarm: String,
        ids: Vec<String>,
        origin: String,
        key: String,
    },
    /// Nothing in the alarm names an instance.
    Nothing { alarm: String, key: String },
}

impl AlarmInstanceError {
    /// What is wrong and how to fix it (for `Nothing`, the caller says it in
    /// its own words: it is the one error that is not about a malformed value).
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::BadId { what, id } => bad_id(what, id),
            Self::Several { alarm, ids, origin, key } => format!(
                "alarm {alarm} names several instances ({}) through {origin}; failover needs one, so put `{key}i-...` in its description or split the alarm",
                ids.join(", ")
            ),
            Self::Nothing { alarm, key } => format!(
                "alarm {alarm} names no instance: give its metric an InstanceId dimension or put `{key}i-0123456789abcdef0` in its description"
            ),
        }
    }
}

/// `detail.instance-id is "i-xyz", which is not an EC2 instance id (...)`.
pub(crate) fn bad_id(what: &str, id: &str) -> String {
    format!(
        "{what} is {:?}, which is not an EC2 instance id (i- followed by 8 or 17 lowercase hex digits, e.g. i-0a1b2c3d4e5f60718)",
        truncated(id)
    )
}

/// Keeps messages readable when a caller sends a huge string.
pub(crate) fn truncated(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// The instance an alarm speaks for: the `InstanceId` dimension of its metric
/// wins; a `{tag_prefix}instance=i-...` in the description names it for an alarm
/// without one and chooses among a metric-math alarm's several; then an id
/// standing alone in its name (see [`Resolver::resolve`]).
pub(crate) fn alarm_instance(
    name: &str,
    description: Option<&str>,
    dimension_ids: &[&str],
    tag_prefix: &str,
) -> Result<String, AlarmInstanceError> {
    Resolver::new(name, tag_prefix).resolve(description, dimension_ids)
}

/// Resolves one alarm's instance; carries what every refusal names (the alarm,
/// the description key to suggest as the fix).
struct Resolver<'a> {
    alarm: &'a str,
    /// The description convention's key, e.g. `vip-failover:instance=`.
    key: String,
}

impl<'a> Resolver<'a> {
    fn new(alarm: &'a str, tag_prefix: &str) -> Self {
        Self {
            alarm,
            key: format!("{tag_prefix}instance="),
        }
    }

    /// Rule "the metric names its instance": a metric's own `InstanceId`
    /// dimension decides, so whoever may edit alarm descriptions cannot point
    /// an alarm at another member (nor, with a bad id, make it count for none).
    /// The description convention only chooses among the instances of a
    /// metric-math alarm over several, and names the instance of an alarm
    /// without one (a composite alarm); then comes an id in the alarm's name.
    fn resolve(
        &self,
        description: Option<&str>,
        dimension_ids: &[&str],
    ) -> Result<String, AlarmInstanceError> {
        let mut from_dimensions = BTreeSet::new();
        for id in dimension_ids {
            let what = format!("the InstanceId dimension of alarm {}", self.alarm);
            from_dimensions.insert(checked(id, what)?);
        }
        if from_dimensions.len() == 1 {
            return Ok(from_dimensions.into_iter().next().unwrap_or_default());
        }
        let described = self.described(description)?;
        if !from_dimensions.is_empty() {
            return match described.filter(|id| from_dimensions.contains(id)) {
                Some(id) => Ok(id),
                None => Err(self.several(from_dimensions, "its metrics' InstanceId dimensions")),
            };
        }
        if let Some(id) = described {
            return Ok(id);
        }
        let from_name: BTreeSet<String> = ids_in_text(self.alarm).into_iter().collect();
        if let Some(id) = self.single(from_name, "its name")? {
            return Ok(id);
        }
        Err(AlarmInstanceError::Nothing {
            alarm: self.alarm.to_string(),
            key: self.key.clone(),
        })
    }

    /// Reads every `{prefix}instance=` occurrence; they must agree, since a
    /// description naming two instances is a copy-paste slip, not a choice.
    fn described(&self, description: Option<&str>) -> Result<Option<String>, AlarmInstanceError> {
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
            let what = format!("`{key}` in the description of alarm {}", self.alarm);
            found.insert(checked(&rest[..end], what)?);
        }
        self.single(found, &format!("`{key}` in its description"))
    }

    /// Failover moves one member, so an alarm naming several instances through
    /// one `origin` is refused with the way to make it name one.
    fn single(
        &self,
        ids: BTreeSet<String>,
        origin: &str,
    ) -> Result<Option<String>, AlarmInstanceError> {
        if ids.len() > 1 {
            return Err(self.several(ids, origin));
        }
        Ok(ids.into_iter().next())
    }

    fn several(&self, ids: BTreeSet<String>, origin: &str) -> AlarmInstanceError {
        AlarmInstanceError::Several {
            alarm: self.alarm.to_string(),
            ids: ids.into_iter().collect(),
            origin: origin.to_string(),
            key: self.key.clone(),
        }
    }
}

fn checked(id: &str, what: String) -> Result<String, AlarmInstanceError> {
    if is_instance_id(id) {
        return Ok(id.to_string());
    }
    Err(AlarmInstanceError::BadId {
        what,
        id: id.to_string(),
    })
}

/// Finds well-formed instance ids standing as their own token in free text
/// (e.g. `web-i-0a1b2c3d4e5f60718-status`), without a regex crate.
pub(crate) fn ids_in_text(text: &str) -> Vec<String> {
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

/// The alarms read, and the ones that could not be mapped to one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Alarms {
    pub(crate) alarms: Vec<AlarmRecord>,
    /// One line per alarm that names no instance or several.
    pub(crate) unmapped: Vec<String>,
}

/// The alarm an event named, as the event said it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventAlarm<'a> {
    pub(crate) name: &'a str,
    pub(crate) instance_id: &'a str,
    pub(crate) state: AlarmState,
}

/// The alarm levels a run decides from, and why the prefix read failed if it
/// did.
pub(crate) type Levels = (Alarms, Option<String>);

/// Rule "the level decides, the event is a hint": the levels read now are the
/// truth. Only when they could not be read is the event's own alarm taken at
/// its word, since nothing better is known about it; every other alarm is then
/// unknown (the reason is returned).
pub(crate) fn merge_levels(read: Result<Alarms, String>, event: Option<&EventAlarm<'_>>) -> Levels {
    match read {
        Ok(alarms) => (alarms, None),
        Err(why) => {
            let alarms = event
                .map(|e| AlarmRecord {
                    name: e.name.to_string(),
                    instance_id: e.instance_id.to_string(),
                    state: e.state,
                })
                .into_iter()
                .collect();
            let alarms = Alarms {
                alarms,
                unmapped: Vec::new(),
            };
            (alarms, Some(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "vip-failover:";
    const SERVER_A: &str = "i-0a1b2c3d4e5f60718";
    const SERVER_B: &str = "i-0f1e2d3c4b5a69788";

    fn record(name: &str, state: AlarmState) -> AlarmRecord {
        AlarmRecord {
            name: name.to_string(),
            instance_id: "i-0a1b2c3d4e5f60718".to_string(),
            state,
        }
    }

    fn read(records: &[AlarmRecord]) -> Result<Alarms, String> {
        Ok(Alarms {
            alarms: records.to_vec(),
            unmapped: Vec::new(),
        })
    }

    fn event(state: AlarmState) -> EventAlarm<'static> {
        EventAlarm {
            name: "web-a-app",
            instance_id: "i-0a1b2c3d4e5f60718",
            state,
        }
    }

    #[test]
    fn given_a_read_then_the_levels_read_now_decide_not_the_event() {
        let ok_now = record("web-a-app", AlarmState::Ok);
        let (levels, unread) = merge_levels(
            read(std::slice::from_ref(&ok_now)),
            Some(&event(AlarmState::Alarm)),
        );
        assert_eq!(levels.alarms, vec![ok_now], "the event's ALARM is stale");
        assert_eq!(unread, None);
    }

    #[test]
    fn given_a_failed_read_then_only_the_events_own_alarm_is_taken_at_its_word() {
        let (levels, unread) = merge_levels(
            Err("CloudWatch DescribeAlarms failed (Throttling)".to_string()),
            Some(&event(AlarmState::Alarm)),
        );
        assert_eq!(levels.alarms, vec![record("web-a-app", AlarmState::Alarm)]);
        assert!(unread.is_some_and(|why| why.contains("Throttling")));
        let (levels, unread) = merge_levels(Err("denied".to_string()), None);
        assert!(levels.alarms.is_empty(), "nothing is invented");
        assert_eq!(unread.as_deref(), Some("denied"));
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
    fn alarm_instance_takes_the_metrics_own_instance_over_a_description() {
        let description = format!("Watch B through A. {PREFIX}instance={SERVER_B}.");
        assert_eq!(
            alarm_instance(
                "web-serverA-status-check",
                Some(&description),
                &[SERVER_A],
                PREFIX
            ),
            Ok(SERVER_A.to_string()),
            "a description editor cannot point the alarm at another member"
        );
        assert_eq!(
            alarm_instance(
                "web-serverA-status-check",
                Some(&format!("{PREFIX}instance=i-zzz")),
                &[SERVER_A],
                PREFIX
            ),
            Ok(SERVER_A.to_string()),
            "nor make it count for nobody"
        );
        // Over several instances, the description chooses among them only.
        assert_eq!(
            alarm_instance(
                "web-pair",
                Some(&description),
                &[SERVER_A, SERVER_B],
                PREFIX
            ),
            Ok(SERVER_B.to_string())
        );
        let elsewhere = format!("{PREFIX}instance=i-0123456789abcdef0");
        assert!(matches!(
            alarm_instance("web-pair", Some(&elsewhere), &[SERVER_A, SERVER_B], PREFIX),
            Err(AlarmInstanceError::Several { .. })
        ));
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
            Err(AlarmInstanceError::Nothing {
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
            let Err(error @ AlarmInstanceError::Several { .. }) = &refused else {
                panic!("two instances must be refused: {refused:?}");
            };
            let detail = error.detail();
            for fragment in [SERVER_A, SERVER_B, "vip-failover:instance=i-..."] {
                assert!(detail.contains(fragment), "{detail}");
            }
        }
    }
}
