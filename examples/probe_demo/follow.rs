//! What `probe_demo run` prints while the loop runs: every 50 ms it looks at
//! the rounds delivered to the failover function, the failover function's
//! finished invocations and the VIP routes of the group's tables, and prints a
//! JSON line for each new one:
//!
//! ```text
//! {"event":"ready", ...}     the first round saw every member up
//! {"event":"round", "verdicts":[{"name":"serverA","up":false,"reason":"connection refused"}...]}
//! {"event":"decision", "trigger":"probe round", "action":"failed_over", "duration_ms":...}
//! {"event":"routes", "targets":{"serverB":3}, "all_on":"serverB"}
//! ```

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::lambda::{Invocation, Lambdas, Outcome};
use testkit::topology::{self, VIP};
use testkit::Result;

use super::{emit, emit_at, epoch_of, Seeded, FAILOVER, PROBE};

/// How long the first round may take to see both members up.
const READY_WITHIN: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// What was printed already.
#[derive(Default)]
struct Seen {
    ready: bool,
    rounds: usize,
    invocations: HashSet<(String, u32)>,
    routes: Option<BTreeMap<String, usize>>,
}

pub(crate) async fn follow(
    client: &aws_sdk_ec2::Client,
    lambdas: &Lambdas,
    seeded: &Seeded,
    until: Instant,
) -> Result<()> {
    let started = Instant::now();
    let mut seen = Seen::default();
    while Instant::now() < until {
        rounds(lambdas, seeded, &mut seen);
        decisions(lambdas, seeded, &mut seen);
        routes(client, seeded, &mut seen).await?;
        if !seen.ready && started.elapsed() > READY_WITHIN {
            return Err(format!(
                "no round saw both members up within {READY_WITHIN:?}: see failover.log and \
                 probe.log in the work directory (is nginx answering on port 80?)"
            )
            .into());
        }
        tokio::time::sleep(POLL).await;
    }
    emit("stop", json!({"reason": "--max-seconds reached"}));
    Ok(())
}

/// A `round` line per record the probe function's destination delivered; the
/// first one in which every member is up is also `ready`.
fn rounds(lambdas: &Lambdas, seeded: &Seeded, seen: &mut Seen) {
    let deliveries = lambdas.get(PROBE).deliveries();
    for delivery in deliveries.iter().skip(seen.rounds) {
        let result = &delivery.record["responsePayload"]["vip_failover_probe_result"];
        let verdicts: Vec<Value> = result["verdicts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                json!({
                    "name": name_of(seeded, v["instance_id"].as_str().unwrap_or_default()),
                    "up": v["up"],
                    "changed": v["changed"],
                    "reason": v["reason"],
                })
            })
            .collect();
        let all_up = !verdicts.is_empty() && verdicts.iter().all(|v| v["up"] == true);
        let at = epoch_of(delivery.at);
        emit_at(
            "round",
            at,
            json!({
                "round": result["round"],
                "ended": result["ended"],
                "condition": delivery.condition,
                "verdicts": verdicts,
            }),
        );
        if all_up && !seen.ready {
            seen.ready = true;
            emit_at("ready", at, json!({"members_up": verdicts.len()}));
        }
    }
    seen.rounds = deliveries.len();
}

/// A `decision` line per finished invocation of the failover function.
fn decisions(lambdas: &Lambdas, seeded: &Seeded, seen: &mut Seen) {
    for invocation in lambdas.get(FAILOVER).invocations() {
        let (Some(started), Some(finished), Some(outcome)) = (
            invocation.started,
            invocation.finished,
            invocation.outcome.as_ref(),
        ) else {
            continue;
        };
        let key = (invocation.request_id.clone(), invocation.attempt);
        if !seen.invocations.insert(key) {
            continue;
        }
        let mut fields = match outcome {
            Outcome::Response(body) => {
                let answer: Value = serde_json::from_str(body).unwrap_or_default();
                let decision = &answer["decision"];
                let to = decision["to"]["instance_id"].as_str();
                json!({
                    "action": decision["action"],
                    "to": to.map(|id| name_of(seeded, id)),
                    "reason": decision["reason"],
                    "warnings": decision["warnings"],
                    "error": decision["errorType"],
                })
            }
            Outcome::Error(body) => json!({ "error": body }),
        };
        fields["trigger"] = json!(trigger_of(&invocation));
        fields["duration_ms"] = json!(ms(finished - started));
        emit_at("decision", epoch_of(finished), fields);
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn trigger_of(invocation: &Invocation) -> &'static str {
    if invocation.event.contains("vip_failover_probe_result") {
        "probe round"
    } else if invocation.event.contains(r#""probe""#) {
        "probe tick"
    } else {
        "other"
    }
}

/// A `routes` line whenever the VIP routes of the group's tables change:
/// how many point at each member, and the member all of them point at.
async fn routes(client: &aws_sdk_ec2::Client, seeded: &Seeded, seen: &mut Seen) -> Result<()> {
    let targets = topology::targets_of(client, &seeded.vpc, VIP).await?;
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for table in &seeded.tables {
        let target = targets.get(table).map_or("missing", String::as_str);
        *count.entry(name_of(seeded, target)).or_default() += 1;
    }
    if seen.routes.as_ref() == Some(&count) {
        return Ok(());
    }
    let all_on = (count.len() == 1).then(|| count.keys().next().cloned());
    emit(
        "routes",
        json!({"targets": count, "all_on": all_on.flatten(), "tables": seeded.tables.len()}),
    );
    seen.routes = Some(count);
    Ok(())
}

/// `serverA` for serverA's instance or ENI id; the id itself otherwise.
fn name_of(seeded: &Seeded, id: &str) -> String {
    [&seeded.a, &seeded.b]
        .into_iter()
        .find(|s| s.instance_id == id || s.eni_id == id)
        .map_or_else(|| id.to_string(), |s| s.name.clone())
}
