//! Metrics as CloudWatch Embedded Metric Format: one JSON log line per decision,
//! turned into metrics by CloudWatch Logs with no API call and no extra latency on
//! the failover path.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::plan::Action;
use crate::report::Report;

pub const NAMESPACE: &str = "VipFailover";

/// The EMF document for one group's decision.
pub fn decision_metrics(report: &Report) -> Value {
    // A dry run decides but changes nothing: it must not look like a failover.
    let count = |a: Action| u32::from(report.action == a && !report.dry_run);
    let write_errors = report.failed_routes().len();
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Group"]],
                "Metrics": [
                    {"Name": "Failovers", "Unit": "Count"},
                    {"Name": "Repairs", "Unit": "Count"},
                    {"Name": "NoChange", "Unit": "Count"},
                    {"Name": "Refused", "Unit": "Count"},
                    {"Name": "RouteWriteErrors", "Unit": "Count"},
                    {"Name": "DecisionLatency", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Group": report.group,
        "Action": report.action,
        "DryRun": report.dry_run,
        "Failovers": count(Action::FailedOver),
        "Repairs": count(Action::Repaired),
        "NoChange": count(Action::NoChange),
        "Refused": count(Action::Refused),
        "RouteWriteErrors": write_errors,
        "DecisionLatency": report.duration_ms,
    })
}

/// Writes the EMF line on stdout, where the Lambda runtime ships it to CloudWatch Logs.
pub fn emit(report: &Report) {
    println!("{}", decision_metrics(report));
}
