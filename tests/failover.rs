//! Failover scenarios against a real EC2 API emulator: given a group described by
//! tags, when a trigger arrives, then every route table ends where it should and
//! nothing else changes.

use serde_json::json;
use testkit::events::{alarm, state_change};
use testkit::topology::{self, GROUP, VIP};
use testkit::world::{given_the_two_az_seed, group_report};
use testkit::Emulator;

#[tokio::test]
async fn given_the_seed_when_server_a_fails_then_every_route_table_points_at_server_b() {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    assert_eq!(world.vip_targets().await, vec![a.eni_id.clone(); 3]);

    let report = world.failed_over_to_b().await;

    assert_eq!(world.vip_targets().await, vec![b.eni_id.clone(); 3]);
    assert_eq!(report.group, GROUP);
    assert_eq!(serde_json::to_value(report.action).unwrap(), "failed_over");
    assert!(report.changed);
    let from = report.from.expect("from");
    let to = report.to.expect("to");
    assert_eq!(
        (from.instance_id.as_str(), from.eni_id.as_str()),
        (a.instance_id.as_str(), a.eni_id.as_str())
    );
    assert_eq!(
        (to.instance_id.as_str(), to.eni_id.as_str()),
        (b.instance_id.as_str(), b.eni_id.as_str())
    );
    assert_eq!(to.availability_zone.as_deref(), Some("us-east-1b"));
    assert_eq!(report.route_tables.len(), 3);
    for table in &report.route_tables {
        assert_eq!(table.before.as_deref(), Some(a.eni_id.as_str()));
        assert_eq!(table.after.as_deref(), Some(b.eni_id.as_str()));
        assert_eq!(serde_json::to_value(table.result).unwrap(), "replaced");
    }
    assert_eq!(world.calls.route_writes(), vec!["ReplaceRoute"; 3]);
}

#[tokio::test]
async fn given_unrelated_routes_when_failing_over_then_only_vip_routes_change() {
    let world = given_the_two_az_seed().await;
    let before = topology::dump_routes(&world.client, &world.seed.vpc_id)
        .await
        .unwrap();

    world.failed_over_to_b().await;

    let after = topology::dump_routes(&world.client, &world.seed.vpc_id)
        .await
        .unwrap();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let vip_route = format!("destination_cidr_block: Some(\"{VIP}\")");
    let mut changed = 0;
    for (table, routes) in &before {
        let keep = |rs: &Vec<String>| -> Vec<String> {
            rs.iter()
                .filter(|r| !r.contains(&vip_route))
                .cloned()
                .collect()
        };
        assert_eq!(
            keep(routes),
            keep(&after[table]),
            "unrelated routes of {table} changed"
        );
        changed += usize::from(routes != &after[table]);
    }
    // The main table and the three client tables exist; only the client tables changed.
    assert_eq!(before.len(), 4);
    assert_eq!(changed, 3);
}

#[tokio::test]
async fn given_an_already_failed_over_group_when_server_a_fails_again_then_nothing_is_written() {
    let world = given_the_two_az_seed().await;
    let event = world.alarm_on_a().await;
    world.handle(event.clone()).await.expect("first failover");
    world.calls.clear();

    let report = group_report(world.handle(event).await.expect("second run"));

    assert_eq!(serde_json::to_value(report.action).unwrap(), "no_change");
    assert!(!report.changed);
    let b = &world.seed.server_b;
    world.assert_stays_on(b, &world.calls).await;
}

#[tokio::test]
async fn given_a_healthy_active_when_the_standby_fails_then_no_route_changes_and_it_is_reported() {
    let world = given_the_two_az_seed().await;
    let standby = &world.seed.server_b.instance_id;

    let event = world.alarm(standby, "ALARM").await;
    let report = group_report(world.handle(event).await.expect("handled"));

    assert_eq!(serde_json::to_value(report.action).unwrap(), "no_change");
    world.calls.assert_no_writes();
    assert!(
        report.warnings.iter().any(|w| w.contains(standby.as_str())),
        "degraded standby not reported: {:?}",
        report.warnings
    );
    assert_eq!(world.vip_targets().await, world.on_a());
}

#[tokio::test]
async fn given_a_stopped_standby_when_the_active_fails_then_nothing_moves_and_an_error_names_the_members(
) {
    let world = given_the_two_az_seed().await;
    topology::stop(&world.client, &world.seed.server_b.instance_id)
        .await
        .unwrap();
    world.calls.clear();

    let error = world
        .handle(world.alarm_on_a().await)
        .await
        .expect_err("no healthy target");

    let message = error.to_string();
    assert_eq!(error.error_type(), "FailoverRefused");
    assert!(message.contains("no healthy member"), "{message}");
    assert!(
        message.contains(&world.seed.server_b.instance_id),
        "{message}"
    );
    assert!(message.contains("stopped"), "{message}");
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn given_three_members_when_the_active_fails_then_the_lowest_priority_healthy_one_takes_over()
{
    let world = given_the_two_az_seed().await;
    let subnet = &world.seed.subnets[0];
    // serverC sits between serverA (10) and serverB (20).
    let server_c = topology::launch(
        &world.client,
        subnet,
        "serverC",
        &topology::member_tags("15"),
    )
    .await
    .unwrap();

    let event = world.alarm_on_a().await;
    let report = group_report(world.handle(event).await.expect("failover"));

    assert_eq!(report.to.unwrap().instance_id, server_c.instance_id);
    assert_eq!(world.vip_targets().await, world.on(&server_c));
}

#[tokio::test]
async fn given_a_tagged_table_without_the_route_when_failing_over_then_the_route_is_created() {
    let world = given_the_two_az_seed().await;
    let tagged = topology::create_table(
        &world.client,
        &world.seed.vpc_id,
        &[("Name", "clients-new"), ("vip-failover:group", "db, web")],
        None,
    )
    .await
    .unwrap();

    let report = world.failed_over_to_b().await;

    let targets = world.vip_target_map().await;
    assert_eq!(targets.get(&tagged), Some(&world.seed.server_b.eni_id));
    assert_eq!(targets.len(), 4);
    let created = report
        .route_tables
        .iter()
        .find(|r| r.route_table_id == tagged)
        .unwrap();
    assert_eq!(created.before, None);
    assert_eq!(serde_json::to_value(created.result).unwrap(), "created");
    let mut writes = world.calls.route_writes();
    writes.sort();
    assert_eq!(
        writes,
        [
            "CreateRoute",
            "ReplaceRoute",
            "ReplaceRoute",
            "ReplaceRoute"
        ]
    );
}

#[tokio::test]
async fn given_a_manual_failover_to_a_named_target_when_dry_run_then_the_plan_is_returned_and_nothing_written(
) {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    let event =
        json!({"action": "failover", "group": GROUP, "target": b.instance_id, "dry_run": true});

    let report = group_report(world.handle(event).await.expect("dry run"));

    assert!(report.dry_run);
    assert_eq!(report.to.unwrap().instance_id, b.instance_id);
    assert!(report
        .route_tables
        .iter()
        .all(|r| serde_json::to_value(r.result).unwrap() == "would_replace"));
    world.assert_nothing_written().await;
}

#[tokio::test]
async fn given_a_manual_failover_when_run_twice_then_the_vip_moves_away_and_back() {
    let world = given_the_two_az_seed().await;
    let event = json!({"action": "failover", "group": GROUP});

    world.handle(event.clone()).await.expect("to B");
    assert_eq!(world.vip_targets().await, world.on_b());
    world.handle(event).await.expect("back to A");
    assert_eq!(world.vip_targets().await, world.on_a());
    // A warm function reads the VPC's CIDRs once, not on every failover.
    assert_eq!(
        world.calls.count("DescribeVpcs"),
        1,
        "{:?}",
        world.calls.actions()
    );
}

#[tokio::test]
async fn given_a_vip_inside_the_vpc_cidr_when_failing_over_then_it_is_refused_naming_the_vip() {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let vpc = topology::create_vpc(&client, "10.0.0.0/16").await.unwrap();
    let subnet = topology::create_subnet(&client, &vpc, "10.0.1.0/24", "us-east-1a")
        .await
        .unwrap();
    let inside = [
        ("vip-failover:group", "web"),
        ("vip-failover:vip", "10.0.200.10/32"),
    ];
    let a = topology::launch(&client, &subnet, "serverA", &inside)
        .await
        .unwrap();
    topology::launch(&client, &subnet, "serverB", &inside)
        .await
        .unwrap();
    let table = topology::create_table(&client, &vpc, &[("vip-failover:group", "web")], None)
        .await
        .unwrap();
    let (handler, calls) = emulator.handler();

    let error = handler
        .handle(alarm(&a.instance_id, "ALARM"), testkit::deadline())
        .await
        .expect_err("refused");

    let message = error.to_string();
    assert!(
        message.contains("10.0.200.10/32") && message.contains(&vpc),
        "{message}"
    );
    assert!(!error.retryable());
    assert!(calls.writes().is_empty(), "{:?}", calls.actions());
    let targets = topology::targets_of(&client, &vpc, "10.0.200.10/32")
        .await
        .unwrap();
    assert!(!targets.contains_key(&table));
}

#[tokio::test]
async fn given_a_failover_then_the_move_is_recorded_on_every_table_before_the_first_route_write() {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);

    world.failed_over_to_b().await;

    assert_eq!(world.calls.count("CreateTags"), 1);
    let actions = world.calls.actions();
    let recorded = actions.iter().position(|a| a == "CreateTags").unwrap();
    let first_write = actions.iter().position(|a| a == "ReplaceRoute").unwrap();
    assert!(recorded < first_write, "{actions:?}");
    for record in world.move_records().await {
        assert!(
            record.ends_with(&format!(" {}>{}", a.instance_id, b.instance_id)),
            "{record}"
        );
    }
}

#[tokio::test]
async fn given_a_fresh_move_when_the_new_holders_alarm_flaps_then_the_hold_down_keeps_the_vip_and_fails_retryably(
) {
    let world = given_the_two_az_seed().await;
    let (a, b) = (&world.seed.server_a, &world.seed.server_b);
    world.failed_over_to_b_and_a_recovered().await;

    // serverB's health alarm fires seconds later, but EC2 says it is fine.
    let event = world.alarm(&b.instance_id, "ALARM").await;
    let held = world.handle(event).await.expect_err("held, and said so");

    assert_eq!(held.diagnostic_type(), "HeldDown.Retryable");
    assert!(held.to_string().contains("hold-down"), "{held}");
    world.assert_stays_on(b, &world.calls).await;

    // When serverB really fails (stopped), the hold-down does not apply.
    topology::stop(&world.client, &b.instance_id).await.unwrap();
    let stopped = state_change(&b.instance_id, "stopped", None);
    let moved = group_report(world.handle(stopped).await.expect("moved"));
    assert_eq!(serde_json::to_value(moved.action).unwrap(), "failed_over");
    assert_eq!(world.vip_targets().await, vec![a.eni_id.clone(); 3]);
}

#[tokio::test]
async fn given_a_target_with_source_dest_check_enabled_then_it_is_reported_or_fixed_when_asked() {
    let world = given_the_two_az_seed().await;
    let b = &world.seed.server_b;
    topology::set_source_dest_check(&world.client, &b.eni_id, true)
        .await
        .unwrap();

    let dry_run = json!({"action": "failover", "group": GROUP, "dry_run": true});
    let warned = group_report(world.handle(dry_run).await.unwrap());
    assert!(warned
        .warnings
        .iter()
        .any(|w| w.contains("source/dest check enabled") && w.contains(&b.eni_id)));
    assert_eq!(warned.to.unwrap().source_dest_check, Some(true));

    let config = vip_failover::Config {
        fix_source_dest_check: true,
        ..testkit::patient()
    };
    let (fixing, calls) = world.emulator.handler_with(config);
    let event = world.alarm_on_a().await;
    let fixed = group_report(fixing.handle(event, testkit::deadline()).await.unwrap());

    assert!(
        fixed
            .warnings
            .iter()
            .any(|w| w.contains("disabled source/dest check")),
        "{:?}",
        fixed.warnings
    );
    let actions = calls.actions();
    let fix_at = actions
        .iter()
        .position(|a| a == "ModifyNetworkInterfaceAttribute")
        .expect("fixed");
    let first_route = actions
        .iter()
        .position(|a| a == "ReplaceRoute")
        .expect("moved");
    assert!(fix_at < first_route, "{actions:?}");
    let eni = world
        .client
        .describe_network_interfaces()
        .network_interface_ids(&b.eni_id)
        .send()
        .await
        .unwrap();
    assert_eq!(eni.network_interfaces()[0].source_dest_check(), Some(false));
}

#[tokio::test]
async fn given_a_cold_container_when_a_members_state_change_arrives_then_the_members_are_listed_once(
) {
    let world = given_the_two_az_seed().await;
    let a = &world.seed.server_a.instance_id;
    topology::stop(&world.client, a).await.unwrap();
    world.calls.clear();

    world
        .handle(state_change(a, "stopped", None))
        .await
        .expect("failover");

    assert_eq!(
        world.calls.count("DescribeInstances"),
        1,
        "{:?}",
        world.calls.actions()
    );
    assert_eq!(world.vip_targets().await, world.on_b());
}

#[tokio::test]
async fn given_an_untagged_table_routing_the_vip_elsewhere_when_failing_over_then_it_is_left_alone_and_named(
) {
    let world = given_the_two_az_seed().await;
    let foreign = topology::create_table(
        &world.client,
        &world.seed.vpc_id,
        &[("Name", "not-ours")],
        None,
    )
    .await
    .unwrap();
    topology::route_to_gateway(&world.client, &foreign, VIP, &world.seed.igw_id)
        .await
        .unwrap();

    let report = world.failed_over_to_b().await;

    let targets = world.vip_target_map().await;
    assert_eq!(
        targets[&foreign], world.seed.igw_id,
        "a route that is not the group's was written"
    );
    assert_eq!(
        world
            .vip_targets()
            .await
            .iter()
            .filter(|t| **t == world.seed.server_b.eni_id)
            .count(),
        3
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(&foreign) && w.contains("left alone")),
        "{:?}",
        report.warnings
    );
    let foreign_tags = world
        .client
        .describe_route_tables()
        .route_table_ids(&foreign)
        .send()
        .await
        .unwrap();
    let tags = foreign_tags.route_tables()[0].tags();
    assert!(
        !tags
            .iter()
            .any(|t| t.key().is_some_and(|k| k.contains("last-move"))),
        "the move was recorded on a table that is not the group's: {tags:?}"
    );
}
