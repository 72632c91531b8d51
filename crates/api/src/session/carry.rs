//! What an anonymous visitor's session hands over to their account at
//! sign-in: the cart (merged into the account's), the profile (filling what
//! the account's lacks), the reading (merged into the account's: lists and
//! histories join, the further progress wins; see
//! [`domain::reading::Reading::merge`]) and the orders (claimed).
//!
//! The account's side is changed in one database transaction holding the
//! account's row (as every change of it does: see
//! [`crate::db::account_state`]); the cart, profile and reading are also
//! written only if they are still at the version read, and the whole
//! hand-over is tried again from the start when one is not. What the merged
//! cart cannot hold (over the line cap or the stock, a dish unavailable or
//! gone, a 101st dish) is dropped and logged, and returned to the caller; so
//! are the books of the visitor's reading list that are not on the account's
//! list after the merge (it was full). Those of them the visitor had started
//! are kept in the account's history as abandoned at the sign-in, with how
//! far the visitor got.
//!
//! Then the session forgets its own cart, profile, reading and order list:
//! from now
//! on they are the account's. The session is written when the response
//! goes out; should that fail after the commit, the leftovers are ignored
//! while signed in (the account's values are shown) and the session ends
//! at sign-out anyway.

use domain::profile::Profile;
use domain::reading::Reading;
use domain::{BookId, Cart, MergeLoss};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use time::OffsetDateTime;

use crate::db::account_state::{self, Part, StoredReading};
use crate::error::{ApiError, ProblemKind};
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

/// What the hand-over did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedOver {
    /// The visitor's cart lines the account's cart could not take whole.
    pub cart_losses: Vec<MergeLoss>,
    /// The books of the visitor's reading list that are not on the
    /// account's list after the merge (in the visitor's order); the started
    /// ones are in the account's history as abandoned.
    pub reading_dropped: Vec<BookId>,
    /// How many of the session's orders became the account's.
    pub orders_claimed: u64,
}

/// Moves what `session` holds for an anonymous visitor into the account
/// `user_id`, and clears it from the session. Called by sign-in and
/// registration, after the session got its new id.
pub async fn carry_over(
    state: &AppState,
    session: &VisitorSession,
    user_id: i32,
) -> Result<CarriedOver, ApiError> {
    let cart = session.session_cart().await?;
    let profile = session.session_profile().await?;
    let reading = session.session_reading().await?;
    let order_ids = session.order_ids().await?;
    if cart.is_empty() && profile.is_none() && reading == Reading::default() && order_ids.is_empty()
    {
        return Ok(CarriedOver::default());
    }
    let menu = state.catalog.snapshot().await;
    let mut attempt = 0;
    let carried = loop {
        attempt += 1;
        let txn = state.db.begin().await?;
        let visitor = Visitor {
            cart: &cart,
            profile: profile.as_ref(),
            reading: &reading,
            order_ids: &order_ids,
        };
        let now = state.clock.now();
        let lengths = |id| state.library.get(id).map(|book| book.total_pages);
        match hand_over(&txn, user_id, visitor, |id| menu.entry(id), (now, lengths)).await? {
            Some(carried) => {
                txn.commit().await?;
                break carried;
            }
            None if attempt < account_state::ATTEMPTS => {
                txn.rollback().await?;
                account_state::step_aside(attempt).await;
            }
            None => {
                txn.rollback().await?;
                return Err(ApiError::new(
                    ProblemKind::ChangedInAnotherSession,
                    "Your account's cart, profile or reading list kept changing in another session while you signed in; sign in again.",
                ));
            }
        }
    };
    for loss in &carried.cart_losses {
        tracing::info!(
            user_id,
            product_id = loss.product_id.get(),
            wanted = loss.wanted,
            kept = loss.kept,
            reason = ?loss.reason,
            "a cart line did not fit whole into the account's cart at sign-in"
        );
    }
    for book_id in &carried.reading_dropped {
        tracing::info!(
            user_id,
            book_id = book_id.get(),
            "a book of the visitor's reading list did not fit into the account's at sign-in (kept in its history as abandoned when started)"
        );
    }
    session.forget_handed_over().await?;
    Ok(carried)
}

/// What the session holds for an anonymous visitor.
#[derive(Clone, Copy)]
struct Visitor<'v> {
    cart: &'v Cart,
    profile: Option<&'v Profile>,
    reading: &'v Reading,
    order_ids: &'v [i32],
}

/// The hand-over inside `txn`; `None` when another session of the account
/// wrote its cart, profile or reading in between (nothing is to be kept
/// then).
async fn hand_over<'a>(
    txn: &DatabaseTransaction,
    user_id: i32,
    Visitor {
        cart,
        profile,
        reading,
        order_ids,
    }: Visitor<'_>,
    lookup: impl Fn(domain::ProductId) -> Option<&'a domain::CatalogEntry>,
    (now, lengths): (OffsetDateTime, impl Fn(BookId) -> Option<u32>),
) -> Result<Option<CarriedOver>, ApiError> {
    // A write first: on SQLite the transaction holds the write lock from here.
    account_state::ensure_row(txn, user_id).await?;
    let mut carried = CarriedOver::default();
    if !cart.is_empty() {
        let stored = account_state::read_for_update::<Cart>(txn, user_id, Part::Cart).await?;
        let mut merged = stored.value.unwrap_or_default();
        carried.cart_losses = merged.merge(cart, lookup);
        let written = account_state::write(
            txn,
            user_id,
            Part::Cart,
            Some(&merged).filter(|c| !c.is_empty()),
            stored.version,
        )
        .await?;
        if written.is_none() {
            return Ok(None);
        }
    }
    if profile.is_some() {
        let stored = account_state::read_for_update::<Profile>(txn, user_id, Part::Profile).await?;
        let filled = Profile::filled_from(stored.value.clone(), profile.cloned());
        if filled != stored.value {
            let written =
                account_state::write(txn, user_id, Part::Profile, filled.as_ref(), stored.version)
                    .await?;
            if written.is_none() {
                return Ok(None);
            }
        }
    }
    if *reading != Reading::default() {
        let stored =
            account_state::read_for_update::<StoredReading>(txn, user_id, Part::Reading).await?;
        let mut merged = stored
            .value
            .clone()
            .map(StoredReading::into_reading)
            .unwrap_or_default();
        carried.reading_dropped = merged.merge(reading.clone(), now, &lengths);
        let merged = StoredReading::of(merged);
        if merged != stored.value {
            let written =
                account_state::write(txn, user_id, Part::Reading, merged.as_ref(), stored.version)
                    .await?;
            if written.is_none() {
                return Ok(None);
            }
        }
    }
    carried.orders_claimed = account_state::claim_orders(txn, user_id, order_ids).await?;
    Ok(Some(carried))
}
