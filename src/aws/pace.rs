//! Client-side request pacing: one token bucket per AWS operation, shaped like the
//! bucket EC2 keeps for the account, so a failover of hundreds of tables spends
//! the burst and then writes at the refill rate instead of flooding the API.
//!
//! EC2's buckets are per action ("Request throttling for the Amazon EC2 API"):
//! ReplaceRoute and CreateRoute hold 50 tokens refilled at 5 per second, CreateTags
//! 100 at 10, filtered or paginated Describe* calls 100 at 20, unfiltered
//! DescribeInstances / DescribeInstanceStatus 50 at 10. A throttled call
//! (`RequestLimitExceeded`) means the account's bucket is empty, whatever ours
//! says (other clients share it): ours is emptied too and the rate drops, then
//! climbs back with each success. Buckets live as long as the process, like
//! EC2's, so a warm container remembers what it spent.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::ops::Op;

/// One bucket's shape: how many tokens it holds and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limit {
    pub(crate) burst: f64,
    pub(crate) per_second: f64,
}

/// The bucket shape of every operation, indexed by [`Op::index`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits([Limit; Op::COUNT]);

impl RateLimits {
    /// EC2's documented defaults; DescribeAlarms at CloudWatch's 9 requests/s.
    pub(crate) fn documented() -> Self {
        let limit = |burst, per_second| Limit { burst, per_second };
        Self(Op::ALL.map(|op| match op {
            Op::CreateRoute | Op::ReplaceRoute => limit(50.0, 5.0),
            Op::CreateTransitGatewayRoute | Op::ReplaceTransitGatewayRoute => limit(50.0, 5.0),
            Op::ModifyNetworkInterfaceAttribute => limit(50.0, 5.0),
            Op::CreateTags => limit(100.0, 10.0),
            // Called with instance ids and no filter: the unfiltered bucket.
            Op::DescribeInstanceStatus => limit(50.0, 10.0),
            Op::DescribeAlarms => limit(9.0, 9.0),
            // One dispatch per probe round; far below Lambda's invoke limits.
            Op::InvokeFunction => limit(50.0, 10.0),
            // PutEvents allows thousands per second; one per move is sent.
            Op::PutEvents => limit(50.0, 10.0),
            Op::DescribeInstances
            | Op::DescribeRouteTables
            | Op::DescribeVpcs
            | Op::DescribeSecurityGroups
            | Op::DescribeTransitGatewayRouteTables
            | Op::SearchTransitGatewayRoutes
            | Op::DescribeTransitGatewayVpcAttachments => limit(100.0, 20.0),
        }))
    }

    /// `ReplaceRoute=200/20,CreateRoute=200/20`: overrides for accounts with raised
    /// limits, on top of the documented figures.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut limits = Self::documented();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, shape) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not OPERATION=BURST/PER_SECOND"))?;
            let op = Op::from_name(name.trim())
                .ok_or_else(|| format!("{name:?} is not an operation vip-failover makes"))?;
            let (burst, rate) = shape
                .split_once('/')
                .ok_or_else(|| format!("{item:?} is not OPERATION=BURST/PER_SECOND"))?;
            // Finite and at most a million: the pace turns these into durations.
            let number = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| (1.0..=1e6).contains(n))
            };
            match (number(burst), number(rate)) {
                (Some(burst), Some(per_second)) => {
                    limits.0[op.index()] = Limit { burst, per_second };
                }
                _ => {
                    return Err(format!(
                        "{item:?}: burst and rate must be numbers from 1 to 1000000"
                    ))
                }
            }
        }
        Ok(limits)
    }

    pub(crate) fn get(&self, op: Op) -> Limit {
        self.0[op.index()]
    }
}

/// The deadline came before a token would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLate;

/// One operation's bucket, kept as a schedule rather than a token count (the
/// generic cell rate algorithm): `next` is when the bucket would be exactly
/// empty, each call moves it one interval later, and a call may go as soon as
/// `next` lies no more than a full burst ahead. A call that has to wait is given
/// its slot at once, so a slowdown only stretches the slots handed out after it,
/// never the ones already promised.
#[derive(Debug)]
struct Bucket {
    limit: Limit,
    /// Current refill rate: the limit's, or less after throttling.
    rate: f64,
    next: Instant,
    slowed_at: Option<Instant>,
}

impl Bucket {
    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    /// How far ahead of now `next` may lie while a call may still go at once.
    fn burst(&self) -> Duration {
        Duration::from_secs_f64((self.limit.burst - 1.0).max(0.0) / self.limit.per_second)
    }

    /// When a call arriving `now` may go.
    fn slot(&self, now: Instant) -> Instant {
        now.max(self.next.checked_sub(self.burst()).unwrap_or(now))
    }
}

/// Token buckets for every operation, shared by every call of the process.
#[derive(Debug)]
pub(crate) struct Pacer {
    buckets: Mutex<[Bucket; Op::COUNT]>,
}

/// Share of the rate kept on a throttle, and the floor it never goes below.
const SLOW_DOWN: f64 = 0.9;
const SLOWEST: f64 = 0.25;
/// Share of the limit's rate regained on each success.
const SPEED_UP: f64 = 0.02;

impl Pacer {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let now = Instant::now();
        let buckets = Op::ALL.map(|op| {
            let limit = limits.get(op);
            Bucket {
                limit,
                rate: limit.per_second,
                next: now,
                slowed_at: None,
            }
        });
        Self {
            buckets: Mutex::new(buckets),
        }
    }

    /// Waits for a token of `op`'s bucket. Refuses at once, without reserving,
    /// when the token would come after `until`.
    pub(crate) async fn acquire(&self, op: Op, until: Instant) -> Result<(), TooLate> {
        let slot = self.with(op, |bucket, now| {
            let slot = bucket.slot(now);
            if slot > until {
                return Err(TooLate);
            }
            bucket.next = bucket.next.max(now) + bucket.interval();
            Ok(slot)
        })?;
        tokio::time::sleep_until(slot).await;
        Ok(())
    }

    /// AWS said the account's bucket is empty: so is ours (no call goes before
    /// one more interval has passed), and the rate drops, at most once a second,
    /// since calls in flight learn it together.
    pub(crate) fn throttled(&self, op: Op) {
        self.with(op, |bucket, now| {
            if bucket
                .slowed_at
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
            {
                bucket.rate = (bucket.rate * SLOW_DOWN).max(bucket.limit.per_second * SLOWEST);
                bucket.slowed_at = Some(now);
            }
            let empty = now + bucket.burst() + bucket.interval();
            bucket.next = bucket.next.max(empty);
        });
    }

    /// A call went through: the rate climbs back towards the limit.
    pub(crate) fn succeeded(&self, op: Op) {
        self.with(op, |bucket, _| {
            bucket.rate =
                (bucket.rate + bucket.limit.per_second * SPEED_UP).min(bucket.limit.per_second);
        });
    }

    /// The current refill rate of `op`.
    #[cfg(test)]
    pub(crate) fn rate(&self, op: Op) -> f64 {
        self.with(op, |bucket, _| bucket.rate)
    }

    /// `change` on `op`'s bucket, under the lock. A panic elsewhere while the
    /// lock was held leaves buckets that are still whole: keep using them.
    fn with<T>(&self, op: Op, change: impl FnOnce(&mut Bucket, Instant) -> T) -> T {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut buckets[op.index()], Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test(start_paused = true)]
    async fn given_the_documented_route_bucket_then_50_go_at_once_and_the_rest_at_5_per_second() {
        let pacer = Pacer::new(&RateLimits::documented());
        let start = Instant::now();
        for _ in 0..50 {
            pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((took - 2.0).abs() < 0.01, "10 more tokens took {took} s");
        // Buckets are per operation: CreateTags still has its burst.
        let before = Instant::now();
        pacer.acquire(Op::CreateTags, far()).await.unwrap();
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_deadline_before_the_next_token_then_acquire_refuses_without_waiting() {
        let pacer = Pacer::new(&RateLimits::parse("ReplaceRoute=1/1").unwrap());
        pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        let start = Instant::now();
        let soon = start + Duration::from_millis(500);
        assert_eq!(pacer.acquire(Op::ReplaceRoute, soon).await, Err(TooLate));
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Nothing was reserved by the refusal: the next token is still 1 s away.
        pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        assert!((start.elapsed().as_secs_f64() - 1.0).abs() < 0.01);
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_throttle_then_the_bucket_empties_the_rate_drops_once_and_climbs_back() {
        let pacer = Pacer::new(&RateLimits::documented());
        for _ in 0..16 {
            pacer.throttled(Op::ReplaceRoute);
        }
        assert!((pacer.rate(Op::ReplaceRoute) - 4.5).abs() < 1e-9);
        let start = Instant::now();
        pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        assert!((start.elapsed().as_secs_f64() - 1.0 / 4.5).abs() < 0.01);
        for _ in 0..20 {
            pacer.succeeded(Op::ReplaceRoute);
        }
        assert!((pacer.rate(Op::ReplaceRoute) - 5.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn given_slots_already_promised_when_a_throttle_slows_the_bucket_then_they_keep_their_times(
    ) {
        let pacer =
            std::sync::Arc::new(Pacer::new(&RateLimits::parse("ReplaceRoute=1/5").unwrap()));
        let start = Instant::now();
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
                    start.elapsed().as_secs_f64()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        pacer.throttled(Op::ReplaceRoute);
        let mut went = Vec::new();
        for waiter in waiters {
            went.push(waiter.await.unwrap());
        }
        for (i, at) in went.iter().enumerate() {
            assert!(
                (at - 0.2 * i as f64).abs() < 0.01,
                "slot {i} went at {at} s"
            );
        }
        // The next call comes right after the promised ones, at the slower pace.
        pacer.acquire(Op::ReplaceRoute, far()).await.unwrap();
        let at = start.elapsed().as_secs_f64();
        assert!((at - 1.0).abs() < 0.01, "the next call went at {at} s");
    }

    #[test]
    fn given_overrides_then_they_replace_the_documented_figures_and_typos_are_named() {
        let limits = RateLimits::parse("ReplaceRoute=200/20, CreateRoute = 200/20").unwrap();
        assert_eq!(
            limits.get(Op::ReplaceRoute),
            Limit {
                burst: 200.0,
                per_second: 20.0
            }
        );
        assert_eq!(
            limits.get(Op::CreateTags),
            Limit {
                burst: 100.0,
                per_second: 10.0
            }
        );
        for bad in [
            "ReplaceRoutes=1/1",
            "ReplaceRoute=50",
            "ReplaceRoute=0/5",
            "x",
        ] {
            assert!(RateLimits::parse(bad).is_err(), "{bad}");
        }
    }
}
