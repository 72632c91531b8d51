//! VIP membership, kept in the browser's signed `vip` cookie: when the
//! visitor joined, the points earned at checkout and their standing requests.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::invalid::{InvalidField, text_value};
use crate::money::Money;
use crate::vocabulary;

text_value!(
    /// A VIP member's standing request, kept with the membership and meant for
    /// every visit ("gluten-free", "window table"): 1 to 100 characters. Not the
    /// same rule as an order line's [`KitchenRequest`](crate::order::KitchenRequest).
    StandingRequest, field "special_requests", max 100
);

impl StandingRequest {
    /// The most a membership keeps.
    pub const MAX_COUNT: usize = 10;

    pub fn parse_list<'a>(
        raw: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<Vec<Self>, InvalidField> {
        if raw.len() > Self::MAX_COUNT {
            return Err(InvalidField::new(
                Self::FIELD,
                format!("at most {} entries; got {}", Self::MAX_COUNT, raw.len()),
            ));
        }
        raw.map(Self::parse).collect()
    }
}

vocabulary!(
    VipStatus, "status" {
        Active,
    }
);

/// A VIP membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vip {
    pub status: VipStatus,
    #[serde(with = "iso_date")]
    pub member_since: Date,
    pub points: u64,
    pub special_requests: Vec<StandingRequest>,
}

impl Vip {
    pub fn join(today: Date, special_requests: Vec<StandingRequest>) -> Self {
        Vip {
            status: VipStatus::Active,
            member_since: today,
            points: 0,
            special_requests,
        }
    }

    /// One point for each whole unit of the menu's currency spent; the
    /// count stops at the largest it can hold rather than wrap.
    pub fn earn(&mut self, spent: Money) {
        self.points = self.points.saturating_add(spent.whole_units());
    }
}

/// Dates as `2026-11-25`.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    /// The date as `2026-11-25`.
    pub fn format(date: Date) -> Result<String, time::error::Format> {
        date.format(FORMAT)
    }

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        let text = format(*date).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, FORMAT).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn standing_requests_are_bounded() {
        assert!(StandingRequest::parse_list(["a"; 10].into_iter()).is_ok());
        assert!(StandingRequest::parse_list(["a"; 11].into_iter()).is_err());
        assert!(StandingRequest::parse(&"x".repeat(101)).is_err());
        assert!(StandingRequest::parse(" ").is_err());
    }

    #[test]
    fn vip_points_are_whole_units_spent() {
        let mut vip = Vip::join(time::macros::date!(2026 - 11 - 25), vec![]);
        vip.earn(m("44.99"));
        vip.earn(m("0.99"));
        assert_eq!(vip.points, 44);
        let json = serde_json::to_value(&vip).unwrap();
        assert_eq!(json["member_since"], "2026-11-25");
        assert_eq!(json["status"], "active");
        assert_eq!(serde_json::from_value::<Vip>(json).unwrap(), vip);
    }

    #[test]
    fn points_stop_at_the_largest_count_instead_of_wrapping() {
        let mut vip = Vip::join(time::macros::date!(2026 - 11 - 25), vec![]);
        vip.points = u64::MAX - 1;
        vip.earn(Money::MAX);
        assert_eq!(vip.points, u64::MAX);
    }
}
