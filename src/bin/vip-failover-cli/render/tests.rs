//! The renderings, from reports built by hand.

use std::ffi::OsStr;

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
        name: None,
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
        transit_routes: Vec::new(),
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
