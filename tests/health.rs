//! The health model against the emulator: every run grades each member from every
//! signal read now (EC2 state, instance/system/attached-EBS checks, the members'
//! CloudWatch alarm levels, an authoritative EC2 state-change event), so the event
//! that woke the function is only a hint.
//!
//! Each scenario would fail against the previous design, which decided from the
//! one event plus EC2's instance and system checks; the comment above each test
//! names the old behaviour it catches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_ec2::types::Tag;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use testkit::events::{alarm, scheduled, state_change};
use testkit::fault_proxy::{FaultProxy, Rewrite, Rules};
use testkit::topology::{self, GROUP, VIP};
use testkit::world::{given_the_two_az_seed, group_report, run, World};
use testkit::CallLog;
use vip_failover::handler::Handler;
use vip_failover::report::{Report, Response};
use vip_failover::Config;
use vip_failover::Error;

const PREEMPT: &str = "vip-failover:preempt";
const ENI_TAG: &str = "vip-failover:eni";
const GROUP_TAG: &str = "vip-failover:group";
const LAST_MOVE: &str = "vip-failover:last-move:web";

// ---------------------------------------------------------------------------
// Helpers: givens, whens and how the answers are read.
// ---------------------------------------------------------------------------

/// A patient handler whose EC2 and CloudWatch calls go through a fault proxy
/// in front of the world's emulator.
async fn through_proxy(world: &World, rules: Rules) -> (FaultProxy, Handler, CallLog) {
    world.through_proxy(rules, testkit::patient()).await
}

fn rewrites(rewrites: Vec<Rewrite>) -> Rules {
    Rules {
        rewrites,
        ..Rules::default()
    }
}

/// `instance`'s instance and system checks are still initializing.
fn initializing(instance: &str) -> Rules {
    rewrites(vec![Rewrite::instance_status(
        instance,
        "initializing",
        "initializing",
        None,
    )])
}

/// `handler` runs `event`, which must succeed (`what` it is) with a group report.
async fn handled(handler: &Handler, event: Value, what: &str) -> Report {
    group_report(run(handler, event).await.expect(what))
}

/// serverA's alarm fires and the world's handler refuses to move the VIP, for
/// now: a retryable refusal.
async fn failover_refused(world: &World, what: &str) -> Error {
    let refused = world
        .handle(world.alarm_on_a().await)
        .await
        .expect_err(what);
    assert_eq!(
        refused.diagnostic_type(),
        "FailoverRefused.Retryable",
        "{refused}"
    );
    refused
}

async fn tag(world: &World, resource: &str, key: &str, value: &str) {
    world
        .client
        .create_tags()
        .resources(resource)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .expect("tag");
}

/// Both members carry `vip-failover:preempt=true`.
async fn with_preemption(world: &World) {
    for server in [&world.seed.server_a, &world.seed.server_b] {
        tag(world, &server.instance_id, PREEMPT, "true").await;
    }
}

/// Every seeded VIP route points at serverB's ENI, with no move record (as an
/// operator would leave it), so no hold-down is involved.
async fn vip_on_b_by_hand(world: &World) {
    world.vip_by_hand_on(&world.seed.server_b).await;
    assert_eq!(world.vip_targets().await, world.on_b());
}

/// The one group report of a reconcile.
fn reconciled(response: Response) -> Report {
    match response {
        Response::Reconcile { mut groups, .. } => {
            assert_eq!(groups.len(), 1, "{groups:?}");
            groups.remove(0)
        }
        other => panic!("expected a reconcile, got {other:?}"),
    }
}

fn to_json(response: &Response) -> Value {
    serde_json::to_value(response).expect("serializable")
}

fn action(report: &Report) -> String {
    serde_json::to_value(report.action)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// The report says `action`, with `holder` the member the VIP is to be on.
#[track_caller]
fn assert_decided(report: &Report, action_taken: &str, holder: &str) {
    assert_eq!(action(report), action_taken, "{report:#?}");
    assert_eq!(target(report), holder);
}

fn target(report: &Report) -> String {
    report
        .to
        .as_ref()
        .map(|t| t.instance_id.clone())
        .unwrap_or_default()
}

/// The report carries a warning that contains every one of `needles`.
fn assert_warns(warnings: &[String], needles: &[&str]) {
    assert!(
        warnings
            .iter()
            .any(|w| needles.iter().all(|n| w.contains(n))),
        "no warning with {needles:?} in {warnings:#?}"
    );
}

async fn reconcile(handler: &Handler) -> Result<Response, Error> {
    run(handler, scheduled()).await
}

async fn status(handler: &Handler) -> Value {
    let status = json!({"action": "status", "group": GROUP});
    to_json(&run(handler, status).await.expect("status"))
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|m| m["instance_id"].as_str().unwrap().to_string())
        .collect()
}

/// When the move recorded on the seed's tables happened (the record's time).
async fn recorded_move_at(world: &World) -> DateTime<Utc> {
    let record = world.move_records().await.remove(0);
    let at = record.split(' ').next().unwrap();
    DateTime::parse_from_rfc3339(at)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

async fn sleep_until(at: DateTime<Utc>) {
    let left = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// Waits for the start of the next wall-clock second. A move record carries
/// whole seconds, so a move made just after a second starts gets (almost) the
/// whole of a short hold-down.
async fn at_the_start_of_a_second() {
    let into = Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1_000 - into.min(999)) + 20)).await;
}

/// DescribeRouteTables shows `table`'s VIP route blackholed the first time it is
/// read; after that it shows what the emulator holds, as EC2 does once the route
/// is rewritten to a live ENI (moto has no blackhole state of its own).
fn blackholed_until_rewritten(table: &str) -> Rewrite {
    let blackhole = Rewrite::blackhole_route(table, VIP);
    let first = AtomicBool::new(true);
    Rewrite::new("DescribeRouteTables", move |xml| {
        if first.swap(false, Ordering::SeqCst) {
            blackhole.apply(xml)
        } else {
            xml.to_string()
        }
    })
}

// ---------------------------------------------------------------------------
// 1. Alarm levels are read on every run, so an alarm swallowed by the hold-down
//    is acted on later.
// ---------------------------------------------------------------------------

/// Old behaviour caught: the alarm event inside the hold-down was answered with
/// success (held, so Lambda never retried it) and was the only signal of B's
/// failure; the scheduled reconcile (no alarm in hand, B passing its EC2 checks)
/// then left the VIP on the failing B.
#[tokio::test]
async fn given_a_fresh_move_to_b_when_bs_alarm_fires_inside_the_hold_down_then_it_is_held_and_the_scheduled_reconcile_moves_the_vip_back_to_a(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let hold_down = Duration::from_secs(2);
    let (handler, calls) = world.emulator.handler_with(Config {
        hold_down,
        ..testkit::patient()
    });
    at_the_start_of_a_second().await;
    let moved = handled(&handler, world.alarm_on_a().await, "A fails over to B").await;
    assert_eq!(action(&moved), "failed_over");
    assert_eq!(world.vip_targets().await, world.on_b());
    world.set_level(&a.instance_id, "OK").await;
    calls.clear();

    let b_fails = world.alarm(&b.instance_id, "ALARM").await;
    let held = run(&handler, b_fails).await.expect_err("held down");

    assert_eq!(held.diagnostic_type(), "HeldDown.Retryable", "{held}");
    world.assert_stays_on(b, &calls).await;

    let hold_down_ends = recorded_move_at(&world).await + hold_down;
    sleep_until(hold_down_ends + chrono::Duration::milliseconds(100)).await;
    calls.clear();
    let after = reconciled(reconcile(&handler).await.expect("reconcile"));

    assert_decided(&after, "failed_over", &a.instance_id);
    world.assert_moved_to(a, &calls).await;
}

// ---------------------------------------------------------------------------
// 2. A refused failover is retried by the schedule from the alarm level.
// ---------------------------------------------------------------------------

/// Old behaviour caught: the refused ALARM event was the only record of A's
/// failure; once B ran again, the scheduled reconcile saw A running with ok
/// checks and left the VIP on it.
#[tokio::test]
async fn given_the_only_standby_stopped_for_patching_when_the_actives_alarm_fires_then_it_is_refused_and_the_schedule_moves_the_vip_once_the_standby_runs(
) {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    topology::stop(&world.client, &b.instance_id).await.unwrap();
    world.calls.clear();

    let refused = failover_refused(&world, "no healthy standby").await;

    assert!(refused.to_string().contains(&b.instance_id), "{refused}");
    world.assert_nothing_written().await;

    world
        .client
        .start_instances()
        .instance_ids(&b.instance_id)
        .send()
        .await
        .expect("start B");
    world.calls.clear();
    let after = reconciled(reconcile(&world.handler).await.expect("reconcile"));

    assert_decided(&after, "failed_over", &b.instance_id);
    world.assert_moved_to(b, &world.calls).await;
}

// ---------------------------------------------------------------------------
// 3. Preemption only onto a member that is healthy by every signal.
// ---------------------------------------------------------------------------

/// Old behaviour caught: A ran and passed its EC2 checks, so with preemption it
/// took the VIP back although its own alarm was in ALARM.
#[tokio::test]
async fn given_preemption_and_the_vip_on_b_when_a_runs_with_its_alarm_in_alarm_then_b_keeps_it_until_the_alarm_is_ok(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    with_preemption(&world).await;
    vip_on_b_by_hand(&world).await;
    world.set_level(&a.instance_id, "ALARM").await;
    world.set_level(&b.instance_id, "OK").await;
    world.calls.clear();

    let kept = reconciled(reconcile(&world.handler).await.expect("reconcile"));

    assert_decided(&kept, "no_change", &b.instance_id);
    assert_warns(&kept.warnings, &[&a.instance_id, "ALARM"]);
    world.assert_stays_on(b, &world.calls).await;

    world.set_level(&a.instance_id, "OK").await;
    let back = reconciled(reconcile(&world.handler).await.expect("reconcile"));

    assert_decided(&back, "failed_over", &a.instance_id);
    assert!(back.reason.contains("preemption"), "{}", back.reason);
    assert_eq!(world.vip_targets().await, world.on_a());
}

// ---------------------------------------------------------------------------
// 4. A member that cannot be used is a failed member, not a broken group.
// ---------------------------------------------------------------------------

/// Old behaviour caught: a terminated member without VPC or ENI made the whole
/// group an InvalidGroupConfiguration, so the VIP stayed on the dead instance.
#[tokio::test]
async fn given_the_holder_terminated_without_vpc_or_eni_when_its_state_change_arrives_then_status_reconcile_and_the_event_work_and_the_vip_moves_to_b(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    // An hour after termination EC2 lists the instance without VPC or ENI, and
    // every route to its deleted ENI is a blackhole.
    let terminated = rewrites(vec![
        Rewrite::terminated_instance(&a.instance_id),
        Rewrite::blackhole_routes_to(&a.eni_id),
    ]);
    let (_proxy, handler, calls) = through_proxy(&world, terminated).await;

    let before = status(&handler).await;
    assert_eq!(ids(&before["members"]), [b.instance_id.as_str()]);
    assert_eq!(ids(&before["unresolved"]), [a.instance_id.as_str()]);
    assert_eq!(before["active"], Value::Null, "{before:#}");
    assert_eq!(before["reconcile"], "failed_over", "{before:#}");

    let terminated = state_change(&a.instance_id, "terminated", None);
    let moved = handled(&handler, terminated, "the event moves the VIP").await;

    assert_decided(&moved, "failed_over", &b.instance_id);
    assert_warns(&moved.warnings, &[&a.instance_id, "cannot be a member"]);
    assert_eq!(world.vip_targets().await, world.on_b());

    calls.clear();
    let after = reconciled(reconcile(&handler).await.expect("reconcile"));
    assert_eq!(action(&after), "no_change", "{after:#?}");
    assert_warns(&after.warnings, &[&a.instance_id, "cannot be a member"]);
    calls.assert_no_writes();

    let now = status(&handler).await;
    assert_eq!(now["active"], b.instance_id.as_str(), "{now:#}");
    assert_eq!(ids(&now["unresolved"]), [a.instance_id.as_str()]);
}

// ---------------------------------------------------------------------------
// 5. A standby whose ENI tag is wrong is unusable; the group still acts.
// ---------------------------------------------------------------------------

/// Old behaviour caught: an ENI tag naming an unattached ENI refused the whole
/// group with InvalidGroupConfiguration, even for status and reconcile.
#[tokio::test]
async fn given_a_standby_whose_eni_tag_names_an_unattached_eni_when_the_active_fails_then_status_and_reconcile_work_and_the_failover_is_refused(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let loose = world
        .client
        .create_network_interface()
        .subnet_id(&world.seed.subnets[1])
        .send()
        .await
        .expect("an ENI")
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .expect("its id")
        .to_string();
    tag(&world, &b.instance_id, ENI_TAG, &loose).await;

    let now = status(&world.handler).await;
    assert_eq!(ids(&now["members"]), [a.instance_id.as_str()]);
    assert_eq!(ids(&now["unresolved"]), [b.instance_id.as_str()]);
    let detail = now["unresolved"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&loose) && detail.contains("not attached"),
        "{detail}"
    );
    let kept = reconciled(reconcile(&world.handler).await.expect("reconcile"));
    assert_eq!(action(&kept), "no_change", "{kept:#?}");
    assert_warns(&kept.warnings, &[&b.instance_id, "cannot be a member"]);
    world.calls.clear();

    let refused = failover_refused(&world, "no usable standby").await;

    let message = refused.to_string();
    assert!(
        message.contains(&b.instance_id) && message.contains("not attached"),
        "{message}"
    );
    world.assert_nothing_written().await;
}

// ---------------------------------------------------------------------------
// 6. Events out of order: the level read now decides, not the event's state.
// ---------------------------------------------------------------------------

/// Old behaviour caught: the event's state was taken at its word, so a late
/// ALARM moved the VIP off a healthy A, and an OK arriving after the alarm
/// fired again left the VIP on a failed A.
#[tokio::test]
async fn given_events_out_of_order_when_they_arrive_then_the_alarm_level_decides_not_the_event() {
    let world = given_the_two_az_seed().await;
    let a = &world.seed.server_a.instance_id;
    world.set_level(a, "OK").await;
    world.calls.clear();

    let while_ok = "an ALARM event while the level is OK";
    let stale_alarm = handled(&world.handler, alarm(a, "ALARM"), while_ok).await;

    assert_eq!(action(&stale_alarm), "no_change", "{stale_alarm:#?}");
    world.assert_nothing_written().await;

    world.set_level(a, "ALARM").await;
    let while_in_alarm = "an OK event while the level is ALARM";
    let stale_ok = handled(&world.handler, alarm(a, "OK"), while_in_alarm).await;

    let b = &world.seed.server_b;
    assert_decided(&stale_ok, "failed_over", &b.instance_id);
    world.assert_moved_to(b, &world.calls).await;
}

// ---------------------------------------------------------------------------
// 7. Checks still initializing: not failed, not proven healthy.
// ---------------------------------------------------------------------------

/// Old behaviour caught: "running and not impaired" counted as healthy, so an
/// initializing B outranked a healthy C by priority, and an initializing A with
/// preemption took the VIP back before its checks had passed.
#[tokio::test]
async fn given_checks_still_initializing_then_a_healthy_member_outranks_priority_and_preemption_waits_for_them(
) {
    // Three members: A(10) fails, B(20) is initializing, C(30) is healthy.
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    let c = topology::launch(
        &world.client,
        &world.seed.subnets[0],
        "serverC",
        &topology::member_tags("30"),
    )
    .await
    .unwrap();
    let (_proxy, handler, _) = through_proxy(&world, initializing(&b.instance_id)).await;

    let moved = handled(&handler, world.alarm_on_a().await, "A fails over").await;

    assert_eq!(target(&moved), c.instance_id, "{moved:#?}");
    assert_warns(
        &moved.warnings,
        &[&b.instance_id, "unknown", "initializing"],
    );
    assert_eq!(world.vip_targets().await, world.on(&c));

    // Two members with preemption: B holds, the primary A is initializing.
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    with_preemption(&world).await;
    vip_on_b_by_hand(&world).await;
    let (proxy, handler, calls) = through_proxy(&world, initializing(&a.instance_id)).await;

    let kept = reconciled(reconcile(&handler).await.expect("reconcile"));

    assert_decided(&kept, "no_change", &b.instance_id);
    world.assert_stays_on(b, &calls).await;

    // Once A's checks pass, preemption does take the VIP back.
    proxy.set_rules(Rules::default());
    let back = reconciled(reconcile(&handler).await.expect("reconcile"));
    assert_eq!(action(&back), "failed_over", "{back:#?}");
    assert_eq!(world.vip_targets().await, world.on_a());
}

// ---------------------------------------------------------------------------
// 8. The attached-EBS check counts.
// ---------------------------------------------------------------------------

/// Old behaviour caught: only the instance and system checks were read, so a
/// holder whose attached EBS volume was impaired kept the VIP.
#[tokio::test]
async fn given_the_holders_attached_ebs_check_impaired_when_the_schedule_fires_then_the_vip_moves_to_b(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let impaired_ebs = Rewrite::instance_status(&a.instance_id, "ok", "ok", Some("impaired"));
    let (_proxy, handler, calls) = through_proxy(&world, rewrites(vec![impaired_ebs])).await;

    let moved = reconciled(reconcile(&handler).await.expect("reconcile"));

    assert_decided(&moved, "failed_over", &b.instance_id);
    assert_warns(
        &moved.warnings,
        &[&a.instance_id, "attached EBS", "impaired"],
    );
    world.assert_moved_to(b, &calls).await;
}

// ---------------------------------------------------------------------------
// 9. A stray blackhole is repaired towards the holder, not a reason to move.
// ---------------------------------------------------------------------------

/// Old behaviour caught: a blackholed route counted as "no active member", so
/// the VIP moved from the healthy B to the preferred A in every table.
#[tokio::test]
async fn given_b_holds_the_vip_when_one_route_is_blackholed_then_a_reconcile_keeps_b_and_rewrites_only_that_table(
) {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    vip_on_b_by_hand(&world).await;
    let broken = world.seed.tables[1].clone();
    let (proxy, handler, calls) =
        through_proxy(&world, rewrites(vec![blackholed_until_rewritten(&broken)])).await;

    let repaired = reconciled(reconcile(&handler).await.expect("reconcile"));

    assert_decided(&repaired, "repaired", &b.instance_id);
    assert_eq!(calls.writes(), ["ReplaceRoute"]);
    let replaced: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.action == "ReplaceRoute")
        .map(|s| s.body)
        .collect();
    assert_eq!(replaced.len(), 1);
    assert!(
        replaced[0].contains(&format!("RouteTableId={broken}"))
            && replaced[0].contains(&format!("NetworkInterfaceId={}", b.eni_id)),
        "{}",
        replaced[0]
    );
    let route = repaired
        .route_tables
        .iter()
        .find(|r| r.route_table_id == broken)
        .unwrap();
    assert_eq!(route.before, Some(format!("{} (blackhole)", b.eni_id)));
    assert_eq!(serde_json::to_value(route.result).unwrap(), "replaced");
    assert_eq!(world.vip_targets().await, world.on_b());
}

// ---------------------------------------------------------------------------
// 10. One VIP, one group per VPC.
// ---------------------------------------------------------------------------

/// Old behaviour caught: each group was built on its own, so an instance tagged
/// into a second group with the same VIP pulled the routes its way; then both
/// groups were refused, so one stray tag froze the incumbent too.
#[tokio::test]
async fn given_a_newcomer_group_claiming_the_vip_when_the_schedule_fires_then_the_incumbent_keeps_working_and_check_names_the_newcomer(
) {
    let world = given_the_two_az_seed().await;
    let evil = topology::launch(
        &world.client,
        &world.seed.subnets[0],
        "evil",
        &[(GROUP_TAG, "evil"), ("vip-failover:vip", VIP)],
    )
    .await
    .unwrap();
    world.calls.clear();

    let response = to_json(
        &reconcile(&world.handler)
            .await
            .expect("a newcomer's tags do not fail the reconcile"),
    );

    assert_eq!(response["attention"], true, "{response}");
    let problems = response["needs_attention"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{response}");
    assert_eq!(problems[0]["group"], "evil");
    assert_eq!(
        problems[0]["error_type"],
        "InvalidGroupConfiguration.NotRetryable"
    );
    let web = &response["groups"][0];
    assert_eq!(web["group"], GROUP);
    assert!(
        web["warnings"].to_string().contains(&evil.instance_id),
        "{web}"
    );
    world.assert_nothing_written().await;

    let check = to_json(
        &world
            .handle(json!({"action": "check", "group": "evil"}))
            .await
            .expect("check"),
    );
    assert_eq!(check["ok"], false);
    let detail = check["findings"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(GROUP)
            && detail.contains(&world.seed.server_a.instance_id)
            && detail.contains(VIP),
        "{detail}"
    );
    world.calls.assert_no_writes();
}

// ---------------------------------------------------------------------------
// 11. A move record is not authority when dated in the future.
// ---------------------------------------------------------------------------

/// Old behaviour caught: the record was taken at its word, so a record dated in
/// 2099 held the VIP on a failing B for ever.
#[tokio::test]
async fn given_a_forged_move_record_dated_2099_when_bs_alarm_fires_then_the_vip_moves_back_at_once_and_the_record_is_reported(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    world.failed_over_to_b_and_a_recovered().await;
    let forged = format!("2099-01-01T00:00:00Z {}>{}", a.instance_id, b.instance_id);
    for table in &world.seed.tables {
        tag(&world, table, LAST_MOVE, &forged).await;
    }

    let b_fails = world.alarm(&b.instance_id, "ALARM").await;
    let moved = handled(&world.handler, b_fails, "not held by a forged record").await;

    assert_decided(&moved, "failed_over", &a.instance_id);
    assert_warns(&moved.warnings, &["2099-01-01", "dated in the future"]);
    world.assert_moved_to(a, &world.calls).await;
}

// ---------------------------------------------------------------------------
// 12. An EC2 state-change event is authoritative, unless it is a late delivery.
// ---------------------------------------------------------------------------

/// Old behaviour caught: a `stopped` event was believed whenever it came, so a
/// late delivery about an earlier life of A moved the VIP off a running A; and
/// DescribeInstances (still `running`) overruled a `stopping` event, so the
/// hold-down kept the VIP on a stopping B.
#[tokio::test]
async fn given_a_late_stopped_event_then_nothing_moves_and_given_a_stopping_event_for_the_holder_inside_the_hold_down_then_the_vip_moves(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    // A late delivery: A was launched after this event was sent.
    let an_hour_ago =
        (Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let late_stop = state_change(&a.instance_id, "stopped", Some(&an_hour_ago));
    let late = handled(&world.handler, late_stop, "a late delivery").await;

    assert_eq!(action(&late), "no_change", "{late:#?}");
    world.assert_nothing_written().await;

    world.failed_over_to_b_and_a_recovered().await;

    // B is not stopped in the emulator: DescribeInstances still says running.
    let stopping = state_change(&b.instance_id, "stopping", None);
    let authoritative = "the event is authoritative, hold-down or not";
    let moved = handled(&world.handler, stopping, authoritative).await;

    assert_decided(&moved, "failed_over", &a.instance_id);
    assert_warns(&moved.warnings, &[&b.instance_id, "stopping"]);
    world.assert_moved_to(a, &world.calls).await;
}

// ---------------------------------------------------------------------------
// 13. One membership rule on every path.
// ---------------------------------------------------------------------------

/// Old behaviour caught: a group's members were read with the exact-value filter
/// `tag:vip-failover:group=web`, so a member tagged `web ` was missing from
/// status and from every failover, although its own events found the group by
/// the trimmed name.
#[tokio::test]
async fn given_a_member_tagged_web_with_a_trailing_space_then_status_reconcile_failover_and_its_own_events_see_two_members(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    tag(&world, &b.instance_id, GROUP_TAG, "web ").await;

    let now = status(&world.handler).await;
    assert_eq!(
        ids(&now["members"]),
        [a.instance_id.as_str(), b.instance_id.as_str()]
    );

    let scheduled = reconciled(reconcile(&world.handler).await.expect("reconcile"));
    assert_eq!(scheduled.group, GROUP);
    assert_eq!(action(&scheduled), "no_change");

    let failover = json!({"action": "failover", "group": GROUP});
    let manual = handled(&world.handler, failover, "manual failover").await;
    assert_eq!(target(&manual), b.instance_id, "{manual:#?}");
    assert_eq!(world.vip_targets().await, world.on_b());

    // An event about the `web ` member itself finds its group.
    topology::stop(&world.client, &b.instance_id).await.unwrap();
    let stopped = state_change(&b.instance_id, "stopped", None);
    let automatic = handled(&world.handler, stopped, "automatic failover").await;
    assert_eq!(automatic.group, GROUP);
    assert_decided(&automatic, "failed_over", &a.instance_id);
    assert_eq!(world.vip_targets().await, world.on_a());
}

// ---------------------------------------------------------------------------
// 14. CloudWatch unreadable: nothing is proven either way.
// ---------------------------------------------------------------------------

/// Old behaviour caught: alarm levels were never read, so a run could not say
/// that it decided without them; the report now warns that every member's
/// health is unknown, while EC2's own verdict still moves the VIP.
#[tokio::test]
async fn given_cloudwatch_unreadable_when_the_schedule_fires_then_nothing_moves_and_the_report_says_why_but_a_stopped_holder_still_fails_over(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    let unreadable = Rules {
        always_fail: vec![vec!["Action=DescribeAlarms".to_string()]],
        ..Rules::default()
    };
    let (_proxy, handler, calls) = through_proxy(&world, unreadable).await;

    let kept = reconciled(reconcile(&handler).await.expect("reconcile"));

    assert_decided(&kept, "no_change", &a.instance_id);
    for member in [a, b] {
        assert_warns(
            &kept.warnings,
            &[&member.instance_id, "unknown", "alarm levels unread"],
        );
    }
    world.assert_stays_on(a, &calls).await;

    topology::stop(&world.client, &a.instance_id).await.unwrap();
    let stopped = state_change(&a.instance_id, "stopped", None);
    let moved = handled(&handler, stopped, "EC2's verdict needs no alarm").await;

    assert_decided(&moved, "failed_over", &b.instance_id);
    assert_warns(&moved.warnings, &[&b.instance_id, "health is unknown"]);
    assert_eq!(world.vip_targets().await, world.on_b());
}
