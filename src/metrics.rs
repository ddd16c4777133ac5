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
                "Dimensions": [["Group"]],
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
        "Action": report.action,
        "DryRun": report.dry_run,
        "Failovers": count(Action::FailedOver),
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
                "Dimensions": [["Group"]],
                "Metrics": [{"Name": "ConfigurationErrors", "Unit": "Count"}]
            }]
        },
        "Group": group,
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
                "Dimensions": [["Group"]],
                "Metrics": [{"Name": "ProbeVerdictChanges", "Unit": "Count"}]
            }]
        },
        "Group": group,
        "ProbeVerdictChanges": changes,
    })
}

pub(crate) fn emit_probe(group: &str, changes: usize) {
    println!("{}", probe_metrics(group, changes));
}

pub(crate) fn emit_problem(group: &str, error_type: &str) {
    println!("{}", problem_metrics(group, error_type));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Endpoint, RouteReport, RouteResult};

    fn report(action: Action, dry_run: bool) -> Report {
        Report {
            group: "web".to_string(),
            action,
            changed: false,
            reason: String::new(),
            trigger: "test".to_string(),
            dry_run,
            from: None,
            to: Some(Endpoint {
                instance_id: "i-b".to_string(),
                eni_id: "eni-b".to_string(),
                availability_zone: None,
                source_dest_check: Some(true),
            }),
            route_tables: vec![
                RouteReport {
                    route_table_id: "rtb-1".to_string(),
                    destination: "192.168.100.10/32".to_string(),
                    before: None,
                    after: None,
                    result: RouteResult::Failed,
                    error: Some("throttled".to_string()),
                },
                RouteReport {
                    route_table_id: "rtb-2".to_string(),
                    destination: "192.168.100.10/32".to_string(),
                    before: None,
                    after: None,
                    result: RouteResult::Pending,
                    error: None,
                },
            ],
            warnings: Vec::new(),
            duration_ms: 42,
        }
    }

    #[test]
    fn given_a_failover_then_the_emf_document_declares_and_carries_each_metric() {
        let doc = decision_metrics(&report(Action::FailedOver, false));
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(doc.get(*name).is_some(), "{name} declared but missing");
        }
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Group"
        );
        assert_eq!(doc["Group"], "web");
        assert_eq!(doc["Failovers"], 1);
        assert_eq!(doc["Refused"], 0);
        assert_eq!(doc["RouteWriteErrors"], 1);
        assert_eq!(doc["RoutesPending"], 1);
        assert_eq!(doc["TargetSourceDestCheckEnabled"], 1);
        assert_eq!(doc["DecisionLatency"], 42);
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn given_a_dry_run_then_no_failover_is_counted() {
        let doc = decision_metrics(&report(Action::FailedOver, true));
        assert_eq!(doc["Failovers"], 0);
    }
}
