//! A dish as the admin who runs the menu writes it: every field checked, so
//! a [`DishSpec`] can be stored as it is.

use std::collections::BTreeSet;

use crate::invalid::{InvalidField, text_value};
use crate::money::Money;
use crate::preferences::Cuisine;
use crate::profile::{DietaryTag, SpiceLevel};

text_value!(
    /// A dish's name on the menu: 1 to 200 characters, trimmed.
    DishName, field "name", max 200
);

text_value!(
    /// What the menu says about a dish: 1 to 1000 characters, trimmed.
    DishDescription, field "description", max 1000
);

/// The price of a dish: more than zero, at most [`DishPrice::MAX`], with at
/// most two decimal places (the [`Money`] rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DishPrice(Money);

impl DishPrice {
    pub const FIELD: &'static str = "price";
    /// The highest price a dish may have: far above any dish, and low
    /// enough that no cart of them passes what an order total can hold.
    pub const MAX: Money = Money::cents(10_000_000);

    /// The prices [`DishPrice::parse`] takes, for the spec: digits, then at
    /// most two decimals after a point, more than 0 and at most
    /// [`DishPrice::MAX`] (leading zeros allowed).
    pub const PATTERN: &'static str =
        r"^0*(100000(\.0{1,2})?|[1-9][0-9]{0,4}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$";

    /// Parses a decimal string such as `"12.50"`, written as
    /// [`DishPrice::PATTERN`] says (no sign, exponent or spaces).
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let (whole, decimals) = raw.split_once('.').unwrap_or((raw, "1"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(whole) && digits(decimals)) {
            return Err(InvalidField::new(
                Self::FIELD,
                format!("must be a decimal string such as \"12.50\"; got {raw:?}"),
            ));
        }
        if decimals.len() > 2 {
            return Err(InvalidField::new(
                Self::FIELD,
                "an amount has at most two decimal places",
            ));
        }
        let money = Money::parse(raw).map_err(|e| InvalidField::new(Self::FIELD, e.to_string()))?;
        if money == Money::ZERO {
            return Err(InvalidField::new(
                Self::FIELD,
                "must be more than zero; to take a dish off the menu, delete it",
            ));
        }
        if money > Self::MAX {
            return Err(InvalidField::new(
                Self::FIELD,
                format!("must be at most {}; got {money}", Self::MAX),
            ));
        }
        Ok(DishPrice(money))
    }

    pub fn get(self) -> Money {
        self.0
    }
}

/// How many of a dish the kitchen can still make: 0 to [`Stock::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock(u32);

impl Stock {
    pub const FIELD: &'static str = "stock";
    /// As much as the database's column holds.
    pub const MAX: u32 = i32::MAX as u32;

    pub fn parse(n: i64) -> Result<Self, InvalidField> {
        match u32::try_from(n) {
            Ok(s) if s <= Self::MAX => Ok(Stock(s)),
            _ => Err(InvalidField::new(
                Self::FIELD,
                format!("must be a whole number from 0 to {}; got {n}", Self::MAX),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Where a picture of the dish is: an absolute `http` or `https` URL of at
/// most 500 characters, with a host and without spaces or control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    pub const FIELD: &'static str = "image_url";
    pub const MAX_CHARS: usize = 500;
    /// The rule as a pattern, for the spec.
    pub const PATTERN: &'static str =
        r"^https?://[^\s/?#\u0000-\u001F\u007F-\u009F]+[^\s\u0000-\u001F\u007F-\u009F]*$";

    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let invalid = |message: String| InvalidField::new(Self::FIELD, message);
        let len = raw.chars().count();
        if len > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must be at most {} characters; got {len}",
                Self::MAX_CHARS
            )));
        }
        // What the pattern's `\s` and control ranges refuse (a byte-order
        // mark is a space to ECMAScript's `\s`).
        if raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}')
        {
            return Err(invalid(
                "must not contain spaces or control characters; percent-encode them".into(),
            ));
        }
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid("must be an absolute URL starting with https:// or http://".into())
            })?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("must name a host after the scheme".into()));
        }
        Ok(ImageUrl(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything the menu holds about a dish, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DishSpec {
    pub name: DishName,
    pub description: DishDescription,
    pub price: DishPrice,
    pub image_url: Option<ImageUrl>,
    pub stock: Stock,
    pub available: bool,
    pub spice_level: SpiceLevel,
    pub dietary_tags: BTreeSet<DietaryTag>,
    pub cuisine: Option<Cuisine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_is_positive_with_at_most_two_decimals_and_bounded() {
        assert_eq!(DishPrice::parse("12.5").unwrap().get().to_string(), "12.50");
        assert_eq!(DishPrice::parse("0.01").unwrap().get().to_string(), "0.01");
        for bad in [
            "0",
            "0.00",
            "-1",
            "12.505",
            "12.500",
            "twelve",
            "100000.01",
            " 1",
            "1.",
            ".5",
            "1e2",
            "+5",
            "",
        ] {
            let err = DishPrice::parse(bad).unwrap_err();
            assert_eq!(err.field, "price", "{bad}");
        }
        assert!(DishPrice::parse("100000.00").is_ok());
    }

    proptest::proptest! {
        /// What the spec's pattern allows is a price: a client that checks
        /// against the spec is never refused.
        #[test]
        fn every_price_the_pattern_allows_is_taken(
            raw in proptest::string::string_regex(
                DishPrice::PATTERN.trim_start_matches('^').trim_end_matches('$'),
            ).unwrap(),
        ) {
            proptest::prop_assert!(DishPrice::parse(&raw).is_ok(), "{raw:?}");
        }

        /// And the other way: what the pattern refuses is no price, so the
        /// spec is no stricter than the service (its `MAX` written twice
        /// stays the same number).
        #[test]
        fn the_pattern_allows_exactly_the_prices_taken(
            raw in proptest::prop_oneof![
                "[0-9.]{1,12}",
                // Near-prices: a few leading zeros, up to 7 digits, a point
                // and up to 3 decimals, to reach the bounds often.
                "0{0,2}[0-9]{1,7}(\\.[0-9]{0,3})?",
                "0{0,2}(99999|100000|100001)(\\.[0-9]{0,3})?",
            ],
        ) {
            proptest::prop_assert_eq!(
                DishPrice::parse(&raw).is_ok(),
                price_pattern().is_match(&raw),
                "{:?}",
                raw
            );
        }
    }

    fn price_pattern() -> regex::Regex {
        regex::Regex::new(DishPrice::PATTERN).unwrap()
    }

    #[test]
    fn the_pattern_ends_at_the_highest_price() {
        let max = DishPrice::MAX.to_string();
        let past = Money::cents(10_000_001);
        assert_eq!(past.checked_sub(DishPrice::MAX), Some(Money::cents(1)));
        let past = past.to_string();
        assert_eq!((max.as_str(), past.as_str()), ("100000.00", "100000.01"));
        let pattern = price_pattern();
        for (raw, taken) in [
            (max.as_str(), true),
            ("100000", true),
            ("100000.0", true),
            ("0099999.99", true),
            (past.as_str(), false),
            ("100000.1", false),
            ("100001", false),
            ("0.01", true),
            ("0.00", false),
            ("0", false),
        ] {
            assert_eq!(pattern.is_match(raw), taken, "pattern, {raw}");
            assert_eq!(DishPrice::parse(raw).is_ok(), taken, "parse, {raw}");
        }
    }

    #[test]
    fn stock_is_zero_or_more_and_fits_the_column() {
        assert_eq!(Stock::parse(0).unwrap().get(), 0);
        assert_eq!(Stock::parse(i64::from(i32::MAX)).unwrap().get(), Stock::MAX);
        assert!(Stock::parse(-1).is_err());
        assert!(Stock::parse(i64::from(i32::MAX) + 1).is_err());
    }

    #[test]
    fn an_image_url_is_an_absolute_web_address() {
        assert!(ImageUrl::parse("https://images.example.com/dishes/pad-thai.jpg").is_ok());
        assert!(ImageUrl::parse("http://cdn.example/x.png?w=200").is_ok());
        for bad in [
            "",
            "images.example.com/x.jpg",
            "ftp://example.com/x.jpg",
            "javascript:alert(1)",
            "https://",
            "https:///x.jpg",
            "https://example.com/a b.jpg",
            &format!("https://example.com/{}", "a".repeat(500)),
        ] {
            let err = ImageUrl::parse(bad).unwrap_err();
            assert_eq!(err.field, "image_url", "{bad}");
        }
    }

    #[test]
    fn names_and_descriptions_are_bounded_text() {
        assert_eq!(DishName::parse("  Pad Thai ").unwrap().as_str(), "Pad Thai");
        assert!(DishName::parse(" ").is_err());
        assert!(DishName::parse(&"n".repeat(201)).is_err());
        assert!(DishDescription::parse(&"d".repeat(1000)).is_ok());
        assert_eq!(
            DishDescription::parse("a\u{7}b").unwrap_err().field,
            "description"
        );
    }
}
