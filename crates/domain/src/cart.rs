//! The session cart: which dishes, how many of each. Prices are not kept in
//! the cart; they come from the catalog each time the cart is read.

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::values::{ProductId, Quantity};
use crate::vocabulary;

/// The most distinct dishes one cart may hold.
pub const MAX_LINES: usize = 100;

/// What the cart needs to know about a dish to accept it and to price it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub name: String,
    pub price: Money,
    pub stock: u32,
    pub available: bool,
}

/// Why a change to the cart was refused. A refused change leaves the cart as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("dish {0} is not available")]
    ProductUnavailable(ProductId),
    #[error("dish {product_id} has {stock} in stock; the cart line would need {requested}")]
    InsufficientStock {
        product_id: ProductId,
        requested: u32,
        stock: u32,
    },
    #[error("a cart line holds at most {max} of a dish; dish {product_id} would reach {requested}", max = Quantity::MAX)]
    LineCapExceeded {
        product_id: ProductId,
        requested: u32,
    },
    #[error("a cart holds at most {max} different dishes", max = MAX_LINES)]
    TooManyLines,
}

/// A cart whose total (or one line's total) passes the largest amount: the
/// menu holds a price no order can be made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the total of the cart line for dish {product_id} passes the largest amount")]
pub struct PricingOverflow {
    pub product_id: ProductId,
}

/// One line of the cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// The visitor's cart: at most [`MAX_LINES`] lines, one per dish, in the order
/// they were first added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CartRepr", into = "CartRepr")]
pub struct Cart {
    lines: Vec<CartLine>,
}

/// The stored form; checked on the way in so a cart read back from a session
/// store holds the same invariants as one built through the methods.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CartRepr {
    lines: Vec<CartLine>,
}

impl TryFrom<CartRepr> for Cart {
    type Error = &'static str;
    fn try_from(repr: CartRepr) -> Result<Self, Self::Error> {
        if repr.lines.len() > MAX_LINES {
            return Err("too many cart lines");
        }
        let mut ids: Vec<ProductId> = repr.lines.iter().map(|l| l.product_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != repr.lines.len() {
            return Err("a dish appears on two cart lines");
        }
        Ok(Cart { lines: repr.lines })
    }
}

impl From<Cart> for CartRepr {
    fn from(cart: Cart) -> Self {
        CartRepr { lines: cart.lines }
    }
}

impl Cart {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn quantity_of(&self, product_id: ProductId) -> Option<Quantity> {
        self.lines
            .iter()
            .find(|l| l.product_id == product_id)
            .map(|l| l.quantity)
    }

    /// Adds `quantity` of a dish to what the cart already holds of it.
    /// Returns the line's new quantity.
    pub fn add(
        &mut self,
        product_id: ProductId,
        quantity: Quantity,
        dish: &CatalogEntry,
    ) -> Result<Quantity, CartError> {
        let current = self.quantity_of(product_id).map_or(0, Quantity::get);
        let requested = current + quantity.get();
        let new = self.check(product_id, requested, dish)?;
        self.put(product_id, new);
        Ok(new)
    }

    /// Sets the quantity of a dish, adding the line when it is not there yet.
    pub fn set_quantity(
        &mut self,
        product_id: ProductId,
        quantity: Quantity,
        dish: &CatalogEntry,
    ) -> Result<(), CartError> {
        let new = self.check(product_id, quantity.get(), dish)?;
        self.put(product_id, new);
        Ok(())
    }

    /// Removes a dish's line. Returns whether there was one.
    pub fn remove(&mut self, product_id: ProductId) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| l.product_id != product_id);
        self.lines.len() != before
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// How many items the cart holds, all lines counted.
    pub fn item_count(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity.get()).sum()
    }

    fn check(
        &self,
        product_id: ProductId,
        requested: u32,
        dish: &CatalogEntry,
    ) -> Result<Quantity, CartError> {
        if !dish.available {
            return Err(CartError::ProductUnavailable(product_id));
        }
        let Ok(quantity) = Quantity::parse(i64::from(requested)) else {
            return Err(CartError::LineCapExceeded {
                product_id,
                requested,
            });
        };
        if requested > dish.stock {
            return Err(CartError::InsufficientStock {
                product_id,
                requested,
                stock: dish.stock,
            });
        }
        if self.quantity_of(product_id).is_none() && self.lines.len() >= MAX_LINES {
            return Err(CartError::TooManyLines);
        }
        Ok(quantity)
    }

    fn put(&mut self, product_id: ProductId, quantity: Quantity) {
        match self.lines.iter_mut().find(|l| l.product_id == product_id) {
            Some(line) => line.quantity = quantity,
            None => self.lines.push(CartLine {
                product_id,
                quantity,
            }),
        }
    }

    /// Prices the cart against the catalog as it is now. Lines whose dish is
    /// gone or no longer available are reported apart and left out of the
    /// item count and the total. A line or total past the largest amount is
    /// an error, never a wrapped or clamped price.
    pub fn price<'a, F>(&self, lookup: F) -> Result<PricedCart, PricingOverflow>
    where
        F: Fn(ProductId) -> Option<&'a CatalogEntry>,
    {
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut unavailable = Vec::new();
        let mut total = Money::ZERO;
        for line in &self.lines {
            match lookup(line.product_id) {
                Some(dish) if dish.available => {
                    let overflow = PricingOverflow {
                        product_id: line.product_id,
                    };
                    let line_total = dish
                        .price
                        .checked_mul(line.quantity.get())
                        .ok_or(overflow)?;
                    total = total.checked_add(line_total).ok_or(overflow)?;
                    lines.push(PricedLine {
                        product_id: line.product_id,
                        name: dish.name.clone(),
                        unit_price: dish.price,
                        quantity: line.quantity,
                        line_total,
                    });
                }
                Some(dish) => unavailable.push(UnpricedLine {
                    product_id: line.product_id,
                    name: Some(dish.name.clone()),
                    quantity: line.quantity,
                }),
                None => unavailable.push(UnpricedLine {
                    product_id: line.product_id,
                    name: None,
                    quantity: line.quantity,
                }),
            }
        }
        let item_count = lines.iter().map(|l| l.quantity.get()).sum();
        Ok(PricedCart {
            lines,
            unavailable,
            item_count,
            total,
        })
    }
}

/// What merging a cart into another did to one of the added lines, when it
/// could not add all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeLoss {
    pub product_id: ProductId,
    /// How many the merged line would have held with everything added.
    pub wanted: u32,
    /// How many it holds (0: the added quantity was dropped).
    pub kept: u32,
    pub reason: MergeLossReason,
}

/// Why a merged line holds less than the two carts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeLossReason {
    /// A line holds at most [`Quantity::MAX`].
    LineCap,
    /// Fewer are in stock.
    Stock,
    /// The dish is unavailable now.
    Unavailable,
    /// The dish is no longer on the menu.
    Removed,
    /// The cart already holds [`MAX_LINES`] dishes.
    TooManyLines,
}

impl Cart {
    /// Adds `other`'s lines to this cart, as a visitor's cart joins their
    /// account's at sign-in. Quantities of one dish add up; a line is capped
    /// at the line cap and at the stock, but never below what this cart
    /// already held of it. A dish that is unavailable or gone, or a new dish
    /// once the cart holds [`MAX_LINES`], is not added. New dishes come after
    /// this cart's, in `other`'s order. Returns what could not be added.
    pub fn merge<'a, F>(&mut self, other: &Cart, lookup: F) -> Vec<MergeLoss>
    where
        F: Fn(ProductId) -> Option<&'a CatalogEntry>,
    {
        let mut losses = Vec::new();
        for line in &other.lines {
            let id = line.product_id;
            let had = self.quantity_of(id).map_or(0, Quantity::get);
            let wanted = had + line.quantity.get();
            let mut loss = |kept: u32, reason| {
                losses.push(MergeLoss {
                    product_id: id,
                    wanted,
                    kept,
                    reason,
                })
            };
            let dish = match lookup(id) {
                None => {
                    loss(had, MergeLossReason::Removed);
                    continue;
                }
                Some(d) if !d.available => {
                    loss(had, MergeLossReason::Unavailable);
                    continue;
                }
                Some(d) => d,
            };
            if had == 0 && self.lines.len() >= MAX_LINES {
                loss(0, MergeLossReason::TooManyLines);
                continue;
            }
            let (limit, reason) = if dish.stock < Quantity::MAX {
                (dish.stock, MergeLossReason::Stock)
            } else {
                (Quantity::MAX, MergeLossReason::LineCap)
            };
            let kept = wanted.min(limit).max(had);
            if kept < wanted {
                loss(kept, reason);
            }
            // `kept` is at most the line cap, and 0 only for a new line
            // whose dish is out of stock, which is not added.
            if let Ok(quantity) = Quantity::parse(i64::from(kept)) {
                self.put(id, quantity);
            }
        }
        losses
    }
}

/// A cart line priced from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: Quantity,
    pub line_total: Money,
}

vocabulary!(
    /// Why a cart line cannot be ordered, in one vocabulary for the cart
    /// (which shows `unavailable` and `removed` lines) and the checkout
    /// (which also refuses a line for want of stock).
    Refusal, "reason" {
        /// Fewer are in stock than the line asks for.
        InsufficientStock,
        /// The dish is on the menu but not available now.
        Unavailable,
        /// The dish is no longer on the menu.
        Removed,
    }
);

/// A cart line that cannot be ordered: its dish is unavailable (`name` known)
/// or gone from the menu (`name` unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpricedLine {
    pub product_id: ProductId,
    pub name: Option<String>,
    pub quantity: Quantity,
}

impl UnpricedLine {
    /// [`Refusal::Unavailable`] or [`Refusal::Removed`].
    pub fn refusal(&self) -> Refusal {
        if self.name.is_some() {
            Refusal::Unavailable
        } else {
            Refusal::Removed
        }
    }
}

/// The cart as priced now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    pub lines: Vec<PricedLine>,
    pub unavailable: Vec<UnpricedLine>,
    pub item_count: u32,
    pub total: Money,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn id(n: i64) -> ProductId {
        ProductId::parse(n).unwrap()
    }
    fn q(n: i64) -> Quantity {
        Quantity::parse(n).unwrap()
    }
    fn dish(cents: i64, stock: u32) -> CatalogEntry {
        CatalogEntry {
            name: format!("dish at {cents}"),
            price: Money::from_minor_units(cents).unwrap(),
            stock,
            available: true,
        }
    }

    #[test]
    fn adding_twice_accumulates_on_one_line() {
        let mut cart = Cart::new();
        let d = dish(1250, 50);
        assert_eq!(cart.add(id(1), q(2), &d).unwrap(), q(2));
        assert_eq!(cart.add(id(1), q(3), &d).unwrap(), q(5));
        assert_eq!(cart.lines().len(), 1);
        assert_eq!(cart.item_count(), 5);
    }

    #[test]
    fn set_quantity_overrides_and_creates() {
        let mut cart = Cart::new();
        let d = dish(100, 50);
        cart.set_quantity(id(3), q(4), &d).unwrap();
        cart.set_quantity(id(3), q(1), &d).unwrap();
        assert_eq!(cart.quantity_of(id(3)), Some(q(1)));
    }

    #[test]
    fn the_per_line_cap_is_ninety_nine() {
        let mut cart = Cart::new();
        let d = dish(100, 500);
        cart.add(id(1), q(60), &d).unwrap();
        let err = cart.add(id(1), q(40), &d).unwrap_err();
        assert_eq!(
            err,
            CartError::LineCapExceeded {
                product_id: id(1),
                requested: 100
            }
        );
        assert_eq!(cart.quantity_of(id(1)), Some(q(60)));
    }

    #[test]
    fn stock_limits_a_line() {
        let mut cart = Cart::new();
        let d = dish(100, 3);
        cart.add(id(1), q(2), &d).unwrap();
        let err = cart.add(id(1), q(2), &d).unwrap_err();
        assert!(matches!(
            err,
            CartError::InsufficientStock {
                stock: 3,
                requested: 4,
                ..
            }
        ));
        assert_eq!(cart.quantity_of(id(1)), Some(q(2)));
    }

    #[test]
    fn an_unavailable_dish_is_refused() {
        let mut cart = Cart::new();
        let mut d = dish(100, 3);
        d.available = false;
        assert_eq!(
            cart.add(id(1), q(1), &d),
            Err(CartError::ProductUnavailable(id(1)))
        );
        assert!(cart.is_empty());
    }

    #[test]
    fn a_hundred_and_first_dish_is_refused_but_existing_lines_still_change() {
        let mut cart = Cart::new();
        let d = dish(100, 10);
        for n in 1..=100 {
            cart.add(id(n), q(1), &d).unwrap();
        }
        assert_eq!(cart.add(id(101), q(1), &d), Err(CartError::TooManyLines));
        cart.add(id(100), q(1), &d).unwrap();
        assert_eq!(cart.lines().len(), 100);
    }

    #[test]
    fn pricing_leaves_out_unavailable_and_gone_dishes() {
        let mut cart = Cart::new();
        let mut catalog = HashMap::new();
        catalog.insert(id(1), dish(1999, 10));
        catalog.insert(id(2), dish(1010, 10));
        catalog.insert(id(3), dish(500, 10));
        for (n, k) in [(1, 2), (2, 1), (3, 4)] {
            cart.add(id(n), q(k), &catalog[&id(n)]).unwrap();
        }
        catalog.get_mut(&id(3)).unwrap().available = false;
        catalog.remove(&id(2));
        let priced = cart.price(|pid| catalog.get(&pid)).unwrap();
        assert_eq!(priced.lines.len(), 1);
        assert_eq!(priced.total.to_string(), "39.98");
        assert_eq!(priced.item_count, 2);
        assert_eq!(priced.unavailable.len(), 2);
        assert_eq!(priced.unavailable[0].name, None);
        assert!(priced.unavailable[1].name.is_some());
    }

    #[test]
    fn a_price_too_large_to_total_is_an_error_not_a_panic() {
        let mut cart = Cart::new();
        let mut catalog = HashMap::new();
        catalog.insert(id(1), dish(1000, 10));
        catalog.insert(id(2), dish(1000, 10));
        cart.add(id(1), q(1), &catalog[&id(1)]).unwrap();
        cart.add(id(2), q(2), &catalog[&id(2)]).unwrap();
        // A price that fits alone but not twice.
        catalog.get_mut(&id(2)).unwrap().price = Money::MAX;
        assert_eq!(
            cart.price(|p| catalog.get(&p)),
            Err(PricingOverflow { product_id: id(2) })
        );
        // Each line fits, the total does not.
        catalog.get_mut(&id(2)).unwrap().price = Money::from_minor_units(i64::MAX / 2).unwrap();
        assert_eq!(
            cart.price(|p| catalog.get(&p)),
            Err(PricingOverflow { product_id: id(2) })
        );
    }

    #[test]
    fn a_stored_cart_with_a_duplicate_line_is_rejected() {
        let json = r#"{"lines":[{"product_id":1,"quantity":1},{"product_id":1,"quantity":2}]}"#;
        assert!(serde_json::from_str::<Cart>(json).is_err());
        let json = r#"{"lines":[{"product_id":1,"quantity":0}]}"#;
        assert!(serde_json::from_str::<Cart>(json).is_err());
    }

    #[test]
    fn merging_adds_quantities_and_appends_new_dishes_in_order() {
        let catalog: HashMap<ProductId, CatalogEntry> =
            (1..=4).map(|n| (id(n), dish(100, 50))).collect();
        let mut account = Cart::new();
        account.add(id(2), q(1), &catalog[&id(2)]).unwrap();
        account.add(id(1), q(2), &catalog[&id(1)]).unwrap();
        let mut visitor = Cart::new();
        visitor.add(id(3), q(1), &catalog[&id(3)]).unwrap();
        visitor.add(id(1), q(3), &catalog[&id(1)]).unwrap();

        let losses = account.merge(&visitor, |p| catalog.get(&p));

        assert!(losses.is_empty());
        let lines: Vec<_> = account
            .lines()
            .iter()
            .map(|l| (l.product_id.get(), l.quantity.get()))
            .collect();
        assert_eq!(lines, vec![(2, 1), (1, 5), (3, 1)]);
    }

    #[test]
    fn merging_caps_a_line_at_the_line_cap_and_at_the_stock() {
        let mut catalog = HashMap::new();
        catalog.insert(id(1), dish(100, 500));
        catalog.insert(id(2), dish(100, 6));
        let mut account = Cart::new();
        account.add(id(1), q(60), &catalog[&id(1)]).unwrap();
        account.add(id(2), q(4), &catalog[&id(2)]).unwrap();
        let mut visitor = Cart::new();
        visitor.add(id(1), q(50), &catalog[&id(1)]).unwrap();
        visitor.add(id(2), q(5), &catalog[&id(2)]).unwrap();

        let losses = account.merge(&visitor, |p| catalog.get(&p));

        assert_eq!(account.quantity_of(id(1)), Some(q(99)));
        assert_eq!(account.quantity_of(id(2)), Some(q(6)));
        assert_eq!(
            losses,
            vec![
                MergeLoss {
                    product_id: id(1),
                    wanted: 110,
                    kept: 99,
                    reason: MergeLossReason::LineCap
                },
                MergeLoss {
                    product_id: id(2),
                    wanted: 9,
                    kept: 6,
                    reason: MergeLossReason::Stock
                },
            ]
        );
    }

    #[test]
    fn merging_never_lowers_what_the_account_held() {
        let mut catalog = HashMap::new();
        catalog.insert(id(1), dish(100, 10));
        let mut account = Cart::new();
        account.add(id(1), q(8), &catalog[&id(1)]).unwrap();
        // The stock fell below the account's line since.
        catalog.get_mut(&id(1)).unwrap().stock = 3;
        let mut visitor = Cart::new();
        visitor.add(id(1), q(2), &dish(100, 10)).unwrap();

        account.merge(&visitor, |p| catalog.get(&p));

        assert_eq!(account.quantity_of(id(1)), Some(q(8)));
    }

    #[test]
    fn merging_drops_unavailable_gone_and_sold_out_dishes_and_the_hundred_and_first() {
        let mut catalog: HashMap<ProductId, CatalogEntry> =
            (1..=104).map(|n| (id(n), dish(100, 10))).collect();
        let mut account = Cart::new();
        for n in 1..=99 {
            account.add(id(n), q(1), &catalog[&id(n)]).unwrap();
        }
        let mut visitor = Cart::new();
        for n in 100..=104 {
            visitor.add(id(n), q(1), &catalog[&id(n)]).unwrap();
        }
        catalog.get_mut(&id(100)).unwrap().available = false;
        catalog.remove(&id(101));
        catalog.get_mut(&id(102)).unwrap().stock = 0;

        let losses = account.merge(&visitor, |p| catalog.get(&p));

        assert_eq!(account.lines().len(), 100);
        assert_eq!(account.quantity_of(id(103)), Some(q(1)));
        let reasons: Vec<_> = losses
            .iter()
            .map(|l| (l.product_id.get(), l.reason, l.kept))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (100, MergeLossReason::Unavailable, 0),
                (101, MergeLossReason::Removed, 0),
                (102, MergeLossReason::Stock, 0),
                (104, MergeLossReason::TooManyLines, 0),
            ]
        );
    }

    proptest! {
        #[test]
        fn a_merged_cart_keeps_the_cart_rules_and_loses_only_what_it_reports(
            a in proptest::collection::vec((1i64..130, 1i64..99), 0..120),
            b in proptest::collection::vec((1i64..130, 1i64..99), 0..120),
        ) {
            let catalog: HashMap<ProductId, CatalogEntry> = (1..130)
                .map(|n| (id(n), CatalogEntry {
                    name: format!("dish {n}"),
                    price: Money::from_minor_units(n * 101).unwrap(),
                    stock: (n % 120) as u32,
                    available: n % 7 != 0,
                }))
                .collect();
            let fill = |pairs: &[(i64, i64)]| {
                let mut cart = Cart::new();
                for &(p, n) in pairs {
                    let _ = cart.add(id(p), q(n), &catalog[&id(p)]);
                }
                cart
            };
            let (mut merged, before, visitor) = (fill(&a), fill(&a), fill(&b));
            let losses = merged.merge(&visitor, |p| catalog.get(&p));

            prop_assert!(merged.lines().len() <= MAX_LINES);
            let stored = serde_json::to_string(&merged).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Cart>(&stored).unwrap(), &merged);
            // The account's lines come first, in their order, never lowered.
            for (kept, old) in merged.lines().iter().zip(before.lines()) {
                prop_assert_eq!(kept.product_id, old.product_id);
                prop_assert!(kept.quantity >= old.quantity);
            }
            for line in visitor.lines() {
                let had = before.quantity_of(line.product_id).map_or(0, Quantity::get);
                let now = merged.quantity_of(line.product_id).map_or(0, Quantity::get);
                let wanted = had + line.quantity.get();
                match losses.iter().find(|l| l.product_id == line.product_id) {
                    None => prop_assert_eq!(now, wanted),
                    Some(loss) => {
                        prop_assert_eq!(loss.wanted, wanted);
                        prop_assert_eq!(loss.kept, now);
                        prop_assert!(now < wanted);
                    }
                }
                let dish = &catalog[&line.product_id];
                if now > had {
                    prop_assert!(dish.available && now <= dish.stock && now <= Quantity::MAX);
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i64, i64),
        Set(i64, i64),
        Remove(i64),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1i64..130, 1i64..120).prop_map(|(p, n)| Op::Add(p, n)),
            3 => (1i64..130, 1i64..120).prop_map(|(p, n)| Op::Set(p, n)),
            2 => (1i64..130).prop_map(Op::Remove),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_after_any_sequence(ops in proptest::collection::vec(op(), 0..400)) {
            // Dish n costs n * 1.01 and has n % 60 + 5 in stock; every fifth is unavailable.
            let catalog: HashMap<ProductId, CatalogEntry> = (1..130)
                .map(|n| (id(n), CatalogEntry {
                    name: format!("dish {n}"),
                    price: Money::from_minor_units(n * 101).unwrap(),
                    stock: (n % 60 + 5) as u32,
                    available: n % 5 != 0,
                }))
                .collect();
            let mut cart = Cart::new();
            for op in ops {
                let before = cart.clone();
                let result = match op {
                    Op::Add(p, n) => match Quantity::parse(n) {
                        Ok(n) => cart.add(id(p), n, &catalog[&id(p)]).map(|_| ()),
                        Err(_) => Ok(()),
                    },
                    Op::Set(p, n) => match Quantity::parse(n) {
                        Ok(n) => cart.set_quantity(id(p), n, &catalog[&id(p)]),
                        Err(_) => Ok(()),
                    },
                    Op::Remove(p) => { cart.remove(id(p)); Ok(()) }
                    Op::Clear => { cart.clear(); Ok(()) }
                };
                if result.is_err() {
                    prop_assert_eq!(&cart, &before, "a refused change left the cart changed");
                }
                prop_assert!(cart.lines().len() <= MAX_LINES);
                let mut ids: Vec<_> = cart.lines().iter().map(|l| l.product_id).collect();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), cart.lines().len());
                for line in cart.lines() {
                    let dish = &catalog[&line.product_id];
                    prop_assert!(line.quantity.get() <= dish.stock);
                    prop_assert!(dish.available);
                }
            }
            let priced = cart.price(|p| catalog.get(&p)).unwrap();
            let expected: i64 = cart.lines().iter()
                .map(|l| i64::from(l.product_id.get()) * 101 * i64::from(l.quantity.get()))
                .sum();
            prop_assert_eq!(priced.total, Money::from_minor_units(expected).unwrap());
            prop_assert_eq!(priced.item_count, cart.item_count());
            let line_sum = Money::checked_sum(priced.lines.iter().map(|l| l.line_total));
            prop_assert_eq!(Some(priced.total), line_sum);
            // A cart survives its stored form unchanged.
            let stored = serde_json::to_string(&cart).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cart>(&stored).unwrap(), cart);
        }
    }
}
