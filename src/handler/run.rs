//! The run a trigger asks for: it alone turns a trigger into what the decision
//! needs (intent, hints, the source reports name, whether to write at all).

use std::sync::Arc;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::alarms::Levels;
use crate::deadline::Deadline;
use crate::health::ReportedDown;
use crate::plan::Intent;
use crate::trigger::{AlarmHint, ManualCommand, ProbeReport, Trigger};

/// One group's run: what to decide, for whom, and until when. It alone turns a
/// trigger into what the decision needs: the intent, the hints, the source
/// named in reports, and whether to write at all.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) group: String,
    pub(super) intent: Intent,
    pub(super) hints: Hints,
    pub(super) source: String,
    pub(super) dry_run: bool,
    pub(super) started: Instant,
    pub(super) deadline: Deadline,
}

/// What the event points at. Only hints: levels are read again before deciding.
#[derive(Debug, Clone, Default)]
pub(super) struct Hints {
    /// The alarm of an alarm event: read by name when outside the prefix, and
    /// taken at its word only when CloudWatch cannot be read.
    pub(super) alarm: Option<AlarmHint>,
    /// A down state from an EC2 state-change event: authoritative for that
    /// instance (see [`crate::health`]).
    pub(super) reported_down: Option<(String, ReportedDown)>,
    /// Alarm levels read once for every group of a reconcile: with no alarm of
    /// its own to read, each group's read would be the same prefix read.
    pub(super) shared_alarms: Option<Arc<OnceCell<Levels>>>,
}

impl Run {
    /// The run of `group` that `trigger` asks for.
    pub(super) fn of(trigger: &Trigger, group: &str, started: Instant, deadline: Deadline) -> Self {
        Self {
            group: group.trim().to_string(),
            intent: intent(trigger),
            hints: Hints::of(trigger),
            source: source(trigger),
            dry_run: matches!(
                trigger,
                Trigger::Manual(ManualCommand::Failover { dry_run: true, .. })
            ),
            started,
            deadline,
        }
    }
}

/// What the decision is asked to do: an operator's move, or, for every
/// automatic trigger, to put the VIP where the levels read now say it belongs.
fn intent(trigger: &Trigger) -> Intent {
    match trigger {
        Trigger::Manual(ManualCommand::Failover { target, .. }) => Intent::Failover {
            target: target.clone(),
        },
        _ => Intent::Automatic,
    }
}

/// Where the trigger came from, for reports ("manual", "schedule <rule arn>",
/// the hint's source...). An ignored event keeps only its reason, so it is
/// reported as coming from "event".
pub(super) fn source(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Alarm(hint) => hint.source.clone(),
        Trigger::InstanceState(hint) => hint.source.clone(),
        Trigger::Manual(ManualCommand::Failover { .. }) => "manual failover".to_string(),
        Trigger::Manual(_) => "manual".to_string(),
        Trigger::Reconcile { source, .. } => source.clone(),
        Trigger::ProbeReport(report) => probe_source(report),
        Trigger::ProbeTick => "probe tick".to_string(),
        Trigger::Ignored { .. } => "event".to_string(),
    }
}

impl Hints {
    pub(super) fn of(trigger: &Trigger) -> Self {
        match trigger {
            Trigger::Alarm(hint) => Self {
                alarm: Some(hint.clone()),
                ..Self::default()
            },
            Trigger::InstanceState(hint) => Self {
                reported_down: Some((
                    hint.instance_id.clone(),
                    ReportedDown {
                        state: hint.state,
                        at: hint.at,
                    },
                )),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

/// `probe round 3f2a1c09-7: i-0a... down (connection refused)`: what a
/// round's report names as the trigger of its decision.
fn probe_source(report: &ProbeReport) -> String {
    let result = &report.result;
    let changes: Vec<String> = result
        .verdicts
        .iter()
        .filter(|v| v.changed)
        .map(|v| {
            let verdict = match v.up {
                Some(true) => "up",
                Some(false) => "down",
                None => "unknown",
            };
            format!("{} {verdict} ({})", v.instance_id, v.reason)
        })
        .collect();
    let what = if changes.is_empty() {
        "no change".to_string()
    } else {
        changes.join(", ")
    };
    format!("probe round {}: {what}", result.round)
}

#[cfg(test)]
mod tests;
