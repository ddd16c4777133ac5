//! One small time-to-live cache for what a warm Lambda container remembers
//! between invocations (the member list, VPC CIDRs). Hand-written rather than a
//! crate: it is twenty lines, and it runs on tokio's clock so paused-time tests
//! can age it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// Values by key, each trusted for `ttl` after it was stored. Clones share the
/// same entries.
#[derive(Debug, Clone)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<K, (Instant, V)>>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Arc::default(),
        }
    }

    /// The value stored for `key`, if younger than the TTL.
    pub(crate) fn fresh(&self, key: &K) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn store(&self, key: K, value: V) {
        self.lock().insert(key, (Instant::now(), value));
    }

    /// A panic elsewhere while the lock was held leaves a map that is still
    /// whole (every write is one insert): keep using it.
    fn lock(&self) -> MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn given_a_value_then_it_is_fresh_until_it_ages() {
        let cache = TtlCache::new(Duration::from_secs(60));
        assert_eq!(cache.fresh(&"vpc-1"), None, "nothing stored yet");
        cache.store("vpc-1", 7);
        assert_eq!(cache.fresh(&"vpc-1"), Some(7));
        assert_eq!(cache.fresh(&"vpc-2"), None, "another key");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(cache.fresh(&"vpc-1"), None, "an old value proves nothing");
    }
}
