//! The visit count and the time of the last visit.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visits {
    pub count: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_visit: Option<OffsetDateTime>,
}

impl Visits {
    /// Whether the visitor has been here before.
    pub fn returning(&self) -> bool {
        self.count > 0
    }

    /// Records a visit at `now`; returns the visits as they were before it.
    pub fn record(&mut self, now: OffsetDateTime) -> Visits {
        let before = *self;
        self.count = self.count.saturating_add(1);
        self.last_visit = Some(now);
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_counts_and_remembers_the_previous_visit() {
        let mut v = Visits::default();
        assert!(!v.returning());
        let t1 = OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let t2 = OffsetDateTime::from_unix_timestamp(2_000).unwrap();
        let before = v.record(t1);
        assert_eq!(before, Visits::default());
        let before = v.record(t2);
        assert_eq!(before.last_visit, Some(t1));
        assert_eq!(v.count, 2);
        assert!(v.returning());
    }
}
