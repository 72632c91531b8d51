//! Kitchen Memory's domain: the rules of the restaurant, with no I/O.
//!
//! Every value type here is valid by construction: it can only be made through
//! a `parse`/`new` that checks it, so code that holds one never re-checks it.

pub mod account;
pub mod book_recommend;
pub mod cart;
pub mod dish;
pub mod invalid;
pub mod library;
pub mod loyalty;
pub mod money;
pub mod order;
pub mod preferences;
pub mod profile;
pub mod reading;
pub mod reading_settings;
pub mod recommend;
pub mod values;
pub mod vip;
pub mod visits;
pub mod vocabulary;

pub use cart::{
    Cart, CartError, CartLine, CatalogEntry, MergeLoss, MergeLossReason, PricedCart, PricedLine,
    PricingOverflow, UnpricedLine,
};
pub use invalid::InvalidField;
pub use money::{Money, MoneyError};
pub use values::{BookId, OrderId, ProductId, Quantity, ValueError};
