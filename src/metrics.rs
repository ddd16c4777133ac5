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
                name: None,
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
            transit_routes: Vec::new(),
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

    // --- the template against the metrics the code emits ----------------------

    const TEMPLATE: &str = include_str!("../template.yaml");

    /// The metric names an EMF document declares in [`NAMESPACE`].
    fn declared(doc: &Value) -> Vec<String> {
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        directives
            .iter()
            .filter(|d| d["Namespace"] == NAMESPACE)
            .flat_map(|d| d["Metrics"].as_array().unwrap())
            .map(|m| m["Name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn emitted_lists_exactly_the_metrics_the_emf_documents_declare() {
        use std::collections::BTreeSet;
        let documents = [
            decision_metrics(&report(Action::FailedOver, false)),
            problem_metrics("web", "InvalidGroupConfiguration"),
            probe_metrics("web", 1),
            reconcile_metrics(),
        ];
        let names: BTreeSet<String> = documents.iter().flat_map(declared).collect();
        let emitted: BTreeSet<String> = EMITTED.iter().map(|n| n.to_string()).collect();
        assert_eq!(emitted.len(), EMITTED.len(), "EMITTED lists a name twice");
        assert_eq!(
            names, emitted,
            "EMITTED must list exactly the names the EMF documents declare"
        );
    }

    /// The `DashboardBody: !Sub |` block scalar of the template, de-indented, with
    /// every `${...}` replaced by a dummy word (they all stand inside JSON strings).
    fn dashboard_body() -> Value {
        let mut lines = TEMPLATE.lines();
        let key = lines
            .find(|l| l.trim_start().starts_with("DashboardBody:"))
            .expect("a DashboardBody in template.yaml");
        assert!(key.trim_end().ends_with('|'), "a block scalar: {key}");
        let indent = key.len() - key.trim_start().len();
        let block: Vec<&str> = lines
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .collect();
        let mut text = block.join("\n");
        while let Some(start) = text.find("${") {
            let end = start + text[start..].find('}').expect("a closed ${...}");
            text.replace_range(start..=end, "SUBSTITUTED");
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard is JSON: {e}\n{text}"))
    }

    /// `MetricName="X"` of every SEARCH over the namespace in `expression`.
    fn searched_names(expression: &str) -> Vec<String> {
        let searches = expression.split("SEARCH(").skip(1);
        let ours = searches.filter(|s| {
            let schema = s.split('}').next().unwrap_or_default();
            schema.replace('"', "").contains(&format!("{{{NAMESPACE}"))
        });
        ours.flat_map(|s| {
            let names: Vec<String> = s
                .split("MetricName=\"")
                .skip(1)
                .map(|n| n.split('"').next().unwrap_or_default().to_string())
                .collect();
            assert!(
                !names.is_empty(),
                "a SEARCH over {NAMESPACE} without MetricName=: {s}"
            );
            names
        })
        .collect()
    }

    /// Every metric name in [`NAMESPACE`] the dashboard uses: `metrics` arrays
    /// (`[namespace, name, dims..., {options}]`, "." repeating the one above) and
    /// SEARCH expressions anywhere.
    fn dashboard_names(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(rows)) = map.get("metrics") {
                    let (mut namespace, mut name) = (String::new(), String::new());
                    for row in rows {
                        let row = row.as_array().expect("a metrics row is an array");
                        if let (Some(Value::String(ns)), Some(Value::String(n))) =
                            (row.first(), row.get(1))
                        {
                            if !matches!(ns.as_str(), "." | "...") {
                                namespace = ns.clone();
                            }
                            if n != "." {
                                name = n.clone();
                            }
                            if namespace == NAMESPACE {
                                out.push(name.clone());
                            }
                        }
                    }
                }
                map.values().for_each(|v| dashboard_names(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| dashboard_names(v, out)),
            Value::String(text) => out.extend(searched_names(text)),
            _ => {}
        }
    }

    #[test]
    fn every_vipfailover_metric_on_the_dashboard_is_one_the_code_emits() {
        let mut names = Vec::new();
        dashboard_names(&dashboard_body(), &mut names);
        for name in &names {
            assert!(
                EMITTED.contains(&name.as_str()),
                "the dashboard shows {NAMESPACE} {name}, which the code never emits"
            );
        }
        for shown in [
            "Failovers",
            "Repairs",
            "Refused",
            "RoutesPending",
            "RouteWriteErrors",
            "DecisionLatency",
            "ConfigurationErrors",
            "ProbeVerdictChanges",
            "Reconciles",
        ] {
            assert!(
                names.iter().any(|n| n == shown),
                "the dashboard lacks {shown}: {names:?}"
            );
        }
    }

    /// The template cut at each top-level entry of a section (two-space keys):
    /// resources, outputs, parameters.
    fn template_entries() -> Vec<Vec<&'static str>> {
        let mut entries: Vec<Vec<&str>> = Vec::new();
        for line in TEMPLATE.lines() {
            let top =
                line.starts_with("  ") && !line[2..].starts_with([' ', '#']) && line.len() > 2;
            if top || entries.is_empty() {
                entries.push(Vec::new());
            }
            entries.last_mut().unwrap().push(line);
        }
        entries
    }

    #[test]
    fn every_alarm_on_a_vipfailover_metric_names_one_the_code_emits() {
        let namespace_line = |l: &&str| {
            l.trim()
                .strip_prefix("Namespace:")
                .map(|v| v.trim().trim_matches('"'))
                == Some(NAMESPACE)
        };
        let mut alarms = 0;
        for entry in template_entries() {
            if !entry.iter().any(namespace_line) {
                continue;
            }
            let names: Vec<&str> = entry
                .iter()
                .filter_map(|l| l.trim().strip_prefix("MetricName:"))
                .map(|v| v.trim().trim_matches('"'))
                .collect();
            assert!(!names.is_empty(), "no MetricName in\n{}", entry.join("\n"));
            for name in names {
                assert!(
                    EMITTED.contains(&name),
                    "{} watches {NAMESPACE} {name}, which the code never emits",
                    entry[0].trim()
                );
            }
            alarms += 1;
        }
        assert!(
            alarms >= 3,
            "Refused, RouteWriteErrors and the heartbeat: {alarms}"
        );
    }

    /// The value of an `AlarmName:` line, without `!Sub` and quotes.
    fn alarm_name(line: &str) -> Option<&str> {
        let value = line.trim().strip_prefix("AlarmName:")?.trim();
        Some(value.trim_start_matches("!Sub").trim().trim_matches('"'))
    }

    #[test]
    fn the_stacks_own_alarms_can_never_be_read_as_member_alarms() {
        // AlarmNamePrefix may only hold these characters; if its pattern changes,
        // check the stack's alarm names against the new one.
        let prefix_block = TEMPLATE
            .split("\n  AlarmNamePrefix:\n")
            .nth(1)
            .expect("the AlarmNamePrefix parameter");
        let pattern = prefix_block
            .lines()
            .find_map(|l| l.trim().strip_prefix("AllowedPattern:"))
            .expect("AlarmNamePrefix has an AllowedPattern");
        assert_eq!(pattern.trim(), r#""^[A-Za-z0-9_.-]{1,200}$""#);
        let prefix_char = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);

        let names: Vec<&str> = TEMPLATE.lines().filter_map(alarm_name).collect();
        let own: Vec<&&str> = names
            .iter()
            .filter(|n| !n.starts_with("${AlarmNamePrefix}"))
            .collect();
        assert!(own.len() >= 5, "the stack's alarms: {names:?}");
        for name in own {
            let first = name.chars().next().unwrap_or('a');
            assert!(
                !prefix_char(first) && first != '$',
                "{name} could start with an AlarmNamePrefix: the function would read it as a member alarm"
            );
        }
    }
}
