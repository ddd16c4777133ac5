//! The SDK interceptor that records every EC2 call a client makes: which action,
//! when the request left, and when its answer had been read.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// EC2 actions that change something. Reads are everything else.
pub const WRITE_ACTIONS: &[&str] = &[
    "CreateRoute",
    "ReplaceRoute",
    "DeleteRoute",
    "CreateTags",
    "DeleteTags",
    "ModifyNetworkInterfaceAttribute",
    "CreateTransitGatewayRoute",
    "ReplaceTransitGatewayRoute",
];

/// The EC2 action of a query-protocol request body (`Action=ReplaceRoute&...`).
pub fn action_of(body: &str) -> String {
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_string()
}

/// One attempt of one EC2 call (each retry is a call of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    /// When the request was handed to the HTTP client.
    pub sent: Instant,
    /// When its answer (success or error) had been read and deserialized; `None`
    /// while in flight, and for an attempt that got no answer (timed out, dropped).
    pub answered: Option<Instant>,
    /// The answer's HTTP status.
    pub status: Option<u16>,
}

impl Call {
    /// From sent to answered.
    pub fn duration(&self) -> Option<Duration> {
        self.answered
            .map(|a| a.saturating_duration_since(self.sent))
    }
}

/// Every EC2 call sent on the wire, in the order sent (retries included).
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Log>>);

#[derive(Debug, Default)]
struct Log {
    /// Calls cleared or taken so far: the number of the first call in `calls`.
    dropped: usize,
    calls: Vec<Call>,
}

/// Which call (numbered from the log's creation) the current attempt of an
/// operation is, kept in the operation's config bag, so that concurrent operations
/// never mix up their answers.
#[derive(Debug, Clone, Copy)]
struct Entry(usize);

impl Storable for Entry {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// Every call so far, with its timings.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    /// Every call so far, and clears the log.
    pub fn take(&self) -> Vec<Call> {
        let mut log = self.0.lock().unwrap();
        log.dropped += log.calls.len();
        std::mem::take(&mut log.calls)
    }

    pub fn actions(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|c| c.action.clone())
            .collect()
    }

    pub fn writes(&self) -> Vec<String> {
        self.actions()
            .into_iter()
            .filter(|a| WRITE_ACTIONS.contains(&a.as_str()))
            .collect()
    }

    /// Route writes only (the move itself, without its bookkeeping tags).
    pub fn route_writes(&self) -> Vec<String> {
        self.actions()
            .into_iter()
            .filter(|a| a.ends_with("Route"))
            .collect()
    }

    /// Asserts that no call so far was a write (the message lists every call).
    #[track_caller]
    pub fn assert_no_writes(&self) {
        assert!(self.writes().is_empty(), "{:?}", self.actions());
    }

    pub fn count(&self, action: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.action == action)
            .count()
    }

    pub fn clear(&self) {
        self.take();
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let sent = Instant::now();
        let body = context.request().body().bytes().unwrap_or_default();
        let action = action_of(&String::from_utf8_lossy(body));
        let mut log = self.0.lock().unwrap();
        cfg.interceptor_state()
            .store_put(Entry(log.dropped + log.calls.len()));
        log.calls.push(Call {
            action,
            sent,
            answered: None,
            status: None,
        });
        Ok(())
    }

    /// The answer has been read and parsed by now.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let answered = Instant::now();
        let Some(Entry(index)) = cfg.load::<Entry>().copied() else {
            return Ok(());
        };
        let status = context.response().status().as_u16();
        let mut log = self.0.lock().unwrap();
        // Cleared or taken since the request left: nothing to complete.
        let Some(position) = index.checked_sub(log.dropped) else {
            return Ok(());
        };
        if let Some(call) = log.calls.get_mut(position) {
            call.answered = Some(answered);
            call.status = Some(status);
        }
        Ok(())
    }
}
