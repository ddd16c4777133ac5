//! The common "given": the README's two-AZ seed in a fresh emulator, with a
//! handler wired to it whose EC2 calls are recorded.

use aws_sdk_ec2::Client;
use vip_failover::handler::Handler;

use crate::topology::{self, Seed, VIP};
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

impl World {
    /// `instance`'s status alarm goes to `state` in CloudWatch, and its alarm
    /// action delivers the event returned.
    pub async fn alarm(&self, instance: &str, state: &str) -> serde_json::Value {
        crate::cloudwatch::set_status_alarm(&self.emulator.cloudwatch(), instance, state)
            .await
            .expect("set the alarm");
        crate::events::alarm(instance, state)
    }

    /// Where the VIP route of each table points (tables in id order).
    pub async fn vip_targets(&self) -> Vec<String> {
        topology::targets_of(&self.client, &self.seed.vpc_id, VIP)
            .await
            .expect("read targets")
            .into_values()
            .collect()
    }

    /// Every seeded table on serverA's ENI.
    pub fn on_a(&self) -> Vec<String> {
        vec![self.seed.server_a.eni_id.clone(); self.seed.tables.len()]
    }

    /// Every seeded table on serverB's ENI.
    pub fn on_b(&self) -> Vec<String> {
        vec![self.seed.server_b.eni_id.clone(); self.seed.tables.len()]
    }
}
