//! The function's side of the service: its process, its queue (reserved
//! concurrency 1) and what the Runtime API hands it and hears back.

use std::fs::OpenOptions;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Instant;

use super::{
    error_document, Invocation, Outcome, Pending, RuntimeEvent, Shared, State, INIT_LIMIT, POLL,
};

impl State {
    fn working_on(&self, request_id: &str) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|(id, _)| id == request_id)
    }

    /// The latest attempt of `request_id`.
    fn attempt_mut(&mut self, request_id: &str) -> Option<&mut Invocation> {
        let invocations = &mut self.history.invocations;
        invocations
            .iter_mut()
            .rev()
            .find(|i| i.request_id == request_id)
    }

    fn finish(&mut self, request_id: &str, outcome: &Outcome) {
        if let Some(attempt) = self.attempt_mut(request_id) {
            attempt.finished = Some(Instant::now());
            attempt.outcome = Some(outcome.clone());
        }
    }
}

impl Invocation {
    /// An attempt about to be queued.
    pub(super) fn attempt(
        request_id: &str,
        event: &str,
        attempt: u32,
        asynchronous: bool,
        accepted: Instant,
    ) -> Self {
        Self {
            request_id: request_id.to_string(),
            attempt,
            asynchronous,
            event: event.to_string(),
            accepted,
            queued: Instant::now(),
            started: None,
            finished: None,
            outcome: None,
        }
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn record(&self, state: &mut State, event: RuntimeEvent) {
        state.history.events.push(event);
        self.changed.notify_all();
    }

    /// Waits until `done` holds of the state (it may change it), or `deadline`
    /// passes; whether it holds.
    pub(super) fn wait_until(
        &self,
        deadline: Instant,
        mut done: impl FnMut(&mut State) -> bool,
    ) -> bool {
        let mut state = self.lock();
        loop {
            if done(&mut state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    pub(super) fn spawn(&self) -> u32 {
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
            // The Lambda API of this service, so that the function invokes the
            // others by name; a function's own `env` may point it elsewhere (a
            // proxy). Ports are only known once started, hence here.
            .env(
                "AWS_ENDPOINT_URL_LAMBDA",
                format!("http://127.0.0.1:{}", self.port),
            )
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

    pub(super) fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(super) fn running_pid(&self) -> Option<u32> {
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

    /// An invocation is running or waiting to: a synchronous invoke now would
    /// exceed the reserved concurrency. (An asynchronous one waiting for its
    /// retry does not hold the function.)
    pub(super) fn busy(&self) -> bool {
        let state = self.lock();
        let now = Instant::now();
        state.in_flight.is_some()
            || !state.queue.is_empty()
            || state.job_running
            || state.jobs.iter().any(|job| job.due <= now)
    }

    pub(super) fn new_request_id(&self) -> String {
        let mut state = self.lock();
        state.issued += 1;
        format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            self.port,
            state.issued
        )
    }

    /// Puts an attempt into the function's queue, for its next poll.
    fn queue(&self, invocation: Invocation) {
        let mut state = self.lock();
        state.queue.push_back(Pending {
            request_id: invocation.request_id.clone(),
            event: invocation.event.clone(),
        });
        state.history.invocations.push(invocation);
        self.changed.notify_all();
    }

    pub(super) fn enqueue(&self, event: &str) -> String {
        let request_id = self.new_request_id();
        let now = Instant::now();
        self.queue(Invocation::attempt(&request_id, event, 1, true, now));
        request_id
    }

    pub(super) fn invoke(&self, event: &str) -> Outcome {
        let request_id = self.new_request_id();
        let now = Instant::now();
        self.run(Invocation::attempt(&request_id, event, 1, false, now))
    }

    /// One attempt, start to end: it holds the function (reserved concurrency
    /// 1), starts the process when none runs (a cold start) and waits for the
    /// outcome, or for the failure the runtime reports itself.
    pub(super) fn run(&self, invocation: Invocation) -> Outcome {
        let _slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_running();
        let request_id = invocation.request_id.clone();
        self.queue(invocation);
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
            let failure = init_error.or_else(|| self.failure(&request_id, limit));
            state = self.lock();
            if let Some(outcome) = state.outcomes.remove(&request_id) {
                return outcome;
            }
            if let Some(error) = failure {
                state.queue.retain(|p| p.request_id != request_id);
                if state.working_on(&request_id) {
                    state.in_flight = None;
                }
                let outcome = Outcome::Error(error);
                state.finish(&request_id, &outcome);
                return outcome;
            }
            state = self.changed.wait_timeout(state, POLL).unwrap().0;
        }
    }

    /// What ends an invocation without an answer from the function: the service
    /// stopping, the time limit, the process exiting.
    fn failure(&self, request_id: &str, limit: Instant) -> Option<String> {
        if self.stopping.load(Ordering::SeqCst) {
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
        }
    }

    /// `GET .../invocation/next`: the next invocation, waiting for one while the
    /// function's connection stays open.
    pub(super) fn next(&self, stream: &TcpStream) -> Option<Pending> {
        let mut announced = false;
        loop {
            if self.stopping.load(Ordering::SeqCst) || peer_closed(stream) {
                return None;
            }
            let mut state = self.lock();
            if let Some(pending) = state.queue.pop_front() {
                let now = Instant::now();
                state.in_flight = Some((pending.request_id.clone(), now));
                if let Some(attempt) = state.attempt_mut(&pending.request_id) {
                    attempt.started = Some(now);
                }
                let event = RuntimeEvent::Next {
                    at: now,
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
    pub(super) fn requeue(&self, pending: Pending) {
        let mut state = self.lock();
        state.in_flight = None;
        if let Some(attempt) = state.attempt_mut(&pending.request_id) {
            attempt.started = None;
        }
        state.queue.push_front(pending);
        self.changed.notify_all();
    }

    pub(super) fn complete(&self, request_id: &str, outcome: Outcome, event: RuntimeEvent) -> bool {
        let mut state = self.lock();
        if !state.working_on(request_id) {
            return false;
        }
        state.in_flight = None;
        state.finish(request_id, &outcome);
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
