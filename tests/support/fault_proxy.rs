//! A fault-injecting HTTP proxy in front of the emulator, for the failure tests.
//!
//! EC2 misbehaves in a few ways that matter to a failover: throttling
//! (`RequestLimitExceeded`, HTTP 503), internal errors (HTTP 500), calls slower
//! than the client's attempt timeout, and dropped connections. The proxy injects
//! them into a chosen share of calls, deterministically from a seed, and records
//! every request body so tests can see exactly what was written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    /// Answer only after this long (past the client's attempt timeout).
    Slow(Duration),
    Drop,
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
    /// Requests whose body contains all of these strings always fail with a
    /// throttle: a fault beyond any retry budget.
    pub always_fail: Vec<Vec<String>>,
    pub seed: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            share: 0.0,
            kinds: vec![Fault::Throttle],
            max_consecutive: u32::MAX,
            always_fail: Vec::new(),
            seed: 1,
        }
    }
}

/// One request as seen by the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub action: String,
    pub body: String,
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    rules: Rules,
    rng: u64,
    turn: usize,
    streaks: HashMap<String, u32>,
    seen: Vec<Seen>,
}

pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`) on a free loopback port.
    pub async fn start(upstream: &str, rules: Rules) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.to_string(),
            rng: rules.seed.max(1),
            rules,
            turn: 0,
            streaks: HashMap::new(),
            seen: Vec::new(),
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

    pub fn set_rules(&self, rules: Rules) {
        let mut state = self.state.lock().unwrap();
        state.rules = rules;
        state.streaks.clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    fn decide(&mut self, body: &str) -> Option<Fault> {
        if self
            .rules
            .always_fail
            .iter()
            .any(|needles| needles.iter().all(|n| body.contains(n.as_str())))
        {
            return Some(Fault::Throttle);
        }
        // xorshift64: deterministic for a seed, no extra crate.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let roll = (self.rng % 10_000) as f64 / 10_000.0;
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
}

async fn serve(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let Some((head, body)) = read_request(&mut client).await else {
        return;
    };
    let body_text = String::from_utf8_lossy(&body).to_string();
    let action = super::action_of(&body_text);
    let (fault, upstream) = {
        let mut state = state.lock().unwrap();
        let fault = state.decide(&body_text);
        state.seen.push(Seen {
            action,
            body: body_text,
            fault,
        });
        (fault, state.upstream.clone())
    };
    let response = match fault {
        Some(Fault::Drop) => return,
        Some(Fault::Throttle) => error_response(
            503,
            "Service Unavailable",
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        Some(Fault::ServerError) => error_response(
            500,
            "Internal Server Error",
            "InternalError",
            "An internal error has occurred.",
        ),
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            forward(&upstream, &head, &body).await
        }
        None => forward(&upstream, &head, &body).await,
    };
    let _ = client.write_all(&response).await;
    let _ = client.shutdown().await;
}

/// Reads one HTTP/1.1 request: head and a Content-Length body.
async fn read_request(socket: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    // One request per connection: tell both sides to close after it.
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let head = head.trim_end_matches("\r\n").to_string() + "\r\nConnection: close\r\n\r\n";
    Some((
        head.into_bytes(),
        buffer[head_end..head_end + length].to_vec(),
    ))
}

async fn forward(upstream: &str, head: &[u8], body: &[u8]) -> Vec<u8> {
    let attempt = async {
        let mut socket = TcpStream::connect(upstream).await?;
        socket.write_all(head).await?;
        socket.write_all(body).await?;
        let mut response = Vec::new();
        socket.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match attempt.await {
        Ok(response) => response,
        Err(e) => error_response(502, "Bad Gateway", "ProxyError", &e.to_string()),
    }
}

fn error_response(status: u16, reason: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
