//! EC2's request throttling, as the AWS page "Request throttling for the Amazon
//! EC2 API" describes it: a token bucket per API action; a call takes a token, a
//! call that finds the bucket empty fails with HTTP 503 `RequestLimitExceeded` and
//! takes nothing; tokens are added once per second up to the bucket's capacity.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The figures of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens when full (a bucket starts full): the largest burst.
    pub capacity: u32,
    /// Tokens added every second, never above the capacity.
    pub refill_per_second: u32,
}

impl Bucket {
    pub const fn new(capacity: u32, refill_per_second: u32) -> Self {
        Self {
            capacity,
            refill_per_second,
        }
    }
}

/// Which calls are throttled, and how. Only EC2 calls (query API version
/// `2016-11-15`) are; CloudWatch's and anything else pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenBuckets {
    /// Named actions (e.g. `ReplaceRoute`), whatever their parameters: one bucket
    /// each.
    pub actions: BTreeMap<String, Bucket>,
    /// Every other `Describe*` action, one bucket each: calls with filters or
    /// pagination (`Filter.`, `MaxResults`, `NextToken`), and all calls of the
    /// actions not in `unfiltered`. `None`: Describe calls are not throttled.
    pub describe: Option<Bucket>,
    /// `Describe*` actions whose calls without filters or pagination have a bucket
    /// of their own (apart from the same action's filtered calls).
    pub unfiltered: BTreeMap<String, Bucket>,
    /// How often tokens are added: `None` is EC2's second. A shorter tick is a
    /// compressed clock (see [`TokenBuckets::compressed`]).
    pub tick: Option<Duration>,
}

impl TokenBuckets {
    /// The defaults of the AWS page: ReplaceRoute and CreateRoute 50 tokens,
    /// refilled at 5/s; CreateTags 100 at 10/s; Describe* with filters or
    /// pagination 100 at 20/s; unfiltered, unpaginated DescribeInstances and
    /// DescribeInstanceStatus 50 at 10/s.
    pub fn documented() -> Self {
        Self::default()
            .with("ReplaceRoute", Bucket::new(50, 5))
            .with("CreateRoute", Bucket::new(50, 5))
            .with("CreateTags", Bucket::new(100, 10))
            .with_describe(Bucket::new(100, 20))
            .with_unfiltered("DescribeInstances", Bucket::new(50, 10))
            .with_unfiltered("DescribeInstanceStatus", Bucket::new(50, 10))
    }

    /// The same buckets on a clock `factor` times faster: tokens are added every
    /// `1 s / factor`. With the function's own pacing sped up by the same factor
    /// (`EC2_RATE_LIMITS`), a test of hundreds of tables exercises the same
    /// bursts, refills and deadline arithmetic in a fraction of the wall time;
    /// what EC2's real rates take is measured by `make bench`, not by tests.
    pub fn compressed(mut self, factor: u32) -> Self {
        self.tick = Some(Duration::from_secs(1) / factor.max(1));
        self
    }

    /// How often tokens are added.
    pub fn tick(&self) -> Duration {
        self.tick.unwrap_or(Duration::from_secs(1))
    }

    /// `action` gets (or now has) this bucket, whatever its parameters.
    pub fn with(mut self, action: &str, bucket: Bucket) -> Self {
        self.actions.insert(action.to_string(), bucket);
        self
    }

    pub fn with_describe(mut self, bucket: Bucket) -> Self {
        self.describe = Some(bucket);
        self
    }

    pub fn with_unfiltered(mut self, action: &str, bucket: Bucket) -> Self {
        self.unfiltered.insert(action.to_string(), bucket);
        self
    }

    /// The bucket a call goes to (a key naming it, and its figures), or `None`
    /// when the call is not throttled.
    pub fn bucket_for(&self, action: &str, body: &str) -> Option<(String, Bucket)> {
        let params: Vec<(&str, &str)> = body
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .collect();
        if !params.contains(&("Version", "2016-11-15")) {
            return None;
        }
        if let Some(bucket) = self.actions.get(action) {
            return Some((action.to_string(), *bucket));
        }
        if !action.starts_with("Describe") {
            return None;
        }
        let filtered_or_paginated = params.iter().any(|(key, _)| {
            key.starts_with("Filter.") || *key == "MaxResults" || *key == "NextToken"
        });
        if !filtered_or_paginated {
            if let Some(bucket) = self.unfiltered.get(action) {
                return Some((format!("{action} (unfiltered)"), *bucket));
            }
        }
        self.describe.map(|bucket| (action.to_string(), bucket))
    }
}

/// What the proxy counted for one action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionStats {
    /// Calls that got a token, or needed none.
    pub accepted: usize,
    /// Calls answered `RequestLimitExceeded` by their bucket.
    pub throttled: usize,
    /// When each accepted call took its token, in order. A bucket starts full, so
    /// the first one is when the action's bucket was first used.
    pub accepted_at: Vec<Instant>,
}

impl ActionStats {
    /// Accepted calls within `t` of the first accepted one: for a bucket of
    /// capacity C refilled at R/s, never more than C + R·⌊t⌋ (in seconds).
    pub fn accepted_within(&self, t: Duration) -> usize {
        let Some(first) = self.accepted_at.first() else {
            return 0;
        };
        self.accepted_at
            .iter()
            .filter(|at| at.saturating_duration_since(*first) <= t)
            .count()
    }
}

/// The level of every bucket in use.
#[derive(Debug, Default)]
pub(super) struct Levels(HashMap<String, Level>);

#[derive(Debug)]
struct Level {
    /// When the bucket was first used: ticks count whole ticks from here.
    started: Instant,
    /// Ticks already added.
    ticks: u64,
    tokens: u64,
}

impl Levels {
    /// Takes a token from the bucket `key`, refilled every `tick`; `false` if it
    /// has none.
    pub(super) fn take(&mut self, key: &str, bucket: Bucket, tick: Duration, now: Instant) -> bool {
        let capacity = u64::from(bucket.capacity);
        let level = self.0.entry(key.to_string()).or_insert(Level {
            started: now,
            ticks: 0,
            tokens: capacity,
        });
        let elapsed = now.saturating_duration_since(level.started).as_nanos();
        let ticks = u64::try_from(elapsed / tick.as_nanos().max(1)).unwrap_or(u64::MAX);
        if ticks > level.ticks {
            let added = (ticks - level.ticks).saturating_mul(u64::from(bucket.refill_per_second));
            level.tokens = level.tokens.saturating_add(added).min(capacity);
            level.ticks = ticks;
        }
        if level.tokens == 0 {
            return false;
        }
        level.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_compressed_clock_then_tokens_come_every_tick_instead_of_every_second() {
        let buckets = TokenBuckets::default()
            .with("ReplaceRoute", Bucket::new(2, 1))
            .compressed(10);
        let (key, bucket) = buckets
            .bucket_for("ReplaceRoute", "Version=2016-11-15")
            .unwrap();
        let tick = buckets.tick();
        assert_eq!(tick, Duration::from_millis(100));
        let (mut levels, start) = (Levels::default(), Instant::now());
        let at = |ms| start + Duration::from_millis(ms);

        assert!(levels.take(&key, bucket, tick, at(0)));
        assert!(levels.take(&key, bucket, tick, at(0)));
        assert!(
            !levels.take(&key, bucket, tick, at(99)),
            "the burst is spent"
        );
        assert!(
            levels.take(&key, bucket, tick, at(100)),
            "one tick, one token"
        );
        assert!(!levels.take(&key, bucket, tick, at(150)));
        assert!(levels.take(&key, bucket, tick, at(1000)));
        assert!(levels.take(&key, bucket, tick, at(1000)), "refilled to 2");
        assert!(
            !levels.take(&key, bucket, tick, at(1000)),
            "never above capacity"
        );
    }

    #[test]
    fn given_no_tick_then_the_clock_is_ec2s_second() {
        let buckets = TokenBuckets::documented();
        assert_eq!(buckets.tick(), Duration::from_secs(1));
        let (key, bucket) = buckets
            .bucket_for("ReplaceRoute", "Version=2016-11-15")
            .unwrap();
        let (mut levels, start) = (Levels::default(), Instant::now());
        for _ in 0..50 {
            assert!(levels.take(&key, bucket, buckets.tick(), start));
        }
        let at = |ms| start + Duration::from_millis(ms);
        assert!(!levels.take(&key, bucket, buckets.tick(), at(999)));
        assert!(levels.take(&key, bucket, buckets.tick(), at(1000)));
    }
}
