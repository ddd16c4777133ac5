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
    // One route failed, one pending: the VIP has not moved yet.
    assert_eq!(doc["Failovers"], 0);
    assert_eq!(doc["Refused"], 0);
    assert_eq!(doc["RouteWriteErrors"], 1);
    assert_eq!(doc["RoutesPending"], 1);
    assert_eq!(doc["TargetSourceDestCheckEnabled"], 1);
    assert_eq!(doc["DecisionLatency"], 42);
    assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);

    // Once a route is written, it is a failover.
    let mut moved = report(Action::FailedOver, false);
    moved.route_tables[0].result = RouteResult::Replaced;
    assert_eq!(decision_metrics(&moved)["Failovers"], 1);
}

#[test]
fn given_a_dry_run_then_no_failover_is_counted() {
    let doc = decision_metrics(&report(Action::FailedOver, true));
    assert_eq!(doc["Failovers"], 0);
}

// --- the template against the metrics the code emits ----------------------

const TEMPLATE: &str = include_str!("../../template.yaml");

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
        let top = line.starts_with("  ") && !line[2..].starts_with([' ', '#']) && line.len() > 2;
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
