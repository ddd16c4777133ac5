//! One invocation, as I/O sequencing only: parse, read the world, decide (pure),
//! apply, verify, report. Each trigger kind is one line of
//! [`Handler::handle_trigger`]; what to decide lives in [`crate::plan`], what to
//! say in [`crate::report`].

use std::sync::Arc;

use chrono::Utc;
use ipnet::IpNet;
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::cloudwatch::{AlarmSelect, Alarms};
use crate::aws::ec2::{Outcome, TableSelect, WriteOutcome};
use crate::aws::{Aws, Window};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::error::{AwsError, ConfigError, Error};
use crate::group::{self, Group, MoveRecord, Snapshot};
use crate::health::ReportedDown;
use crate::membership::MembershipCache;
use crate::metrics;
use crate::plan::{self, Intent, Plan, Policy, RouteWrite};
use crate::preflight;
use crate::report::{self, Applied, Report, Response, StatusReport};
use crate::trigger::{self, AlarmHint, ManualCommand, Trigger};
use crate::world::{AlarmRecord, InstanceRecord, RouteTableRecord};

/// Everything an invocation needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Handler {
    aws: Aws,
    config: Config,
    membership: MembershipCache,
    emit_metrics: bool,
}

/// One group's run: what to decide, for whom, and until when.
#[derive(Debug, Clone)]
pub struct Run {
    pub group: String,
    pub intent: Intent,
    pub hints: Hints,
    pub source: String,
    pub dry_run: bool,
    pub started: Instant,
    pub deadline: Deadline,
}

/// What the event points at. Only hints: levels are read again before deciding.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The alarm of an alarm event: read by name when outside the prefix, and
    /// taken at its word only when CloudWatch cannot be read.
    pub alarm: Option<AlarmHint>,
    /// A down state from an EC2 state-change event: authoritative for that
    /// instance (see [`crate::health`]).
    pub reported_down: Option<(String, ReportedDown)>,
    /// Alarm levels read once for every group of a reconcile: with no alarm of
    /// its own to read, each group's read would be the same prefix read.
    pub shared_alarms: Option<Arc<OnceCell<AlarmLevels>>>,
}

/// The alarms read, and why the prefix read failed if it did.
type AlarmLevels = (Alarms, Option<String>);

impl Run {
    /// The run of `group` that `trigger` asks for.
    pub fn of(trigger: &Trigger, group: &str, started: Instant, deadline: Deadline) -> Self {
        Self {
            group: group.trim().to_string(),
            intent: trigger.intent(),
            hints: Hints::of(trigger),
            source: trigger.source(),
            dry_run: matches!(
                trigger,
                Trigger::Manual(ManualCommand::Failover { dry_run: true, .. })
            ),
            started,
            deadline,
        }
    }
}

impl Hints {
    pub fn of(trigger: &Trigger) -> Self {
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

/// One group's world as read now.
struct Loaded {
    group: Group,
    /// Alarms under the prefix that name no instance (for `check`).
    unmapped_alarms: Vec<String>,
}

/// What applying a plan did.
#[derive(Debug)]
struct Done {
    outcomes: Vec<WriteOutcome>,
    verified: Result<Vec<RouteTableRecord>, String>,
    warnings: Vec<String>,
    /// Why a move over several routes was not started: it could not be recorded.
    unrecorded: Option<AwsError>,
}

impl Handler {
    pub fn new(aws: Aws, config: Config) -> Self {
        Self {
            membership: MembershipCache::new(config.membership_ttl),
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
        info!(trigger = ?trigger, "event received");
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
            Trigger::Reconcile { groups, .. } => {
                self.reconcile(&trigger, groups.clone(), started, deadline)
                    .await
            }
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
        let instance_id = trigger.instance_id().unwrap_or_default().to_string();
        let source = trigger.source();
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
        for (name, result) in names.into_iter().zip(results) {
            match result {
                Ok(report) => reports.push(report),
                Err(e) => failures.push((name, e)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::Groups {
                failures,
                done: reports,
            });
        }
        Ok(Response::Reconcile {
            action: "reconcile",
            changed: reports.iter().any(|r| r.changed),
            groups: reports,
            duration_ms: elapsed_ms(started),
        })
    }

    async fn status(&self, name: &str, deadline: Deadline) -> Result<Response, Error> {
        let hints = Hints::default();
        let loaded = Box::pin(self.load(name.trim(), None, &hints, deadline.end())).await?;
        let plan = plan::decide(&loaded.group, &Intent::Automatic, &self.policy());
        Ok(Response::Status(StatusReport::new(&loaded.group, &plan)))
    }

    /// The pre-flight check. Contradicting tags are a finding, an unknown group
    /// is a wrong request.
    async fn check(&self, name: &str, deadline: Deadline) -> Result<Response, Error> {
        let key = self.config.tags.group();
        let hints = Hints::default();
        let (loaded, tagged) = tokio::join!(
            Box::pin(self.load(name.trim(), None, &hints, deadline.end())),
            self.aws
                .route_tables(TableSelect::TagKey(key.clone()), deadline.end()),
        );
        let report = match loaded {
            Ok(loaded) => {
                let stray = preflight::stray_tables(&loaded.group, &tagged?, &self.config.tags);
                let context = preflight::Context {
                    group_tag_key: &key,
                    stray: &stray,
                    unmapped_alarms: &loaded.unmapped_alarms,
                };
                preflight::check(&loaded.group, &context)
            }
            Err(Error::Config(e)) if matches!(*e, ConfigError::UnknownGroup { .. }) => {
                return Err(Error::Config(e))
            }
            Err(Error::Config(e)) => preflight::invalid(name.trim(), &e),
            Err(e) => return Err(e),
        };
        info!(group = %report.group, ok = report.ok, problems = report.problems().count(), "check");
        Ok(Response::Check(report))
    }

    /// Decides and (unless a dry run) applies and verifies for one group.
    pub async fn run(
        &self,
        run: &Run,
        listing: Option<Arc<Vec<InstanceRecord>>>,
    ) -> Result<Report, Error> {
        let loaded =
            Box::pin(self.load(&run.group, listing, &run.hints, run.deadline.last_write())).await?;
        let plan = plan::decide(&loaded.group, &run.intent, &self.policy());
        let done = if run.dry_run || plan.writes.is_empty() {
            Done {
                outcomes: Vec::new(),
                verified: Ok(Vec::new()),
                warnings: Vec::new(),
                unrecorded: None,
            }
        } else {
            Box::pin(self.apply(&loaded.group, &plan, run.deadline)).await
        };
        let applied = Applied {
            dry_run: run.dry_run,
            outcomes: &done.outcomes,
            verified: done.verified.as_deref().map_err(String::as_str),
            warnings: &done.warnings,
        };
        let report = report::build(
            &loaded.group,
            &plan,
            &applied,
            &run.source,
            elapsed_ms(run.started),
        );
        log_decision(&report);
        if self.emit_metrics {
            metrics::emit(&report);
        }
        verdict(report, plan, done.unrecorded)
    }

    fn policy(&self) -> Policy {
        Policy {
            now: Utc::now(),
            hold_down: self.config.hold_down,
        }
    }
}

/// The report, or the error it amounts to.
fn verdict(report: Report, plan: Plan, unrecorded: Option<AwsError>) -> Result<Report, Error> {
    if let Some(refusal) = plan.refusal {
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

// Reading the world.
impl Handler {
    /// Every instance carrying the group tag key, kept as the member list.
    async fn list(&self, until: Instant) -> Result<Arc<Vec<InstanceRecord>>, Error> {
        let instances = self
            .aws
            .tagged_instances(&self.config.tags.group(), until)
            .await?;
        Ok(self.membership.store(instances))
    }

    /// Reads one group's world (by `until`: for a run that may write, the last
    /// moment a write may start, since reading later is of no use). With a
    /// member list read now, the rest is one
    /// concurrent round. With a fresh list from an earlier run, the list is read
    /// again in that same round and, where the guess was wrong, the rest is read
    /// once more (a read that failed for the right place is not sent again);
    /// without one, the list comes first.
    async fn load(
        &self,
        name: &str,
        listing: Option<Arc<Vec<InstanceRecord>>>,
        hints: &Hints,
        until: Instant,
    ) -> Result<Loaded, Error> {
        let tags = &self.config.tags;
        let (listing, guessed) = match (listing, self.membership.fresh()) {
            (Some(listing), _) => (listing, None),
            (None, Some(cached)) => match Place::of(name, &cached, tags) {
                Ok(guess) => {
                    let (listing, rest) =
                        tokio::join!(self.list(until), self.read_rest(&guess, hints, until));
                    (listing?, Some((guess, rest)))
                }
                Err(_) => (self.list(until).await?, None),
            },
            (None, None) => (self.list(until).await?, None),
        };
        // The listing read now is the truth: what a cached guess got wrong (a
        // new member, a vanished one, another VPC) is read once more.
        let place = Place::of(name, &listing, tags)?;
        let rest = match guessed {
            Some((guess, rest)) if guess == place => rest?,
            _ => self.read_rest(&place, hints, until).await?,
        };
        let instances = rest.instances(&listing);
        let snapshot = Snapshot {
            instances: &instances,
            tables: &rest.tables,
            vpc_cidrs: &rest.cidrs,
            alarms: &rest.alarms.alarms,
            alarms_unread: rest.alarms_unread.as_deref(),
            reported_down: hints
                .reported_down
                .as_ref()
                .map(|(id, r)| (id.as_str(), *r)),
        };
        let group = group::build(name, &snapshot, tags)?;
        Ok(Loaded {
            group,
            unmapped_alarms: rest.alarms.unmapped,
        })
    }

    /// Status checks, route tables, VPC CIDRs and alarm levels, concurrently.
    async fn read_rest(&self, place: &Place, hints: &Hints, until: Instant) -> Result<Rest, Error> {
        let (checks, tables, cidrs, (alarms, alarms_unread)) = tokio::join!(
            self.aws.status_checks(place.ids.clone(), until),
            self.aws
                .route_tables(TableSelect::Vpc(place.vpc.clone()), until),
            self.aws.vpc_cidrs(&place.vpc, until),
            self.alarm_levels(hints, until),
        );
        Ok(Rest {
            checks: checks?,
            tables: tables?,
            cidrs: cidrs?,
            alarms,
            alarms_unread,
        })
    }

    /// The alarms of the deployment's prefix, and the event's own alarm when it
    /// lies outside it. An alarm that cannot be read is taken at the event's
    /// word when the event names it; when the prefix cannot be read, every
    /// member's health is at best unknown.
    async fn alarm_levels(&self, hints: &Hints, until: Instant) -> AlarmLevels {
        match &hints.shared_alarms {
            Some(once) => once
                .get_or_init(|| self.read_alarm_levels(hints, until))
                .await
                .clone(),
            None => self.read_alarm_levels(hints, until).await,
        }
    }

    async fn read_alarm_levels(&self, hints: &Hints, until: Instant) -> AlarmLevels {
        let prefix = self.config.alarm_name_prefix.clone();
        let outside = hints
            .alarm
            .as_ref()
            .filter(|h| !prefix.as_deref().is_some_and(|p| h.alarm.starts_with(p)));
        let by_prefix = prefix.map(AlarmSelect::Prefix);
        let by_name = outside.map(|h| AlarmSelect::Names(vec![h.alarm.clone()]));
        let (by_prefix, by_name) = tokio::join!(
            self.read_alarms(by_prefix.as_ref(), until),
            self.read_alarms(by_name.as_ref(), until)
        );
        let mut alarms = Alarms::default();
        let mut failed = false;
        let prefix_unread = match by_prefix {
            Ok(read) => {
                alarms.extend(read);
                None
            }
            Err(e) => {
                warn!(error = %e, "alarm levels could not be read");
                failed = true;
                Some(e.to_string())
            }
        };
        match by_name {
            Ok(read) => alarms.extend(read),
            Err(e) => {
                warn!(error = %e, "the event's alarm could not be read");
                failed = true;
            }
        }
        let unread_hint = hints
            .alarm
            .as_ref()
            .filter(|h| failed && !alarms.alarms.iter().any(|a| a.name == h.alarm));
        alarms.alarms.extend(unread_hint.map(event_alarm));
        (alarms, prefix_unread)
    }

    async fn read_alarms(
        &self,
        select: Option<&AlarmSelect>,
        until: Instant,
    ) -> Result<Alarms, AwsError> {
        match select {
            Some(select) => {
                self.aws
                    .alarms(select, self.config.tags.prefix(), until)
                    .await
            }
            None => Ok(Alarms::default()),
        }
    }
}

/// An event's alarm taken at its word (only when CloudWatch cannot be read).
fn event_alarm(hint: &AlarmHint) -> AlarmRecord {
    AlarmRecord {
        name: hint.alarm.clone(),
        instance_id: hint.instance_id.clone(),
        state: hint.state,
    }
}

/// Where a group lives: its members' ids and its VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    ids: Vec<String>,
    vpc: String,
}

impl Place {
    fn of(
        name: &str,
        listing: &[InstanceRecord],
        tags: &crate::tags::TagContract,
    ) -> Result<Self, ConfigError> {
        let vpc = group::vpc_of(name, listing, tags)?;
        let mut ids: Vec<String> = listing
            .iter()
            .filter(|i| group::is_member(i, name, tags))
            .map(|i| i.id.clone())
            .collect();
        ids.sort();
        Ok(Self { ids, vpc })
    }
}

/// What is read beside the member list.
struct Rest {
    checks: std::collections::HashMap<String, crate::world::StatusChecks>,
    tables: Vec<RouteTableRecord>,
    cidrs: Vec<IpNet>,
    alarms: Alarms,
    alarms_unread: Option<String>,
}

impl Rest {
    /// The member list with the status checks filled in.
    fn instances(&self, listing: &[InstanceRecord]) -> Vec<InstanceRecord> {
        listing
            .iter()
            .cloned()
            .map(|mut i| {
                if let Some(checks) = self.checks.get(&i.id) {
                    i.checks = *checks;
                }
                i
            })
            .collect()
    }
}

// Applying a plan.
impl Handler {
    /// Rule "record before write": a move over more than one route is recorded
    /// on every table of the group before its first route write, so a run killed
    /// half way is finished by the next one, never reverted; a move that cannot
    /// be recorded is not started. A one-route move cannot stop half way: its
    /// record goes out with its write, one round trip sooner.
    async fn apply(&self, group: &Group, plan: &Plan, deadline: Deadline) -> Done {
        let window = Window {
            start_by: deadline.last_write(),
            end: deadline.end(),
        };
        let blocked = plan.writes.len() > 1 && plan.record.is_some();
        let (outcomes, fixed, recorded) = if blocked {
            let (fixed, recorded) = tokio::join!(
                self.prepare_target(plan, window),
                self.record(group, plan, window)
            );
            let outcomes = match &recorded {
                Ok(()) => self.aws.apply(&plan.writes, window).await,
                Err(_) => not_started(&plan.writes),
            };
            (outcomes, fixed, recorded)
        } else {
            let write = async {
                let fixed = self.prepare_target(plan, window).await;
                (fixed, self.aws.apply(&plan.writes, window).await)
            };
            let ((fixed, outcomes), recorded) =
                tokio::join!(write, self.record(group, plan, window));
            (outcomes, fixed, recorded)
        };
        let ours = recorded.is_ok().then_some(plan.record.as_ref()).flatten();
        let (verified, others) = self.verify(group, ours, &outcomes, deadline).await;
        let mut warnings = fixed;
        warnings.extend(others);
        let unrecorded = recorded.err();
        warnings.extend(
            unrecorded
                .as_ref()
                .map(|e| format!("the move could not be recorded on the route tables ({e})")),
        );
        Done {
            outcomes,
            verified,
            warnings,
            unrecorded: unrecorded.filter(|_| blocked),
        }
    }

    /// Writes the plan's move record (if any) on the group's own tables. A
    /// table outside the deployment's IAM scope (neither tagged for the group
    /// nor listed) fails the whole call: then the tagged tables alone carry it.
    async fn record(&self, group: &Group, plan: &Plan, window: Window) -> Result<(), AwsError> {
        let Some(record) = &plan.record else {
            return Ok(());
        };
        let key = self.config.tags.last_move(&group.name);
        let value = record.to_tag_value();
        let all: Vec<String> = group.own_tables().map(|t| t.id.clone()).collect();
        let denied = match self.aws.tag_tables(&all, &key, &value, window).await {
            Err(e) if e.code.as_deref() == Some("UnauthorizedOperation") => e,
            done => return done,
        };
        let tagged: Vec<String> = group
            .own_tables()
            .filter(|t| t.tagged)
            .map(|t| t.id.clone())
            .collect();
        if tagged.is_empty() || tagged.len() == all.len() {
            return Err(denied);
        }
        self.aws.tag_tables(&tagged, &key, &value, window).await
    }

    /// Source/dest check on the target ENI makes it drop the VIP's packets. With
    /// `FIX_SOURCE_DEST_CHECK=true` it is turned off before any route points there.
    async fn prepare_target(&self, plan: &Plan, window: Window) -> Vec<String> {
        let Some(to) = plan
            .to
            .as_ref()
            .filter(|m| m.source_dest_check == Some(true))
        else {
            return Vec::new();
        };
        if !self.config.fix_source_dest_check {
            return Vec::new();
        }
        let eni = &to.eni_id;
        match self.aws.disable_source_dest_check(eni, window).await {
            Ok(()) => vec![format!("disabled source/dest check on ENI {eni} before routing to it")],
            Err(e) => vec![format!("could not disable source/dest check on ENI {eni} ({e}); traffic to the VIP may be dropped")],
        }
    }

    /// Re-reads the written tables in one call. A move record on them that is
    /// not the one this run wrote means another writer moved the VIP meanwhile.
    async fn verify(
        &self,
        group: &Group,
        ours: Option<&MoveRecord>,
        outcomes: &[WriteOutcome],
        deadline: Deadline,
    ) -> (Result<Vec<RouteTableRecord>, String>, Vec<String>) {
        let written: std::collections::BTreeSet<String> = outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Written(_)))
            .map(|o| o.write.route_table_id.clone())
            .collect();
        if written.is_empty() {
            return (Ok(Vec::new()), Vec::new());
        }
        let ids = written.into_iter().collect();
        let tables = match self
            .aws
            .route_tables(TableSelect::Ids(ids), deadline.end())
            .await
        {
            Ok(tables) => tables,
            Err(e) => return (Err(e.to_string()), Vec::new()),
        };
        let key = self.config.tags.last_move(&group.name);
        let ours = ours.map(MoveRecord::to_tag_value);
        let others: std::collections::BTreeSet<&String> = tables
            .iter()
            .filter_map(|t| t.tags.get(&key))
            .filter(|v| ours.as_ref().is_some_and(|o| o != *v))
            .collect();
        let warnings = others
            .into_iter()
            .map(|v| {
                format!(
                    "another writer recorded the move {v:?} on this group's tables during this run"
                )
            })
            .collect();
        (Ok(tables), warnings)
    }
}

/// Every write, not started.
fn not_started(writes: &[RouteWrite]) -> Vec<WriteOutcome> {
    writes
        .iter()
        .map(|w| WriteOutcome {
            write: w.clone(),
            outcome: Outcome::Pending,
        })
        .collect()
}

/// The one log line per decision that an operator greps for at 3 a.m.
fn log_decision(report: &Report) {
    info!(
        group = %report.group,
        action = ?report.action,
        reason = %report.reason,
        trigger = %report.trigger,
        dry_run = report.dry_run,
        from = report.from.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        to = report.to.as_ref().map(|e| e.instance_id.as_str()).unwrap_or("-"),
        routes = report.route_tables.len(),
        changed = report.written_routes(),
        failed = report.failed_routes().len(),
        pending = report.pending_routes().len(),
        warnings = ?report.warnings,
        duration_ms = report.duration_ms,
        "decision"
    );
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
