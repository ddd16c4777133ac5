//! The warm container's memory of who is in a group.
//!
//! The EC2 state-change rule delivers every instance of the region, and with
//! reserved concurrency 1 each event queues ahead of the next: Auto Scaling or
//! Spot churn must not cost a call, or it delays a real failover. Every read of
//! the tagged instances is kept; while it is younger than the TTL, an event about
//! an instance it does not list is answered without a call.
//!
//! What that costs, and why it is bounded: an instance tagged into a group less
//! than a TTL ago may have one event about it answered "in no group". It
//! cannot have come to hold the VIP through this container (every run reads the
//! members afresh before it moves anything); only a move made elsewhere within
//! that TTL of the tagging (an operator's CLI run) could have put it there. The
//! scheduled reconcile reads the members and the levels anyway, so such an event
//! is acted on within one schedule period at worst. The same listing also tells
//! where a group lives, so a warm failover reads its members, their checks, the
//! route tables and the alarms in one round.

use std::sync::Arc;
use std::time::Duration;

use crate::ttl::TtlCache;
use crate::world::InstanceRecord;

#[derive(Debug, Clone)]
pub(crate) struct MembershipCache(TtlCache<(), Arc<Vec<InstanceRecord>>>);

impl MembershipCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self(TtlCache::new(ttl))
    }

    /// The last listing, if younger than the TTL.
    pub(crate) fn fresh(&self) -> Option<Arc<Vec<InstanceRecord>>> {
        self.0.fresh(&())
    }

    /// Keeps a listing just read.
    pub(crate) fn store(&self, instances: Vec<InstanceRecord>) -> Arc<Vec<InstanceRecord>> {
        let instances = Arc::new(instances);
        self.0.store((), instances.clone());
        instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::member;

    #[tokio::test(start_paused = true)]
    async fn given_a_listing_then_it_is_fresh_until_it_ages() {
        let cache = MembershipCache::new(Duration::from_secs(60));
        assert!(cache.fresh().is_none(), "no listing yet: nothing is sure");
        cache.store(vec![member("i-a", 10)]);
        let ids = |c: &MembershipCache| {
            c.fresh()
                .map(|l| l.iter().map(|i| i.id.clone()).collect::<Vec<_>>())
        };
        assert_eq!(ids(&cache), Some(vec!["i-a".to_string()]));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(cache.fresh().is_none(), "an old listing proves nothing");
    }
}
