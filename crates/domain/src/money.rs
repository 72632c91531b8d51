//! Money as an exact decimal with two places. No price ever passes through a float.
//!
//! An amount is never negative and never larger than what storage holds
//! (`i64` minor units), so every `Money` can be stored as it is. Arithmetic
//! is checked: a sum or product past that limit is an error the caller
//! handles, never a panic and never a wrapped or clamped value.

use std::fmt;
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

    /// The largest amount: what fits in storage as `i64` minor units
    /// (`i64::MAX` cents, 0x7FFF_FFFF_FFFF_FFFF, as the mantissa's low words).
    pub const MAX: Money = Money(Decimal::from_parts(
        0xFFFF_FFFF,
        0x7FFF_FFFF,
        0,
        false,
        SCALE,
    ));

    /// A constant amount in cents: `Money::cents(5_000)` is 50.00.
    pub const fn cents(cents: u32) -> Money {
        Money(Decimal::from_parts(cents, 0, 0, false, SCALE))
    }

    /// An amount from integer minor units: `from_minor_units(1250)` is 12.50.
    /// Negative amounts are refused.
    pub fn from_minor_units(cents: i64) -> Result<Self, MoneyError> {
        if cents < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Money(Decimal::new(cents, SCALE)))
    }

    /// The amount in integer minor units. `None` never happens for a `Money`
    /// made through this type's constructors; the `Option` keeps the
    /// conversion free of panics.
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

    /// Accepts a decimal from zero to [`Money::MAX`] with at most two
    /// significant decimal places.
    pub fn try_from_decimal(d: Decimal) -> Result<Self, MoneyError> {
        let normalized = d.normalize();
        if normalized.is_sign_negative() && !normalized.is_zero() {
            return Err(MoneyError::Negative);
        }
        if normalized.scale() > SCALE {
            return Err(MoneyError::TooManyDecimals);
        }
        let mut d = normalized.abs();
        d.rescale(SCALE);
        if d > Money::MAX.0 {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(d))
    }

    /// The sum, or `None` past [`Money::MAX`].
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .and_then(|d| Money::try_from_decimal(d).ok())
    }

    /// The difference, or `None` when it would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0
            .checked_sub(other.0)
            .and_then(|d| Money::try_from_decimal(d).ok())
    }

    /// `quantity` times the amount, or `None` past [`Money::MAX`].
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0
            .checked_mul(Decimal::from(quantity))
            .and_then(|d| Money::try_from_decimal(d).ok())
    }

    /// The sum of all the amounts, or `None` past [`Money::MAX`].
    pub fn checked_sum(amounts: impl IntoIterator<Item = Money>) -> Option<Money> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, |sum, m| sum.checked_add(m))
    }

    /// The whole units of the amount (12.99 has 12).
    pub fn whole_units(self) -> u64 {
        // In range by construction: at most i64::MAX / 100.
        u64::try_from(self.0.trunc()).unwrap_or(u64::MAX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotADecimal,
    #[error("an amount has at most two decimal places")]
    TooManyDecimals,
    #[error("an amount is never negative")]
    Negative,
    #[error("an amount is at most 92233720368547758.07")]
    TooLarge,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(SCALE);
        write!(f, "{d}")
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

    fn cents(n: i64) -> Money {
        Money::from_minor_units(n).unwrap()
    }

    #[test]
    fn prices_keep_two_places_exactly() {
        assert_eq!(cents(1999).to_string(), "19.99");
        assert_eq!(cents(1010).to_string(), "10.10");
        assert_eq!(cents(1000).to_string(), "10.00");
        assert_eq!(cents(5).to_string(), "0.05");
        assert_eq!(Money::cents(1999), cents(1999));
    }

    #[test]
    fn parsing_accepts_two_places_and_rejects_more() {
        assert_eq!(Money::parse("12.5").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse("12.500").unwrap().to_string(), "12.50");
        assert_eq!(Money::parse("12.505"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("twelve"), Err(MoneyError::NotADecimal));
    }

    #[test]
    fn amounts_are_never_negative() {
        assert_eq!(Money::parse("-5"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("-0.01"), Err(MoneyError::Negative));
        assert_eq!(Money::from_minor_units(-1), Err(MoneyError::Negative));
        assert_eq!(Money::parse("-0").unwrap(), Money::ZERO);
        assert!(serde_json::from_str::<Money>("\"-5.00\"").is_err());
        assert_eq!(cents(100).checked_sub(cents(101)), None);
        assert_eq!(cents(100).checked_sub(cents(1)), Some(cents(99)));
    }

    #[test]
    fn amounts_past_what_storage_holds_are_refused() {
        let max = Money::MAX;
        assert_eq!(max.minor_units(), Some(i64::MAX));
        assert_eq!(
            Money::parse("92233720368547758.08"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse("79228162514264337593543950335"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(max.checked_add(cents(1)), None);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(Money::checked_sum([max, max]), None);
        assert_eq!(max.checked_mul(1), Some(max));
    }

    #[test]
    fn serializes_as_a_decimal_string() {
        let json = serde_json::to_string(&cents(1250)).unwrap();
        assert_eq!(json, "\"12.50\"");
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cents(1250));
    }

    #[test]
    fn a_tenth_plus_a_fifth_is_exact() {
        // 0.1 + 0.2 != 0.3 in binary floating point; here it is.
        let sum = Money::parse("0.10")
            .unwrap()
            .checked_add(Money::parse("0.20").unwrap());
        assert_eq!(sum, Some(Money::parse("0.30").unwrap()));
    }

    #[test]
    fn whole_units_drop_the_cents() {
        assert_eq!(cents(4499).whole_units(), 44);
        assert_eq!(Money::ZERO.whole_units(), 0);
        assert_eq!(Money::MAX.whole_units(), 92_233_720_368_547_758);
    }

    proptest! {
        #[test]
        fn minor_units_round_trip(cents in 0i64..=i64::MAX) {
            let m = Money::from_minor_units(cents).unwrap();
            prop_assert_eq!(m.minor_units(), Some(cents));
            prop_assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        }

        #[test]
        fn multiplication_is_repeated_addition(cents in 0i64..10_000_000, q in 0u32..200) {
            let m = Money::from_minor_units(cents).unwrap();
            let repeated = Money::checked_sum(std::iter::repeat_n(m, q as usize));
            prop_assert_eq!(m.checked_mul(q), repeated);
        }

        #[test]
        fn checked_arithmetic_errs_exactly_past_the_limit(a in 0i64..=i64::MAX, b in 0i64..=i64::MAX, q in 0u32..=200) {
            let (ma, mb) = (Money::from_minor_units(a).unwrap(), Money::from_minor_units(b).unwrap());
            let sum = i128::from(a) + i128::from(b);
            prop_assert_eq!(ma.checked_add(mb).is_some(), sum <= i128::from(i64::MAX));
            let product = i128::from(a) * i128::from(q);
            prop_assert_eq!(ma.checked_mul(q).is_some(), product <= i128::from(i64::MAX));
            if let Some(m) = ma.checked_mul(q) {
                prop_assert_eq!(m.minor_units().map(i128::from), Some(product));
            }
        }
    }
}
