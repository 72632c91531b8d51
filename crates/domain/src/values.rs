//! Validated identifiers and quantities.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("a product id is an integer from 1 to {max}; got {0}", max = ProductId::MAX)]
    ProductId(i64),
    #[error("an order id is an integer from 1 to {max}; got {0}", max = OrderId::MAX)]
    OrderId(i64),
    #[error("a book id is an integer from 1 to {max}; got {0}", max = BookId::MAX)]
    BookId(i64),
    #[error("quantity must be between {min} and {max}; got {got}", min = Quantity::MIN, max = Quantity::MAX)]
    Quantity { got: i64 },
}

/// The id of a dish on the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ProductId(i32);

/// The id of a placed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct OrderId(i32);

/// The id of a book in the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct BookId(i32);

/// What [`ProductId`], [`OrderId`] and [`BookId`] share: each is a positive integer as
/// wide as the database's key (`i32`), so an id read from a request either
/// names a row that can exist or is refused here, never narrowed or looked
/// up in vain on the way in. serde reads them through `parse` too.
macro_rules! database_id_impls {
    ($name:ident, $error:ident) => {
        impl $name {
            /// The largest id the database can hold.
            pub const MAX: i32 = i32::MAX;

            pub fn parse(id: i64) -> Result<Self, ValueError> {
                match i32::try_from(id) {
                    Ok(n) if n > 0 => Ok($name(n)),
                    _ => Err(ValueError::$error(id)),
                }
            }

            /// The id as the database stores it.
            pub fn get(self) -> i32 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ValueError;
            fn try_from(id: i64) -> Result<Self, ValueError> {
                $name::parse(id)
            }
        }

        impl TryFrom<i32> for $name {
            type Error = ValueError;
            fn try_from(id: i32) -> Result<Self, ValueError> {
                $name::parse(i64::from(id))
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                i64::from(id.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

database_id_impls!(ProductId, ProductId);
database_id_impls!(OrderId, OrderId);
database_id_impls!(BookId, BookId);

/// How many of one dish a cart line holds: 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u8);

impl Quantity {
    /// The fewest of a dish a line can hold; to have none, remove the line.
    pub const MIN: u32 = 1;
    /// The per-line cap.
    pub const MAX: u32 = 99;

    pub fn parse(n: i64) -> Result<Self, ValueError> {
        match u8::try_from(n) {
            Ok(q) if (Self::MIN..=Self::MAX).contains(&u32::from(q)) => Ok(Quantity(q)),
            _ => Err(ValueError::Quantity { got: n }),
        }
    }

    pub fn get(self) -> u32 {
        u32::from(self.0)
    }

    /// The quantity as the database stores it.
    pub fn as_i32(self) -> i32 {
        i32::from(self.0)
    }
}

/// serde reads a quantity through `parse`, so a value out of range never
/// deserializes, whatever its width.
impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(n: i64) -> Result<Self, ValueError> {
        Quantity::parse(n)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        u32::from(q.0)
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
        assert_eq!(ProductId::parse(2_147_483_647).unwrap().get(), i32::MAX);
        assert_eq!(
            ProductId::parse(2_147_483_648),
            Err(ValueError::ProductId(2_147_483_648))
        );
        assert!(serde_json::from_str::<ProductId>("4294967297").is_err());
    }

    #[test]
    fn quantities_run_from_one_to_ninety_nine() {
        assert!(Quantity::parse(0).is_err());
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        assert_eq!(Quantity::parse(99).unwrap().get(), 99);
        assert!(Quantity::parse(100).is_err());
        assert!(Quantity::parse(-1).is_err());
        assert!(Quantity::parse(256 + 5).is_err(), "not narrowed to 5");
        assert_eq!(Quantity::parse(42).unwrap().as_i32(), 42);
    }

    #[test]
    fn a_quantity_out_of_range_does_not_deserialize() {
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("100").is_err());
        assert_eq!(serde_json::from_str::<Quantity>("7").unwrap().get(), 7);
    }
}
