//! Kitchen Memory's domain: the rules of the restaurant, with no I/O.
//!
//! Every value type here is valid by construction: it can only be made through
//! a `parse`/`new` that checks it, so code that holds one never re-checks it.

pub mod cart;
pub mod money;
pub mod preferences;
pub mod profile;
pub mod recommend;
pub mod values;
pub mod visits;

pub use cart::{Cart, CartError, CartLine, CatalogEntry, PricedCart, PricedLine, UnpricedLine};
pub use money::Money;
pub use values::{ProductId, Quantity, ValueError};
