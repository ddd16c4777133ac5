//! Maintenance mode (issue 19), against the emulator: the
//! `vip-failover:maintenance=true` tag takes a member out of candidacy. On the
//! standby, a failure of the holder has nowhere to go; on the holder, the next
//! run moves the VIP away as an operator's switchover would; removing the tag
//! restores candidacy without a move unless preemption says otherwise; an
//! operator cannot switch over onto a member in maintenance.
//!
//! Emulated: EC2 and CloudWatch by moto (instances, their tags, route tables, a
//! stop); the triggers are the events AWS would deliver (testkit::events). The
//! handler is the library's, wired as `main.rs` wires it.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::events::{scheduled, state_change};
use testkit::topology::{self, Server, GROUP};
use testkit::world::{given_the_two_az_seed, group_report, run, World};
use vip_failover::handler::Handler;
use vip_failover::plan::Action;
use vip_failover::preflight::CheckReport;
use vip_failover::report::{MemberStatus, Report, Response, StatusReport};
use vip_failover::{Config, Error};

const MAINTENANCE: &str = "vip-failover:maintenance";
const PREEMPT: &str = "vip-failover:preempt";

/// The seed as a deployment has it: its client tables tagged for the group.
async fn given_a_deployed_group() -> World {
    let world = given_the_two_az_seed().await;
    world.tag_tables_for_the_group().await;
    world
}

async fn start_maintenance(world: &World, server: &Server) {
    world.tag(&server.instance_id, MAINTENANCE, "true").await;
}

/// Removes the maintenance tag (as `aws ec2 delete-tags` would).
async fn end_maintenance(world: &World, server: &Server) {
    world
        .client
        .delete_tags()
        .resources(&server.instance_id)
        .tags(aws_sdk_ec2::types::Tag::builder().key(MAINTENANCE).build())
        .send()
        .await
        .expect("delete the maintenance tag");
}

fn switchover_to(server: &Server) -> Value {
    json!({"action": "failover", "group": GROUP, "target": server.instance_id})
}

async fn status(world: &World) -> StatusReport {
    match world
        .handle(json!({"action": "status", "group": GROUP}))
        .await
    {
        Ok(Response::Status(status)) => status,
        other => panic!("expected a status, got {other:?}"),
    }
}

async fn check(world: &World) -> CheckReport {
    match world
        .handle(json!({"action": "check", "group": GROUP}))
        .await
    {
        Ok(Response::Check(check)) => check,
        other => panic!("expected a check, got {other:?}"),
    }
}

#[track_caller]
fn member<'a>(status: &'a StatusReport, server: &Server) -> &'a MemberStatus {
    status
        .members
        .iter()
        .find(|m| m.instance_id == server.instance_id)
        .unwrap_or_else(|| panic!("{} not in {status:#?}", server.instance_id))
}

/// The one group report of a scheduled reconcile.
#[track_caller]
fn reconciled(response: Response) -> Report {
    match response {
        Response::Reconcile { mut groups, .. } if groups.len() == 1 => groups.remove(0),
        other => panic!("expected a reconcile of one group, got {other:?}"),
    }
}

fn has_warning(report: Option<&Report>, needle: &str) -> bool {
    report.is_some_and(|r| r.warnings.iter().any(|w| w.contains(needle)))
}

/// A handler on the world's emulator without the hold-down, for moves that
/// follow each other within a minute.
fn without_hold_down(world: &World) -> Handler {
    let config = Config {
        hold_down: Duration::ZERO,
        ..testkit::patient()
    };
    world.emulator.handler_with(config).0
}

/// 1a. Given serverB (the only standby) in maintenance, when serverA stops,
/// then nothing moves: the refusal is retryable, the report names the member
/// in maintenance, and `status` shows it. Once the tag is gone, the schedule
/// moves the VIP (the level decides, as for any refusal).
#[tokio::test]
async fn given_the_standby_in_maintenance_when_the_holder_stops_then_it_is_refused_and_nothing_written(
) {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    start_maintenance(&world, b).await;

    let before = status(&world).await;
    assert!(member(&before, b).maintenance, "{before:#?}");
    assert!(!member(&before, a).maintenance, "{before:#?}");
    assert_eq!(before.reconcile, Action::NoChange, "{before:#?}");

    topology::stop(&world.client, &a.instance_id).await.unwrap();
    world.calls.clear();
    let error = world
        .handle(state_change(&a.instance_id, "stopped", None))
        .await
        .expect_err("no member fit to take the VIP");

    assert!(error.retryable(), "{}: {error}", error.diagnostic_type());
    let in_maintenance = format!("member {} is in maintenance", b.instance_id);
    assert!(has_warning(error.report(), &in_maintenance), "{error:?}");
    world.assert_nothing_written().await;

    end_maintenance(&world, b).await;
    let report = reconciled(
        world
            .handle(scheduled())
            .await
            .expect("B is a candidate again"),
    );
    assert_eq!(report.action, Action::FailedOver, "{report:?}");
    assert_eq!(world.vip_targets().await, world.on_b());
}

/// 1a, the error itself: a refusal an operator reads at 3 a.m. in the Lambda
/// error (its `errorMessage` carries no warnings) must say why a healthy
/// standby was not taken.
#[tokio::test]
async fn given_the_standby_in_maintenance_when_the_holder_stops_then_the_error_names_the_maintenance(
) {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    start_maintenance(&world, b).await;
    topology::stop(&world.client, &a.instance_id).await.unwrap();

    let error = world
        .handle(state_change(&a.instance_id, "stopped", None))
        .await
        .expect_err("refused");

    let message = error.to_string();
    assert!(
        message.contains(&b.instance_id) && message.contains("maintenance"),
        "{}: {message}",
        error.diagnostic_type()
    );
}

/// 1b. Given the VIP moved onto serverA by an operator a moment ago (its
/// hold-down and pin in force), when serverA goes into maintenance, then the
/// next scheduled run moves every VIP route to serverB, as an operator's
/// switchover would, and the run after it leaves it there.
#[tokio::test]
async fn given_the_holder_in_maintenance_when_the_schedule_runs_then_every_table_moves_to_the_standby(
) {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    world.handle(switchover_to(b)).await.expect("to B");
    world.handle(switchover_to(a)).await.expect("back to A");
    start_maintenance(&world, a).await;

    let before = status(&world).await;
    assert!(member(&before, a).maintenance && member(&before, a).active);
    assert_eq!(before.reconcile, Action::FailedOver, "{before:#?}");
    world.calls.clear();

    let report = reconciled(world.handle(scheduled()).await.expect("moves off A"));

    assert_eq!(report.action, Action::FailedOver, "{report:?}");
    assert_eq!(
        report.from.as_ref().map(|e| &e.instance_id),
        Some(&a.instance_id)
    );
    assert_eq!(
        report.to.as_ref().map(|e| &e.instance_id),
        Some(&b.instance_id)
    );
    assert!(report.reason.contains("maintenance"), "{}", report.reason);
    assert_eq!(world.vip_spread().await, world.all_on(&b.eni_id));
    world.assert_moved_to(b, &world.calls).await;

    world.calls.clear();
    let again = reconciled(world.handle(scheduled()).await.expect("stays"));
    assert_eq!(again.action, Action::NoChange, "{again:?}");
    world.assert_stays_on(b, &world.calls).await;
}

/// 1c. Given serverA (the holder) in maintenance and serverB stopped, when a
/// run comes, then it is refused with an error that names the maintenance, and
/// nothing is written: the VIP stays where it still works.
#[tokio::test]
async fn given_the_holder_in_maintenance_and_no_other_fit_member_then_it_is_refused_and_nothing_written(
) {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    start_maintenance(&world, a).await;
    topology::stop(&world.client, &b.instance_id).await.unwrap();
    world.calls.clear();

    let error = world
        .handle(state_change(&b.instance_id, "stopped", None))
        .await
        .expect_err("nowhere to go");

    assert_eq!(error.diagnostic_type(), "MaintenanceRefused.Retryable");
    let message = error.to_string();
    assert!(message.contains(&a.instance_id), "{message}");
    assert!(message.contains("in maintenance"), "{message}");
    world.assert_nothing_written().await;

    let scheduled_run = world.handle(scheduled()).await.expect_err("refused too");
    let message = scheduled_run.to_string();
    assert_eq!(
        scheduled_run.diagnostic_type(),
        "ReconcileIncomplete.Retryable"
    );
    assert!(
        message.contains("MaintenanceRefused.Retryable"),
        "{message}"
    );
    world.assert_nothing_written().await;

    let now = status(&world).await;
    assert!(member(&now, a).maintenance && member(&now, a).active);
    assert_eq!(now.reconcile, Action::Refused, "{now:#?}");
}

/// 1d, without preemption. Given the VIP moved off serverA for its
/// maintenance, when the tag is removed, then nothing moves, and serverA is a
/// candidate again: an operator's switchover onto it, refused before, is
/// accepted.
#[tokio::test]
async fn given_the_maintenance_ended_without_preemption_then_the_vip_stays_and_a_is_a_candidate_again(
) {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    start_maintenance(&world, a).await;
    reconciled(world.handle(scheduled()).await.expect("off A"));
    assert_eq!(world.vip_targets().await, world.on_b());
    let refused = world
        .handle(switchover_to(a))
        .await
        .expect_err("in maintenance");
    assert_eq!(
        refused.diagnostic_type(),
        "TargetInMaintenance.NotRetryable"
    );

    end_maintenance(&world, a).await;
    world.calls.clear();
    let report = reconciled(world.handle(scheduled()).await.expect("no move"));

    assert_eq!(report.action, Action::NoChange, "{report:?}");
    world.assert_stays_on(b, &world.calls).await;
    assert!(!member(&status(&world).await, a).maintenance);
    let back = group_report(world.handle(switchover_to(a)).await.expect("a candidate"));
    assert_eq!(back.action, Action::FailedOver, "{back:?}");
    assert_eq!(world.vip_targets().await, world.on_a());
}

/// 1d, with preemption (by design: "unless preemption says otherwise").
/// Given preempt=true and the VIP moved off serverA (priority 10) for its
/// maintenance, then serverA does not preempt while in maintenance, and takes
/// the VIP back from serverB (priority 20) once the tag is removed.
#[tokio::test]
async fn given_preemption_when_the_preferred_member_leaves_maintenance_then_it_takes_the_vip_back()
{
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    for server in [a, b] {
        world.tag(&server.instance_id, PREEMPT, "true").await;
    }
    let handler = without_hold_down(&world);
    start_maintenance(&world, a).await;
    reconciled(run(&handler, scheduled()).await.expect("off A"));
    assert_eq!(world.vip_targets().await, world.on_b());

    let still = reconciled(run(&handler, scheduled()).await.expect("no preemption"));
    assert_eq!(still.action, Action::NoChange, "{still:?}");
    assert_eq!(world.vip_targets().await, world.on_b());

    end_maintenance(&world, a).await;
    let back = reconciled(run(&handler, scheduled()).await.expect("preempts"));

    assert_eq!(back.action, Action::FailedOver, "{back:?}");
    assert!(back.reason.contains("preemption"), "{}", back.reason);
    assert_eq!(world.vip_spread().await, world.all_on(&a.eni_id));
}

/// 1e. Given serverB in maintenance, when an operator switches over to it,
/// then it is refused (`TargetInMaintenance`, not retryable: only removing
/// the tag helps) and nothing is written.
#[tokio::test]
async fn given_the_standby_in_maintenance_when_switching_over_to_it_then_it_is_refused() {
    let world = given_a_deployed_group().await;
    let b = &world.seed.server_b;
    start_maintenance(&world, b).await;
    world.calls.clear();

    let error = world
        .handle(switchover_to(b))
        .await
        .expect_err("target in maintenance");

    assert_eq!(error.diagnostic_type(), "TargetInMaintenance.NotRetryable");
    let message = error.to_string();
    assert!(message.contains(&b.instance_id) && message.contains("maintenance"));
    world.assert_nothing_written().await;
}

/// 1e, without a named target: "the best other member" is none, and the
/// error must say it is because of the maintenance tag.
#[tokio::test]
async fn given_the_standby_in_maintenance_when_switching_over_without_target_then_the_error_names_it(
) {
    let world = given_a_deployed_group().await;
    let b = &world.seed.server_b;
    start_maintenance(&world, b).await;

    let error: Error = world
        .handle(json!({"action": "failover", "group": GROUP}))
        .await
        .expect_err("no other member");

    let message = error.to_string();
    assert!(message.contains("maintenance"), "{message}");
    world.assert_nothing_written().await;
}

/// `check` shows maintenance: with the only standby in maintenance, a failure
/// of the holder cannot be absorbed; with the holder in maintenance, the VIP
/// leaves it at the next run.
#[tokio::test]
async fn given_a_member_in_maintenance_when_checking_then_check_shows_it() {
    let world = given_a_deployed_group().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    assert!(check(&world).await.ok, "the deployed seed passes");

    start_maintenance(&world, b).await;
    let standby = check(&world).await;
    let finding = standby
        .findings
        .iter()
        .find(|f| f.check == "healthy_standby");
    assert!(finding.is_some_and(|f| !f.ok), "{standby:#?}");
    let text = format!("{standby:?}");
    assert!(text.contains(&b.instance_id) && text.contains("maintenance"));

    end_maintenance(&world, b).await;
    start_maintenance(&world, a).await;
    let holder = format!("{:?}", check(&world).await);
    assert!(holder.contains(&a.instance_id) && holder.contains("maintenance"));
}
