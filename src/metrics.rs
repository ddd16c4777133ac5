//! Metrics as CloudWatch Embedded Metric Format: one JSON log line per decision,
//! turned into metrics by CloudWatch Logs with no API call and no extra latency on
//! the failover path.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::plan::Action;
use crate::report::Report;

pub(crate) const NAMESPACE: &str = "VipFailover";

/// The EMF document for one group's decision.
pub(crate) fn decision_metrics(report: &Report) -> Value {
    // A dry run decides but changes nothing: it must not look like a failover.
    let count = |a: Action| u32::from(report.action == a && !report.dry_run);
    let write_errors = report.failed_routes().len();
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Group"], ["Function"]],
                "Metrics": [
                    {"Name": "Failovers", "Unit": "Count"},
                    {"Name": "Repairs", "Unit": "Count"},
                    {"Name": "NoChange", "Unit": "Count"},
                    {"Name": "Refused", "Unit": "Count"},
                    {"Name": "RouteWriteErrors", "Unit": "Count"},
                    {"Name": "RoutesPending", "Unit": "Count"},
                    {"Name": "TargetSourceDestCheckEnabled", "Unit": "Count"},
                    {"Name": "DecisionLatency", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Group": report.group,
        "Function": function_name(),
        "Action": report.action,
        "DryRun": report.dry_run,
        // A move counts once a route was written: one that wrote nothing (its
        // record refused, every write pending or failed) is no failover yet; a
        // move a hold-down kept and finished is one (`Report::moved_the_vip`).
        "Failovers": u32::from(report.moved_the_vip()),
        "Repairs": count(Action::Repaired),
        "NoChange": count(Action::NoChange),
        "Refused": count(Action::Refused),
        "RouteWriteErrors": write_errors,
        "RoutesPending": report.pending_routes().len(),
        "TargetSourceDestCheckEnabled": u32::from(
            report.to.as_ref().and_then(|t| t.source_dest_check) == Some(true)
        ),
        "DecisionLatency": report.duration_ms,
    })
}

/// The EMF document for a group a reconcile set aside (its tags are wrong):
/// `ConfigurationErrors` by group, so an alarm can name it.
pub(crate) fn problem_metrics(group: &str, error_type: &str) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Group"], ["Function"]],
                "Metrics": [{"Name": "ConfigurationErrors", "Unit": "Count"}]
            }]
        },
        "Group": group,
        "Function": function_name(),
        "ErrorType": error_type,
        "ConfigurationErrors": 1,
    })
}

/// `ProbeVerdictChanges` by group: how often the prober changed its mind.
pub(crate) fn probe_metrics(group: &str, changes: usize) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Group"], ["Function"]],
                "Metrics": [{"Name": "ProbeVerdictChanges", "Unit": "Count"}]
            }]
        },
        "Group": group,
        "Function": function_name(),
        "ProbeVerdictChanges": changes,
    })
}

pub(crate) fn emit_probe(group: &str, changes: usize) {
    println!("{}", probe_metrics(group, changes));
}

pub(crate) fn emit_problem(group: &str, error_type: &str) {
    println!("{}", problem_metrics(group, error_type));
}

/// `Reconciles` by function: the heartbeat an alarm watches (a reconcile that
/// stops running is a function that stopped watching).
pub(crate) fn reconcile_metrics() -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": "Reconciles", "Unit": "Count"}]
            }]
        },
        "Function": function_name(),
        "Reconciles": 1,
    })
}

pub(crate) fn emit_reconcile() {
    println!("{}", reconcile_metrics());
}

/// The function's name in Lambda (the second dimension of every metric, which
/// the template's alarms watch across groups).
fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vip-failover".to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes the EMF line on stdout, where the Lambda runtime ships it to CloudWatch Logs.
pub(crate) fn emit(report: &Report) {
    println!("{}", decision_metrics(report));
}

/// Every metric name the EMF documents above declare, in namespace [`NAMESPACE`]:
/// the template's dashboard and alarms may name these and no other (unit tests
/// below hold both this list and the template to it).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const EMITTED: &[&str] = &[
    "Failovers",
    "Repairs",
    "NoChange",
    "Refused",
    "RouteWriteErrors",
    "RoutesPending",
    "TargetSourceDestCheckEnabled",
    "DecisionLatency",
    "ConfigurationErrors",
    "ProbeVerdictChanges",
    "Reconciles",
];

#[cfg(test)]
mod tests;
