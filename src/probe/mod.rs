//! The service prober: a small Lambda function (`vip-failover-probe`) that runs
//! inside the members' VPC and tells the failover function whether each
//! member's service answers.
//!
//! Why it exists: EC2 status checks and CloudWatch alarms say that an instance
//! is alive, not that its service is. A web server that crashed on a healthy
//! instance keeps the VIP forever unless something knocks on its port. The
//! failover function runs outside the VPC and cannot reach the members' private
//! addresses, and an agent on every server is one more thing to install, patch
//! and trust. So a tiny function inside the VPC probes them from the network,
//! the way a client would.
//!
//! Why it holds no AWS rights: it only opens TCP connections and returns what it
//! saw. The failover function dispatches a probe round to it (async invoke) and
//! receives the verdicts through the probe function's on-success destination; it
//! alone decides and writes routes. A compromised or confused prober can at worst
//! report wrong verdicts, and [`wire::RoundResult::reached_any`] lets the
//! failover function ignore a prober that was cut off from everybody.
//!
//! The pieces:
//! - [`settings`]: the `<prefix>probe` tag value (`http:80/health fall=3`);
//! - [`verdict`]: the rise/fall state of one member;
//! - [`wire`]: the JSON contract between the two functions;
//! - [`check`]: one TCP or HTTP observation;
//! - [`round`]: probing every member each interval until a verdict changes or
//!   the round's time is up.

pub(crate) mod check;
pub mod round;
pub(crate) mod settings;
pub(crate) mod verdict;
pub mod wire;

pub use round::{handle, run};
pub use settings::{Check, ProbeSettings};
pub use verdict::MemberState;
