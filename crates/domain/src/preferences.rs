//! What a browser keeps in its cookies: display preferences, the loyalty
//! level and VIP membership. Pure values and rules; the api crate seals them.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::money::Money;
use crate::profile::ProfileError;
use crate::vocabulary;

vocabulary!(
    /// A cuisine on the menu, and the one a visitor prefers.
    Cuisine, "preferred_cuisine" {
        Italian => "italian",
        Indian => "indian",
        Thai => "thai",
        Chinese => "chinese",
        Japanese => "japanese",
        Mexican => "mexican",
        American => "american",
        British => "british",
        Mediterranean => "mediterranean",
        French => "french",
    }
);

vocabulary!(
    Theme, "theme" {
        Light => "light",
        Dark => "dark",
        System => "system",
    }
);

vocabulary!(
    FontSize, "font_size" {
        Small => "small",
        Medium => "medium",
        Large => "large",
        XLarge => "x-large",
    }
);

/// Display preferences; the defaults apply when a browser has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub preferred_cuisine: Option<Cuisine>,
    pub theme: Theme,
    pub font_size: FontSize,
    pub reduced_motion: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            preferred_cuisine: None,
            theme: Theme::System,
            font_size: FontSize::Medium,
            reduced_motion: false,
        }
    }
}

vocabulary!(
    /// Loyalty levels, by what a browser has spent.
    LoyaltyLevel, "level" {
        Bronze => "bronze",
        Silver => "silver",
        Gold => "gold",
        Platinum => "platinum",
    }
);

impl LoyaltyLevel {
    /// The least spent that reaches each level above Bronze, in minor units.
    const THRESHOLDS: [(LoyaltyLevel, i64); 3] = [
        (LoyaltyLevel::Silver, 5_000),
        (LoyaltyLevel::Gold, 20_000),
        (LoyaltyLevel::Platinum, 50_000),
    ];

    /// The level a total spent earns: Bronze below 50, Silver from 50, Gold
    /// from 200, Platinum from 500.
    pub fn for_spent(spent: Money) -> LoyaltyLevel {
        Self::THRESHOLDS
            .iter()
            .rev()
            .find(|(_, min)| spent >= Money::from_minor_units(*min))
            .map_or(LoyaltyLevel::Bronze, |(level, _)| *level)
    }

    /// The next level and what is left to spend to reach it; `None` at Platinum.
    pub fn next(spent: Money) -> Option<(LoyaltyLevel, Money)> {
        Self::THRESHOLDS
            .iter()
            .find(|(_, min)| spent < Money::from_minor_units(*min))
            .map(|(level, min)| {
                let left = Money::from_minor_units(*min).as_decimal() - spent.as_decimal();
                (*level, Money::try_from_decimal(left).unwrap_or(Money::ZERO))
            })
    }
}

/// One VIP special request: 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpecialRequest(String);

impl SpecialRequest {
    pub const MAX_CHARS: usize = 100;
    /// The most a membership keeps.
    pub const MAX_COUNT: usize = 10;

    pub fn parse(raw: &str) -> Result<Self, ProfileError> {
        let t = raw.trim();
        let len = t.chars().count();
        if len == 0 {
            return Err(ProfileError::new(
                "special_requests",
                "an entry must not be blank",
            ));
        }
        if len > Self::MAX_CHARS {
            return Err(ProfileError::new(
                "special_requests",
                format!(
                    "an entry is at most {} characters; got {len}",
                    Self::MAX_CHARS
                ),
            ));
        }
        if t.chars().any(char::is_control) {
            return Err(ProfileError::new(
                "special_requests",
                "must not contain control characters",
            ));
        }
        Ok(SpecialRequest(t.to_owned()))
    }

    pub fn parse_list<'a>(
        raw: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<Vec<Self>, ProfileError> {
        if raw.len() > Self::MAX_COUNT {
            return Err(ProfileError::new(
                "special_requests",
                format!("at most {} entries; got {}", Self::MAX_COUNT, raw.len()),
            ));
        }
        raw.map(Self::parse).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SpecialRequest {
    type Error = ProfileError;
    fn try_from(s: String) -> Result<Self, ProfileError> {
        SpecialRequest::parse(&s)
    }
}

impl From<SpecialRequest> for String {
    fn from(r: SpecialRequest) -> String {
        r.0
    }
}

/// A VIP membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vip {
    pub status: VipStatus,
    #[serde(with = "iso_date")]
    pub member_since: Date,
    pub points: u64,
    pub special_requests: Vec<SpecialRequest>,
}

vocabulary!(
    VipStatus, "status" {
        Active => "active",
    }
);

impl Vip {
    pub fn join(today: Date, special_requests: Vec<SpecialRequest>) -> Self {
        Vip {
            status: VipStatus::Active,
            member_since: today,
            points: 0,
            special_requests,
        }
    }

    /// One point for each whole unit of the menu's currency spent.
    pub fn earn(&mut self, spent: Money) {
        let whole = spent.as_decimal().trunc();
        let points = u64::try_from(whole).unwrap_or(0);
        self.points = self.points.saturating_add(points);
    }
}

/// Dates as `2026-11-25`.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        let text = date.format(FORMAT).map_err(serde::ser::Error::custom)?;
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
    fn loyalty_levels_follow_the_thresholds() {
        assert_eq!(LoyaltyLevel::for_spent(m("0")), LoyaltyLevel::Bronze);
        assert_eq!(LoyaltyLevel::for_spent(m("49.99")), LoyaltyLevel::Bronze);
        assert_eq!(LoyaltyLevel::for_spent(m("50.00")), LoyaltyLevel::Silver);
        assert_eq!(LoyaltyLevel::for_spent(m("199.99")), LoyaltyLevel::Silver);
        assert_eq!(LoyaltyLevel::for_spent(m("200")), LoyaltyLevel::Gold);
        assert_eq!(LoyaltyLevel::for_spent(m("500")), LoyaltyLevel::Platinum);
        assert_eq!(
            LoyaltyLevel::next(m("12.50")),
            Some((LoyaltyLevel::Silver, m("37.50")))
        );
        assert_eq!(
            LoyaltyLevel::next(m("250")),
            Some((LoyaltyLevel::Platinum, m("250")))
        );
        assert_eq!(LoyaltyLevel::next(m("500")), None);
    }

    #[test]
    fn special_requests_are_bounded() {
        assert!(SpecialRequest::parse_list(["a"; 10].into_iter()).is_ok());
        assert!(SpecialRequest::parse_list(["a"; 11].into_iter()).is_err());
        assert!(SpecialRequest::parse(&"x".repeat(101)).is_err());
        assert!(SpecialRequest::parse(" ").is_err());
    }

    #[test]
    fn vip_points_are_whole_units_spent() {
        let mut vip = Vip::join(time::macros::date!(2026 - 11 - 25), vec![]);
        vip.earn(m("44.99"));
        vip.earn(m("0.99"));
        assert_eq!(vip.points, 44);
        let json = serde_json::to_value(&vip).unwrap();
        assert_eq!(json["member_since"], "2026-11-25");
        assert_eq!(serde_json::from_value::<Vip>(json).unwrap(), vip);
    }

    #[test]
    fn preferences_default_and_reject_unknown_values() {
        let p = Preferences::default();
        assert_eq!(serde_json::to_value(p).unwrap()["theme"], "system");
        assert!("sepia".parse::<Theme>().is_err());
        assert_eq!("X-Large".parse::<FontSize>().unwrap(), FontSize::XLarge);
        assert!(
            "klingon"
                .parse::<Cuisine>()
                .unwrap_err()
                .message
                .contains("italian")
        );
    }
}
