//! A local Lambda service that runs the real function binary, on one loopback port:
//!
//! - the **Runtime API** the function polls (`AWS_LAMBDA_RUNTIME_API`):
//!   `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//!   `POST .../invocation/{id}/error` and `POST /2018-06-01/runtime/init/error`;
//! - the **Invoke API** callers use (`aws_sdk_lambda::Client::invoke` with its
//!   endpoint here, see [`LocalLambda::client`]):
//!   `POST /2015-03-31/functions/{name}/invocations`.
//!
//! As in Lambda with reserved concurrency 1, invocations reach the function one at a
//! time (a second synchronous invoke waits for the first); a response comes back
//! as HTTP 200, a function error as HTTP 200 with `X-Amz-Function-Error: Unhandled`
//! and the error document as the body. The first invocation starts the function
//! process when none runs (a cold start); [`LocalLambda::spawn`] starts one
//! explicitly. Every step is recorded with its time ([`RuntimeEvent`]), which is
//! what the bench's cold-start measurement reads.

use std::collections::{HashMap, VecDeque};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// How long a function may take to poll for its first invocation (Lambda's init
/// phase limit).
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How often waiting threads look at the function process and the connection.
const POLL: Duration = Duration::from_millis(20);

/// The function: its binary and configuration.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    /// `None`: the caller runs the runtime client itself (against
    /// [`LocalLambda::runtime_api`]); nothing is spawned.
    pub binary: Option<PathBuf>,
    /// The function timeout (the deadline handed to each invocation).
    pub timeout: Duration,
    pub memory_mb: u32,
    pub version: String,
    /// Environment of the function process, besides Lambda's own variables.
    pub env: Vec<(String, String)>,
    /// Where the process's stdout and stderr go; default: a temporary file,
    /// removed with the service.
    pub log: Option<PathBuf>,
}

impl Function {
    /// `binary`, e.g. `env!("CARGO_BIN_EXE_vip-failover")`, with Lambda's defaults:
    /// 30 s timeout (the template's), 128 MB, version `$LATEST`.
    pub fn new(name: &str, binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: Some(binary.into()),
            ..Self::external(name)
        }
    }

    /// A function whose runtime client the caller runs.
    pub fn external(name: &str) -> Self {
        Self {
            name: name.to_string(),
            binary: None,
            timeout: Duration::from_secs(30),
            memory_mb: 128,
            version: "$LATEST".to_string(),
            env: Vec::new(),
            log: None,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", self.name)
    }
}

/// The environment that points a function's AWS SDK at an emulator (or a proxy)
/// at `endpoint`, with dummy credentials in us-east-1 and nothing read from the
/// developer's machine (no profile, no instance metadata).
pub fn emulator_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What happened, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// The function process was started (`at`: just before the spawn).
    Spawned { at: Instant, pid: u32 },
    /// The function asked for the next invocation: it got `request_id`, or `None`
    /// when there was none (it is idle, waiting; it gets the next one later).
    Next {
        at: Instant,
        request_id: Option<String>,
    },
    Response {
        at: Instant,
        request_id: String,
        body: String,
    },
    Error {
        at: Instant,
        request_id: String,
        error_type: Option<String>,
        body: String,
    },
    InitError {
        at: Instant,
        error_type: Option<String>,
        body: String,
    },
}

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's response document.
    Response(String),
    /// A function error: the error document (`{"errorType":...,"errorMessage":...}`).
    Error(String),
}

/// The service, stopped (and the function killed) on drop.
pub struct LocalLambda {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    function: Function,
    port: u16,
    log: PathBuf,
    temporary_log: bool,
    state: Mutex<State>,
    changed: Condvar,
    /// Reserved concurrency 1: held by a synchronous invocation until it returns.
    slot: Mutex<()>,
    child: Mutex<Option<Child>>,
    stopping: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    /// The invocation the function is working on, and since when.
    in_flight: Option<(String, Instant)>,
    outcomes: HashMap<String, Outcome>,
    init_error: Option<String>,
    events: Vec<RuntimeEvent>,
    read: usize,
    invocations: u64,
}

impl State {
    fn working_on(&self, request_id: &str) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|(id, _)| id == request_id)
    }
}

struct Pending {
    request_id: String,
    event: String,
}

impl LocalLambda {
    /// Serves the Runtime and Invoke APIs on a free loopback port. The function is
    /// started by the first invocation, or by [`Self::spawn`].
    pub fn start(function: Function) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the local Lambda");
        let port = listener.local_addr().expect("local Lambda address").port();
        let temporary_log = function.log.is_none();
        let log = function.log.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "{}-local-lambda-{}-{port}.log",
                function.name,
                std::process::id()
            ))
        });
        let shared = Arc::new(Shared {
            function,
            port,
            log,
            temporary_log,
            state: Mutex::default(),
            changed: Condvar::new(),
            slot: Mutex::new(()),
            child: Mutex::new(None),
            stopping: AtomicBool::new(false),
        });
        let server = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if server.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = server.clone();
                std::thread::spawn(move || serve_connection(stream, &shared));
            }
        });
        Self { port, shared }
    }

    /// `127.0.0.1:PORT`, the function's `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The endpoint of the Invoke API (for `AWS_ENDPOINT_URL_LAMBDA`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A Lambda client for this service: dummy credentials, us-east-1, no retries
    /// (one invoke is one invocation).
    pub fn client(&self) -> aws_sdk_lambda::Client {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(self.url())
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    pub fn function(&self) -> &Function {
        &self.shared.function
    }

    /// Starts the function process (killing one that runs): a cold start. Returns
    /// its process id.
    pub fn spawn(&self) -> u32 {
        self.shared.spawn()
    }

    /// Kills the function process, if one runs.
    pub fn kill(&self) {
        self.shared.kill();
    }

    /// The running function's process id.
    pub fn pid(&self) -> Option<u32> {
        self.shared.running_pid()
    }

    /// Queues an invocation without waiting for it (as an asynchronous invoke
    /// does; nothing is spawned): the function's next poll gets it. Returns its
    /// request id.
    pub fn enqueue(&self, event: &str) -> String {
        self.shared.enqueue(event)
    }

    /// A synchronous invocation (blocking): what the Invoke API does for
    /// `RequestResponse`.
    pub fn invoke(&self, event: &str) -> Outcome {
        self.shared.invoke(event)
    }

    /// The next event not yet read, waiting for it until `deadline`.
    pub fn next_event(&self, deadline: Instant) -> Option<RuntimeEvent> {
        let mut state = self.shared.lock();
        loop {
            if state.read < state.events.len() {
                state.read += 1;
                return Some(state.events[state.read - 1].clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Marks every event so far as read.
    pub fn skip_events(&self) {
        let mut state = self.shared.lock();
        state.read = state.events.len();
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<RuntimeEvent> {
        self.shared.lock().events.clone()
    }

    /// What the function wrote to stdout and stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.shared.log).unwrap_or_default()
    }
}

impl Drop for LocalLambda {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.kill();
        self.shared.changed.notify_all();
        // Wakes the accept loop so that it sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if self.shared.temporary_log {
            let _ = std::fs::remove_file(&self.shared.log);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn record(&self, state: &mut State, event: RuntimeEvent) {
        state.events.push(event);
        self.changed.notify_all();
    }

    fn spawn(&self) -> u32 {
        let binary = self
            .function
            .binary
            .as_ref()
            .expect("Function::external has no binary to spawn");
        self.kill();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the function log");
        let f = &self.function;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", &f.version)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(f.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("function log")))
            .stderr(Stdio::from(log));
        let mut child_slot = self.child.lock().unwrap();
        self.lock().init_error = None;
        let at = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let pid = child.id();
        *child_slot = Some(child);
        drop(child_slot);
        let mut state = self.lock();
        self.record(&mut state, RuntimeEvent::Spawned { at, pid });
        pid
    }

    fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn running_pid(&self) -> Option<u32> {
        let mut child = self.child.lock().unwrap();
        match child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => child.as_ref().map(Child::id),
            _ => None,
        }
    }

    /// The function's exit status, if it was started and has exited.
    fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap();
        match child.as_mut()?.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Starts the function if it has a binary and no process runs.
    fn ensure_running(&self) {
        if self.function.binary.is_some() && self.running_pid().is_none() {
            self.spawn();
        }
    }

    /// An invocation is running or waiting.
    fn busy(&self) -> bool {
        let state = self.state.lock().unwrap();
        state.in_flight.is_some() || !state.queue.is_empty()
    }

    fn enqueue(&self, event: &str) -> String {
        let mut state = self.lock();
        state.invocations += 1;
        let request_id = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            self.port,
            state.invocations
        );
        state.queue.push_back(Pending {
            request_id: request_id.clone(),
            event: event.to_string(),
        });
        self.changed.notify_all();
        request_id
    }

    fn invoke(&self, event: &str) -> Outcome {
        let _slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_running();
        let request_id = self.enqueue(event);
        // Until the function takes it, the init phase's limit applies as well.
        let queued_limit = Instant::now() + INIT_LIMIT + self.function.timeout;
        let mut state = self.lock();
        loop {
            if let Some(outcome) = state.outcomes.remove(&request_id) {
                return outcome;
            }
            let limit = match &state.in_flight {
                Some((id, since)) if *id == request_id => *since + self.function.timeout,
                _ => queued_limit,
            };
            let init_error = state.init_error.clone();
            // The process lock is never taken while holding the state lock.
            drop(state);
            let failure = if init_error.is_some() {
                init_error
            } else if self.stopping.load(Ordering::SeqCst) {
                Some(error_document(
                    "ServiceException",
                    "the local Lambda was stopped",
                ))
            } else if Instant::now() >= limit {
                // As Lambda does: the timed-out environment is thrown away.
                self.kill();
                Some(error_document(
                    "Sandbox.Timedout",
                    &format!(
                        "Task timed out after {:.2} seconds",
                        self.function.timeout.as_secs_f64()
                    ),
                ))
            } else {
                self.exited().map(|status| {
                    error_document(
                        "Runtime.ExitError",
                        &format!("RequestId: {request_id} Error: Runtime exited ({status})"),
                    )
                })
            };
            state = self.lock();
            if let Some(outcome) = state.outcomes.remove(&request_id) {
                return outcome;
            }
            if let Some(error) = failure {
                state.queue.retain(|p| p.request_id != request_id);
                if state.working_on(&request_id) {
                    state.in_flight = None;
                }
                return Outcome::Error(error);
            }
            state = self.changed.wait_timeout(state, POLL).unwrap().0;
        }
    }

    /// `GET .../invocation/next`: the next invocation, waiting for one while the
    /// function's connection stays open.
    fn next(&self, stream: &TcpStream) -> Option<Pending> {
        let mut announced = false;
        loop {
            if self.stopping.load(Ordering::SeqCst) || peer_closed(stream) {
                return None;
            }
            let mut state = self.lock();
            if let Some(pending) = state.queue.pop_front() {
                state.in_flight = Some((pending.request_id.clone(), Instant::now()));
                let event = RuntimeEvent::Next {
                    at: Instant::now(),
                    request_id: Some(pending.request_id.clone()),
                };
                self.record(&mut state, event);
                return Some(pending);
            }
            if !announced {
                announced = true;
                let event = RuntimeEvent::Next {
                    at: Instant::now(),
                    request_id: None,
                };
                self.record(&mut state, event);
            }
            drop(self.changed.wait_timeout(state, POLL).unwrap());
        }
    }

    /// An invocation handed out but not delivered (the connection broke): back to
    /// the front of the queue.
    fn requeue(&self, pending: Pending) {
        let mut state = self.lock();
        state.in_flight = None;
        state.queue.push_front(pending);
        self.changed.notify_all();
    }

    fn complete(&self, request_id: &str, outcome: Outcome, event: RuntimeEvent) -> bool {
        let mut state = self.lock();
        if !state.working_on(request_id) {
            return false;
        }
        state.in_flight = None;
        state.outcomes.insert(request_id.to_string(), outcome);
        self.record(&mut state, event);
        true
    }
}

/// Whether the other end of `stream` has closed it (the function was killed).
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match stream.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

fn error_document(error_type: &str, message: &str) -> String {
    serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string()
}

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    reader.read_line(&mut t).ok()?;
                    if t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            chunk.truncate(size);
            request.body.extend_from_slice(&chunk);
        }
    } else {
        let length = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

fn respond(writer: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    writer.write_all(head.as_bytes()).is_ok() && writer.write_all(body.as_bytes()).is_ok()
}

fn json_header() -> (&'static str, String) {
    ("Content-Type", "application/json".to_string())
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader, &mut writer) {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let path = request
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let ok = match (request.method.as_str(), path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                next_invocation(&mut writer, reader.get_ref(), shared)
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let mut state = shared.lock();
                state.init_error = Some(body.clone());
                let event = RuntimeEvent::InitError {
                    at: Instant::now(),
                    error_type: request
                        .header("lambda-runtime-function-error-type")
                        .map(str::to_string),
                    body,
                };
                shared.record(&mut state, event);
                drop(state);
                accepted(&mut writer)
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                invocation_result(&mut writer, &request, p, shared)
            }
            ("POST", p) if p.starts_with("/2015-03-31/functions/") => {
                invoke_api(&mut writer, &request, p, shared)
            }
            _ => respond(
                &mut writer,
                "404 Not Found",
                &[json_header()],
                r#"{"message":"not found"}"#,
            ),
        };
        if !ok || close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn accepted(writer: &mut TcpStream) -> bool {
    respond(
        writer,
        "202 Accepted",
        &[json_header()],
        r#"{"status":"OK"}"#,
    )
}

fn next_invocation(writer: &mut TcpStream, stream: &TcpStream, shared: &Shared) -> bool {
    let Some(pending) = shared.next(stream) else {
        return false;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d + shared.function.timeout).as_millis())
        .unwrap_or_default();
    let headers = [
        json_header(),
        ("Lambda-Runtime-Aws-Request-Id", pending.request_id.clone()),
        ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
        ("Lambda-Runtime-Invoked-Function-Arn", shared.function.arn()),
        (
            "Lambda-Runtime-Trace-Id",
            "Root=1-67000000-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0"
                .to_string(),
        ),
    ];
    if respond(writer, "200 OK", &headers, &pending.event) {
        true
    } else {
        shared.requeue(pending);
        false
    }
}

/// `POST .../invocation/{id}/response` and `.../{id}/error`.
fn invocation_result(
    writer: &mut TcpStream,
    request: &HttpRequest,
    path: &str,
    shared: &Shared,
) -> bool {
    let rest = path.trim_start_matches("/2018-06-01/runtime/invocation/");
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let at = Instant::now();
    let completed = match rest.split_once('/') {
        Some((id, "response")) => shared.complete(
            id,
            Outcome::Response(body.clone()),
            RuntimeEvent::Response {
                at,
                request_id: id.to_string(),
                body,
            },
        ),
        Some((id, "error")) => shared.complete(
            id,
            Outcome::Error(body.clone()),
            RuntimeEvent::Error {
                at,
                request_id: id.to_string(),
                error_type: request
                    .header("lambda-runtime-function-error-type")
                    .map(str::to_string),
                body,
            },
        ),
        _ => {
            return respond(
                writer,
                "404 Not Found",
                &[json_header()],
                r#"{"message":"not found"}"#,
            )
        }
    };
    if completed {
        accepted(writer)
    } else {
        respond(
            writer,
            "400 Bad Request",
            &[json_header()],
            &error_document("InvalidRequestID", "no such invocation in flight"),
        )
    }
}

/// `POST /2015-03-31/functions/{name}/invocations`.
fn invoke_api(writer: &mut TcpStream, request: &HttpRequest, path: &str, shared: &Shared) -> bool {
    let name = path
        .trim_start_matches("/2015-03-31/functions/")
        .strip_suffix("/invocations")
        .map(percent_decode)
        .unwrap_or_default();
    let function = &shared.function;
    let arn = function.arn();
    let known = name == function.name
        || name == arn
        || name
            .strip_prefix(&arn)
            .is_some_and(|qualifier| qualifier.starts_with(':'));
    if !known {
        return respond(
            writer,
            "404 Not Found",
            &[
                json_header(),
                ("x-amzn-ErrorType", "ResourceNotFoundException".to_string()),
            ],
            &serde_json::json!({
                "Type": "User",
                "message": format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
            })
            .to_string(),
        );
    }
    let event = String::from_utf8_lossy(&request.body).into_owned();
    let version = ("X-Amz-Executed-Version", function.version.clone());
    match request
        .header("x-amz-invocation-type")
        .unwrap_or("RequestResponse")
    {
        "DryRun" => respond(writer, "204 No Content", &[version], ""),
        "Event" => {
            shared.ensure_running();
            let request_id = shared.enqueue(&event);
            respond(
                writer,
                "202 Accepted",
                &[("x-amzn-RequestId", request_id)],
                "",
            )
        }
        // Reserved concurrency 1: a synchronous invoke while the function works
        // is refused, as Lambda refuses it, not queued (only `Event` queues).
        _ if shared.busy() => respond(
            writer,
            "429 Too Many Requests",
            &[
                json_header(),
                ("x-amzn-ErrorType", "TooManyRequestsException".to_string()),
            ],
            &serde_json::json!({
                "Type": "User",
                "message": "Rate Exceeded.",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            })
            .to_string(),
        ),
        _ => match shared.invoke(&event) {
            Outcome::Response(body) => respond(writer, "200 OK", &[json_header(), version], &body),
            Outcome::Error(body) => respond(
                writer,
                "200 OK",
                &[
                    json_header(),
                    version,
                    ("X-Amz-Function-Error", "Unhandled".to_string()),
                ],
                &body,
            ),
        },
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or_default();
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
