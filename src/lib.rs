//! vip-failover: keeps a virtual IP reachable across Availability Zones by pointing
//! its VPC routes at the elastic network interface of a healthy group member.
//!
//! The crate is split the way the failover is reasoned about:
//! - [`trigger`] turns raw events into a typed [`trigger::Trigger`] (the edge);
//! - [`world`] holds what EC2 and CloudWatch told us, as plain data;
//! - [`health`] grades a member from every signal read now;
//! - [`group`] validates the tag contract and builds a [`group::Group`] snapshot;
//! - [`plan`] decides, purely, what routes must change;
//! - [`aws`] reads the world and applies a plan, paced and within the deadline
//!   (the adapter);
//! - [`handler`] sequences one invocation; [`report`] and [`metrics`] say what
//!   happened.

pub(crate) mod alarms;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod group;
pub mod handler;
pub mod health;
pub(crate) mod membership;
pub(crate) mod metrics;
pub mod plan;
pub mod preflight;
pub mod probe;
pub mod report;
pub mod tags;
pub mod transit;
pub mod trigger;
pub(crate) mod ttl;
pub mod world;

#[cfg(test)]
pub(crate) mod testing;

pub use config::Config;
pub use report::Error;
