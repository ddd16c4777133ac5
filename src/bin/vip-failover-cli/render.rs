//! Human rendering of the library's reports for `vip-failover-cli`: aligned
//! columns, a ✓/✗ per item, colour only when asked for. Pure: reports in, text out.

use std::ffi::OsStr;
use std::fmt::Write as _;

use serde::Serialize;
use vip_failover::health::Grade;
use vip_failover::plan::Action;
use vip_failover::preflight::CheckReport;
use vip_failover::report::{MemberStatus, Report, RouteResult, StatusReport};

pub const PASS: &str = "✓";
pub const FAIL: &str = "✗";
const PENDING: &str = "→";

/// What a piece of text means; the palette decides whether that becomes colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Good,
    Bad,
    Warn,
    Strong,
    Faint,
}

impl Style {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Self::Plain => None,
            Self::Good => Some("32"),
            Self::Bad => Some("1;31"),
            Self::Warn => Some("33"),
            Self::Strong => Some("1"),
            Self::Faint => Some("2"),
        }
    }
}

/// Colour on or off for one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    colour: bool,
}

impl Palette {
    #[cfg(test)]
    pub const PLAIN: Self = Self { colour: false };

    /// Colour only on a terminal, and never when `NO_COLOR` is set to a non-empty
    /// value (<https://no-color.org>).
    pub fn detect(is_terminal: bool, no_color: Option<&OsStr>) -> Self {
        Self {
            colour: is_terminal && no_color.is_none_or(OsStr::is_empty),
        }
    }

    pub fn paint(self, style: Style, text: &str) -> String {
        match (self.colour, style.ansi()) {
            (true, Some(code)) => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
}

/// One table cell: its text (what alignment counts) and its style.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    pub fn new(text: impl Into<String>, style: Style) -> Self {
        Self {
            text: text.into(),
            style,
        }
    }

    /// A bare ✓ or ✗.
    fn mark(ok: bool) -> Self {
        if ok {
            Self::new(PASS, Style::Good)
        } else {
            Self::new(FAIL, Style::Bad)
        }
    }

    /// ✓ or ✗ followed by `text`, in the same style.
    fn verdict(ok: bool, text: &str) -> Self {
        let mark = Self::mark(ok);
        Self::new(format!("{} {text}", mark.text), mark.style)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::new(text, Style::Plain)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self::new(text, Style::Plain)
    }
}

/// Rows of cells, padded to the widest text of each column before colouring, so
/// escape codes never shift a column.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn with_header(header: &[&str]) -> Self {
        let mut table = Self::default();
        table.push(header.iter().map(|h| Cell::new(*h, Style::Faint)).collect());
        table
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn render(&self, palette: Palette, indent: &str) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.text.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = indent.to_string();
            for (c, cell) in row.iter().enumerate() {
                let last = c + 1 == row.len();
                let pad = if last {
                    0
                } else {
                    widths[c] - cell.text.chars().count() + 2
                };
                line.push_str(&palette.paint(cell.style, &cell.text));
                line.push_str(&" ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  VPC {}  VIP {}  preempt {}",
        palette.paint(Style::Strong, &format!("Group {}", report.group)),
        report.vpc_id,
        report.vips.join(", "),
        if report.preempt { "on" } else { "off" }
    );
    let active = match &report.active {
        Some(id) => palette.paint(Style::Good, &format!("{PASS} {id}")),
        None => palette.paint(
            Style::Bad,
            &format!("{FAIL} none: the VIP routes are missing or point at no member"),
        ),
    };
    let _ = writeln!(out, "Active: {active}\n");
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
        "ENI",
        "SRC/DST CHECK",
    ]);
    for m in &report.members {
        let role = if m.active {
            Cell::new("active", Style::Strong)
        } else {
            Cell::from("standby")
        };
        let source_dest = match m.source_dest_check {
            Some(false) => Cell::verdict(true, "disabled"),
            Some(true) => Cell::verdict(false, "enabled"),
            None => Cell::new("? unknown", Style::Warn),
        };
        let checks = [m.checks.instance, m.checks.system, m.checks.attached_ebs].map(|c| words(&c));
        members.push(vec![
            role,
            m.instance_id.as_str().into(),
            or_dash(m.availability_zone.as_deref()).into(),
            m.priority.to_string().into(),
            words(&m.state).into(),
            checks.join("/").into(),
            health_cell(m),
            m.eni_id.as_str().into(),
            source_dest,
        ]);
    }
    members
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
                end.instance_id.as_str().into(),
                end.eni_id.as_str().into(),
                or_dash(end.availability_zone.as_deref()).into(),
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

fn route_results(out: &mut String, palette: Palette, report: &Report) {
    let mut table = Table::with_header(&[
        "",
        "ROUTE TABLE",
        "DESTINATION",
        "BEFORE",
        "AFTER",
        "RESULT",
    ]);
    for r in &report.route_tables {
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
mod tests {
    use super::*;
    use vip_failover::preflight::Finding;
    use vip_failover::report::{Endpoint, RouteReport};

    const COLOUR: Palette = Palette { colour: true };

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn given_a_terminal_and_no_no_color_then_colour_is_on_and_otherwise_off() {
        assert!(Palette::detect(true, None).colour);
        assert!(Palette::detect(true, Some(OsStr::new(""))).colour);
        assert!(!Palette::detect(true, Some(OsStr::new("1"))).colour);
        assert!(!Palette::detect(false, None).colour);
    }

    #[test]
    fn given_coloured_cells_then_columns_align_as_without_colour() {
        let mut table = Table::with_header(&["A", "LONGER", "C"]);
        table.push(vec![
            Cell::new("wide cell", Style::Bad),
            "x".into(),
            "end".into(),
        ]);
        table.push(vec![Cell::verdict(true, "ok"), "yy".into(), "e".into()]);
        let plain = table.render(Palette::PLAIN, "  ");
        let coloured = table.render(COLOUR, "  ");
        assert!(coloured.contains("\x1b["));
        assert!(!plain.contains("\x1b["));
        assert_eq!(strip_ansi(&coloured), plain);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines[0], "  A          LONGER  C");
        assert_eq!(lines[1], "  wide cell  x       end");
        assert_eq!(lines[2], "  ✓ ok       yy      e");
    }

    #[test]
    fn given_a_failed_finding_then_check_marks_it_and_counts_it() {
        let report = CheckReport {
            group: "web".to_string(),
            ok: false,
            findings: vec![
                Finding {
                    check: "tag_contract".to_string(),
                    ok: true,
                    detail: "fine".to_string(),
                },
                Finding {
                    check: "source_dest_check".to_string(),
                    ok: false,
                    detail: "ENI eni-b has source/dest check enabled".to_string(),
                },
            ],
        };
        let text = check(&report, Palette::PLAIN);
        assert_eq!(
            text,
            "Check web: ✗ 1 of 2 checks failed\n  ✓  tag_contract       fine\n  ✗  source_dest_check  ENI eni-b has source/dest check enabled\n"
        );
    }

    #[test]
    fn given_a_dry_run_then_the_plan_shows_both_ends_and_each_pending_write() {
        let end = |i: &str, az: &str| Endpoint {
            instance_id: format!("i-{i}"),
            eni_id: format!("eni-{i}"),
            availability_zone: Some(az.to_string()),
            source_dest_check: Some(false),
        };
        let report = Report {
            group: "web".to_string(),
            action: Action::FailedOver,
            changed: false,
            reason: "moving the VIP from i-a to i-b".to_string(),
            trigger: "manual failover".to_string(),
            dry_run: true,
            from: Some(end("a", "us-east-1a")),
            to: Some(end("b", "us-east-1b")),
            route_tables: vec![RouteReport {
                route_table_id: "rtb-1".to_string(),
                destination: "192.168.100.10/32".to_string(),
                before: Some("eni-a".to_string()),
                after: Some("eni-b".to_string()),
                result: RouteResult::WouldReplace,
                error: None,
            }],
            warnings: vec!["member i-c is unhealthy".to_string()],
            duration_ms: 3,
        };
        let text = plan(&report, Palette::PLAIN);
        assert_eq!(
            text,
            "Plan for group web: moving the VIP from i-a to i-b\n\
             \x20 from  i-a  eni-a  us-east-1a\n\
             \x20 to    i-b  eni-b  us-east-1b\n\
             \n\
             \x20    ROUTE TABLE  DESTINATION        BEFORE  AFTER  RESULT\n\
             \x20 →  rtb-1        192.168.100.10/32  eni-a   eni-b  would replace\n\
             warning: member i-c is unhealthy\n"
        );
    }
}
