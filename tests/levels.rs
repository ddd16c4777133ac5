//! Property: the decision follows levels, not edges, and no stray tag steals
//! the VIP. Over random sequences of alarm edges (delivered, duplicated,
//! dropped, delivered late and out of order), EC2 stops and starts (their events
//! delivered the same way), scheduled reconciles, and an untidy account (a
//! newcomer tagged into the group saying preempt=true, a member of another
//! group claiming the VIP, untagged tables routing the VIP elsewhere, a forged
//! move record), a final reconcile leaves the VIP on a healthy incumbent member
//! whenever one exists, and never moves it onto a failed one.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use testkit::events::{scheduled, state_change};
use testkit::rng::Rng;
use testkit::topology::{self, Server};
use testkit::world::{given_the_two_az_seed, World};
use vip_failover::handler::Handler;
use vip_failover::Config;

/// What the test knows to be true of one member.
#[derive(Debug, Clone, Copy)]
struct Truth {
    running: bool,
    alarm: &'static str,
}

impl Truth {
    /// INSUFFICIENT_DATA is no verdict: only ALARM fails a running member.
    fn healthy(self) -> bool {
        self.running && self.alarm != "ALARM"
    }

    fn failed(self) -> bool {
        !self.running || self.alarm == "ALARM"
    }
}

/// How an event reaches the function.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    Once,
    Twice,
    Dropped,
    Late,
}

struct Scenario {
    world: World,
    handler: Handler,
    members: Vec<Server>,
    truth: BTreeMap<String, Truth>,
    late: Vec<Value>,
    rng: Rng,
    seed: u64,
}

impl Scenario {
    /// The seed plus serverC (priority 30); every status alarm OK; no
    /// hold-down, so the final reconcile is never held.
    async fn given(seed: u64) -> Self {
        let world = given_the_two_az_seed().await;
        let c = topology::launch_server_c(&world.client, &world.seed)
            .await
            .unwrap();
        let members = vec![world.seed.server_a.clone(), world.seed.server_b.clone(), c];
        let mut truth = BTreeMap::new();
        for member in &members {
            world.set_level(&member.instance_id, "OK").await;
            let fine = Truth {
                running: true,
                alarm: "OK",
            };
            truth.insert(member.instance_id.clone(), fine);
        }
        world.tag_tables_for_the_group().await;
        let ids: Vec<&str> = members.iter().map(|m| m.instance_id.as_str()).collect();
        // Odd seeds seal the group to its members (the stack's allowlist), even
        // ones leave it open: a newcomer must not win either way.
        let scope = if seed % 2 == 1 {
            vip_failover::group::Scope::new("", &ids.join(","))
        } else {
            vip_failover::group::Scope::default()
        };
        let config = Config {
            hold_down: Duration::ZERO,
            scope,
            ..testkit::patient()
        };
        let (handler, _) = world.emulator.handler_with(config);
        Self {
            world,
            handler,
            members,
            truth,
            late: Vec::new(),
            rng: Rng::new(seed),
            seed,
        }
    }

    /// Half the events are lost or come late: the levels must carry the day.
    fn delivery(&mut self) -> Delivery {
        [
            Delivery::Once,
            Delivery::Twice,
            Delivery::Dropped,
            Delivery::Dropped,
            Delivery::Late,
            Delivery::Late,
        ][self.rng.below(6)]
    }

    async fn deliver(&mut self, event: Value) {
        match self.delivery() {
            Delivery::Once => self.handle(event).await,
            Delivery::Twice => {
                self.handle(event.clone()).await;
                self.handle(event).await;
            }
            Delivery::Dropped => {}
            Delivery::Late => self.late.push(event),
        }
    }

    /// Any answer is fine on the way; only the end state is judged.
    async fn handle(&self, event: Value) {
        let _ = self.handler.handle(event, testkit::deadline()).await;
    }

    /// One random step: an alarm edge, a stop, a start, a late event, or the
    /// schedule.
    async fn step(&mut self) {
        let member = self.members[self.rng.below(self.members.len())]
            .instance_id
            .clone();
        let truth = self.truth[&member];
        match self.rng.below(20) {
            0..=9 => {
                let alarm =
                    ["OK", "OK", "OK", "ALARM", "ALARM", "INSUFFICIENT_DATA"][self.rng.below(6)];
                self.world.set_level(&member, alarm).await;
                self.truth.insert(member.clone(), Truth { alarm, ..truth });
                let event = testkit::events::alarm(&member, alarm);
                self.deliver(event).await;
            }
            10..=11 if truth.running => {
                topology::stop(&self.world.client, &member).await.unwrap();
                self.truth.insert(
                    member.clone(),
                    Truth {
                        running: false,
                        ..truth
                    },
                );
                self.deliver(state_change(&member, "stopped", None)).await;
            }
            12..=14 if !truth.running => {
                let start = self.world.client.start_instances().instance_ids(&member);
                start.send().await.unwrap();
                self.truth.insert(
                    member,
                    Truth {
                        running: true,
                        ..truth
                    },
                );
            }
            15..=16 if !self.late.is_empty() => {
                let late = self.late.remove(self.rng.below(self.late.len()));
                self.handle(late).await;
            }
            17 => self.untidy().await,
            _ => self.handle(scheduled()).await,
        }
    }

    /// One piece of an untidy account, at random.
    async fn untidy(&mut self) {
        let world = &self.world;
        let (vpc, subnet) = (&world.seed.vpc_id, &world.seed.subnets[0]);
        let member = &self.members[self.rng.below(self.members.len())];
        match self.rng.below(4) {
            0 => {
                // Open group: priority 100 (worse than every incumbent); sealed:
                // priority 0, but outside the allowlist.
                let priority = if self.sealed() { "0" } else { "100" };
                let tags = [
                    ("vip-failover:group", topology::GROUP),
                    ("vip-failover:vip", topology::VIP),
                    ("vip-failover:priority", priority),
                    ("vip-failover:preempt", "true"),
                ];
                topology::launch(&world.client, subnet, "newcomer", &tags)
                    .await
                    .unwrap();
            }
            1 => {
                let tags = [
                    ("vip-failover:group", "other"),
                    ("vip-failover:vip", topology::VIP),
                ];
                topology::launch(&world.client, subnet, "claimant", &tags)
                    .await
                    .unwrap();
            }
            2 => {
                let table =
                    topology::create_table(&world.client, vpc, &[("Name", "foreign")], None)
                        .await
                        .unwrap();
                topology::route_to_eni(&world.client, &table, topology::VIP, &member.eni_id)
                    .await
                    .unwrap();
            }
            _ => {
                let forged = format!("2026-01-01T00:00:00Z ->{}", member.instance_id);
                world
                    .tag(&world.seed.tables[0], "vip-failover:last-move:web", &forged)
                    .await;
            }
        }
    }

    fn sealed(&self) -> bool {
        self.seed % 2 == 1
    }

    /// The member whose ENI every VIP route points at, if they agree on one.
    async fn holder(&self) -> Option<String> {
        let targets = self.world.vip_targets().await;
        let first = targets.first()?;
        let all_agree = targets.iter().all(|t| t == first);
        let member = self.members.iter().find(|m| &m.eni_id == first)?;
        all_agree.then(|| member.instance_id.clone())
    }
}

#[tokio::test]
async fn given_random_edges_drops_duplicates_and_reorderings_then_a_final_reconcile_puts_the_vip_on_a_healthy_member(
) {
    for seed in 1..=10u64 {
        let mut scenario = Scenario::given(seed).await;
        for _ in 0..16 {
            scenario.step().await;
        }
        let before = scenario.holder().await;

        scenario.handle(scheduled()).await;

        let truth = &scenario.truth;
        let holder = scenario.holder().await;
        let healthy: Vec<&String> = truth
            .iter()
            .filter(|(_, t)| t.healthy())
            .map(|(id, _)| id)
            .collect();
        let state = format!("seed {seed}: truth {truth:?}, holder {holder:?} (before {before:?})");
        if healthy.is_empty() {
            // Nothing is healthy: the VIP may go to a member of unknown health,
            // never move onto a failed one.
            let moved_onto_failed =
                holder != before && holder.as_ref().is_some_and(|h| truth[h].failed());
            assert!(!moved_onto_failed, "{state}");
        } else {
            let on = holder.unwrap_or_else(|| panic!("routes split: {state}"));
            assert!(truth[&on].healthy(), "VIP on an unhealthy member: {state}");
        }
    }
}
