//! The common "given": the README's two-AZ seed in a fresh emulator, with a
//! handler wired to it whose EC2 calls are recorded; and the "whens" and "thens"
//! the scenarios share.

use std::collections::BTreeSet;

use aws_sdk_ec2::Client;
use serde_json::Value;
use vip_failover::handler::Handler;
use vip_failover::report::{Report, Response};
use vip_failover::Config;
use vip_failover::Error;

use crate::fault_proxy::{FaultProxy, Rules};
use crate::topology::{self, Seed, Server, VIP};
use crate::{CallLog, Emulator};

pub struct World {
    pub emulator: Emulator,
    pub client: Client,
    pub handler: Handler,
    pub calls: CallLog,
    pub seed: Seed,
}

pub async fn given_the_two_az_seed() -> World {
    let emulator = Emulator::start();
    let (client, _) = emulator.client();
    let seed = topology::seed_two_az(&client).await.expect("seed");
    let (handler, calls) = emulator.handler();
    World {
        emulator,
        client,
        handler,
        calls,
        seed,
    }
}

/// The two-AZ seed with `total` client route tables (its own three included),
/// every one on serverA.
pub async fn given_a_group_with_tables(total: usize) -> World {
    let mut world = given_the_two_az_seed().await;
    topology::with_tables(&world.client, &mut world.seed, total)
        .await
        .expect("tables");
    world
}

/// `handler` runs `event` with [`crate::deadline`].
pub async fn run(handler: &Handler, event: Value) -> Result<Response, Error> {
    handler.handle(event, crate::deadline()).await
}

/// The group report of a run, or a panic naming what came instead.
#[track_caller]
pub fn group_report(response: Response) -> Report {
    match response {
        Response::Group(report) => report,
        other => panic!("expected a group report, got {other:?}"),
    }
}

impl World {
    /// `instance`'s status alarm goes to `state` in CloudWatch, without any event.
    pub async fn set_level(&self, instance: &str, state: &str) {
        crate::cloudwatch::set_status_alarm(&self.emulator.cloudwatch(), instance, state)
            .await
            .expect("set the alarm level");
    }

    /// `instance`'s status alarm goes to `state` in CloudWatch, and its alarm
    /// action delivers the event returned.
    pub async fn alarm(&self, instance: &str, state: &str) -> Value {
        self.set_level(instance, state).await;
        crate::events::alarm(instance, state)
    }

    /// serverA's status alarm fires: the event its alarm action delivers.
    pub async fn alarm_on_a(&self) -> Value {
        self.alarm(&self.seed.server_a.instance_id, "ALARM").await
    }

    /// The world's handler runs `event` with [`crate::deadline`].
    pub async fn handle(&self, event: Value) -> Result<Response, Error> {
        run(&self.handler, event).await
    }

    /// serverA's alarm fires and the world's handler moves the VIP to serverB:
    /// its group report.
    pub async fn failed_over_to_b(&self) -> Report {
        let response = self.handle(self.alarm_on_a().await).await;
        group_report(response.expect("A fails over to B"))
    }

    /// serverA's alarm fires, the VIP moves to serverB, and serverA's alarm is
    /// back to OK: a fresh move, inside its hold-down. The call log is cleared.
    pub async fn failed_over_to_b_and_a_recovered(&self) {
        self.failed_over_to_b().await;
        self.set_level(&self.seed.server_a.instance_id, "OK").await;
        self.calls.clear();
    }

    /// Tags `resource` with `key=value`.
    pub async fn tag(&self, resource: &str, key: &str, value: &str) {
        self.client
            .create_tags()
            .resources(resource)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .expect("tag");
    }

    /// Tags every seeded client table for the group, as the template's IAM
    /// scope requires: they become the group's own, voting tables.
    pub async fn tag_tables_for_the_group(&self) {
        for table in &self.seed.tables {
            self.tag(table, "vip-failover:group", topology::GROUP).await;
        }
    }

    /// Every seeded VIP route points at `server`'s ENI, with no move record (as
    /// an operator would leave it).
    pub async fn vip_by_hand_on(&self, server: &Server) {
        for table in &self.seed.tables {
            self.vip_route_by_hand(table, &server.eni_id).await;
        }
    }

    /// `table`'s VIP route points at `eni`, written by hand: a stray route, or
    /// the one route a killed run wrote.
    pub async fn vip_route_by_hand(&self, table: &str, eni: &str) {
        self.client
            .replace_route()
            .route_table_id(table)
            .destination_cidr_block(VIP)
            .network_interface_id(eni)
            .send()
            .await
            .expect("replace the VIP route");
    }

    /// The move record (`vip-failover:last-move:<group>` tag) of every seeded
    /// table.
    pub async fn move_records(&self) -> Vec<String> {
        let key = format!("vip-failover:last-move:{}", topology::GROUP);
        let out = self
            .client
            .describe_route_tables()
            .set_route_table_ids(Some(self.seed.tables.clone()))
            .send()
            .await
            .expect("read the tables");
        out.route_tables()
            .iter()
            .map(|table| {
                let tag = table.tags().iter().find(|t| t.key() == Some(key.as_str()));
                tag.and_then(|t| t.value())
                    .expect("a move record")
                    .to_string()
            })
            .collect()
    }

    /// A fault proxy in front of the emulator, applying `rules`.
    pub async fn proxy(&self, rules: Rules) -> FaultProxy {
        FaultProxy::start(&self.emulator.addr(), rules).await
    }

    /// A fault proxy applying `rules` in front of the emulator, and a handler
    /// with `config` whose EC2 and CloudWatch calls go through it.
    pub async fn through_proxy(
        &self,
        rules: Rules,
        config: Config,
    ) -> (FaultProxy, Handler, CallLog) {
        let proxy = self.proxy(rules).await;
        let (handler, calls) = crate::handler_for(&proxy.url(), config);
        (proxy, handler, calls)
    }

    /// Where the VIP route of each table of the VPC points, by table.
    pub async fn vip_target_map(&self) -> std::collections::BTreeMap<String, String> {
        topology::targets_of(&self.client, &self.seed.vpc_id, VIP)
            .await
            .expect("read targets")
    }

    /// Where the VIP route of each table points (tables in id order).
    pub async fn vip_targets(&self) -> Vec<String> {
        topology::targets_of(&self.client, &self.seed.vpc_id, VIP)
            .await
            .expect("read targets")
            .into_values()
            .collect()
    }

    /// The distinct ENIs the VIP routes point at, and how many tables hold one.
    pub async fn vip_spread(&self) -> (BTreeSet<String>, usize) {
        let targets = topology::targets_of(&self.client, &self.seed.vpc_id, VIP)
            .await
            .expect("read targets");
        (targets.values().cloned().collect(), targets.len())
    }

    /// The spread of every seeded table on `eni`.
    pub fn all_on(&self, eni: &str) -> (BTreeSet<String>, usize) {
        (BTreeSet::from([eni.to_string()]), self.seed.tables.len())
    }

    /// Every seeded table on `server`'s ENI.
    pub fn on(&self, server: &Server) -> Vec<String> {
        vec![server.eni_id.clone(); self.seed.tables.len()]
    }

    /// `calls` wrote nothing, and the VIP route of every seeded table still
    /// points at `holder`'s ENI.
    pub async fn assert_stays_on(&self, holder: &Server, calls: &CallLog) {
        calls.assert_no_writes();
        assert_eq!(self.vip_targets().await, self.on(holder));
    }

    /// The world's handler wrote nothing, and the VIP is still on serverA.
    pub async fn assert_nothing_written(&self) {
        self.assert_stays_on(&self.seed.server_a, &self.calls).await;
    }

    /// The VIP route of every seeded table now points at `holder`'s ENI, each
    /// moved there by one ReplaceRoute in `calls`.
    pub async fn assert_moved_to(&self, holder: &Server, calls: &CallLog) {
        assert_eq!(self.vip_targets().await, self.on(holder));
        assert_eq!(
            calls.route_writes(),
            vec!["ReplaceRoute"; self.seed.tables.len()]
        );
    }

    /// Every seeded table on serverA's ENI.
    pub fn on_a(&self) -> Vec<String> {
        self.on(&self.seed.server_a)
    }

    /// Every seeded table on serverB's ENI.
    pub fn on_b(&self) -> Vec<String> {
        self.on(&self.seed.server_b)
    }
}
