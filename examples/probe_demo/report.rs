//! `probe_demo report`: what the client saw around the kill, from the logs the
//! script wrote in its work directory, and the machine-readable last line.
//!
//! - `curl.log`: one line per request of the client's curl loop,
//!   `START END RESULT` (epoch seconds; `serverA`, `serverB` or `fail:CODE`);
//! - `ping.log`: `ping -D` output (each reply's receive time and TTL: 63 from
//!   serverA, 127 from serverB after the router's hop);
//! - `demo.out`: the JSON lines of `probe_demo run`;
//! - `follower.log`: the route follower's `CHANGE` lines.

use std::path::PathBuf;

use serde_json::Value;
use testkit::Result;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The script's work directory (curl.log, ping.log, demo.out, follower.log).
    #[arg(long)]
    work: PathBuf,
    /// When serverA's nginx was killed (epoch seconds).
    #[arg(long)]
    kill_at: f64,
    /// serverB's ENI, as the route follower logs it.
    #[arg(long)]
    eni_b: String,
    /// TTL of serverA's replies at the client (its default TTL minus one hop).
    #[arg(long, default_value_t = 63)]
    ttl_a: u32,
    #[arg(long, default_value_t = 127)]
    ttl_b: u32,
    /// serverB must answer the client's curl within this long of the kill.
    #[arg(long, default_value_t = 5000)]
    bound_ms: i64,
}

/// One request of the curl loop (its start time is in the log, not used here).
struct Request {
    end: f64,
    server: String,
}

/// What the run measured, in ms from the kill (-1: never happened).
struct Measured {
    requests: usize,
    after_kill: usize,
    failed: usize,
    failed_before: usize,
    a_after_b: usize,
    before: String,
    after: String,
    kill_to_b: i64,
    verdict: i64,
    decided: i64,
    decision_ms: f64,
    moved: i64,
    router: i64,
    ping_b: i64,
    tables: u64,
    route_on_b: bool,
    ping: Ping,
}

pub(crate) fn main(args: &Args) -> Result<()> {
    let m = measure(args)?;
    let ok = m.before == "serverA"
        && (0..=args.bound_ms).contains(&m.kill_to_b)
        && m.route_on_b
        && m.router >= 0
        && m.a_after_b == 0
        && m.after == "serverB";
    print(&m, args.bound_ms, ok);
    if !ok {
        std::process::exit(3);
    }
    Ok(())
}

fn measure(args: &Args) -> Result<Measured> {
    let read = |name: &str| {
        let path = args.work.join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let requests = parse_curl(&read("curl.log")?);
    let ping = Ping::parse(&read("ping.log")?, args.ttl_a, args.ttl_b);
    let events: Vec<Value> = read("demo.out")?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let follower = read("follower.log").unwrap_or_default();
    let kill = args.kill_at;
    let ms = |at: Option<f64>| at.map_or(-1, |t| ((t - kill) * 1000.0).round() as i64);
    let after_kill: Vec<&Request> = requests.iter().filter(|r| r.end > kill).collect();
    let first_b = after_kill
        .iter()
        .find(|r| r.server == "serverB")
        .map(|r| r.end);
    let a_down = |e: &Value| {
        e["event"] == "round"
            && e["verdicts"]
                .as_array()
                .is_some_and(|v| v.iter().any(|m| m["name"] == "serverA" && m["up"] == false))
    };
    let failed_over = |e: &Value| e["event"] == "decision" && e["action"] == "failed_over";
    let routes_now = events.iter().rev().find(|e| e["event"] == "routes");
    Ok(Measured {
        requests: requests.len(),
        after_kill: after_kill.len(),
        failed: after_kill.iter().filter(|r| r.failed()).count(),
        failed_before: requests
            .iter()
            .filter(|r| r.end <= kill && r.failed())
            .count(),
        a_after_b: first_b.map_or(0, |b| {
            let late_a = |r: &&&Request| r.server == "serverA" && r.end > b;
            after_kill.iter().filter(late_a).count()
        }),
        // The last answer before the kill (a request in flight then counts after).
        before: requests
            .iter()
            .rev()
            .find(|r| r.end <= kill)
            .map_or("none".into(), |r| r.server.clone()),
        after: requests.last().map_or("none".into(), |r| r.server.clone()),
        kill_to_b: ms(first_b),
        verdict: ms(event_at(&events, kill, a_down)),
        decided: ms(event_at(&events, kill, failed_over)),
        decision_ms: events
            .iter()
            .filter(|e| e["at"].as_f64().is_some_and(|at| at > kill))
            .find(|e| failed_over(e))
            .and_then(|e| e["duration_ms"].as_f64())
            .unwrap_or(-1.0),
        moved: ms(event_at(&events, kill, |e| {
            e["event"] == "routes" && e["all_on"] == "serverB"
        })),
        router: ms(follower_change(&follower, &args.eni_b)),
        ping_b: ms(ping.first_b),
        tables: routes_now.and_then(|e| e["tables"].as_u64()).unwrap_or(0),
        route_on_b: routes_now.is_some_and(|e| e["all_on"] == "serverB"),
        ping,
    })
}

fn print(m: &Measured, bound_ms: i64, ok: bool) {
    let p = &m.ping;
    println!(
        "   curl: {} requests, {} after the kill: {} failed; first serverB answer {} ms after the kill",
        m.requests, m.after_kill, m.failed, m.kill_to_b
    );
    println!(
        "   from the kill: probe verdict delivered {} ms; decision done {} ms (it took {:.0} ms); \
         all {} tables on serverB {} ms; router switched {} ms; first serverB ping reply {} ms",
        m.verdict, m.decided, m.decision_ms, m.tables, m.moved, m.router, m.ping_b
    );
    println!(
        "   ping: {} sent, {} replies ({} from serverA, {} from serverB), {} lost ({:.2}%)",
        p.transmitted,
        p.received,
        p.from_a,
        p.from_b,
        p.lost,
        p.loss_percent()
    );
    if ok {
        println!(
            "   OK: serverA's service died while its instance kept running; serverB answered \
             {} ms after the kill (bound {bound_ms} ms); {} requests failed in between",
            m.kill_to_b, m.failed
        );
    } else {
        println!(
            "   FAILED: expected curl serverA before the kill, serverB within {bound_ms} ms of \
             it and after, and every VIP route on serverB"
        );
    }
    println!(
        "RESULT ok={} kill_to_b_ms={} failed_requests={} failed_before={} requests_after_kill={} \
         a_after_b={} kill_to_verdict_ms={} kill_to_decision_ms={} decision_ms={:.0} \
         kill_to_route_ms={} kill_to_router_ms={} kill_to_ping_b_ms={} ping_transmitted={} \
         ping_lost={} ping_loss_percent={:.2} route_on_b={} before={} after={}",
        u8::from(ok),
        m.kill_to_b,
        m.failed,
        m.failed_before,
        m.after_kill,
        m.a_after_b,
        m.verdict,
        m.decided,
        m.decision_ms,
        m.moved,
        m.router,
        m.ping_b,
        p.transmitted,
        p.lost,
        p.loss_percent(),
        u8::from(m.route_on_b),
        m.before,
        m.after
    );
}

impl Request {
    fn failed(&self) -> bool {
        self.server.starts_with("fail")
    }
}

fn parse_curl(text: &str) -> Vec<Request> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip(1);
            Some(Request {
                end: words.next()?.parse().ok()?,
                server: words.next()?.to_string(),
            })
        })
        .collect()
}

/// The time of the first event after `kill` that `pick` accepts.
fn event_at(events: &[Value], kill: f64, pick: impl Fn(&Value) -> bool) -> Option<f64> {
    events
        .iter()
        .filter(|e| pick(e))
        .filter_map(|e| e["at"].as_f64())
        .find(|at| *at > kill)
}

/// When the follower replaced the router's kernel route towards `eni`.
fn follower_change(log: &str, eni: &str) -> Option<f64> {
    log.lines()
        .filter(|l| l.starts_with("CHANGE") && l.contains(&format!("target={eni}")))
        .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("ts=")))
        .and_then(|ts| ts.parse().ok())
}

/// What `ping -D` saw: replies by server (TTL), loss.
#[derive(Default)]
struct Ping {
    transmitted: u64,
    received: u64,
    from_a: u64,
    from_b: u64,
    /// Requests with no reply, not counting the last one in flight when ping
    /// was stopped.
    lost: u64,
    first_b: Option<f64>,
}

impl Ping {
    fn parse(text: &str, ttl_a: u32, ttl_b: u32) -> Self {
        let mut ping = Ping::default();
        let mut seqs = std::collections::BTreeSet::new();
        for line in text.lines() {
            let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name));
            let (Some(seq), Some(ttl)) = (field("icmp_seq="), field("ttl=")) else {
                if let Some((sent, rest)) = line.split_once(" packets transmitted, ") {
                    ping.transmitted = sent.trim().parse().unwrap_or(0);
                    ping.received = rest
                        .split_whitespace()
                        .next()
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                }
                continue;
            };
            let at = line
                .strip_prefix('[')
                .and_then(|l| l.split(']').next())
                .and_then(|t| t.parse::<f64>().ok());
            let (Ok(seq), Ok(ttl)) = (seq.parse::<u64>(), ttl.parse::<u32>()) else {
                continue;
            };
            if !seqs.insert(seq) {
                continue;
            }
            if ttl == ttl_a {
                ping.from_a += 1;
            } else if ttl == ttl_b {
                ping.from_b += 1;
                ping.first_b = ping.first_b.or(at);
            }
        }
        let missing: Vec<u64> = (1..=ping.transmitted)
            .filter(|s| !seqs.contains(s))
            .collect();
        let in_flight = u64::from(missing == [ping.transmitted]);
        ping.lost = missing.len() as u64 - in_flight;
        ping
    }

    fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 100.0;
        }
        100.0 * self.lost as f64 / self.transmitted as f64
    }
}
