//! The one source of "now" for what the service stamps: order times, visit
//! times, profile creation, VIP membership dates and goodbye summaries.
//!
//! Times are truncated to the second, as they are shown (RFC 3339 without
//! fractions) and compared. Tests use a manual clock and move it forward
//! instead of sleeping until the wall clock changes.

use std::sync::{Arc, Mutex, PoisonError};

use time::{Date, Duration, OffsetDateTime};

#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    /// The system's UTC time.
    #[default]
    System,
    /// A time that moves only when told to.
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// A clock that stands at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: OffsetDateTime) -> Self {
        Clock(Source::Manual(Arc::new(Mutex::new(start))))
    }

    /// Now, in UTC, to the second.
    pub fn now(&self) -> OffsetDateTime {
        to_the_second(self.now_exact())
    }

    /// Now, in UTC, with its fraction of a second: for measuring short spans
    /// (rate limits), never for stamping.
    pub fn now_exact(&self) -> OffsetDateTime {
        match &self.0 {
            Source::System => OffsetDateTime::now_utc(),
            Source::Manual(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Today's date in UTC.
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Moves a manual clock forward; the system clock moves by itself and
    /// ignores this.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(at) = &self.0 {
            let mut at = at.lock().unwrap_or_else(PoisonError::into_inner);
            *at = at.saturating_add(by);
        }
    }
}

/// A time as the API shows it: without the fraction of a second.
pub fn to_the_second(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_drops_fractions() {
        let start = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_250_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let clock = Clock::manual(start);
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_000);
        assert_eq!(clock.now().nanosecond(), 0);
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_090);
        let shared = clock.clone();
        shared.advance(Duration::seconds(10));
        assert_eq!(clock.now().unix_timestamp(), 1_700_000_100);
    }

    #[test]
    fn the_system_clock_is_now_to_the_second() {
        let clock = Clock::system();
        let before = OffsetDateTime::now_utc().unix_timestamp();
        let now = clock.now();
        assert_eq!(now.nanosecond(), 0);
        assert!(now.unix_timestamp() >= before && now.unix_timestamp() <= before + 1);
    }
}
