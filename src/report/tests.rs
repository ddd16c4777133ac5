//! The report of one group's run, from the plan and what the writes and the
//! verifying read returned.

use super::*;
use crate::aws::ops::Op;
use crate::aws::AwsError;
use crate::plan::{decide, Intent, Policy};
use crate::testing::*;

/// serverA stopped, three tables on it: a plan moving every table to i-b.
fn moving() -> (Group, Plan) {
    let group = web_group(
        &[stopped(member("i-a", 10)), member("i-b", 20)],
        &tables_pointing_at("i-a", 3),
    );
    let plan = decide(&group, &Intent::Automatic, &Policy::immediate());
    (group, plan)
}

fn outcome(plan: &Plan, i: usize, outcome: Outcome) -> WriteOutcome {
    WriteOutcome {
        write: plan.writes[i].clone(),
        outcome,
    }
}

fn applied<'a>(outcomes: &'a [WriteOutcome], verified: &'a [RouteTableRecord]) -> Applied<'a> {
    Applied {
        dry_run: false,
        outcomes,
        verified: Ok(verified),
        warnings: &[],
    }
}

fn results(report: &Report) -> Vec<RouteResult> {
    report.route_tables.iter().map(|r| r.result).collect()
}

#[test]
fn given_a_dry_run_then_every_planned_write_is_shown_as_would_and_nothing_as_changed() {
    let (group, plan) = moving();
    let dry = Applied {
        dry_run: true,
        outcomes: &[],
        verified: Ok(&[]),
        warnings: &[],
    };
    let report = build(&group, &plan, &dry, "manual failover", 5);
    assert_eq!(results(&report), [RouteResult::WouldReplace; 3]);
    assert!(report
        .route_tables
        .iter()
        .all(|r| r.after.as_deref() == Some(eni_of("i-b").as_str())));
    assert!(!report.changed);
    assert!(report.dry_run);
}

#[test]
fn given_written_failed_and_pending_writes_then_each_table_says_which_and_only_verified_ones_count()
{
    let (group, plan) = moving();
    let throttled =
        AwsError::service(Op::ReplaceRoute, "UnauthorizedOperation", "denied").to_string();
    let outcomes = [
        outcome(&plan, 0, Outcome::Written(WriteKind::Replace)),
        outcome(&plan, 1, Outcome::Failed(throttled)),
        outcome(&plan, 2, Outcome::Pending),
    ];
    let verified = tables_pointing_at("i-b", 1);

    let report = build(&group, &plan, &applied(&outcomes, &verified), "test", 5);

    assert_eq!(
        results(&report),
        [
            RouteResult::Replaced,
            RouteResult::Failed,
            RouteResult::Pending
        ]
    );
    assert!(report.changed);
    assert_eq!(report.written_routes(), 1);
    assert_eq!(report.pending_routes(), [format!("rtb-3 {VIP}")]);
    let failed = report.failed_routes();
    assert!(
        failed[0].starts_with("rtb-2") && failed[0].contains("UnauthorizedOperation"),
        "{failed:?}"
    );
}

/// What "VIP Moved" is published on: a run that wrote VPC routes towards a
/// member other than the holder it found; not a dry run, not a repair of
/// strays towards the holder, not a run that wrote nothing.
#[test]
fn given_runs_then_only_one_that_wrote_routes_to_another_member_moved_the_vip() {
    let (group, plan) = moving();
    let all_written: Vec<_> = (0..3)
        .map(|i| outcome(&plan, i, Outcome::Written(WriteKind::Replace)))
        .collect();
    let on_b = tables_pointing_at("i-b", 3);
    let report = |plan: &Plan, outcomes: &[WriteOutcome], dry_run| {
        let applied = Applied {
            dry_run,
            ..applied(outcomes, &on_b)
        };
        build(&group, plan, &applied, "test", 5)
    };

    assert!(report(&plan, &all_written, false).moved_the_vip());
    assert!(
        !report(&plan, &all_written, true).moved_the_vip(),
        "dry run"
    );
    assert!(
        !report(&plan, &[], false).moved_the_vip(),
        "nothing written"
    );
    let repair = Plan {
        from: plan.to.clone(),
        ..plan.clone()
    };
    assert!(
        !report(&repair, &all_written, false).moved_the_vip(),
        "towards the holder it found: a repair"
    );
}

#[test]
fn given_a_write_the_re_read_shows_elsewhere_then_it_failed_and_names_what_is_there() {
    let (group, plan) = moving();
    let outcomes = [outcome(&plan, 0, Outcome::Written(WriteKind::Replace))];
    let verified = tables_pointing_at("i-c", 1);

    let report = build(&group, &plan, &applied(&outcomes, &verified), "test", 5);

    let first = &report.route_tables[0];
    assert_eq!(first.result, RouteResult::Failed);
    assert_eq!(first.after.as_deref(), Some(eni_of("i-c").as_str()));
    assert!(first.error.as_deref().unwrap().contains("another writer"));
}

#[test]
fn given_a_write_the_re_read_shows_blackholed_then_it_failed_and_says_the_eni_is_gone() {
    let (group, plan) = moving();
    let outcomes = [outcome(&plan, 0, Outcome::Written(WriteKind::Replace))];
    let mut verified = tables_pointing_at("i-b", 1);
    verified[0].routes[1].blackhole = true;

    let report = build(&group, &plan, &applied(&outcomes, &verified), "test", 5);

    let first = &report.route_tables[0];
    assert_eq!(first.result, RouteResult::Failed);
    assert!(
        first.error.as_deref().unwrap().contains("blackhole"),
        "{first:?}"
    );
}

#[test]
fn given_an_untagged_table_holding_one_of_two_vips_then_the_other_is_absent_by_design() {
    let vips = "192.168.100.10/32, 192.168.100.11/32";
    let instances = [
        with_tag(member("i-a", 10), "vip-failover:vip", vips),
        with_tag(member("i-b", 20), "vip-failover:vip", vips),
    ];
    let group = web_group(&instances, &tables_pointing_at("i-a", 1));
    let plan = decide(&group, &Intent::Automatic, &Policy::immediate());
    let report = build(&group, &plan, &applied(&[], &[]), "test", 1);
    assert_eq!(
        results(&report),
        [RouteResult::Unchanged, RouteResult::Absent]
    );
    assert!(
        plan.writes.is_empty(),
        "no route is ever added to an untagged table"
    );
}

fn probe_decision(decision: serde_json::Value) -> Response {
    Response::Probe {
        action: "probe",
        group: "web".to_string(),
        round: "0a1b2c3d-7".to_string(),
        verdict_changes: 0,
        decision,
        next_round: None,
        duration_ms: 1,
    }
}

#[test]
fn given_a_probe_decision_refused_round_after_round_then_it_is_not_mailed_each_time() {
    let refused = probe_decision(serde_json::json!({
        "errorType": "FailoverRefused.Retryable",
        "errorMessage": "no healthy member",
        "report": {"changed": false}
    }));
    assert!(!refused.notify());
    let moved = probe_decision(serde_json::json!({"changed": true}));
    assert!(moved.notify());
    let partly = probe_decision(serde_json::json!({
        "errorType": "PartialFailure.Retryable",
        "report": {"changed": true}
    }));
    assert!(partly.notify());
}
