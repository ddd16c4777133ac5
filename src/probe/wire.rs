//! The JSON contract between the failover function and the probe function.
//!
//! A round request goes out by async invoke; the result comes back as the probe
//! function's response, which Lambda delivers to the failover function through
//! an on-success destination (as `responsePayload`). Both are wrapped in a
//! one-key envelope (`vip_failover_probe`, `vip_failover_probe_result`) so each
//! function can recognise them among the other events it receives.
//!
//! The member states travel both ways: the prober is stateless between rounds
//! (a Lambda container may be recycled at any time), so the failover function
//! keeps the streaks and hands them back with the next round.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::settings::ProbeSettings;
use super::verdict::MemberState;

/// The most members one round probes. A failover group is a handful of
/// servers; the bound keeps a round's concurrent connections and its result
/// far below Lambda's payload limits.
pub const MAX_MEMBERS: usize = 64;

/// A round's shortest and longest duration: at least one interval or so, at
/// most Lambda's 15-minute timeout.
pub const MIN_ROUND_MS: u64 = 1_000;
pub const MAX_ROUND_MS: u64 = 15 * 60 * 1_000;

/// `{"vip_failover_probe": {...}}`: the event the probe function accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequestEnvelope {
    pub vip_failover_probe: RoundRequest,
}

/// `{"vip_failover_probe_result": {...}}`: what the probe function returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResultEnvelope {
    pub vip_failover_probe_result: RoundResult,
}

/// One probe round, as dispatched by the failover function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRequest {
    pub group: String,
    /// The round's id, echoed in the result so a late result can be told apart.
    pub round: String,
    /// When the failover function issued it (epoch ms).
    pub issued_at_ms: u64,
    /// How long the round may probe before it returns "time up".
    pub duration_ms: u64,
    pub settings: ProbeSettings,
    pub members: Vec<Target>,
    /// The states the previous round ended with; a member without an entry
    /// starts unknown.
    #[serde(default)]
    pub state: Vec<MemberStateEntry>,
}

/// A member to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub instance_id: String,
    /// The member's private IPv4 or IPv6 address, as a literal.
    pub address: String,
}

/// A member's state, carried between rounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStateEntry {
    pub instance_id: String,
    #[serde(flatten)]
    pub state: MemberState,
}

/// Why a round returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// At least one member's verdict changed.
    Changed,
    /// The round's duration was spent with no change.
    TimeUp,
}

/// What a round saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundResult {
    pub group: String,
    pub round: String,
    pub settings: ProbeSettings,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub ended: Ended,
    /// At least one member answered in the last tick. A prober cut off from
    /// everybody (its own subnet, security group or ENI broken) sees every
    /// member down; its verdicts must not move the VIP.
    pub reached_any: bool,
    /// One per requested member, in request order.
    pub verdicts: Vec<MemberVerdict>,
}

/// One member at the end of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberVerdict {
    pub instance_id: String,
    pub address: String,
    pub up: Option<bool>,
    /// `up` differs from the state the round started with.
    pub changed: bool,
    /// The last observation, e.g. `answered in 3 ms`, `connection refused`,
    /// `timed out after 800 ms`, `HTTP 503`, `no route to host`.
    pub reason: String,
    pub ok_streak: u32,
    pub fail_streak: u32,
    /// When the last observation's outcome was known (epoch ms).
    pub at_ms: u64,
}

impl MemberVerdict {
    /// The state to hand back with the next round.
    pub fn state(&self) -> MemberStateEntry {
        MemberStateEntry {
            instance_id: self.instance_id.clone(),
            state: MemberState {
                up: self.up,
                ok_streak: self.ok_streak,
                fail_streak: self.fail_streak,
            },
        }
    }
}

impl RoundRequest {
    /// Refuses a request the prober cannot run faithfully; each message names
    /// the field and what it must be.
    pub fn validate(&self) -> Result<(), String> {
        if self.group.trim().is_empty() {
            return Err("group is empty: name the failover group being probed".to_string());
        }
        if !(MIN_ROUND_MS..=MAX_ROUND_MS).contains(&self.duration_ms) {
            return Err(format!(
                "duration_ms {} is out of range: use {MIN_ROUND_MS} to {MAX_ROUND_MS} \
                 (1 s to 15 min, within the probe function's timeout)",
                self.duration_ms
            ));
        }
        self.settings.validate()?;
        self.validate_members()?;
        self.validate_state()
    }

    fn validate_members(&self) -> Result<(), String> {
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS {
            return Err(format!(
                "{} members: a round probes 1 to {MAX_MEMBERS} members",
                self.members.len()
            ));
        }
        let mut seen = HashSet::new();
        for target in &self.members {
            check_instance_id(&target.instance_id)?;
            if !seen.insert(target.instance_id.as_str()) {
                return Err(format!(
                    "member {} is listed twice: list each instance once",
                    target.instance_id
                ));
            }
            if target.address.parse::<IpAddr>().is_err() {
                return Err(format!(
                    "member {}: address `{}` is not an IP address: give its private IPv4 or \
                     IPv6 literal, without brackets or port",
                    target.instance_id, target.address
                ));
            }
        }
        Ok(())
    }

    fn validate_state(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for entry in &self.state {
            if !self
                .members
                .iter()
                .any(|m| m.instance_id == entry.instance_id)
            {
                return Err(format!(
                    "state for {} which is not a member of this round: send state only for \
                     the listed members",
                    entry.instance_id
                ));
            }
            if !seen.insert(entry.instance_id.as_str()) {
                return Err(format!(
                    "state for {} is given twice: send one entry per member",
                    entry.instance_id
                ));
            }
        }
        Ok(())
    }
}

/// `i-` and 8 or 17 lowercase hex digits, as EC2 spells instance ids.
fn check_instance_id(id: &str) -> Result<(), String> {
    let hex = id.strip_prefix("i-").unwrap_or("");
    let shaped = matches!(hex.len(), 8 | 17)
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not an instance id: use the EC2 id, `i-` and 8 or 17 lowercase hex \
             digits (e.g. i-0123456789abcdef0)"
        ))
    }
}

#[cfg(test)]
mod tests;
