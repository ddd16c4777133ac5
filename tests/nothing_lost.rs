//! Property-style: over random topologies (several groups sharing route tables,
//! IPv4 and IPv6 VIPs, extra routes to gateways and to the members' own ENIs) and
//! random event sequences, every route that is not for a group VIP stays
//! byte-identical, and every VIP route points at a member of its own group.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Route};
use serde_json::{json, Value};
use testkit::events::state_change;
use testkit::rng::Rng;
use testkit::topology;
use testkit::Emulator;

struct GroupSpec {
    name: &'static str,
    vips: Vec<&'static str>,
    members: Vec<topology::Server>,
}

fn vip_destinations(groups: &[GroupSpec]) -> BTreeSet<String> {
    groups
        .iter()
        .flat_map(|g| g.vips.iter().map(|v| v.to_string()))
        .collect()
}

fn destination(route: &Route) -> String {
    route
        .destination_cidr_block()
        .or(route.destination_ipv6_cidr_block())
        .unwrap_or_default()
        .to_string()
}

/// Non-VIP routes per table (as full debug text), and VIP route targets.
async fn observe(
    client: &aws_sdk_ec2::Client,
    vpc: &str,
    vips: &BTreeSet<String>,
) -> (
    BTreeMap<String, Vec<String>>,
    BTreeMap<(String, String), String>,
) {
    let out = client
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .unwrap();
    let mut others = BTreeMap::new();
    let mut vip_routes = BTreeMap::new();
    for table in out.route_tables() {
        let id = table.route_table_id().unwrap().to_string();
        let mut rest: Vec<String> = Vec::new();
        for route in table.routes() {
            let dest = destination(route);
            if vips.contains(&dest) {
                vip_routes.insert(
                    (id.clone(), dest),
                    route.network_interface_id().unwrap_or("?").to_string(),
                );
            } else {
                rest.push(format!("{route:?}"));
            }
        }
        rest.sort();
        others.insert(id, rest);
    }
    (others, vip_routes)
}

/// `instance`'s status alarm goes to `state`, and its action delivers the event.
async fn alarm(emulator: &Emulator, instance: &str, state: &str) -> Value {
    testkit::cloudwatch::set_status_alarm(&emulator.cloudwatch(), instance, state)
        .await
        .unwrap();
    testkit::events::alarm(instance, state)
}

#[tokio::test]
async fn given_random_topologies_and_event_sequences_then_no_route_but_a_vip_route_ever_changes() {
    let emulator = Emulator::start();
    for seed in 1..=4u64 {
        emulator.reset();
        let (client, _) = emulator.client();
        let (handler, _) = emulator.handler();
        let mut rng = Rng::new(seed);

        // Topology: one VPC in two AZs with IPv6, gateways, two groups.
        let vpc = client
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .amazon_provided_ipv6_cidr_block(true)
            .send()
            .await
            .unwrap()
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap()
            .to_string();
        let subnets = [
            topology::create_subnet(&client, &vpc, "10.0.1.0/24", "us-east-1a")
                .await
                .unwrap(),
            topology::create_subnet(&client, &vpc, "10.0.2.0/24", "us-east-1b")
                .await
                .unwrap(),
        ];
        let igw = topology::create_igw(&client, &vpc).await.unwrap();
        let eigw = client
            .create_egress_only_internet_gateway()
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap()
            .egress_only_internet_gateway()
            .and_then(|g| g.egress_only_internet_gateway_id())
            .unwrap()
            .to_string();

        let mut groups = vec![
            GroupSpec {
                name: "web",
                vips: vec!["192.168.100.10/32"],
                members: Vec::new(),
            },
            GroupSpec {
                name: "db",
                vips: vec!["192.168.200.20/32", "fd00:200::20/128"],
                members: Vec::new(),
            },
        ];
        if rng.chance(50) {
            groups[0].vips.push("fd00:100::10/128");
        }
        for group in &mut groups {
            let vip_tag = group.vips.join(",");
            for i in 0..(2 + rng.below(2)) {
                let priority = (10 * (1 + rng.below(5))).to_string();
                let tags = [
                    ("vip-failover:group", group.name),
                    ("vip-failover:vip", vip_tag.as_str()),
                    ("vip-failover:priority", priority.as_str()),
                ];
                let name = format!("{}-{i}", group.name);
                let server = topology::launch(&client, &subnets[rng.below(2)], &name, &tags)
                    .await
                    .unwrap();
                group.members.push(server);
            }
        }

        // Tables: shared between groups, with gateway routes and extra routes through member ENIs.
        for t in 0..4 {
            let tag_groups = ["web", "db", "web,db"][rng.below(3)];
            let tags: Vec<(&str, &str)> = if rng.chance(50) {
                vec![("vip-failover:group", tag_groups)]
            } else {
                vec![]
            };
            let table = topology::create_table(&client, &vpc, &tags, None)
                .await
                .unwrap();
            topology::route_to_gateway(&client, &table, "0.0.0.0/0", &igw)
                .await
                .unwrap();
            client
                .create_route()
                .route_table_id(&table)
                .destination_ipv6_cidr_block("::/0")
                .egress_only_internet_gateway_id(&eigw)
                .send()
                .await
                .unwrap();
            for (n, group) in groups.iter().enumerate() {
                let member = &group.members[rng.below(group.members.len())];
                topology::route_to_eni(
                    &client,
                    &table,
                    &format!("172.{}.{t}.0/24", 16 + n),
                    &member.eni_id,
                )
                .await
                .unwrap();
                if rng.chance(70) {
                    for vip in &group.vips {
                        let holder = &group.members[rng.below(group.members.len())];
                        let mut create = client
                            .create_route()
                            .route_table_id(&table)
                            .network_interface_id(&holder.eni_id);
                        create = if vip.contains(':') {
                            create.destination_ipv6_cidr_block(*vip)
                        } else {
                            create.destination_cidr_block(*vip)
                        };
                        create.send().await.unwrap();
                    }
                }
            }
        }

        let vips = vip_destinations(&groups);
        let (before, _) = observe(&client, &vpc, &vips).await;
        let mut moves = 0;
        for step in 0..8 {
            let group = &groups[rng.below(groups.len())];
            let member = group.members[rng.below(group.members.len())]
                .instance_id
                .clone();
            let event = match rng.below(7) {
                0 => alarm(&emulator, &member, "ALARM").await,
                1 => alarm(&emulator, &member, "OK").await,
                2 => {
                    topology::stop(&client, &member).await.unwrap();
                    state_change(&member, "stopped", None)
                }
                3 => {
                    client
                        .start_instances()
                        .instance_ids(&member)
                        .send()
                        .await
                        .unwrap();
                    state_change(&member, "running", None)
                }
                4 => json!({"action": "failover", "group": group.name}),
                5 => {
                    json!({"action": "failover", "group": group.name, "target": member, "dry_run": rng.chance(50)})
                }
                _ => json!({"action": "reconcile"}),
            };
            let result = handler.handle(event.clone(), testkit::deadline()).await;
            if let Ok(response) = &result {
                moves += usize::from(
                    serde_json::to_string(response)
                        .unwrap()
                        .contains("failed_over"),
                );
            }
            if let Err(e) = &result {
                // Refusals are fine (no healthy member, an unhealthy target, a
                // hold-down); anything else is a bug.
                assert!(
                    matches!(
                        e.error_type(),
                        "FailoverRefused" | "TargetUnhealthy" | "HeldDown" | "PartialFailure"
                    ),
                    "seed {seed} step {step}: {e}"
                );
            }

            let (after, vip_routes) = observe(&client, &vpc, &vips).await;
            assert_eq!(
                before, after,
                "seed {seed} step {step}: a non-VIP route changed after {event}"
            );
            for ((table, dest), eni) in &vip_routes {
                let owner = groups
                    .iter()
                    .find(|g| g.vips.contains(&dest.as_str()))
                    .unwrap();
                assert!(
                    owner.members.iter().any(|m| &m.eni_id == eni),
                    "seed {seed} step {step}: {table} routes {dest} of {} to {eni}, not a member",
                    owner.name
                );
            }
        }
        assert!(
            moves > 0,
            "seed {seed}: the sequence never moved a VIP; the property was not exercised"
        );
    }
}
