//! One invocation: parse the event, read the group, decide, apply, verify, report.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde_json::Value;
use tracing::{info, warn};

use crate::config::Config;
use crate::ec2::{Ec2, WriteOutcome};
use crate::error::{ConfigError, Error};
use crate::group::{self, Group};
use crate::metrics;
use chrono::{DateTime, Utc};

use crate::group::LastMove;
use crate::plan::{self, Action, Intent, Plan, Policy};
use crate::preflight::{self, StrayTable};
use crate::report::{
    describe_route, Endpoint, Report, Response, RouteReport, RouteResult, StatusReport,
};
use crate::trigger::{self, ManualCommand, Trigger};
use crate::world::{AlarmState, InstanceRecord, InstanceState, RouteTableRecord};

/// Everything an invocation needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Handler {
    ec2: Ec2,
    config: Config,
    emit_metrics: bool,
}

impl Handler {
    pub fn new(ec2: Ec2, config: Config) -> Self {
        Self {
            ec2,
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

    pub async fn handle(&self, event: Value) -> Result<Response, Error> {
        let trigger = trigger::parse(&event, self.config.tags.prefix()).inspect_err(|e| {
            warn!(error = %e, "event refused");
        })?;
        self.handle_trigger(trigger).await
    }

    /// Runs an already parsed trigger; the operator CLI enters here.
    pub async fn handle_trigger(&self, trigger: Trigger) -> Result<Response, Error> {
        let started = Instant::now();
        info!(trigger = ?trigger, "event received");
        match trigger {
            // The hints still decide as the old failed/recovered signals did: an
            // alarm in ALARM or a down state is a failure, anything else a recovery.
            Trigger::Alarm(hint) => {
                let failed = hint.state == AlarmState::Alarm;
                let intent = member_intent(&hint.instance_id, failed);
                self.for_instance(&hint.instance_id, intent, &hint.source, started)
                    .await
            }
            Trigger::InstanceState(hint) => {
                let failed = matches!(
                    hint.state,
                    InstanceState::Stopping
                        | InstanceState::Stopped
                        | InstanceState::ShuttingDown
                        | InstanceState::Terminated
                );
                let intent = member_intent(&hint.instance_id, failed);
                self.for_instance(&hint.instance_id, intent, &hint.source, started)
                    .await
            }
            Trigger::Manual(ManualCommand::Failover {
                group,
                target,
                dry_run,
            }) => {
                let candidates = self.members_of(&group).await?;
                let intent = Intent::Failover { target };
                let report = self
                    .run(
                        &group,
                        &candidates,
                        &intent,
                        "manual failover",
                        dry_run,
                        started,
                    )
                    .await?;
                Ok(Response::Group(report))
            }
            Trigger::Manual(ManualCommand::Status { group }) => {
                let candidates = self.members_of(&group).await?;
                let snapshot = self.load(&group, &candidates).await?;
                let plan = plan::decide_with(&snapshot, &Intent::Reconcile, &self.policy());
                let holder = plan::holder(&snapshot);
                Ok(Response::Status(StatusReport::new(
                    &snapshot,
                    holder.active,
                    &plan,
                )))
            }
            Trigger::Manual(ManualCommand::Check { group }) => {
                let candidates = self.members_of(&group).await?;
                let report = match self.load(&group, &candidates).await {
                    Ok(snapshot) => {
                        let key = self.config.tags.group();
                        let stray: Vec<StrayTable> = self
                            .ec2
                            .tagged_route_tables(&key)
                            .await?
                            .into_iter()
                            .filter(|t| t.vpc_id != snapshot.vpc_id)
                            .filter(|t| group::table_is_tagged_for(t, &group, &self.config.tags))
                            .map(|t| StrayTable {
                                route_table_id: t.id,
                                vpc_id: t.vpc_id,
                            })
                            .collect();
                        preflight::check(&snapshot, &key, &stray)
                    }
                    // An unknown group is a wrong request, not a finding.
                    Err(Error::Config(e @ ConfigError::UnknownGroup { .. })) => {
                        return Err(Error::Config(e))
                    }
                    Err(Error::Config(e)) => preflight::invalid(&group, &e),
                    Err(e) => return Err(e),
                };
                info!(group = %report.group, ok = report.ok, problems = report.problems().count(), "check");
                Ok(Response::Check(report))
            }
            Trigger::Reconcile { groups, source } => self.reconcile(groups, &source, started).await,
            Trigger::Ignored { reason } => Ok(Response::Ignored {
                action: "ignored",
                reason,
                trigger: "event".to_string(),
            }),
        }
    }

    /// A trigger about one instance: its group is found from its tags, with the same
    /// single `DescribeInstances` call that lists the other members.
    async fn for_instance(
        &self,
        instance_id: &str,
        intent: Intent,
        source: &str,
        started: Instant,
    ) -> Result<Response, Error> {
        let tagged = self
            .ec2
            .tagged_instances(&self.config.tags.group(), None)
            .await?;
        let Some(group) = tagged
            .iter()
            .find(|i| i.id == instance_id)
            .and_then(|i| group::group_of(i, &self.config.tags))
            .map(str::to_string)
        else {
            info!(instance_id, "instance belongs to no failover group");
            return Ok(Response::Ignored {
                action: "ignored",
                reason: format!(
                    "instance {instance_id} carries no {} tag: it is in no failover group",
                    self.config.tags.group()
                ),
                trigger: source.to_string(),
            });
        };
        let report = self
            .run(&group, &tagged, &intent, source, false, started)
            .await?;
        Ok(Response::Group(report))
    }

    async fn reconcile(
        &self,
        groups: Option<Vec<String>>,
        source: &str,
        started: Instant,
    ) -> Result<Response, Error> {
        let tagged = self
            .ec2
            .tagged_instances(&self.config.tags.group(), None)
            .await?;
        let names: BTreeSet<String> = match groups {
            Some(names) => names.into_iter().collect(),
            None => tagged
                .iter()
                .filter_map(|i| group::group_of(i, &self.config.tags))
                .map(str::to_string)
                .collect(),
        };
        // Groups are independent: reconcile them concurrently.
        let results = futures_util::future::join_all(
            names
                .iter()
                .map(|name| self.run(name, &tagged, &Intent::Reconcile, source, false, started)),
        )
        .await;
        let mut reports = Vec::new();
        let mut problems = Vec::new();
        for result in results {
            match result {
                Ok(report) => reports.push(report),
                Err(e) => problems.push(e.to_string()),
            }
        }
        if !problems.is_empty() {
            return Err(Error::PartialFailure {
                group: names.into_iter().collect::<Vec<_>>().join(","),
                total: reports.len() + problems.len(),
                failed: problems,
            });
        }
        Ok(Response::Reconcile {
            action: "reconcile",
            changed: reports.iter().any(|r| r.changed),
            groups: reports,
            duration_ms: elapsed_ms(started),
        })
    }

    fn policy(&self) -> Policy {
        Policy {
            now: Utc::now(),
            hold_down: self.config.hold_down,
        }
    }

    async fn members_of(&self, group: &str) -> Result<Vec<InstanceRecord>, Error> {
        self.ec2
            .tagged_instances(&self.config.tags.group(), Some(group))
            .await
    }

    /// Reads the rest of the group's world (statuses, the VPC's route tables, its
    /// CIDRs) in one concurrent round trip and validates it.
    pub async fn load(&self, name: &str, candidates: &[InstanceRecord]) -> Result<Group, Error> {
        let members: Vec<InstanceRecord> = candidates
            .iter()
            .filter(|i| group::group_of(i, &self.config.tags) == Some(name))
            .cloned()
            .collect();
        let Some(vpc_id) = members.iter().find_map(|m| m.vpc_id.clone()) else {
            // No member (unknown group) or no VPC at all: let validation say which.
            return Err(group::build(name, &members, &[], &[], &self.config.tags)
                .err()
                .unwrap_or(ConfigError::UnknownGroup {
                    group: name.to_string(),
                    tag_key: self.config.tags.group(),
                })
                .into());
        };
        let (members, tables, cidrs) = tokio::try_join!(
            self.ec2.with_status(members),
            self.ec2.route_tables(Some(&vpc_id), None),
            self.ec2.vpc_cidrs(&vpc_id),
        )?;
        Ok(group::build(
            name,
            &members,
            &tables,
            &cidrs,
            &self.config.tags,
        )?)
    }

    /// Decides and (unless a dry run) applies and verifies for one group.
    async fn run(
        &self,
        name: &str,
        candidates: &[InstanceRecord],
        intent: &Intent,
        source: &str,
        dry_run: bool,
        started: Instant,
    ) -> Result<Report, Error> {
        let snapshot = self.load(name, candidates).await?;
        let policy = self.policy();
        let now = policy.now;
        let mut plan = plan::decide_with(&snapshot, intent, &policy);

        let (outcomes, verified) = if dry_run || plan.writes.is_empty() {
            (Vec::new(), Ok(Vec::new()))
        } else {
            self.prepare_target(&mut plan).await;
            let outcomes = self.ec2.apply(&plan.writes).await;
            let written: BTreeSet<String> = outcomes
                .iter()
                .filter(|o| o.done.is_ok())
                .map(|o| o.write.route_table_id.clone())
                .collect();
            let written: Vec<String> = written.into_iter().collect();
            // Recording the move and verifying the routes both need only the
            // written tables: one round trip for the two.
            let record = async {
                if plan.action == Action::FailedOver {
                    self.record_move(name, &plan, now, &written).await;
                }
            };
            let verify = async {
                if written.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.ec2.route_tables(None, Some(written.clone())).await
                }
            };
            let ((), verified) = tokio::join!(record, verify);
            (outcomes, verified)
        };

        let report = build_report(
            &snapshot, &plan, &outcomes, verified, source, dry_run, started,
        );
        log_decision(&report);
        if self.emit_metrics {
            metrics::emit(&report);
        }

        if plan.action == Action::Refused {
            return Err(Error::Refused {
                group: name.to_string(),
                reason: plan.reason,
            });
        }
        let failed = report.failed_routes();
        if !failed.is_empty() {
            return Err(Error::PartialFailure {
                group: name.to_string(),
                total: report.route_tables.len(),
                failed,
            });
        }
        Ok(report)
    }
}

impl Handler {
    /// Source/dest check on the target ENI makes it drop the VIP's packets. With
    /// `FIX_SOURCE_DEST_CHECK=true` it is turned off before any route points there.
    async fn prepare_target(&self, plan: &mut Plan) {
        let Some(to) = plan
            .to
            .as_ref()
            .filter(|m| m.source_dest_check == Some(true))
        else {
            return;
        };
        if !self.config.fix_source_dest_check {
            return;
        }
        let eni = to.eni_id.clone();
        match self.ec2.disable_source_dest_check(&eni).await {
            Ok(()) => plan
                .warnings
                .push(format!("disabled source/dest check on ENI {eni} before routing to it")),
            Err(e) => plan.warnings.push(format!(
                "could not disable source/dest check on ENI {eni} ({e}); traffic to the VIP may be dropped"
            )),
        }
    }

    /// Leaves the anti-flap memory on the tables that now carry the move. A
    /// failure here costs only the hold-down, never the failover.
    async fn record_move(&self, group: &str, plan: &Plan, now: DateTime<Utc>, tables: &[String]) {
        let Some(to) = &plan.to else { return };
        let record = LastMove {
            at: now,
            from: plan.from.as_ref().map(|m| m.instance_id.clone()),
            to: to.instance_id.clone(),
        };
        let key = self.config.tags.last_move(group);
        if let Err(e) = self
            .ec2
            .tag_tables(tables.to_vec(), &key, &record.to_tag_value())
            .await
        {
            warn!(group, error = %e, "could not record the move on the route tables; hold-down is off for it");
        }
    }
}

fn build_report(
    group: &Group,
    plan: &Plan,
    outcomes: &[WriteOutcome],
    verified: Result<Vec<RouteTableRecord>, Error>,
    source: &str,
    dry_run: bool,
    started: Instant,
) -> Report {
    let outcome_of: HashMap<(&str, String), &WriteOutcome> = outcomes
        .iter()
        .map(|o| {
            (
                (
                    o.write.route_table_id.as_str(),
                    o.write.destination.to_string(),
                ),
                o,
            )
        })
        .collect();
    let planned: HashMap<(&str, String), &plan::RouteWrite> = plan
        .writes
        .iter()
        .map(|w| ((w.route_table_id.as_str(), w.destination.to_string()), w))
        .collect();
    let (after_tables, verify_error) = match verified {
        Ok(tables) => (tables, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let wanted_eni = plan.to.as_ref().map(|m| m.eni_id.as_str());

    let mut route_tables = Vec::new();
    for table in &group.tables {
        for route in &table.routes {
            let key = (table.id.as_str(), route.vip.to_string());
            let before = route.current.as_ref().map(describe_route);
            let mut entry = RouteReport {
                route_table_id: table.id.clone(),
                destination: route.vip.to_string(),
                before: before.clone(),
                after: before,
                result: if route.current.is_some() {
                    RouteResult::Unchanged
                } else {
                    RouteResult::Absent
                },
                error: None,
            };
            if let Some(write) = planned.get(&key) {
                if dry_run {
                    entry.result = RouteResult::planned(write.kind);
                    entry.after = Some(write.eni_id.clone());
                } else {
                    match outcome_of.get(&key).map(|o| &o.done) {
                        Some(Ok(kind)) => {
                            let seen = after_tables
                                .iter()
                                .find(|t| t.id == table.id)
                                .and_then(|t| t.route_to(&route.vip));
                            entry.after = seen.map(describe_route);
                            let ok = seen
                                .is_some_and(|r| !r.blackhole && Some(r.target.id()) == wanted_eni);
                            if ok {
                                entry.result = RouteResult::written(*kind);
                            } else {
                                entry.result = RouteResult::Failed;
                                entry.error = Some(verify_error.clone().unwrap_or_else(|| {
                                    "written, but the re-read does not show the route on the target ENI".to_string()
                                }));
                            }
                        }
                        Some(Err(message)) => {
                            entry.result = RouteResult::Failed;
                            entry.error = Some(message.clone());
                        }
                        None => {
                            entry.result = RouteResult::Failed;
                            entry.error = Some("write was planned but not attempted".to_string());
                        }
                    }
                }
            }
            route_tables.push(entry);
        }
    }

    let changed = route_tables
        .iter()
        .any(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced));
    Report {
        group: group.name.clone(),
        action: plan.action,
        changed,
        reason: plan.reason.clone(),
        trigger: source.to_string(),
        dry_run,
        from: plan.from.as_ref().map(Endpoint::from),
        to: plan.to.as_ref().map(Endpoint::from),
        route_tables,
        warnings: plan.warnings.clone(),
        duration_ms: elapsed_ms(started),
    }
}

/// The one log line per decision that an operator greps for at 3 a.m.
fn log_decision(report: &Report) {
    let changed = report
        .route_tables
        .iter()
        .filter(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced))
        .count();
    let failed = report.failed_routes();
    info!(
        group = %report.group,
        action = ?report.action,
        reason = %report.reason,
        trigger = %report.trigger,
        dry_run = report.dry_run,
        from = report.from.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        to = report.to.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        routes = report.route_tables.len(),
        changed,
        failed = failed.len(),
        warnings = ?report.warnings,
        duration_ms = report.duration_ms,
        "decision"
    );
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What a signal about one member asks of its group.
fn member_intent(instance_id: &str, failed: bool) -> Intent {
    let instance_id = instance_id.to_string();
    if failed {
        Intent::MemberFailed { instance_id }
    } else {
        Intent::MemberRecovered { instance_id }
    }
}
