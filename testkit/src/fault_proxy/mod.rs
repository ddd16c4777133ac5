//! An HTTP proxy in front of the emulator, for the failure tests and the bench.
//!
//! EC2 misbehaves in a few ways that matter to a failover: throttling
//! (`RequestLimitExceeded`, HTTP 503), internal errors (HTTP 500), calls slower
//! than the client's attempt timeout, and dropped connections. The proxy injects
//! them into a chosen share of calls, deterministically from a seed, and records
//! every request body so tests can see exactly what was written.
//!
//! It can also, in any combination (all set in [`Rules`]):
//! - throttle like EC2 does, with a token bucket per API action
//!   ([`Rules::buckets`], see [`TokenBuckets`]);
//! - answer every call no sooner than a fixed time after it arrived, handling
//!   calls concurrently ([`Rules::latency`]), for AWS-like round trips instead of
//!   the emulator's own pace;
//! - rewrite the emulator's answers to one action, for shapes moto cannot produce
//!   (impaired status checks, terminated instances, blackholed routes:
//!   [`Rules::rewrites`], see [`Rewrite`]);
//! - emulate what moto lacks of Transit Gateway routes: their attachments,
//!   `ReplaceTransitGatewayRoute`, propagated routes, EC2's errors
//!   ([`Rules::transit`], see `transit.rs`).
//!
//! Order for one call: the token bucket (a call with no token is answered 503 at
//! once and never reaches moto), then the seeded faults, then moto (through the
//! Transit Gateway emulation), then the rewrites of a successful answer, then the
//! wait for the fixed latency.

mod form;
mod http;
mod rewrite;
mod throttle;
mod transit;

pub use rewrite::Rewrite;
pub use throttle::{ActionStats, Bucket, TokenBuckets};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::action_of;
use http::{error_response, read_request, throttle_response};
use transit::Transit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    /// HTTP 403 `UnauthorizedOperation`: the caller's IAM policy denies it.
    Denied,
    /// Answer only after this long (past the client's attempt timeout).
    Slow(Duration),
    Drop,
    /// The canned error answer at this index of [`Rules::answers`].
    Answer(usize),
}

/// An EC2 error answer for requests whose body contains all of `needles`, given
/// the first `times` times they arrive (then they reach the emulator): answers
/// moto cannot give, such as EC2's eventual consistency (`InvalidInstanceID.NotFound`
/// for an instance launched a moment ago).
#[derive(Debug, Clone)]
pub struct Answer {
    pub needles: Vec<String>,
    pub times: usize,
    pub status: u16,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Rules {
    /// Share of calls that get a fault, 0.0 to 1.0.
    pub share: f64,
    /// Faults to inject, in turn.
    pub kinds: Vec<Fault>,
    /// The same request is faulted at most this many times in a row, as a burst
    /// of throttling would; the client's retries are what get it through.
    pub max_consecutive: u32,
    /// Requests whose body contains all of these strings always fail with an
    /// internal error (HTTP 500): a fault beyond any retry budget.
    pub always_fail: Vec<Vec<String>>,
    /// Requests whose body contains all of these strings are always denied
    /// (`UnauthorizedOperation`), as IAM denies a call on a resource outside the
    /// policy's scope.
    pub always_deny: Vec<Vec<String>>,
    /// Requests whose body contains all of these strings are always throttled
    /// (`RequestLimitExceeded`): an account whose bucket someone else keeps empty.
    pub always_throttle: Vec<Vec<String>>,
    pub seed: u64,
    /// EC2's request throttling: a token bucket per API action. `None`: no
    /// throttling but the seeded faults.
    pub buckets: Option<TokenBuckets>,
    /// Every call is answered no sooner than this after it arrived (it is
    /// forwarded at once, then the rest is waited out). `None`: as fast as moto.
    pub latency: Option<Duration>,
    /// Rewrites of successful answers, applied in order to the answers of their
    /// action.
    pub rewrites: Vec<Rewrite>,
    /// Canned error answers, each for its first `times` matching requests.
    pub answers: Vec<Answer>,
    /// Transit Gateway routes as EC2 keeps them (moto loses their attachments,
    /// has no `ReplaceTransitGatewayRoute`, no propagated routes): see
    /// `transit.rs`. The proxy learns routes and attachments either way.
    pub transit: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            share: 0.0,
            kinds: vec![Fault::Throttle],
            max_consecutive: u32::MAX,
            always_fail: Vec::new(),
            always_deny: Vec::new(),
            always_throttle: Vec::new(),
            seed: 1,
            buckets: None,
            latency: None,
            rewrites: Vec::new(),
            answers: Vec::new(),
            transit: false,
        }
    }
}

/// One request as seen by the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub action: String,
    pub body: String,
    /// A seeded fault injected into this call.
    pub fault: Option<Fault>,
    /// Throttled by its token bucket (answered 503 `RequestLimitExceeded`).
    pub rate_limited: bool,
}

#[derive(Debug)]
struct State {
    upstream: String,
    rules: Rules,
    rng: crate::rng::Rng,
    turn: usize,
    streaks: HashMap<String, u32>,
    seen: Vec<Seen>,
    levels: throttle::Levels,
    stats: BTreeMap<String, ActionStats>,
    /// How many times each of [`Rules::answers`] was given.
    answered: HashMap<usize, usize>,
    transit: Arc<Transit>,
}

pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`, e.g. [`crate::Emulator::addr`])
    /// on a free loopback port.
    pub async fn start(upstream: &str, rules: Rules) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.to_string(),
            rng: crate::rng::Rng::from_state(rules.seed),
            rules,
            turn: 0,
            streaks: HashMap::new(),
            seen: Vec::new(),
            levels: throttle::Levels::default(),
            stats: BTreeMap::new(),
            answered: HashMap::new(),
            transit: Arc::default(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Self { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// New rules from the next call on. The token buckets keep their levels when
    /// their figures are unchanged, and start full otherwise.
    pub fn set_rules(&self, rules: Rules) {
        let mut state = self.state.lock().unwrap();
        if state.rules.buckets != rules.buckets {
            state.levels = throttle::Levels::default();
        }
        state.rules = rules;
        state.streaks.clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Per action: calls that got past the token buckets (with when), and calls
    /// the buckets throttled. Every action is counted, throttled or not.
    pub fn stats(&self) -> BTreeMap<String, ActionStats> {
        self.state.lock().unwrap().stats.clone()
    }

    /// Calls throttled by the token buckets, all actions together.
    pub fn throttled(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .stats
            .values()
            .map(|s| s.throttled)
            .sum()
    }

    /// With [`Rules::transit`], searches of `table`'s routes also show a route to
    /// `destination` propagated from `attachment`, whose resource is `resource`
    /// (`vpc-…`, `vpn-…`, `tgw-…` for a peering): moto propagates no routes.
    pub fn add_propagated_route(
        &self,
        table: &str,
        destination: &str,
        attachment: &str,
        resource: &str,
    ) {
        let transit = self.state.lock().unwrap().transit.clone();
        transit.add_propagated(table, destination, attachment, resource);
    }

    /// Forgets what was seen and counted (the buckets keep their levels).
    pub fn clear(&self) {
        let mut state = self.state.lock().unwrap();
        state.seen.clear();
        state.stats.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    fn decide(&mut self, body: &str) -> Option<Fault> {
        let matches = |rules: &[Vec<String>]| {
            rules
                .iter()
                .any(|needles| needles.iter().all(|n| body.contains(n.as_str())))
        };
        for (i, answer) in self.rules.answers.iter().enumerate() {
            let given = self.answered.entry(i).or_insert(0);
            if *given < answer.times && answer.needles.iter().all(|n| body.contains(n.as_str())) {
                *given += 1;
                return Some(Fault::Answer(i));
            }
        }
        if matches(&self.rules.always_fail) {
            return Some(Fault::ServerError);
        }
        if matches(&self.rules.always_deny) {
            return Some(Fault::Denied);
        }
        if matches(&self.rules.always_throttle) {
            return Some(Fault::Throttle);
        }
        let roll = (self.rng.next_u64() % 10_000) as f64 / 10_000.0;
        let streak = self.streaks.entry(body.to_string()).or_insert(0);
        if roll < self.rules.share
            && *streak < self.rules.max_consecutive
            && !self.rules.kinds.is_empty()
        {
            *streak += 1;
            let fault = self.rules.kinds[self.turn % self.rules.kinds.len()];
            self.turn += 1;
            Some(fault)
        } else {
            *streak = 0;
            None
        }
    }

    /// Takes a token for this call from its bucket, if it has one; `false` when
    /// the bucket is empty (the call is throttled and takes nothing).
    fn take_token(&mut self, action: &str, body: &str) -> bool {
        let now = Instant::now();
        let accepted = match &self.rules.buckets {
            Some(buckets) => match buckets.bucket_for(action, body) {
                Some((key, bucket)) => self.levels.take(&key, bucket, buckets.tick(), now),
                None => true,
            },
            None => true,
        };
        let stats = self.stats.entry(action.to_string()).or_default();
        if accepted {
            stats.accepted += 1;
            stats.accepted_at.push(now);
        } else {
            stats.throttled += 1;
        }
        accepted
    }
}

async fn serve(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let arrived = Instant::now();
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let body_text = String::from_utf8_lossy(&body).to_string();
    let action = action_of(&body_text);
    let (rate_limited, fault, upstream, latency, rewrites, (transit, emulate)) = {
        let mut state = state.lock().unwrap();
        let rate_limited = !state.take_token(&action, &body_text);
        let fault = if rate_limited {
            None
        } else {
            state.decide(&body_text)
        };
        state.seen.push(Seen {
            action: action.clone(),
            body: body_text,
            fault,
            rate_limited,
        });
        let rewrites: Vec<Rewrite> = state
            .rules
            .rewrites
            .iter()
            .filter(|r| r.action == action)
            .cloned()
            .collect();
        (
            rate_limited,
            fault,
            state.upstream.clone(),
            state.rules.latency,
            rewrites,
            (state.transit.clone(), state.rules.transit),
        )
    };
    let pass = || transit.exchange(emulate, &upstream, &action, &head, &body);
    let response = if rate_limited {
        Some(throttle_response())
    } else {
        match fault {
            Some(Fault::Drop) => None,
            Some(Fault::Throttle) => Some(throttle_response()),
            Some(Fault::ServerError) => Some(error_response(
                500,
                "Internal Server Error",
                "InternalError",
                "An internal error has occurred.",
            )),
            Some(Fault::Denied) => Some(error_response(
                403,
                "Forbidden",
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            )),
            Some(Fault::Answer(i)) => {
                let answer = { state.lock().unwrap().rules.answers[i].clone() };
                let (status, code) = (answer.status, &answer.code);
                Some(error_response(status, "Error", code, &answer.message))
            }
            Some(Fault::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                Some(pass().await)
            }
            None => Some(pass().await),
        }
    };
    let response = response.map(|r| rewrite::apply(&rewrites, r));
    if let Some(latency) = latency {
        tokio::time::sleep_until((arrived + latency).into()).await;
    }
    if let Some(response) = response {
        let _ = client.write_all(&response).await;
    }
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transit_tests;
