//! Asynchronous invocations (`InvocationType=Event`): Lambda's internal queue in
//! front of the function, its retries, and its destinations.
//!
//! Each function has one worker thread that takes its accepted invocations in
//! order and runs them one at a time, like the synchronous ones (reserved
//! concurrency 1). A failed attempt goes back to the queue, due after the retry
//! delay, with its request id; other invocations run meanwhile, as in Lambda.
//! When an invocation ends (a response, or a failure with no retry left), its
//! invocation record goes to the destination for that end, as an asynchronous
//! invocation of the destination function: queued there if it is busy.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Delivery, Invocation, Job, Outcome, Shared, POLL};

impl Shared {
    /// Accepts an asynchronous invocation (the Invoke API's 202); returns its
    /// request id.
    pub(super) fn accept_async(&self, event: &str) -> String {
        let request_id = self.new_request_id();
        let now = Instant::now();
        let mut state = self.lock();
        state.jobs.push_back(Job {
            request_id: request_id.clone(),
            event: event.to_string(),
            accepted: now,
            attempt: 1,
            due: now,
        });
        self.changed.notify_all();
        request_id
    }

    /// The worker: runs the accepted invocations until the service stops.
    pub(super) fn run_jobs(&self) {
        while let Some(job) = self.next_job() {
            let attempt =
                Invocation::attempt(&job.request_id, &job.event, job.attempt, true, job.accepted);
            let outcome = self.run(attempt);
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            self.settle(job, outcome);
            self.lock().job_running = false;
        }
    }

    /// The first invocation that is due, in the order they were accepted (or
    /// rescheduled), waiting for one; `None` once the service stops.
    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            let now = Instant::now();
            if let Some(i) = state.jobs.iter().position(|job| job.due <= now) {
                state.job_running = true;
                return state.jobs.remove(i);
            }
            let wait = state
                .jobs
                .iter()
                .map(|job| job.due - now)
                .fold(POLL, Duration::min);
            state = self.changed.wait_timeout(state, wait).unwrap().0;
        }
    }

    /// After an attempt: a retry, a destination, or nothing.
    fn settle(&self, mut job: Job, outcome: Outcome) {
        let function = &self.function;
        let (destination, condition) = match &outcome {
            Outcome::Response(_) => (&function.on_success, "Success"),
            Outcome::Error(_) if job.attempt <= function.max_retry_attempts => {
                // AWS waits about a minute, then two: the n-th retry n delays.
                job.due = Instant::now() + function.retry_delay * job.attempt;
                job.attempt += 1;
                self.lock().jobs.push_back(job);
                self.changed.notify_all();
                return;
            }
            Outcome::Error(_) => (&function.on_failure, "RetriesExhausted"),
        };
        if let Some(to) = destination {
            self.deliver(to, condition, &job, &outcome);
        }
    }

    /// Sends the invocation record to the destination `to`, as an asynchronous
    /// invocation of it, and records the delivery here.
    fn deliver(&self, to: &str, condition: &str, job: &Job, outcome: &Outcome) {
        // Gone when the service is being stopped: nothing to deliver to then.
        let Some(destination) = self.registry.find(to) else {
            return;
        };
        let record = invocation_record(self, condition, job, outcome);
        let delivered_as = destination.accept_async(&record.to_string());
        let delivery = Delivery {
            at: Instant::now(),
            to: destination.function.name.clone(),
            condition: condition.to_string(),
            request_id: job.request_id.clone(),
            delivered_as,
            record,
        };
        self.lock().history.deliveries.push(delivery);
        self.changed.notify_all();
    }
}

/// The invocation record a Lambda destination receives, in AWS's shape.
fn invocation_record(shared: &Shared, condition: &str, job: &Job, outcome: &Outcome) -> Value {
    let function = &shared.function;
    let mut response_context = json!({
        "statusCode": 200,
        "executedVersion": function.version,
    });
    let payload = match outcome {
        Outcome::Response(body) => body,
        Outcome::Error(body) => {
            response_context["functionError"] = json!("Unhandled");
            body
        }
    };
    json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "requestContext": {
            "requestId": job.request_id,
            "functionArn": format!("{}:{}", function.arn(), function.version),
            "condition": condition,
            "approximateInvokeCount": job.attempt,
        },
        "requestPayload": as_json(&job.event),
        "responseContext": response_context,
        "responsePayload": as_json(payload),
    })
}

/// A payload as the record carries it: the JSON value when it parses as JSON
/// (nothing is `null`), else the text.
fn as_json(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}
