//! vip-failover's dev-only test kit: what the integration tests, the bench and the
//! demo example share.
//!
//! - [`Emulator`]: a real EC2/CloudWatch API emulator (`moto_server`) per test on a
//!   free loopback port, with SDK clients and the Lambda handler wired to it;
//! - [`CallLog`]: every EC2 call a client sends, with when it left and when its
//!   answer was read, so tests assert "nothing was written" from the wire and the
//!   bench splits a failover into phases;
//! - [`topology`] and [`world`]: the README's two-AZ seed and variations of it,
//!   and the givens, whens and thens the scenarios share;
//! - [`cloudwatch`]: metric alarms on instances, and their states;
//! - [`events`]: events as AWS delivers them;
//! - [`fault_proxy`]: an HTTP proxy in front of the emulator that injects faults,
//!   EC2's token-bucket throttling, AWS-like latency, and answers moto cannot give;
//! - [`logs`]: a proxy in front of the emulator's CloudWatch Logs that gives
//!   `FilterLogEvents` AWS's reading of patterns of several terms;
//! - [`lambda`]: a local Lambda service (Runtime API and Invoke API) running the real
//!   function binary.
//! - [`sns`]: SNS topics and SQS queues of the emulator, over its query API, to run
//!   the template's filter policy.

pub mod calls;
pub mod cli;
pub mod cloudwatch;
pub mod emulator;
pub mod events;
pub mod fault_proxy;
pub mod lambda;
pub mod logs;
pub mod rng;
pub mod sns;
pub mod topology;
pub mod world;
mod zygote;

pub use calls::{action_of, Call, CallLog, WRITE_ACTIONS};
pub use emulator::{client_for, free_port, handler_for, patient, workspace_root, Emulator};

/// Errors of the kit's helpers: whatever the SDK or the emulator returned.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// A deadline for runs that are not timed: five minutes, with the function's
/// default reserve.
pub fn deadline() -> vip_failover::deadline::Deadline {
    let config = vip_failover::Config::default();
    vip_failover::deadline::Deadline::after(
        std::time::Duration::from_secs(300),
        config.deadline_reserve,
    )
}
