//! Money as an exact decimal with two places. No price ever passes through a float.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Mul};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in the menu's currency, always carried with exactly two decimal places.
///
/// Stored as integer minor units (cents) in the database, shown as a decimal
/// string such as `"12.50"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// The number of decimal places every amount carries.
pub const SCALE: u32 = 2;

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// An amount from integer minor units: `from_minor_units(1250)` is 12.50.
    pub fn from_minor_units(cents: i64) -> Self {
        Money(Decimal::new(cents, SCALE))
    }

    /// The amount in integer minor units, or `None` when it has more than two
    /// decimal places or does not fit in an `i64`.
    pub fn minor_units(&self) -> Option<i64> {
        let scaled = self.0.checked_mul(Decimal::ONE_HUNDRED)?;
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        i64::try_from(scaled.trunc()).ok()
    }

    /// Parses an amount with at most two decimal places, e.g. `"19.99"`.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let d = Decimal::from_str(s.trim()).map_err(|_| MoneyError::NotADecimal)?;
        Self::try_from_decimal(d)
    }

    /// Accepts a decimal with at most two significant decimal places.
    pub fn try_from_decimal(d: Decimal) -> Result<Self, MoneyError> {
        let normalized = d.normalize();
        if normalized.scale() > SCALE {
            return Err(MoneyError::TooManyDecimals);
        }
        let mut d = normalized;
        d.rescale(SCALE);
        Ok(Money(d))
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(Decimal::from(quantity)).map(Money)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotADecimal,
    #[error("an amount has at most two decimal places")]
    TooManyDecimals,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(SCALE);
        write!(f, "{d}")
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Mul<u32> for Money {
    type Output = Money;
    fn mul(self, rhs: u32) -> Money {
        Money(self.0 * Decimal::from(rhs))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Money::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prices_keep_two_places_exactly() {
        assert_eq!(Money::from_minor_units(1999).to_string(), "19.99");
        assert_eq!(Money::from_minor_units(1010).to_string(), "10.10");
        assert_eq!(Money::from_minor_units(1000).to_string(), "10.00");
        assert_eq!(Money::from_minor_units(5).to_string(), "0.05");
    }

    #[test]
    fn parsing_accepts_two_places_and_rejects_more() {
        assert_eq!(Money::parse("12.5").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse("12.500").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse("12.505"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("twelve"), Err(MoneyError::NotADecimal));
    }

    #[test]
    fn serializes_as_a_decimal_string() {
        let json = serde_json::to_string(&Money::from_minor_units(1250)).unwrap();
        assert_eq!(json, "\"12.50\"");
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Money::from_minor_units(1250));
    }

    #[test]
    fn a_tenth_plus_a_fifth_is_exact() {
        // 0.1 + 0.2 != 0.3 in binary floating point; here it is.
        let sum = Money::parse("0.10").unwrap() + Money::parse("0.20").unwrap();
        assert_eq!(sum, Money::parse("0.30").unwrap());
    }

    proptest! {
        #[test]
        fn minor_units_round_trip(cents in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let m = Money::from_minor_units(cents);
            prop_assert_eq!(m.minor_units(), Some(cents));
            prop_assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        }

        #[test]
        fn multiplication_is_repeated_addition(cents in 0i64..10_000_000, q in 0u32..200) {
            let m = Money::from_minor_units(cents);
            let repeated: Money = std::iter::repeat_n(m, q as usize).sum();
            prop_assert_eq!(m * q, repeated);
        }
    }
}
