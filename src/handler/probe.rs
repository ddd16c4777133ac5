//! The probe loop, from the failover function's side. The probe function runs
//! inside the members' VPC and cannot call AWS; this function dispatches each
//! round to it (asynchronous invoke) and receives its verdicts back through the
//! probe function's on-success destination, then decides, and dispatches the
//! next round as soon as the group is read, while the decision's writes run. A
//! tick every minute starts a round for a probed group whose loop stopped (a
//! lost or failed round). Verdicts live in the warm container ([`ProbeBoard`])
//! and count only while fresh.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{elapsed_ms, Error, Handler, Run};
use crate::aws::Window;
use crate::deadline::Deadline;
use crate::group::{self, Group};
use crate::health::ProbeSignal;
use crate::metrics;
use crate::probe::round::epoch_ms;
use crate::probe::wire::{
    MemberStateEntry, ProbeRequestEnvelope, RoundRequest, RoundResult, Target,
};
use crate::report::Response;
use crate::trigger::{ProbeReport, Trigger, TriggerError};

/// How long past a round's length its verdicts still count, and its loop is
/// taken for alive: the next round's result is due within one round.
const FRESH_MARGIN: Duration = Duration::from_secs(35);

/// How far ahead of this container's clock a verdict's time may be.
const CLOCK_SKEW_MS: u64 = 5_000;

/// What the warm container knows of each probed group's loop.
#[derive(Debug, Clone, Default)]
pub(super) struct ProbeBoard(Arc<Mutex<HashMap<String, Loop>>>);

#[derive(Debug, Clone)]
struct Loop {
    /// The chain of rounds this container continues (`<chain>-<seq>` ids).
    chain: String,
    /// The last round of the chain seen or dispatched.
    seq: u64,
    /// The last result from a prober that reached someone, and when it came:
    /// its verdicts count while that is fresh (a dispatch does not refresh it).
    result: Option<(RoundResult, Instant)>,
    /// When this loop last showed life (a result, or a dispatch).
    touched: Instant,
}

/// What to do with a round's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Adopted {
    /// Decide from it and dispatch this round next.
    Continue(String),
    /// Another loop of the group is alive, or this is a retried delivery:
    /// dropped, so loops never multiply.
    Stale,
}

impl ProbeBoard {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Loop>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last round's verdicts for `group`, as health signals: only while
    /// fresh, and only from a prober that reached at least one member (a
    /// prober cut off from everybody decides nothing).
    pub(super) fn signals(&self, group: &str, fresh: Duration) -> BTreeMap<String, ProbeSignal> {
        let boards = self.lock();
        let Some((result, _)) = boards
            .get(group.trim())
            .and_then(|l| l.result.as_ref())
            .filter(|(r, heard)| r.reached_any && heard.elapsed() <= fresh)
        else {
            return BTreeMap::new();
        };
        signals_of(result, epoch_ms(), fresh)
    }

    /// Whether `group`'s loop showed life within `fresh`.
    fn alive(&self, group: &str, fresh: Duration) -> bool {
        self.lock()
            .get(group)
            .is_some_and(|l| l.touched.elapsed() <= fresh)
    }

    /// Rule "one loop per group": a result continues its chain unless another
    /// chain of the group is alive, or it is older than the last one seen. A
    /// result from a prober that reached nobody continues the loop but replaces
    /// no verdict: the earlier ones age out instead.
    pub(super) fn adopt(&self, result: &RoundResult, fresh: Duration) -> Adopted {
        let (chain, seq) = parse_round(&result.round);
        let group = result.group.trim();
        let mut boards = self.lock();
        let previous = boards.get(group);
        if let Some(current) = previous {
            let alive = current.touched.elapsed() <= fresh;
            let other_chain = current.chain != chain;
            if (alive && other_chain) || (!other_chain && seq < current.seq) {
                return Adopted::Stale;
            }
        }
        let Some(next) = seq.checked_add(1) else {
            return Adopted::Stale;
        };
        let kept = previous.and_then(|l| l.result.clone());
        let heard = result
            .reached_any
            .then(|| (result.clone(), Instant::now()))
            .or(kept);
        boards.insert(
            group.to_string(),
            Loop {
                chain: chain.clone(),
                seq: next,
                result: heard,
                touched: Instant::now(),
            },
        );
        Adopted::Continue(round_id(&chain, next))
    }

    /// Whether `result` belongs to the chain this container is running for its
    /// group (a round it dispatched).
    fn dispatched(&self, result: &RoundResult) -> bool {
        let (chain, _) = parse_round(&result.round);
        self.lock()
            .get(result.group.trim())
            .is_some_and(|l| l.chain == chain)
    }

    /// A new chain for `group`, dispatched by the tick: its first round.
    fn start(&self, group: &str) -> String {
        let chain = format!("{:08x}", fastrand::u32(..));
        let mut boards = self.lock();
        let result = boards.get(group).and_then(|l| l.result.clone());
        boards.insert(
            group.to_string(),
            Loop {
                chain: chain.clone(),
                seq: 0,
                result,
                touched: Instant::now(),
            },
        );
        round_id(&chain, 0)
    }

    /// The member states the last round of `group` ended with.
    fn states(&self, group: &str) -> Vec<MemberStateEntry> {
        let boards = self.lock();
        let verdicts = boards.get(group).and_then(|l| l.result.as_ref());
        verdicts
            .map(|(r, _)| r.verdicts.iter().map(|v| v.state()).collect())
            .unwrap_or_default()
    }
}

fn round_id(chain: &str, seq: u64) -> String {
    format!("{chain}-{seq}")
}

/// `(chain, seq)` of a round id; an id of another shape is a chain of its own.
fn parse_round(round: &str) -> (String, u64) {
    match round.rsplit_once('-') {
        Some((chain, seq)) => match seq.parse() {
            Ok(seq) => (chain.to_string(), seq),
            Err(_) => (round.to_string(), 0),
        },
        None => (round.to_string(), 0),
    }
}

/// Verdicts that say something (up or down), aged from their last observation.
fn signals_of(result: &RoundResult, now_ms: u64, fresh: Duration) -> BTreeMap<String, ProbeSignal> {
    let fresh_ms = u64::try_from(fresh.as_millis()).unwrap_or(u64::MAX);
    result
        .verdicts
        .iter()
        .filter_map(|v| {
            let up = v.up?;
            // A verdict dated ahead of this clock (beyond a little skew) is
            // not believed: it would never age.
            if v.at_ms > now_ms.saturating_add(CLOCK_SKEW_MS) {
                return None;
            }
            let age_ms = now_ms.saturating_sub(v.at_ms);
            (age_ms <= fresh_ms).then(|| {
                let streak = if up { v.ok_streak } else { v.fail_streak };
                let signal = ProbeSignal {
                    up,
                    reason: v.reason.clone(),
                    streak,
                    age_ms,
                };
                (v.instance_id.clone(), signal)
            })
        })
        .collect()
}

impl Handler {
    fn probe_fresh(&self) -> Duration {
        self.config.probe_round + FRESH_MARGIN
    }

    /// The fresh verdicts for `group` (for [`Handler::load`]).
    pub(super) fn probe_signals(&self, group: &str) -> BTreeMap<String, ProbeSignal> {
        self.probes.signals(group, self.probe_fresh())
    }

    /// A round's verdicts came back: decide from them (with every other signal
    /// read now), and dispatch the next round beside the decision's writes (a
    /// long move does not delay the next look). The decision's error is part of
    /// the answer, not a failed invocation: a retried delivery would dispatch a
    /// second loop.
    pub(super) async fn probe_report(
        &self,
        trigger: &Trigger,
        report: &ProbeReport,
        started: Instant,
        deadline: Deadline,
    ) -> Result<Response, Error> {
        let listing = self.list(deadline.last_write()).await?;
        let ours = self.probes.dispatched(&report.result);
        let result = &members_only(&report.result, &listing, &self.config.tags, ours)?;
        let next = match self.probes.adopt(result, self.probe_fresh()) {
            Adopted::Continue(next) => next,
            Adopted::Stale => {
                let reason = format!(
                    "probe round {} is not the group's current one: dropped, its loop ends",
                    result.round
                );
                return Ok(Response::ignored(reason, &super::source(trigger)));
            }
        };
        let changes = result.verdicts.iter().filter(|v| v.changed).count();
        if self.emit_metrics {
            metrics::emit_probe(&result.group, changes);
        }
        let run = Run::of(trigger, &result.group, started, deadline);
        let dispatch = |group: &Group| self.send_round(self.round_request(group, &next), deadline);
        let (decided, dispatched) = self.run_beside(&run, Some(listing), dispatch).await;
        let dispatched = dispatched.flatten();
        let decision = match decided {
            Ok(report) => json!(report),
            Err(e) => {
                json!({"errorType": e.diagnostic_type(), "errorMessage": e.to_string(), "report": e.report()})
            }
        };
        Ok(Response::Probe {
            action: "probe",
            group: result.group.clone(),
            round: result.round.clone(),
            verdict_changes: changes,
            decision,
            next_round: dispatched,
            duration_ms: elapsed_ms(started),
        })
    }

    /// The probe tick: a round for every probed group whose loop is not alive.
    pub(super) async fn probe_tick(&self, deadline: Deadline) -> Result<Response, Error> {
        let started = Instant::now();
        let listing = self.list(deadline.last_write()).await?;
        let tags = &self.config.tags;
        let key = tags.probe();
        let mut started_rounds = Vec::new();
        for name in group::group_names(&listing, tags) {
            let probed = listing
                .iter()
                .any(|i| group::is_member(i, &name, tags) && i.tags.contains_key(&key));
            if !probed || self.probes.alive(&name, self.probe_fresh()) {
                continue;
            }
            let hints = super::Hints::default();
            let loaded = Box::pin(self.load(&name, Some(listing.clone()), &hints, deadline.end()));
            match loaded.await {
                Ok(loaded) => {
                    let round = self.probes.start(&name);
                    started_rounds.extend(self.dispatch(&loaded.group, &round, deadline).await);
                }
                Err(e) => warn!(group = %name, error = %e, "probe tick: group not loaded"),
            }
        }
        Ok(Response::ProbeTick {
            action: "probe_tick",
            started: started_rounds,
            duration_ms: elapsed_ms(started),
        })
    }

    /// Sends round `round` of `group` to the probe function; its id, when sent.
    async fn dispatch(&self, group: &Group, round: &str, deadline: Deadline) -> Option<String> {
        self.send_round(self.round_request(group, round), deadline)
            .await
    }

    /// Sends `request` (none: the group is not probed) to the probe function;
    /// the round's id, when sent.
    async fn send_round(
        &self,
        request: Option<RoundRequest>,
        deadline: Deadline,
    ) -> Option<String> {
        let function = self.config.probe_function.as_deref()?;
        let request = request?;
        let (group, round) = (request.group.clone(), request.round.clone());
        let payload = json!(ProbeRequestEnvelope {
            vip_failover_probe: request
        });
        let window = Window::until(deadline.end());
        match self.aws.invoke_async(function, &payload, window).await {
            Ok(()) => {
                info!(%group, %round, "probe round dispatched");
                Some(round)
            }
            Err(e) => {
                warn!(%group, %round, error = %e, "probe round not dispatched; the tick starts another");
                None
            }
        }
    }

    /// The round for `group`: its probe, its members' addresses, and the
    /// states the last round ended with. `None` when the group is not probed.
    fn round_request(&self, group: &Group, round: &str) -> Option<RoundRequest> {
        let settings = group.probe.clone()?;
        let members: Vec<Target> = group
            .members
            .iter()
            .filter_map(|m| {
                let address = m.address?;
                Some(Target {
                    instance_id: m.instance_id.clone(),
                    address: address.to_string(),
                })
            })
            .collect();
        if members.is_empty() {
            return None;
        }
        let state = self
            .probes
            .states(&group.name)
            .into_iter()
            .filter(|s| members.iter().any(|m| m.instance_id == s.instance_id))
            .collect();
        Some(RoundRequest {
            group: group.name.clone(),
            round: round.to_string(),
            issued_at_ms: epoch_ms(),
            duration_ms: u64::try_from(self.config.probe_round.as_millis()).unwrap_or(u64::MAX),
            settings,
            members,
            state,
        })
    }
}

/// Rule "a forged record can do no more than an operator's failover": one that
/// names an instance outside the group is refused before anything is decided,
/// unless it is a round this container dispatched (`ours`), whose member left
/// the group meanwhile: then that verdict is dropped and the loop goes on.
fn members_only(
    result: &RoundResult,
    listing: &[crate::world::InstanceRecord],
    tags: &crate::tags::TagContract,
    ours: bool,
) -> Result<RoundResult, Error> {
    let member = |id: &str| {
        listing
            .iter()
            .any(|i| i.id == id && group::is_member(i, &result.group, tags))
    };
    let foreign: Vec<&str> = result
        .verdicts
        .iter()
        .map(|v| v.instance_id.as_str())
        .filter(|id| !member(id))
        .collect();
    if foreign.is_empty() || ours {
        let mut kept = result.clone();
        kept.verdicts.retain(|v| member(&v.instance_id));
        return Ok(kept);
    }
    Err(Error::Trigger(TriggerError::Malformed {
        shape: "probe result",
        detail: format!(
            "round {} of group {} names instances that are not its members ({}); refused",
            result.round,
            result.group,
            foreign.join(", ")
        ),
    }))
}

#[cfg(test)]
mod tests;
