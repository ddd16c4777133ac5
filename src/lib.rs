//! vip-failover: keeps a virtual IP reachable across Availability Zones by pointing
//! its VPC routes at the elastic network interface of a healthy group member.
//!
//! The crate is split the way the failover is reasoned about:
//! - [`trigger`] turns raw events into a typed [`trigger::Trigger`] (the edge);
//! - [`world`] holds what EC2 told us, as plain data;
//! - [`group`] validates the tag contract and builds a [`group::Group`] snapshot;
//! - [`plan`] decides, purely, what routes must change;
//! - [`ec2`] reads the world and applies a plan through the EC2 API (the adapter);
//! - [`handler`] ties one invocation together and produces a [`report::Report`].

pub mod config;
pub mod ec2;
pub mod error;
pub mod group;
pub mod handler;
pub mod metrics;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod tags;
pub mod trigger;
pub mod world;

#[cfg(test)]
pub(crate) mod testing;

pub use config::Config;
pub use error::Error;
