//! Dispatching a probe round: an asynchronous invoke of the in-VPC probe
//! function. Lambda queues it and answers at once (202); the round's verdicts
//! come back later through the probe function's on-success destination.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::error::Failure;
use super::ops::Op;
use super::{Aws, AwsError, Window};

impl Aws {
    /// Starts `payload` on `function` without waiting for it.
    pub(crate) async fn invoke_async(
        &self,
        function: &str,
        payload: &serde_json::Value,
        window: Window,
    ) -> Result<(), AwsError> {
        let Some(lambda) = &self.lambda else {
            let message = "no Lambda client to dispatch probe rounds with".to_string();
            let failure = Failure::Transport {
                message,
                retryable: false,
            };
            return Err(AwsError::new(Op::InvokeFunction, failure));
        };
        let request = lambda
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()));
        self.call_in(Op::InvokeFunction, window, || request.clone().send())
            .await
            .map(|_| ())
    }
}
