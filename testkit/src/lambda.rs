//! A local Lambda service that runs the real function binaries. Each function has
//! its own loopback port serving:
//!
//! - the **Runtime API** its process polls (`AWS_LAMBDA_RUNTIME_API`):
//!   `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//!   `POST .../invocation/{id}/error` and `POST /2018-06-01/runtime/init/error`;
//! - the **Invoke API** callers use (`aws_sdk_lambda::Client::invoke` with its
//!   endpoint here, see [`LocalLambda::client`]):
//!   `POST /2015-03-31/functions/{name}/invocations`, for *any* function started
//!   together with it ([`Lambdas`]), so that one function invokes another by name
//!   through its `AWS_ENDPOINT_URL_LAMBDA` (set to its own port in the process's
//!   environment unless [`Function::env`] sets it).
//!
//! As in Lambda with reserved concurrency 1, invocations reach a function one at a
//! time (a synchronous invoke while it works is refused with a 429); a response
//! comes back as HTTP 200, a function error as HTTP 200 with
//! `X-Amz-Function-Error: Unhandled` and the error document as the body. An
//! asynchronous invoke (`InvocationType=Event`) is accepted with a 202 and queued:
//! the function's asynchronous invocations run one after the other, a failed one
//! is retried ([`Function::max_retry_attempts`]) with the same request id, and its
//! end goes to the function's destination ([`Function::on_success`],
//! [`Function::on_failure`]) as AWS's invocation record, itself an asynchronous
//! invocation of the destination. The first invocation starts the function process
//! when none runs (a cold start); [`LocalLambda::spawn`] starts one explicitly.
//! Every step is recorded with its time ([`RuntimeEvent`], [`Invocation`],
//! [`Delivery`]), which is what the bench's cold-start measurement reads.

use std::collections::{HashMap, VecDeque};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};

mod asynchronous;
mod function;
mod http;
mod registry;
mod service;

pub use function::{emulator_env, Function};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// How long a function may take to poll for its first invocation (Lambda's init
/// phase limit).
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How often waiting threads look at the function process and the connection.
const POLL: Duration = Duration::from_millis(20);

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

/// One attempt of an invocation, from the service's side: when it was queued,
/// taken and finished (a retried asynchronous invocation has one per attempt,
/// all with its request id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// 1 for the first attempt, counting up with each retry (the invocation
    /// record's `approximateInvokeCount`).
    pub attempt: u32,
    /// Accepted as `InvocationType=Event` (or by [`LocalLambda::enqueue`]).
    pub asynchronous: bool,
    pub event: String,
    /// When the service accepted the invocation (the same for every attempt).
    pub accepted: Instant,
    /// When this attempt entered the function's queue.
    pub queued: Instant,
    /// When the function took it (`GET .../invocation/next`).
    pub started: Option<Instant>,
    /// When its outcome was known: a response, an error, a timeout or an exit.
    pub finished: Option<Instant>,
    pub outcome: Option<Outcome>,
}

/// An invocation record sent to a destination, recorded on the function whose
/// asynchronous invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub at: Instant,
    /// The destination function's name.
    pub to: String,
    /// `Success` or `RetriesExhausted`, as in the record.
    pub condition: String,
    /// The request id of the invocation that ended.
    pub request_id: String,
    /// The request id of the destination's (asynchronous) invocation.
    pub delivered_as: String,
    /// The invocation record, as the destination receives it.
    pub record: serde_json::Value,
}

/// Everything recorded of one function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub events: Vec<RuntimeEvent>,
    pub invocations: Vec<Invocation>,
    pub deliveries: Vec<Delivery>,
}

/// One function of the service, stopped (and its process killed) on drop.
pub struct LocalLambda {
    pub port: u16,
    shared: Arc<Shared>,
}

/// Several functions of one service: each has its own port (its Runtime API),
/// and each port's Invoke API reaches every one of them by name or ARN.
pub struct Lambdas {
    functions: Vec<LocalLambda>,
}

struct Shared {
    function: Function,
    port: u16,
    log: PathBuf,
    temporary_log: bool,
    registry: Arc<Registry>,
    state: Mutex<State>,
    changed: Condvar,
    /// Reserved concurrency 1: held by an invocation until it returns.
    slot: Mutex<()>,
    child: Mutex<Option<Child>>,
    stopping: AtomicBool,
}

/// The functions started together: what the Invoke API and destinations
/// resolve names against. Weak, so that a dropped function is gone from it.
#[derive(Default)]
struct Registry {
    functions: OnceLock<Vec<Weak<Shared>>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    /// The invocation the function is working on, and since when.
    in_flight: Option<(String, Instant)>,
    outcomes: HashMap<String, Outcome>,
    init_error: Option<String>,
    history: History,
    /// How many of `history.events` [`LocalLambda::next_event`] returned.
    read: usize,
    /// Request ids handed out so far.
    issued: u64,
    /// Asynchronous invocations accepted and not yet running, or waiting for a
    /// retry.
    jobs: VecDeque<Job>,
    /// An asynchronous invocation holds the function.
    job_running: bool,
}

struct Pending {
    request_id: String,
    event: String,
}

/// An asynchronous invocation between its attempts.
#[derive(Clone)]
struct Job {
    request_id: String,
    event: String,
    accepted: Instant,
    /// The attempt to run next (1-based).
    attempt: u32,
    /// Not before (a retry's delay).
    due: Instant,
}

impl LocalLambda {
    /// Serves the Runtime and Invoke APIs of one function on a free loopback
    /// port. The function is started by the first invocation, or by
    /// [`Self::spawn`].
    pub fn start(function: Function) -> Self {
        Lambdas::start(vec![function])
            .functions
            .pop()
            .expect("one function")
    }

    fn serve(function: Function, registry: Arc<Registry>) -> Self {
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
            registry,
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
                std::thread::spawn(move || http::serve_connection(stream, &shared));
            }
        });
        let worker = shared.clone();
        std::thread::spawn(move || worker.run_jobs());
        Self { port, shared }
    }

    /// `127.0.0.1:PORT`, the function's `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The endpoint of the Invoke API (for `AWS_ENDPOINT_URL_LAMBDA`): it reaches
    /// every function started together with this one.
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

    /// Queues an invocation straight into the function's queue, without waiting
    /// for it (nothing is spawned; no retry, no destination): the function's next
    /// poll gets it. Returns its request id.
    pub fn enqueue(&self, event: &str) -> String {
        self.shared.enqueue(event)
    }

    /// An asynchronous invocation, as `InvocationType=Event` makes: queued behind
    /// the function's others, retried, and sent to its destination. Returns its
    /// request id.
    pub fn invoke_async(&self, event: &str) -> String {
        self.shared.accept_async(event)
    }

    /// A synchronous invocation (blocking): what the Invoke API does for
    /// `RequestResponse`.
    pub fn invoke(&self, event: &str) -> Outcome {
        self.shared.invoke(event)
    }

    /// The next event not yet read, waiting for it until `deadline`.
    pub fn next_event(&self, deadline: Instant) -> Option<RuntimeEvent> {
        let mut next = None;
        self.shared.wait_until(deadline, |state| {
            next = state.history.events.get(state.read).cloned();
            state.read += usize::from(next.is_some());
            next.is_some()
        });
        next
    }

    /// Marks every event so far as read.
    pub fn skip_events(&self) {
        let mut state = self.shared.lock();
        state.read = state.history.events.len();
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<RuntimeEvent> {
        self.shared.lock().history.events.clone()
    }

    /// Every attempt of every invocation so far, in the order they were queued.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.shared.lock().history.invocations.clone()
    }

    /// Every invocation record this function's asynchronous invocations sent to
    /// a destination so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().history.deliveries.clone()
    }

    pub fn history(&self) -> History {
        self.shared.lock().history.clone()
    }

    /// Waits until `done` holds of the function's history, or `deadline` passes;
    /// whether it holds. Blocking: in a Tokio test, call it in `block_in_place`
    /// or `spawn_blocking` when the runtime must go on meanwhile.
    pub fn wait_for(&self, deadline: Instant, mut done: impl FnMut(&History) -> bool) -> bool {
        self.shared
            .wait_until(deadline, |state| done(&state.history))
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

fn error_document(error_type: &str, message: &str) -> String {
    serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string()
}

#[cfg(test)]
mod tests;
