//! The time the reconcilers decide with (upstream passes `k8s.io/utils/clock` to every controller for the same
//! reason). Decisions read [`Clock::now`]; waiting goes through tokio's timers, so a test or `karpenter simulate`
//! that pauses tokio's time (`tokio::time::pause`) moves both together with [`TokioClock`].

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Where the current time comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock: what `karpenter run` uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A wall clock that advances with tokio's clock from a chosen start. Under `tokio::time::pause` it stands still
/// until a timer is due and then jumps, so simulated hours pass in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `start` now. Must be called inside a tokio runtime.
    pub fn starting_at(start: Timestamp) -> Self {
        TokioClock { start, origin: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.origin);
        self.start.saturating_add(signed(elapsed)).unwrap_or(self.start)
    }
}

/// A std duration as a signed one (saturating; no duration the controller uses comes near the limit).
pub fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

/// How long from `now` until `deadline`; zero when it has passed.
pub fn until(now: Timestamp, deadline: Timestamp) -> Duration {
    Duration::try_from(deadline.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// How long since `then`; zero when `then` is in the future.
pub fn since(now: Timestamp, then: Timestamp) -> Duration {
    until(then, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now().to_string(), "2026-01-01T00:01:30Z");
    }

    #[test]
    fn durations_between_timestamps_never_go_negative() {
        let a: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        assert_eq!(until(a, b), Duration::from_secs(5));
        assert_eq!(until(b, a), Duration::ZERO);
        assert_eq!(since(b, a), Duration::from_secs(5));
    }
}
