//! Member health from every signal read now: EC2 state, the three status checks,
//! the member's CloudWatch alarms, and an EC2 state-change event that reported the
//! instance going down. Pure.
//!
//! Three grades, because "passes its EC2 checks" is not "healthy": an application
//! alarm knows more than EC2, and a just-started instance whose checks are still
//! `initializing` is not yet proven. The decision prefers healthy over unknown and
//! never chooses a failed member.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::world::{AlarmRecord, AlarmState, CheckStatus, InstanceState, StatusChecks};

/// How fit a member is to hold the VIP, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Running, every check ok, no alarm in ALARM (an alarm without data is no
    /// verdict: see [`Health::no_data`]).
    Healthy,
    /// Running, but a check is still initializing or has insufficient data, or
    /// the alarm levels could not be read: not proven failed, not proven healthy.
    Unknown,
    /// Anything else: down, impaired, an alarm in ALARM, or not usable as a member.
    Failed,
}

/// One reason a member is not healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub(crate) enum Finding {
    /// DescribeInstances (or an authoritative state-change event) says so.
    State {
        state: InstanceState,
    },
    /// An EC2 state-change event reported the instance going down.
    Reported {
        state: InstanceState,
        at: Option<DateTime<Utc>>,
    },
    Check {
        check: &'static str,
        status: CheckStatus,
    },
    Alarm {
        alarm: String,
        state: AlarmState,
    },
    /// The alarm levels could not be read this time: nothing proves the member
    /// healthy, nothing proves it failed.
    AlarmsUnread {
        why: String,
    },
    /// The in-VPC prober saw the service fail `streak` times in a row.
    Probe {
        reason: String,
        streak: u32,
        age_ms: u64,
    },
}

impl Finding {
    pub(crate) fn grade(&self) -> Grade {
        match self {
            Self::State { .. } | Self::Reported { .. } => Grade::Failed,
            Self::Check { status, .. } => match status {
                CheckStatus::Impaired => Grade::Failed,
                _ => Grade::Unknown,
            },
            // Rule "INSUFFICIENT_DATA is no verdict": the alarm's owner says what
            // missing data means (`TreatMissingData`: breaching puts it in ALARM).
            Self::Alarm { state, .. } => match state {
                AlarmState::Alarm => Grade::Failed,
                _ => Grade::Healthy,
            },
            Self::AlarmsUnread { .. } => Grade::Unknown,
            Self::Probe { .. } => Grade::Failed,
        }
    }

    /// Alarms and probes are soft: they flap; EC2's own verdicts do not. The
    /// hold-down only ever holds against the first kind.
    pub(crate) fn is_soft(&self) -> bool {
        matches!(self, Self::Alarm { .. } | Self::Probe { .. })
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::State { state } => format!("state {}", state.as_str()),
            Self::Reported { state, at } => match at {
                Some(at) => format!("EC2 reported it {} at {}", state.as_str(), at.to_rfc3339()),
                None => format!("EC2 reported it {}", state.as_str()),
            },
            Self::Check { check, status } => format!("{check} status {}", status.as_str()),
            Self::Alarm {
                alarm,
                state: AlarmState::InsufficientData,
            } => format!("alarm {alarm} is INSUFFICIENT_DATA (no verdict)"),
            Self::Alarm { alarm, state } => format!("alarm {alarm} is {}", state.as_str()),
            Self::AlarmsUnread { why } => format!("alarm levels unread ({why})"),
            Self::Probe {
                reason,
                streak,
                age_ms,
            } => format!(
                "probe: {reason} ({streak} in a row, {:.1} s ago)",
                *age_ms as f64 / 1000.0
            ),
        }
    }
}

/// A member's grade and every finding behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Health {
    pub(crate) grade: Grade,
    pub(crate) findings: Vec<Finding>,
}

impl Health {
    pub(crate) fn from_findings(findings: Vec<Finding>) -> Self {
        let grade = findings
            .iter()
            .map(Finding::grade)
            .max()
            .unwrap_or(Grade::Healthy);
        Self { grade, findings }
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.grade == Grade::Failed
    }

    /// Healthy, but an alarm of the member has no data: as a target it ranks
    /// after members whose alarms are all OK, and it is never preempted onto.
    pub(crate) fn no_data(&self) -> bool {
        self.findings.iter().any(|f| {
            matches!(
                f,
                Finding::Alarm {
                    state: AlarmState::InsufficientData,
                    ..
                }
            )
        })
    }

    /// Healthy with every signal saying so: what preemption asks for.
    pub(crate) fn fully_healthy(&self) -> bool {
        self.grade == Grade::Healthy && !self.no_data()
    }

    /// Failed, and only because of soft signals (alarms, probes): EC2 itself
    /// has nothing against it.
    pub(crate) fn failed_by_soft_signals_only(&self) -> bool {
        self.is_failed()
            && self
                .findings
                .iter()
                .filter(|f| f.grade() == Grade::Failed)
                .all(Finding::is_soft)
    }

    /// `state stopped; alarm web-a is ALARM`, or `healthy`.
    pub(crate) fn summary(&self) -> String {
        if self.findings.is_empty() {
            return "healthy".to_string();
        }
        self.findings
            .iter()
            .map(Finding::describe)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the in-VPC prober concluded about a member, while fresh and from a
/// prober that reached someone (see [`crate::probe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ProbeSignal {
    pub(crate) up: bool,
    /// The last observation (`connection refused`, `HTTP 503`...).
    pub(crate) reason: String,
    /// Observations in a row behind the verdict.
    pub(crate) streak: u32,
    pub(crate) age_ms: u64,
}

/// A down state reported by an EC2 state-change event for this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportedDown {
    pub(crate) state: InstanceState,
    pub(crate) at: Option<DateTime<Utc>>,
}

/// Everything read now about one instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signals<'a> {
    pub(crate) state: InstanceState,
    pub(crate) checks: StatusChecks,
    pub(crate) launch_time: Option<DateTime<Utc>>,
    pub(crate) alarms: &'a [&'a AlarmRecord],
    /// Why the alarm levels could not be read, when they could not.
    pub(crate) alarms_unread: Option<&'a str>,
    pub(crate) reported_down: Option<ReportedDown>,
    pub(crate) probe: Option<&'a ProbeSignal>,
}

/// Grades one instance from its signals.
pub(crate) fn assess(signals: &Signals<'_>) -> Health {
    let mut findings = Vec::new();
    if let Some(reported) = authoritative(signals) {
        findings.push(Finding::Reported {
            state: reported.state,
            at: reported.at,
        });
    }
    if signals.state != InstanceState::Running {
        findings.push(Finding::State {
            state: signals.state,
        });
    } else {
        findings.extend(check_findings(&signals.checks));
    }
    if let Some(why) = signals.alarms_unread {
        findings.push(Finding::AlarmsUnread {
            why: why.to_string(),
        });
    }
    findings.extend(
        signals
            .alarms
            .iter()
            .filter(|a| a.state != AlarmState::Ok)
            .map(|a| Finding::Alarm {
                alarm: a.name.clone(),
                state: a.state,
            }),
    );
    // Rule "a probe that failed `fall` times is a failure": up, or not yet
    // judged, says nothing against the member.
    findings.extend(signals.probe.filter(|p| !p.up).map(|p| Finding::Probe {
        reason: p.reason.clone(),
        streak: p.streak,
        age_ms: p.age_ms,
    }));
    Health::from_findings(findings)
}

/// Rule "a down event is authoritative": EC2's eventual consistency can show a
/// stopping instance as running for a while after EventBridge said otherwise.
/// Not when the instance has started again since the event: then the event is a
/// late delivery about an earlier life of the instance.
fn authoritative(signals: &Signals<'_>) -> Option<ReportedDown> {
    let reported = signals.reported_down.filter(|r| r.state.is_down())?;
    let restarted = matches!(
        (reported.at, signals.launch_time),
        (Some(at), Some(launched)) if launched > at
    );
    (!restarted).then_some(reported)
}

/// Instance and system checks must be ok; attached-EBS may also be not
/// applicable (instances without EBS volumes report nothing there).
fn check_findings(checks: &StatusChecks) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (check, status) in [("instance", checks.instance), ("system", checks.system)] {
        if status != CheckStatus::Ok {
            findings.push(Finding::Check { check, status });
        }
    }
    if !matches!(
        checks.attached_ebs,
        CheckStatus::Ok | CheckStatus::NotApplicable
    ) {
        findings.push(Finding::Check {
            check: "attached EBS",
            status: checks.attached_ebs,
        });
    }
    findings
}

#[cfg(test)]
mod tests;
