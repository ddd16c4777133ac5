//! Applying a plan: the move record, the source/dest check fix, the paced route
//! writes, and one re-read to verify them.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::Handler;
use crate::aws::ec2::TableSelect;
use crate::aws::{AwsError, Window};
use crate::deadline::Deadline;
use crate::group::{Group, MoveRecord};
use crate::plan::{Outcome, Plan, RouteWrite, WriteOutcome};
use crate::report::{Report, RouteResult};
use crate::world::RouteTableRecord;

/// How long an urgent move (off a failed holder) waits for its record to
/// start: long enough for a few throttled tokens, short beside a failover.
const URGENT_RECORD_WAIT: Duration = Duration::from_secs(2);

/// What applying a plan did.
#[derive(Debug)]
pub(super) struct Done {
    pub(super) outcomes: Vec<WriteOutcome>,
    pub(super) verified: Result<Vec<RouteTableRecord>, String>,
    pub(super) warnings: Vec<String>,
    /// Why a move over several routes was not started: it could not be recorded.
    pub(super) unrecorded: Option<AwsError>,
}

impl Done {
    /// Nothing to write (a dry run, or nothing to change).
    pub(super) fn nothing() -> Self {
        Self {
            outcomes: Vec::new(),
            verified: Ok(Vec::new()),
            warnings: Vec::new(),
            unrecorded: None,
        }
    }
}

impl Handler {
    /// Applies `plan`, recording its move first when the plan says so
    /// ([`Plan::records_first`]), then re-reads what was written. A move that
    /// could not be recorded goes ahead only when it is urgent
    /// ([`Plan::waits_for_record`]); an urgent one gives its record
    /// [`URGENT_RECORD_WAIT`] at most: a record throttled until the deadline
    /// must not hold a move off a failed holder back.
    pub(super) async fn apply(&self, group: &Group, plan: &Plan, deadline: Deadline) -> Done {
        let window = Window {
            start_by: deadline.last_write(),
            end: deadline.end(),
        };
        let (outcomes, fixed, recorded) = if plan.records_first() {
            let record_window = if plan.waits_for_record() {
                window
            } else {
                Window {
                    start_by: window.start_by.min(Instant::now() + URGENT_RECORD_WAIT),
                    ..window
                }
            };
            let (fixed, recorded) = tokio::join!(
                self.prepare_target(plan, window),
                self.record(group, plan, record_window)
            );
            let outcomes = if recorded.is_ok() || !plan.waits_for_record() {
                self.aws.apply(&plan.writes, window).await
            } else {
                not_started(&plan.writes)
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
        warnings.extend(unrecorded.as_ref().map(|e| unrecorded_warning(plan, e)));
        Done {
            outcomes,
            verified,
            warnings,
            unrecorded: unrecorded.filter(|_| plan.waits_for_record()),
        }
    }

    /// Writes the plan's move record (if any) on the group's voting tables,
    /// table by table where a table refuses it (EC2's 50 tags, no permission).
    /// It counts once a majority of them carry it, as a later run reads it.
    async fn record(&self, group: &Group, plan: &Plan, window: Window) -> Result<(), AwsError> {
        let Some(record) = &plan.record else {
            return Ok(());
        };
        self.record_on_voting_tables(group, record, window).await
    }

    /// Publishes "VIP moved" for a move that wrote routes (not a dry run, not a
    /// repair). A failure to publish is a warning: the move is what matters.
    pub(super) async fn announce(&self, report: &mut Report, deadline: Deadline) {
        let Some(bus) = self
            .config
            .event_bus
            .as_deref()
            .filter(|_| report.moved_the_vip())
        else {
            return;
        };
        let detail = moved_detail(report);
        let target = (bus, self.config.event_source.as_str());
        let window = Window::until(deadline.end());
        if let Err(e) = self.aws.put_event(target, &detail, window).await {
            report.warnings.push(format!(
                "the \"VIP Moved\" event could not be published on {bus} ({e})"
            ));
        }
    }

    /// Ends an operator's pin: the record stays (it still dates the move), its
    /// pin goes, on the group's voting tables.
    pub(super) async fn unpin(
        &self,
        group: &Group,
        record: &MoveRecord,
        window: Window,
    ) -> Result<(), AwsError> {
        let unpinned = MoveRecord {
            pinned_until: None,
            ..record.clone()
        };
        self.record_on_voting_tables(group, &unpinned, window).await
    }

    /// `record` on the group's voting tables: done once a majority carry it.
    async fn record_on_voting_tables(
        &self,
        group: &Group,
        record: &MoveRecord,
        window: Window,
    ) -> Result<(), AwsError> {
        let key = self.config.tags.last_move(&group.name);
        let voting: Vec<String> = group.voting_tables().map(|t| t.id.clone()).collect();
        let tagged = self
            .aws
            .tag_tables(&voting, &key, &record.to_tag_value(), window)
            .await;
        match tagged.error {
            Some(error) if tagged.written.len() <= voting.len() / 2 => Err(error),
            _ => Ok(()),
        }
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
        let written: BTreeSet<String> = outcomes
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
        let others: BTreeSet<&String> = tables
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

/// What the report says of a record that did not reach a majority of the
/// group's tables, and what became of the move.
fn unrecorded_warning(plan: &Plan, error: &AwsError) -> String {
    let what = format!(
        "the move could not be recorded on a majority of the group's route tables ({error})"
    );
    if plan.records_first() && !plan.waits_for_record() {
        let from = plan
            .from
            .as_ref()
            .map_or("no member", |m| m.instance_id.as_str());
        format!("{what}; it went ahead anyway: the VIP was on {from}, which failed, and a move off a failed member never waits for bookkeeping")
    } else {
        what
    }
}

/// The `detail` of "VIP Moved": who, from where to where, why, which tables.
fn moved_detail(report: &Report) -> serde_json::Value {
    let tables: Vec<&str> = report
        .route_tables
        .iter()
        .filter(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced))
        .map(|r| r.route_table_id.as_str())
        .collect();
    serde_json::json!({
        "group": report.group,
        "from": report.from,
        "to": report.to,
        "trigger": report.trigger,
        "reason": report.reason,
        "tables": tables,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "duration_ms": report.duration_ms,
    })
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
