//! The "VIP moved" event: every move is published to an EventBridge bus (the
//! account's default bus unless configured), so a rule can promote the new
//! holder and fence the old one (an SSM document on each), or tell a chat.
//! The function itself runs no command on any instance.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::error::Failure;
use super::ops::Op;
use super::{Aws, AwsError, Window};

/// `detail-type` of the event.
pub(crate) const VIP_MOVED: &str = "VIP Moved";

impl Aws {
    /// Publishes one event with `detail` on `bus` under `source`.
    pub(crate) async fn put_event(
        &self,
        (bus, source): (&str, &str),
        detail: &serde_json::Value,
        window: Window,
    ) -> Result<(), AwsError> {
        let Some(events) = &self.events else {
            let failure = Failure::Transport {
                message: "no EventBridge client to publish with".to_string(),
                retryable: false,
            };
            return Err(AwsError::new(Op::PutEvents, failure));
        };
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(source)
            .detail_type(VIP_MOVED)
            .detail(detail.to_string())
            .build();
        let request = events.put_events().entries(entry);
        let out = self
            .call_in(Op::PutEvents, window, || request.clone().send())
            .await?;
        // PutEvents answers 200 with per-entry failures.
        match out.entries().first().and_then(|e| e.error_code()) {
            Some(code) => {
                let message = out.entries()[0].error_message().unwrap_or("no message");
                Err(AwsError::service(Op::PutEvents, code, message))
            }
            None => Ok(()),
        }
    }
}
