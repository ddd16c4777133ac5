//! The VIP routes of the group's Transit Gateway route tables, as reported:
//! `before` and `after` are attachment ids.

use super::{RouteReport, RouteResult};
use crate::transit::TransitRoute;
use crate::world::TransitRouteRecord;

/// One planned Transit Gateway route and what writing it returned (`None`:
/// not written, because nothing was to be written or it is a dry run).
pub(crate) type TransitOutcome = (TransitRoute, Option<Result<(), String>>);

/// The report lines of the Transit Gateway routes.
pub(crate) fn transit_routes(outcomes: &[TransitOutcome], dry_run: bool) -> Vec<RouteReport> {
    outcomes
        .iter()
        .map(|(route, outcome)| {
            let before = route.current.as_ref().map(describe);
            let entry = RouteReport {
                route_table_id: route.table.clone(),
                destination: route.vip.to_string(),
                after: before.clone(),
                before,
                result: if route.current.is_some() {
                    RouteResult::Unchanged
                } else {
                    RouteResult::Absent
                },
                error: None,
            };
            let (Some(kind), Some(wanted)) = (route.write, route.wanted.clone()) else {
                return entry;
            };
            match outcome {
                _ if dry_run => RouteReport {
                    result: RouteResult::planned(kind),
                    after: Some(wanted),
                    ..entry
                },
                Some(Ok(())) => RouteReport {
                    result: RouteResult::written(kind),
                    after: Some(wanted),
                    ..entry
                },
                Some(Err(error)) => RouteReport {
                    result: RouteResult::Failed,
                    error: Some(error.clone()),
                    ..entry
                },
                None => RouteReport {
                    result: RouteResult::Pending,
                    ..entry
                },
            }
        })
        .collect()
}

fn describe(route: &TransitRouteRecord) -> String {
    match (&route.attachment, route.blackhole) {
        (Some(a), false) => a.clone(),
        (Some(a), true) => format!("{a} (blackhole)"),
        (None, _) => "blackhole".to_string(),
    }
}
