//! Lambda's invocation record: how a probe round's verdicts come back. The probe
//! function runs inside the members' VPC with no way out of it; its on-success
//! destination is this function, so Lambda itself delivers its result here:
//!
//! ```json
//! {"version": "1.0", "timestamp": "...",
//!  "requestContext": {"requestId": "...", "functionArn": "...:function:probe:$LATEST",
//!                     "condition": "Success", "approximateInvokeCount": 1},
//!  "requestPayload": {"vip_failover_probe": {...}},
//!  "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
//!  "responsePayload": {"vip_failover_probe_result": {...}}}
//! ```
//!
//! Anyone allowed to invoke this function can send such a record; it can do no
//! more than an operator's failover, and the handler refuses one that names
//! instances outside the group.

use serde_json::{Map, Value};

use super::{malformed, short_json, ProbeReport, Trigger, TriggerError};
use crate::probe::wire::{ProbeResultEnvelope, RoundResult};

pub(super) const DESTINATION: &str = "Lambda destination record";

/// Whether `obj` is shaped like an invocation record.
pub(super) fn is_record(obj: &Map<String, Value>) -> bool {
    obj.contains_key("requestContext")
        && obj.contains_key("requestPayload")
        && (obj.contains_key("responsePayload") || obj.contains_key("responseContext"))
}

pub(super) fn parse_record(obj: &Map<String, Value>) -> Result<Trigger, TriggerError> {
    let context = obj.get("requestContext").unwrap_or(&Value::Null);
    let text = |value: Option<&Value>, field: &str| -> Result<String, TriggerError> {
        match value {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(malformed(
                DESTINATION,
                format!(
                    "{field} must be a non-empty string, got {}",
                    short_json(other)
                ),
            )),
            None => Err(malformed(DESTINATION, format!("{field} is missing"))),
        }
    };
    let condition = text(context.get("condition"), "requestContext.condition")?;
    let function = text(context.get("functionArn"), "requestContext.functionArn")?;
    let request_id = text(context.get("requestId"), "requestContext.requestId")?;
    if obj
        .get("requestPayload")
        .and_then(|p| p.get("vip_failover_probe"))
        .is_none()
    {
        return Err(malformed(
            DESTINATION,
            "requestPayload is not a probe round (no vip_failover_probe): only the probe function's records are accepted",
        ));
    }
    if condition != "Success" {
        return Ok(Trigger::Ignored {
            reason: format!(
                "probe round {request_id} of {function} ended with {condition}: no verdict; the next tick starts a new round"
            ),
        });
    }
    let result = round_result(obj.get("responsePayload"))?;
    Ok(Trigger::ProbeReport(ProbeReport {
        request_id,
        function,
        result,
    }))
}

fn round_result(payload: Option<&Value>) -> Result<RoundResult, TriggerError> {
    let payload = payload.ok_or_else(|| malformed(DESTINATION, "responsePayload is missing"))?;
    let envelope: ProbeResultEnvelope = serde_json::from_value(payload.clone()).map_err(|e| {
        malformed(
            DESTINATION,
            format!("responsePayload is not a probe result ({e})"),
        )
    })?;
    let result = envelope.vip_failover_probe_result;
    if result.group.trim().is_empty() || result.verdicts.is_empty() {
        return Err(malformed(
            DESTINATION,
            "the probe result names no group or no member",
        ));
    }
    Ok(result)
}
