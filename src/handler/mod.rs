//! One invocation, as I/O sequencing only: parse, read the world, decide (pure),
//! apply, verify, report. Each trigger kind is one line of
//! [`Handler::handle_trigger`]; what to decide lives in [`crate::plan`], what to
//! say in [`crate::report`]. Reading is in `read.rs`, applying in `apply.rs`.

mod apply;
mod manual;
mod probe;
mod read;
mod run;
mod transit;

use run::{source, Hints, Run};

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::{Aws, AwsError};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::group;
use crate::membership::MembershipCache;
use crate::metrics;
use crate::plan::{self, Plan, Policy};
use crate::report::{self, Applied, Error, GroupProblem, Report, Response};
use crate::trigger::{self, ManualCommand, Trigger};
use crate::world::InstanceRecord;
use apply::Done;

/// Everything an invocation needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Handler {
    aws: Aws,
    config: Config,
    membership: MembershipCache,
    probes: probe::ProbeBoard,
    emit_metrics: bool,
}

impl Handler {
    pub fn new(aws: Aws, config: Config) -> Self {
        Self {
            membership: MembershipCache::new(config.membership_ttl),
            probes: probe::ProbeBoard::default(),
            aws,
            config,
            emit_metrics: true,
        }
    }

    /// No EMF lines on stdout: for the operator CLI, whose stdout is for people
    /// and scripts, and which is not in CloudWatch Logs anyway.
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// A deadline `budget` from now, with the configured reserve (CLI, tests).
    pub fn deadline_after(&self, budget: std::time::Duration) -> Deadline {
        Deadline::after(budget, self.config.deadline_reserve)
    }

    pub async fn handle(&self, event: Value, deadline: Deadline) -> Result<Response, Error> {
        let trigger = trigger::parse(&event, self.config.tags.prefix())
            .inspect_err(|e| warn!(error = %e, "event refused"))?;
        self.handle_trigger(trigger, deadline).await
    }

    /// Runs an already parsed trigger; the operator CLI enters here.
    pub async fn handle_trigger(
        &self,
        trigger: Trigger,
        deadline: Deadline,
    ) -> Result<Response, Error> {
        info!(
            kind = trigger.kind(),
            trigger = %source(&trigger),
            instance_id = trigger.instance_id().unwrap_or("-"),
            "event received"
        );
        let started = Instant::now();
        match &trigger {
            Trigger::Alarm(_) | Trigger::InstanceState(_) => {
                self.for_instance(&trigger, started, deadline).await
            }
            Trigger::Manual(ManualCommand::Failover { group, .. }) => {
                let run = Run::of(&trigger, group, started, deadline);
                self.run(&run, None).await.map(Response::Group)
            }
            Trigger::Manual(ManualCommand::Status { group }) => self.status(group, deadline).await,
            Trigger::Manual(ManualCommand::Check { group }) => self.check(group, deadline).await,
            Trigger::Manual(ManualCommand::Release { group }) => {
                Box::pin(self.release(group, deadline)).await
            }
            Trigger::Reconcile { groups, .. } => {
                self.reconcile(&trigger, groups.clone(), started, deadline)
                    .await
            }
            Trigger::ProbeReport(report) => {
                Box::pin(self.probe_report(&trigger, report, started, deadline)).await
            }
            Trigger::ProbeTick => Box::pin(self.probe_tick(deadline)).await,
            Trigger::Ignored { reason } => Ok(Response::ignored(reason.clone(), "event")),
        }
    }

    /// An alarm or state change of one instance: its group is found from its
    /// tags. Costs nothing while a fresh member list says it is in no group.
    async fn for_instance(
        &self,
        trigger: &Trigger,
        started: Instant,
        deadline: Deadline,
    ) -> Result<Response, Error> {
        if let Trigger::Alarm(hint) = trigger {
            self.readable(&hint.alarm)?;
        }
        let instance_id = trigger.instance_id().unwrap_or_default().to_string();
        let source = source(trigger);
        // A member list read just now is passed on; a cached one is read again
        // in the run's first round, beside the rest.
        let (listing, read_now) = match self.membership.fresh() {
            Some(listing) => (listing, false),
            None => (self.list(deadline.last_write()).await?, true),
        };
        let group = listing
            .iter()
            .find(|i| i.id == instance_id)
            .and_then(|r| group::group_of(r, &self.config.tags))
            .map(str::to_string);
        let read_now = read_now.then_some(listing);
        let Some(group) = group else {
            info!(instance_id, "instance belongs to no failover group");
            let reason = format!(
                "instance {instance_id} carries no {} tag: it is in no failover group",
                self.config.tags.group()
            );
            return Ok(Response::ignored(reason, &source));
        };
        let run = Run::of(trigger, &group, started, deadline);
        self.run(&run, read_now).await.map(Response::Group)
    }

    /// Every named group (every group, when none is named), concurrently, each
    /// with its own result.
    async fn reconcile(
        &self,
        trigger: &Trigger,
        groups: Option<Vec<String>>,
        started: Instant,
        deadline: Deadline,
    ) -> Result<Response, Error> {
        let listing = self.list(deadline.last_write()).await?;
        let names: Vec<String> = match groups {
            Some(names) => names.iter().map(|n| n.trim().to_string()).collect(),
            None => group::group_names(&listing, &self.config.tags)
                .into_iter()
                .collect(),
        };
        let alarms = Arc::new(OnceCell::new());
        let runs: Vec<Run> = names
            .iter()
            .map(|name| {
                let mut run = Run::of(trigger, name, started, deadline);
                run.hints.shared_alarms = Some(alarms.clone());
                run
            })
            .collect();
        let results = futures_util::future::join_all(
            runs.iter().map(|run| self.run(run, Some(listing.clone()))),
        )
        .await;
        let mut reports = Vec::new();
        let mut failures = Vec::new();
        let mut attention = Vec::new();
        for (name, result) in names.into_iter().zip(results) {
            match result {
                Ok(report) => reports.push(report),
                // Rule "a reconcile fails only for what a retry can fix": a
                // group whose tags are wrong is reported, not retried.
                Err(e) if !e.retryable() => {
                    if self.emit_metrics {
                        metrics::emit_problem(&name, e.error_type());
                    }
                    warn!(group = %name, error_type = %e.diagnostic_type(), error = %e, "group needs attention");
                    attention.push(GroupProblem::new(name, &e));
                }
                Err(e) => failures.push((name, e)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::Groups {
                failures,
                done: reports,
                attention,
            });
        }
        if self.emit_metrics {
            metrics::emit_reconcile();
        }
        Ok(Response::Reconcile {
            action: "reconcile",
            changed: reports.iter().any(|r| r.changed),
            attention: !attention.is_empty(),
            groups: reports,
            needs_attention: attention,
            duration_ms: elapsed_ms(started),
        })
    }

    /// Decides and (unless a dry run) applies and verifies for one group.
    async fn run(
        &self,
        run: &Run,
        listing: Option<Arc<Vec<InstanceRecord>>>,
    ) -> Result<Report, Error> {
        let nothing_beside = |_: &group::Group| std::future::ready(());
        self.run_beside(run, listing, nothing_beside).await.0
    }

    /// [`Self::run`], with `beside` started on the group as soon as it is read
    /// and run alongside the decision's writes; its output, or `None` when the
    /// group could not be read. The probe loop dispatches its next round there:
    /// a move of hundreds of tables must not hold up the next look at the
    /// members.
    async fn run_beside<F, Fut>(
        &self,
        run: &Run,
        listing: Option<Arc<Vec<InstanceRecord>>>,
        beside: F,
    ) -> (Result<Report, Error>, Option<Fut::Output>)
    where
        F: FnOnce(&group::Group) -> Fut,
        Fut: std::future::Future,
    {
        let loaded =
            Box::pin(self.load(&run.group, listing, &run.hints, run.deadline.last_write()));
        let loaded = match loaded.await {
            Ok(loaded) => loaded,
            Err(e) => return (Err(e), None),
        };
        let plan = plan::decide(&loaded.group, &run.intent, &self.policy());
        let decided = async {
            let apply = async {
                if run.dry_run || plan.writes.is_empty() {
                    Done::nothing()
                } else {
                    Box::pin(self.apply(&loaded.group, &plan, run.deadline)).await
                }
            };
            // A refused run that writes nothing writes nothing anywhere (bad
            // input changes nothing); a hold-down keeping the VIP whole writes.
            let plan_only = run.dry_run || (plan.refusal.is_some() && plan.writes.is_empty());
            let transit = self.transit(&loaded.group, plan_only, run.deadline);
            let (done, transit) = tokio::join!(apply, transit);
            self.conclude(run, &loaded.group, &plan, done, transit)
                .await
        };
        // `beside` is not waited for before the report, its "VIP Moved" and
        // its log line: a slow dispatch must not delay them.
        let (decided, beside) = tokio::join!(decided, beside(&loaded.group));
        (decided, Some(beside))
    }

    /// The report of a run from what its writes did; "VIP Moved", the decision
    /// line and the metrics; and the run's verdict.
    async fn conclude(
        &self,
        run: &Run,
        group: &group::Group,
        plan: &Plan,
        done: Done,
        transit: transit::TransitDone,
    ) -> Result<Report, Error> {
        let applied = Applied {
            dry_run: run.dry_run,
            outcomes: &done.outcomes,
            verified: done.verified.as_deref().map_err(String::as_str),
            warnings: &done.warnings,
        };
        let elapsed = elapsed_ms(run.started);
        let mut report = report::build(group, plan, &applied, &run.source, elapsed);
        transit.into_report(&mut report);
        self.announce(&mut report, run.deadline).await;
        log_decision(&report);
        if self.emit_metrics {
            metrics::emit(&report);
        }
        verdict(report, plan, done.unrecorded)
    }

    /// Rule "an alarm that failed a member keeps failing it while it is in
    /// ALARM": every run reads the alarms of the prefix, so an alarm outside it
    /// is refused up front rather than heeded for one run only.
    fn readable(&self, alarm: &str) -> Result<(), Error> {
        match &self.config.alarm_name_prefix {
            Some(prefix) if !alarm.starts_with(prefix.as_str()) => Err(Error::AlarmOutsidePrefix {
                alarm: alarm.to_string(),
                prefix: prefix.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            now: Utc::now(),
            hold_down: self.config.hold_down,
            pin: self.config.pin,
        }
    }
}

/// The report, or the error it amounts to.
fn verdict(report: Report, plan: &Plan, unrecorded: Option<AwsError>) -> Result<Report, Error> {
    if let Some(refusal) = plan.refusal.clone() {
        return Err(Error::Refused {
            refusal,
            report: Box::new(report),
        });
    }
    if let Some(error) = unrecorded {
        return Err(Error::MoveNotRecorded {
            error,
            report: Box::new(report),
        });
    }
    if !report.pending_routes().is_empty() {
        return Err(Error::DeadlineReached {
            report: Box::new(report),
        });
    }
    if !report.failed_routes().is_empty() {
        return Err(Error::PartialFailure {
            report: Box::new(report),
        });
    }
    Ok(report)
}

/// The one log line per decision that an operator greps for at 3 a.m.
/// Fields are plain strings and numbers (CloudWatch Logs Insights and
/// `vip-failover-cli history` read them); `action` is spelled as in the
/// response and the metrics.
fn log_decision(report: &Report) {
    let action = serde_json::to_value(report.action).unwrap_or_default();
    info!(
        group = %report.group,
        action = action.as_str().unwrap_or("-"),
        reason = %report.reason,
        trigger = %report.trigger,
        dry_run = report.dry_run,
        from = report.from.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        to = report.to.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        routes = report.route_tables.len(),
        changed = report.written_routes(),
        failed = report.failed_routes().len(),
        pending = report.pending_routes().len(),
        warnings = %report.warnings.join(" | "),
        duration_ms = report.duration_ms,
        "decision"
    );
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
