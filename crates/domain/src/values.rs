//! Validated identifiers and quantities.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("a product id is a positive integer; got {0}")]
    ProductId(i64),
    #[error("quantity must be between {min} and {max}; got {got}", min = Quantity::MIN, max = Quantity::MAX)]
    Quantity { got: i64 },
}

/// The id of a dish on the menu: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ProductId(i64);

impl ProductId {
    pub fn parse(id: i64) -> Result<Self, ValueError> {
        if id > 0 {
            Ok(ProductId(id))
        } else {
            Err(ValueError::ProductId(id))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for ProductId {
    type Error = ValueError;
    fn try_from(id: i64) -> Result<Self, ValueError> {
        ProductId::parse(id)
    }
}

impl From<ProductId> for i64 {
    fn from(id: ProductId) -> i64 {
        id.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many of one dish a cart line holds: 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// The fewest of a dish a line can hold; to have none, remove the line.
    pub const MIN: u32 = 1;
    /// The per-line cap.
    pub const MAX: u32 = 99;

    pub fn parse(n: i64) -> Result<Self, ValueError> {
        if (i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&n) {
            Ok(Quantity(n as u32))
        } else {
            Err(ValueError::Quantity { got: n })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(n: i64) -> Result<Self, ValueError> {
        Quantity::parse(n)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive() {
        assert!(ProductId::parse(1).is_ok());
        assert_eq!(ProductId::parse(0), Err(ValueError::ProductId(0)));
        assert_eq!(ProductId::parse(-4), Err(ValueError::ProductId(-4)));
    }

    #[test]
    fn quantities_run_from_one_to_ninety_nine() {
        assert!(Quantity::parse(0).is_err());
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(99).unwrap().get(), 99);
        assert!(Quantity::parse(100).is_err());
        assert!(Quantity::parse(-1).is_err());
    }

    #[test]
    fn a_quantity_out_of_range_does_not_deserialize() {
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("100").is_err());
        assert_eq!(serde_json::from_str::<Quantity>("7").unwrap().get(), 7);
    }
}
