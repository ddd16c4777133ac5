//! Keeping the VIP reachable from outside the VPC: the VIP's static routes in
//! the Transit Gateway route tables tagged for the group. Read, planned
//! ([`crate::transit::plan`], pure) and written beside the VPC's routes, never
//! before them: they do not depend on which member holds the VIP, so they add
//! no round trip to a failover.

use super::Handler;
use crate::aws::{AwsError, Window};
use crate::deadline::Deadline;
use crate::group::Group;
use crate::report::{self, Report, RouteResult};
use crate::transit;
use crate::world::{TransitAttachmentRecord, TransitTableRecord};

/// The Transit Gateway side of a run.
#[derive(Debug, Default)]
pub(super) struct TransitDone {
    pub(super) outcomes: Vec<report::TransitOutcome>,
    pub(super) warnings: Vec<String>,
    /// Only planned (a dry run, or a refused run: bad input changes nothing).
    pub(super) planned_only: bool,
}

impl TransitDone {
    /// Into the report: its routes, its warnings, and `changed` when it wrote.
    /// A route that failed or was not started is a warning, never the run's
    /// error: the VPC's routes are the failover, and the next run retries it.
    pub(super) fn into_report(self, report: &mut Report) {
        let planned = report.dry_run || self.planned_only;
        report.transit_routes = report::transit_routes(&self.outcomes, planned);
        report.warnings.extend(self.warnings);
        for r in &report.transit_routes {
            match r.result {
                RouteResult::Failed => report.warnings.push(format!(
                    "Transit Gateway route table {} {}: {}; the next run retries it",
                    r.route_table_id,
                    r.destination,
                    r.error.as_deref().unwrap_or("failed")
                )),
                RouteResult::Pending => report.warnings.push(format!(
                    "Transit Gateway route table {} {}: not written before the deadline; the next run writes it",
                    r.route_table_id, r.destination
                )),
                _ => {}
            }
        }
        report.changed |= report
            .transit_routes
            .iter()
            .any(|r| matches!(r.result, RouteResult::Created | RouteResult::Replaced));
    }
}

impl Handler {
    /// The Transit Gateway route tables carrying the group tag key, and the
    /// Transit Gateway attachments of the group's VPC, in one round.
    pub(super) async fn read_transit(
        &self,
        group: &Group,
        deadline: Deadline,
    ) -> Result<(Vec<TransitTableRecord>, Vec<TransitAttachmentRecord>), AwsError> {
        let until = deadline.last_write();
        let key = self.config.tags.group();
        let (tables, attachments) = tokio::join!(
            self.aws.transit_tables(&key, until),
            self.aws.transit_attachments(&group.vpc_id, until),
        );
        Ok((tables?, attachments?))
    }

    /// Rule "the VIP's static route points at the members' VPC", applied:
    /// nothing when `TRANSIT_ROUTES` is off; `plan_only` (a dry run, a refused
    /// run) writes nothing.
    pub(super) async fn transit(
        &self,
        group: &Group,
        plan_only: bool,
        deadline: Deadline,
    ) -> TransitDone {
        if !self.config.transit_routes {
            return TransitDone::default();
        }
        let (tables, attachments) = match self.read_transit(group, deadline).await {
            Ok(read) => read,
            Err(e) => {
                let warning = format!("the Transit Gateway route tables could not be read ({e}); their VIP routes were not checked");
                return TransitDone {
                    warnings: vec![warning],
                    ..TransitDone::default()
                };
            }
        };
        let planned = transit::plan(group, &tables, &attachments, &self.config.tags);
        let mut warnings = unattached(&planned, &group.vpc_id);
        warnings.extend(planned.iter().filter_map(held_elsewhere));
        let window = Window {
            start_by: deadline.last_write(),
            end: deadline.end(),
        };
        let writes = planned.into_iter().map(|route| async move {
            let outcome = match route.write {
                // Not started (the deadline came first): pending, no outcome.
                Some(_) if !plan_only => match self.aws.write_transit(&route, window).await {
                    Err(e) if e.not_started() => None,
                    written => Some(written.map_err(|e| e.to_string())),
                },
                _ => None,
            };
            (route, outcome)
        });
        let outcomes = futures_util::future::join_all(writes).await;
        TransitDone {
            outcomes,
            warnings,
            planned_only: plan_only,
        }
    }
}

/// A tagged Transit Gateway route table on a Transit Gateway the VPC is not
/// (yet) attached to: nothing to route to, said once per table.
fn unattached(planned: &[transit::TransitRoute], vpc: &str) -> Vec<String> {
    let mut tables: Vec<(&str, &str)> = planned
        .iter()
        .filter(|r| r.wanted.is_none())
        .map(|r| (r.table.as_str(), r.transit_gateway.as_str()))
        .collect();
    tables.dedup();
    tables
        .into_iter()
        .map(|(table, tgw)| format!("Transit Gateway route table {table} is tagged for the group, but {tgw} has no available attachment of {vpc}: its VIP route was left alone"))
        .collect()
}

/// A VIP route the group leaves to another VPC that uses the same VIP.
fn held_elsewhere(route: &transit::TransitRoute) -> Option<String> {
    let vpc = route.held_elsewhere.as_deref()?;
    Some(format!(
        "Transit Gateway route table {} routes {} to {vpc}, where another group uses the same VIP: left alone (one table reaches one of them); tag the table for one group only, or give the groups different VIPs",
        route.table, route.vip
    ))
}
