//! Applying a plan: the move record, the source/dest check fix, the paced route
//! writes, and one re-read to verify them.

use std::collections::BTreeSet;

use super::Handler;
use crate::aws::ec2::TableSelect;
use crate::aws::{AwsError, Window};
use crate::deadline::Deadline;
use crate::group::{Group, MoveRecord};
use crate::plan::{Outcome, Plan, RouteWrite, WriteOutcome};
use crate::world::RouteTableRecord;

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
    /// ([`Plan::records_first`]), then re-reads what was written.
    pub(super) async fn apply(&self, group: &Group, plan: &Plan, deadline: Deadline) -> Done {
        let window = Window {
            start_by: deadline.last_write(),
            end: deadline.end(),
        };
        let blocked = plan.records_first();
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
            Err(e) if e.is_denied() => e,
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
