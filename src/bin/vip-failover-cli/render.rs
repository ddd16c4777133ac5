//! Human rendering of the library's reports for `vip-failover-cli`: aligned
//! columns, a ✓/✗ per item, colour only when asked for. Pure: reports in, text out.

use std::fmt::Write as _;

use serde::Serialize;
use vip_failover::health::Grade;
use vip_failover::plan::Action;
use vip_failover::preflight::CheckReport;
use vip_failover::report::{MemberStatus, Report, RouteReport, RouteResult, StatusReport};

mod table;

pub use table::{Cell, Palette, Style, Table, FAIL, PASS};

const PENDING: &str = "→";

/// The report with every string made safe for a terminal ([`crate::out::visible`]):
/// tag values reach the screen through it.
fn visible<T: Serialize + serde::de::DeserializeOwned + Clone>(report: &T) -> T {
    fn clean(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(crate::out::visible(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, clean(v))).collect())
            }
            other => other,
        }
    }
    serde_json::to_value(report)
        .map(clean)
        .and_then(serde_json::from_value)
        .unwrap_or_else(|_| report.clone())
}

/// An enum as its serialized (snake/kebab case) name, with spaces for humans.
fn words<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace(['_', '-'], " ")))
        .unwrap_or_else(|| "unknown".to_string())
}

/// An action as a plan (`planned`) or as done.
fn label(action: Action, planned: bool) -> &'static str {
    match (action, planned) {
        (Action::FailedOver, true) => "move the VIP",
        (Action::FailedOver, false) => "VIP moved",
        (Action::Repaired, true) => "repair the routes that point elsewhere",
        (Action::Repaired, false) => "routes repaired",
        (Action::NoChange, _) => "nothing to do",
        (Action::Refused, true) => "refuse to act",
        (Action::Refused, false) => "refused",
    }
}

fn action_style(action: Action) -> Style {
    match action {
        Action::NoChange => Style::Good,
        Action::FailedOver | Action::Repaired => Style::Warn,
        Action::Refused => Style::Bad,
    }
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

/// `Title: verdict`, then `tail`.
fn headline(out: &mut String, palette: Palette, title: &str, verdict: Cell, tail: &str) {
    let _ = writeln!(
        out,
        "{}: {}{tail}",
        palette.paint(Style::Strong, title),
        palette.paint(verdict.style, &verdict.text)
    );
}

fn warnings(out: &mut String, palette: Palette, warnings: &[String]) {
    for warning in warnings {
        let _ = writeln!(out, "{} {warning}", palette.paint(Style::Warn, "warning:"));
    }
}

/// `status`: the group, its members, where every VIP route points, and what a
/// reconcile would do.
pub fn status(report: &StatusReport, palette: Palette) -> String {
    let report = &visible(report);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  VPC {}  VIP {}  preempt {}",
        palette.paint(Style::Strong, &format!("Group {}", report.group)),
        report.vpc_id,
        report.vips.join(", "),
        if report.preempt { "on" } else { "off" }
    );
    let holder = report
        .active
        .as_ref()
        .and_then(|id| report.members.iter().find(|m| &m.instance_id == id));
    let active = match (&report.active, holder) {
        // The holder's mark says whether it is fit to hold the VIP now.
        (Some(id), Some(m)) if m.health != Grade::Healthy => {
            let line = format!(
                "{FAIL} {} ({})",
                named(id, m.name.as_deref()),
                health_words(m)
            );
            palette.paint(Style::Bad, &line)
        }
        (Some(id), holder) => {
            let name = holder.and_then(|m| m.name.as_deref());
            palette.paint(Style::Good, &format!("{PASS} {}", named(id, name)))
        }
        (None, _) => palette.paint(
            Style::Bad,
            &format!("{FAIL} none: the VIP routes are missing or point at no member"),
        ),
    };
    let _ = writeln!(out, "Active: {active}");
    if let Some(pin) = &report.pinned {
        let line = format!(
            "Pinned: on {} until {} by an operator's move; preemption waits. Release: {}",
            pin.to, pin.until, pin.release
        );
        let _ = writeln!(out, "{}", palette.paint(Style::Warn, &line));
    }
    let sealed = match &report.sealed {
        Some(seal) => format!(
            "sealed to {} ({})",
            seal.members.iter().cloned().collect::<Vec<_>>().join(", "),
            seal.sources.join("; ")
        ),
        None => "open: any instance tagged for the group joins it".to_string(),
    };
    let _ = writeln!(out, "Membership: {sealed}\n");
    out.push_str(&member_table(report).render(palette, "  "));
    for u in &report.unresolved {
        let line = format!("{FAIL} {} cannot be a member: {}", u.instance_id, u.detail);
        let _ = writeln!(out, "  {}", palette.paint(Style::Bad, &line));
    }
    out.push('\n');
    if report.route_tables.is_empty() {
        let none = format!("{FAIL} no route table carries a VIP route");
        let _ = writeln!(out, "  {}", palette.paint(Style::Bad, &none));
    } else {
        out.push_str(&route_table(report).render(palette, "  "));
    }
    transit_lines(&mut out, palette, &report.transit_routes);
    out.push('\n');
    let _ = writeln!(
        out,
        "Reconcile would: {} ({})",
        palette.paint(
            action_style(report.reconcile),
            label(report.reconcile, true)
        ),
        report.reconcile_reason
    );
    warnings(&mut out, palette, &report.warnings);
    out
}

fn member_table(report: &StatusReport) -> Table {
    let mut members = Table::with_header(&[
        "ROLE",
        "INSTANCE",
        "AZ",
        "PRIORITY",
        "STATE",
        "CHECKS (INST/SYS/EBS)",
        "HEALTH",
        "PROBE",
        "ENI",
        "SRC/DST CHECK",
    ]);
    for m in &report.members {
        let role = match (m.active, m.maintenance) {
            (true, false) => Cell::new("active", Style::Strong),
            (true, true) => Cell::new("active, maintenance", Style::Warn),
            (false, true) => Cell::new("maintenance", Style::Warn),
            (false, false) => Cell::from("standby"),
        };
        let source_dest = match m.source_dest_check {
            Some(false) => Cell::verdict(true, "disabled"),
            Some(true) => Cell::verdict(false, "enabled"),
            None => Cell::new("? unknown", Style::Warn),
        };
        let checks = [m.checks.instance, m.checks.system, m.checks.attached_ebs].map(|c| words(&c));
        members.push(vec![
            role,
            named(&m.instance_id, m.name.as_deref()).into(),
            or_dash(m.availability_zone.as_deref()).into(),
            m.priority.to_string().into(),
            words(&m.state).into(),
            checks.join("/").into(),
            health_cell(m),
            probe_cell(m),
            m.eni_id.as_str().into(),
            source_dest,
        ]);
    }
    members
}

/// `✓ up: answered in 3 ms (1.2 s ago)`, `✗ down: connection refused (0.4 s ago)`,
/// `-` when not probed (or no fresh verdict).
fn probe_cell(m: &MemberStatus) -> Cell {
    match &m.probe {
        Some(p) => {
            let age = format!("{:.1} s ago", p.age_ms as f64 / 1000.0);
            let word = if p.up { "up" } else { "down" };
            Cell::verdict(p.up, &format!("{word}: {} ({age})", p.reason))
        }
        None => Cell::from("-"),
    }
}

/// `i-0abc (serverA)`: an instance id with its Name tag, when it has one.
fn named(id: &str, name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("{id} ({name})"),
        None => id.to_string(),
    }
}

/// `failed: alarm x is ALARM`: a member's grade and why, in words.
fn health_words(m: &MemberStatus) -> String {
    let grade = match m.health {
        Grade::Healthy => "healthy",
        Grade::Unknown => "health unknown",
        Grade::Failed => "failed",
    };
    match m.findings.as_slice() {
        [] => grade.to_string(),
        findings => format!("{grade}: {}", findings.join("; ")),
    }
}

/// `✓ healthy`, `? unknown: checks initializing`, `✗ failed: alarm x is ALARM`.
fn health_cell(m: &MemberStatus) -> Cell {
    let why = m.findings.join("; ");
    match m.health {
        Grade::Healthy => Cell::verdict(true, "healthy"),
        Grade::Unknown => Cell::new(format!("? unknown: {why}"), Style::Warn),
        Grade::Failed => Cell::verdict(false, &format!("failed: {why}")),
    }
}

fn route_table(report: &StatusReport) -> Table {
    let mut routes = Table::with_header(&[
        "",
        "ROUTE TABLE",
        "DESTINATION",
        "TARGET",
        "MEMBER",
        "TAGGED",
    ]);
    for t in &report.route_tables {
        let on_active = report.active.is_some() && t.member == report.active;
        routes.push(vec![
            Cell::mark(on_active),
            t.route_table_id.as_str().into(),
            t.destination.as_str().into(),
            or_dash(t.target.as_deref()).into(),
            or_dash(t.member.as_deref()).into(),
            (if t.tagged { "yes" } else { "no" }).into(),
        ]);
    }
    routes
}

/// `check`: one line per finding.
pub fn check(report: &CheckReport, palette: Palette) -> String {
    let report = &visible(report);
    let mut out = String::new();
    let failed = report.problems().count();
    let total = report.findings.len();
    let verdict = if report.ok {
        format!("all {total} checks passed")
    } else {
        format!("{failed} of {total} checks failed")
    };
    let title = format!("Check {}", report.group);
    headline(
        &mut out,
        palette,
        &title,
        Cell::verdict(report.ok, &verdict),
        "",
    );
    let mut table = Table::default();
    for finding in &report.findings {
        table.push(vec![
            Cell::mark(finding.ok),
            finding.check.as_str().into(),
            finding.detail.as_str().into(),
        ]);
    }
    out.push_str(&table.render(palette, "  "));
    out
}

fn endpoints(out: &mut String, palette: Palette, report: &Report) {
    let mut table = Table::default();
    for (label, endpoint) in [("from", &report.from), ("to", &report.to)] {
        let row = match endpoint {
            Some(end) => vec![
                Cell::new(label, Style::Faint),
                named(&end.instance_id, end.name.as_deref()).into(),
                end.eni_id.as_str().into(),
                or_dash(end.availability_zone.as_deref()).into(),
            ],
            None if label == "to" && report.action == Action::Refused => vec![
                Cell::new(label, Style::Faint),
                "- (refused: nothing moves)".into(),
            ],
            None => vec![
                Cell::new(label, Style::Faint),
                "- (no single member holds the VIP)".into(),
            ],
        };
        table.push(row);
    }
    out.push_str(&table.render(palette, "  "));
}

/// The VIP routes of the group's route tables, then those of its Transit
/// Gateway route tables (when there are any).
fn route_results(out: &mut String, palette: Palette, report: &Report) {
    route_lines(out, palette, &report.route_tables);
    transit_lines(out, palette, &report.transit_routes);
}

fn transit_lines(out: &mut String, palette: Palette, routes: &[RouteReport]) {
    if routes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nTransit Gateway route tables (towards the VPC's attachment):"
    );
    route_lines(out, palette, routes);
}

fn route_lines(out: &mut String, palette: Palette, routes: &[RouteReport]) {
    let mut table = Table::with_header(&[
        "",
        "ROUTE TABLE",
        "DESTINATION",
        "BEFORE",
        "AFTER",
        "RESULT",
    ]);
    for r in routes {
        let (mark, style) = match r.result {
            RouteResult::Created | RouteResult::Replaced | RouteResult::Unchanged => {
                (PASS, Style::Good)
            }
            RouteResult::WouldCreate | RouteResult::WouldReplace | RouteResult::Pending => {
                (PENDING, Style::Warn)
            }
            RouteResult::Failed => (FAIL, Style::Bad),
            RouteResult::Absent => ("-", Style::Faint),
        };
        let result = match &r.error {
            Some(error) => format!("{}: {error}", words(&r.result)),
            None => words(&r.result),
        };
        table.push(vec![
            Cell::new(mark, style),
            r.route_table_id.as_str().into(),
            r.destination.as_str().into(),
            or_dash(r.before.as_deref()).into(),
            or_dash(r.after.as_deref()).into(),
            Cell::new(result, style),
        ]);
    }
    out.push_str(&table.render(palette, "  "));
}

/// The dry run shown before asking: who holds the VIP, who would, and each route.
pub fn plan(report: &Report, palette: Palette) -> String {
    let report = &visible(report);
    let mut out = String::new();
    let title = format!("Plan for group {}", report.group);
    let verdict = Cell::new(report.reason.as_str(), action_style(report.action));
    headline(&mut out, palette, &title, verdict, "");
    endpoints(&mut out, palette, report);
    out.push('\n');
    route_results(&mut out, palette, report);
    warnings(&mut out, palette, &report.warnings);
    out
}

/// What the switchover did, table by table, and how long it took.
pub fn outcome(report: &Report, palette: Palette) -> String {
    let report = &visible(report);
    let mut out = String::new();
    let failed = report.failed_routes().len() + report.pending_routes().len();
    let verdict = if failed == 0 {
        label(report.action, false).to_string()
    } else {
        format!("{failed} routes not updated")
    };
    let title = format!("Group {}", report.group);
    let took = format!(" in {} ms", report.duration_ms);
    headline(
        &mut out,
        palette,
        &title,
        Cell::verdict(failed == 0, &verdict),
        &took,
    );
    endpoints(&mut out, palette, report);
    out.push('\n');
    route_results(&mut out, palette, report);
    warnings(&mut out, palette, &report.warnings);
    out
}

#[cfg(test)]
mod tests;
