//! One probe round: every member, every interval, until a verdict changes or
//! the round's time is up.
//!
//! Why rounds rather than one observation per invocation: an invocation per
//! second per group would cost an invoke, a cold start now and then, and a
//! destination delivery each time. A round keeps one warm invocation probing at
//! the interval and speaks only when there is news (a change) or when its time
//! is spent (so the failover function knows the prober is alive). With fall=3
//! at 1 s, a service killed on the active member is reported within ~3 s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior};

use super::check::{self, Observation};
use super::settings::ProbeSettings;
use super::verdict::MemberState;
use super::wire::{
    Ended, MemberStateEntry, MemberVerdict, ProbeRequestEnvelope, ProbeResultEnvelope,
    RoundRequest, RoundResult, Target,
};

/// Runs a round that the caller has validated ([`RoundRequest::validate`]).
/// `clock` gives epoch milliseconds for the timestamps of the result; the
/// pacing itself runs on tokio's monotonic clock.
pub async fn run(request: RoundRequest, clock: impl Fn() -> u64) -> RoundResult {
    let RoundRequest {
        group,
        round,
        duration_ms,
        settings,
        members,
        state,
        ..
    } = request;
    let mut tracked: Vec<Tracked> = members
        .into_iter()
        .map(|target| Tracked::restore(target, &state))
        .collect();
    let started_at_ms = clock();
    let started = Instant::now();
    let length = Duration::from_millis(duration_ms);
    // tokio's interval panics on a zero period; validated settings never have one.
    let period = settings.interval.max(Duration::from_millis(1));
    // Ticks at exactly `started + k * period`, so the end is decided on whole ticks.
    let mut ticker = tokio::time::interval_at(started, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (ended, reached_any) = loop {
        let tick = ticker.tick().await;
        let seen = observe_all(&tracked, &settings, &clock).await;
        let reached_any = seen.iter().any(|(observation, _)| observation.ok);
        let mut changed = false;
        for (member, (observation, at_ms)) in tracked.iter_mut().zip(seen) {
            changed |= member.record(observation, at_ms, &settings, &group);
        }
        if changed {
            break (Ended::Changed, reached_any);
        }
        // With MissedTickBehavior::Delay a late tick fires at once.
        let next = (tick + period).max(Instant::now());
        if next.duration_since(started) > length {
            break (Ended::TimeUp, reached_any);
        }
    };
    RoundResult {
        group,
        round,
        settings,
        started_at_ms,
        ended_at_ms: clock(),
        ended,
        reached_any,
        verdicts: tracked.into_iter().map(Tracked::verdict).collect(),
    }
}

/// The probe function's whole job: reads the envelope, validates, runs the
/// round on the system clock. `Err` is a message for bad input, naming the fix.
pub async fn handle(payload: Value) -> Result<ProbeResultEnvelope, String> {
    let envelope: ProbeRequestEnvelope = serde_json::from_value(payload).map_err(|e| {
        format!(
            "not a probe round request ({e}): the probe function takes \
             {{\"vip_failover_probe\": {{group, round, issued_at_ms, duration_ms, settings, \
             members, state}}}} from the failover function"
        )
    })?;
    let request = envelope.vip_failover_probe;
    request.validate().map_err(|e| {
        format!(
            "invalid probe round {:?} of group {:?}: {e}",
            request.round, request.group
        )
    })?;
    Ok(ProbeResultEnvelope {
        vip_failover_probe_result: run(request, epoch_ms).await,
    })
}

/// Milliseconds since the Unix epoch; 0 on a clock before 1970.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Observes every member at once, so a round's tick lasts at most one timeout
/// however many members time out. Each outcome carries when it was known.
async fn observe_all(
    tracked: &[Tracked],
    settings: &ProbeSettings,
    clock: &impl Fn() -> u64,
) -> Vec<(Observation, u64)> {
    join_all(tracked.iter().map(|member| async {
        let observation =
            check::observe(&member.target.address, &settings.check, settings.timeout).await;
        (observation, clock())
    }))
    .await
}

/// One member during a round.
struct Tracked {
    target: Target,
    /// The verdict the round started with, for [`MemberVerdict::changed`].
    initial: Option<bool>,
    state: MemberState,
    reason: String,
    at_ms: u64,
}

impl Tracked {
    /// Picks up the member's state from the previous round, or unknown.
    fn restore(target: Target, carried: &[MemberStateEntry]) -> Self {
        let state = carried
            .iter()
            .find(|entry| entry.instance_id == target.instance_id)
            .map(|entry| entry.state)
            .unwrap_or_default();
        Self {
            target,
            initial: state.up,
            state,
            reason: "not observed".to_string(),
            at_ms: 0,
        }
    }

    /// Records an observation; true when the verdict changed.
    fn record(
        &mut self,
        observation: Observation,
        at_ms: u64,
        settings: &ProbeSettings,
        group: &str,
    ) -> bool {
        let change = self.state.observe(observation.ok, settings);
        self.reason = observation.reason;
        self.at_ms = at_ms;
        if let Some(up) = change {
            tracing::info!(
                group,
                instance_id = %self.target.instance_id,
                address = %self.target.address,
                up,
                reason = %self.reason,
                "probe verdict changed"
            );
        }
        change.is_some()
    }

    fn verdict(self) -> MemberVerdict {
        MemberVerdict {
            changed: self.state.up != self.initial,
            up: self.state.up,
            ok_streak: self.state.ok_streak,
            fail_streak: self.state.fail_streak,
            reason: self.reason,
            at_ms: self.at_ms,
            instance_id: self.target.instance_id,
            address: self.target.address,
        }
    }
}

#[cfg(test)]
mod tests;
