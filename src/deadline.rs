//! The invocation's deadline, and the part of it kept back for the end.
//!
//! Lambda kills a function at its timeout with no response and no chance to say
//! what it did. So writes stop starting while there is still time for the calls
//! in flight to finish (one attempt each), for the verifying read and for the
//! report; what was not started is reported as pending, and the move record
//! written first makes the next invocation finish it.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    reserve: Duration,
}

impl Deadline {
    /// `at` is when the invocation must have answered.
    pub(crate) fn new(at: Instant, reserve: Duration) -> Self {
        Self { at, reserve }
    }

    /// A deadline `budget` from now.
    pub fn after(budget: Duration, reserve: Duration) -> Self {
        Self::new(Instant::now() + budget, reserve)
    }

    /// From the Lambda context's deadline (milliseconds since the Unix epoch).
    ///
    /// A value before 2001 cannot be an instant Lambda handed out: local runtimes
    /// such as `cargo lambda watch` send the timeout itself (600000), and it is
    /// read as milliseconds from now.
    pub fn from_epoch_millis(deadline_ms: u64, reserve: Duration) -> Self {
        const YEAR_2001_MS: u64 = 978_307_200_000;
        if deadline_ms < YEAR_2001_MS {
            return Self::after(Duration::from_millis(deadline_ms), reserve);
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self::after(left, reserve)
    }

    /// When the last call must be over: a little before the deadline itself,
    /// which leaves the time to build and log the report and answer.
    pub(crate) fn end(&self) -> Instant {
        const ANSWER: Duration = Duration::from_millis(250);
        self.at.checked_sub(ANSWER).unwrap_or(self.at)
    }

    /// When the last write may start.
    pub(crate) fn last_write(&self) -> Instant {
        self.at.checked_sub(self.reserve).unwrap_or(self.at)
    }

    #[cfg(test)]
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn given_a_lambda_deadline_then_writes_stop_a_reserve_before_it() {
        let deadline = Deadline::after(Duration::from_secs(30), Duration::from_secs(5));
        assert_eq!(deadline.last_write() + Duration::from_secs(5), deadline.at);
        assert!(deadline.end() < deadline.at && deadline.end() > deadline.last_write());
        assert_eq!(deadline.remaining(), Duration::from_secs(30));
        let short = Deadline::after(Duration::from_secs(2), Duration::from_secs(5));
        assert!(short.last_write() <= Instant::now());
    }

    #[test]
    fn given_an_epoch_deadline_or_a_local_runtimes_duration_then_both_mean_time_left() {
        let reserve = Duration::from_secs(5);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let lambda = Deadline::from_epoch_millis(now_ms + 30_000, reserve).remaining();
        assert!(
            lambda > Duration::from_secs(29) && lambda <= Duration::from_secs(30),
            "{lambda:?}"
        );
        let watch = Deadline::from_epoch_millis(600_000, reserve).remaining();
        assert!(watch > Duration::from_secs(599), "{watch:?}");
        let past = Deadline::from_epoch_millis(now_ms - 1_000, reserve).remaining();
        assert_eq!(past, Duration::ZERO);
    }
}
