//! The move record: the tag a move leaves on the group's voting tables before
//! its first route write, so an interrupted move is finished, never reverted.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// A move as recorded on the group's route tables before its first route write
/// (see [`crate::tags::TagContract::last_move`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MoveRecord {
    pub(crate) at: DateTime<Utc>,
    pub(crate) from: Option<String>,
    pub(crate) to: String,
    /// An operator's move is pinned until then: preemption does not undo it.
    pub(crate) pinned_until: Option<DateTime<Utc>>,
}

impl MoveRecord {
    /// Tag value: `2026-11-24T03:00:00Z i-0aaa>i-0bbb` (`-` when there was no
    /// holder), with ` pinned-until=2026-11-25T03:00:00Z` for an operator's move.
    pub(crate) fn to_tag_value(&self) -> String {
        let secs = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let pin = self
            .pinned_until
            .map(|until| format!(" pinned-until={}", secs(&until)))
            .unwrap_or_default();
        format!(
            "{} {}>{}{pin}",
            secs(&self.at),
            self.from.as_deref().unwrap_or("-"),
            self.to
        )
    }

    /// `None` for a value this version cannot read: a damaged record must never
    /// block a failover, it only loses what it would have told.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (at, moved) = value.trim().split_once(char::is_whitespace)?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        let (from, rest) = moved.split_once('>')?;
        let mut words = rest.split_whitespace();
        let to = words.next()?;
        let from = from.trim();
        let mut pinned_until = None;
        for option in words {
            let until = option.strip_prefix("pinned-until=")?;
            pinned_until = Some(
                DateTime::parse_from_rfc3339(until)
                    .ok()?
                    .with_timezone(&Utc),
            );
        }
        Some(Self {
            at,
            from: Some(from)
                .filter(|f| !f.is_empty() && *f != "-")
                .map(str::to_string),
            to: to.to_string(),
            pinned_until,
        })
    }
}
