//! What the session holds about a visitor, read and written through typed
//! methods, one pair per concern, each under its own constant key.
//!
//! A signed-in visitor's cart, profile and reading are the account's, kept
//! in the database (see [`crate::db::account_state`]) so that every device
//! of the user sees one cart and one reading list; the same methods read and
//! write them there. Visits, orders remembered and the sign-in stay in the
//! session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::Cart;
use domain::profile::Profile;
use domain::reading::{FavoriteGenres, Progress, Reading, ReadingHistory, ReadingList};
use domain::visits::Visits;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tower_sessions::session::Id;
use tower_sessions::{Expiry, Session, SessionStore};

use super::AnyStore;

use crate::auth::logins::SignIn;
use crate::auth::{self, SignInState};
use crate::db::account_state::{self, Part, StoredReading};
use crate::db::orders::AccountCart;
use crate::error::{ApiError, ProblemKind};
use crate::limits::CountIfNew;
use crate::state::AppState;

const CART: &str = "cart";
const PROFILE: &str = "profile";
const VISITS: &str = "visits";
const ORDERS: &str = "orders";
const SIGN_IN: &str = "sign_in";
const READING_LIST: &str = "reading_list";
const READING_PROGRESS: &str = "reading_progress";
const READING_HISTORY: &str = "reading_history";
const FAVORITE_GENRES: &str = "favorite_genres";

/// The keys an account's value is kept under in an anonymous session: one
/// per column of the account's row, in the same order (the reading's four
/// named as its columns, see [`StoredReading`]).
fn session_keys(part: Part) -> &'static [&'static str] {
    match part {
        Part::Cart => &[CART],
        Part::Profile => &[PROFILE],
        Part::Reading => &[
            READING_LIST,
            READING_PROGRESS,
            READING_HISTORY,
            FAVORITE_GENRES,
        ],
    }
}

/// How an account's value is named to the visitor.
fn what(part: Part) -> &'static str {
    match part {
        Part::Cart => "cart",
        Part::Profile => "profile",
        Part::Reading => "reading list",
    }
}

/// The most orders a session remembers; older ones drop off the list (the
/// orders themselves stay in the database).
pub const MAX_REMEMBERED_ORDERS: usize = 100;

/// The visitor's session. Handlers reach it only through the typed methods
/// below, never as a raw `Session` with ad-hoc keys.
pub struct VisitorSession(Session, Option<Account>);

/// The account a signed-in session's cart, profile and reading live in.
struct Account {
    user_id: i32,
    db: DatabaseConnection,
    /// How long a read waits for the database (see [`crate::db::within`]).
    database_timeout: Duration,
    /// The versions this handle last read or wrote, named by the next write.
    seen: Mutex<Seen>,
}

/// Per value: `None` when not read yet; `Some(None)` when the account had
/// no row.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    cart: Option<Option<i64>>,
    profile: Option<Option<i64>>,
    reading: Option<Option<i64>>,
}

impl Seen {
    fn of(&mut self, part: Part) -> &mut Option<Option<i64>> {
        match part {
            Part::Cart => &mut self.cart,
            Part::Profile => &mut self.profile,
            Part::Reading => &mut self.reading,
        }
    }
}

impl Account {
    fn new(user_id: i32, db: DatabaseConnection, database_timeout: Duration) -> Self {
        Account {
            user_id,
            db,
            database_timeout,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn read<T: DeserializeOwned>(&self, part: Part) -> Result<Option<T>, ApiError> {
        let read = account_state::read(&self.db, self.user_id, part);
        let read = crate::db::within(self.database_timeout, read).await?;
        *self.seen().of(part) = Some(read.version);
        Ok(read.value)
    }
}

/// The visitor's cart, profile or reading list changed in another session
/// of their account while this change was being made, again and again.
fn changed_elsewhere(what: &str) -> ApiError {
    ApiError::new(
        ProblemKind::ChangedInAnotherSession,
        format!(
            "Your {what} changed in another session while this change was made; send it again."
        ),
    )
}

impl FromRequestParts<AppState> for VisitorSession {
    type Rejection = ApiError;

    /// The session, and the account when it is signed in (the sign-in
    /// check runs here, once per request).
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let VisitorSession(session, _) = VisitorSession::of_session(parts).await?;
        let account = match auth::current(parts, state).await? {
            SignInState::SignedIn(user) => Some(Account::new(
                user.id,
                state.db.clone(),
                state.database_timeout,
            )),
            SignInState::Anonymous | SignInState::Ended { .. } => None,
        };
        Ok(VisitorSession(session, account))
    }
}

impl VisitorSession {
    /// The session alone, as if anonymous: for the sign-in check itself,
    /// which runs before anyone knows whether the session is signed in.
    pub(crate) async fn of_session(parts: &mut Parts) -> Result<VisitorSession, ApiError> {
        let session = Session::from_request_parts(parts, &())
            .await
            .map_err(|(_, msg)| ApiError::internal(anyhow::anyhow!(msg)))?;
        let session = VisitorSession(session, None);
        // A change sent with an id that was renewed while it waited: refused
        // before anything changes (see `super::renew`). A read goes on and
        // finds an empty, anonymous session; so does the one route that
        // takes an ended session as done (`EndedIsDone`: forget-me).
        if !parts.method.is_safe() && session.is_tombstone().await? {
            let done = parts
                .extensions
                .get::<super::renew::EndedIsDone>()
                .is_some()
                && session.is_ended().await?;
            if !done {
                return Err(super::renew::renewed());
            }
        }
        // A change whose verified cookie named a session that is gone (the
        // load above found no record) starts a new one: it counts against
        // the new-session limit now, before the handler changes anything.
        if !parts.method.is_safe()
            && session.0.id().is_none()
            && let Some(check) = parts.extensions.remove::<CountIfNew>()
        {
            check.count().await?;
        }
        Ok(session)
    }

    /// The typed view of the session the session layer put in a request.
    pub fn of(session: Session) -> Self {
        VisitorSession(session, None)
    }

    /// The session's id in the store; `None` until it is first saved (or
    /// after it was ended or given a new id and not saved since).
    pub fn id(&self) -> Option<Id> {
        self.0.id()
    }

    /// Whether this request changed the session, so that the session layer
    /// will write it.
    pub fn is_modified(&self) -> bool {
        self.0.is_modified()
    }

    /// Gives the record the expiry its sign-in calls for (see
    /// [`SignIn::record_expiry`]), or `anonymous` when it is not signed in;
    /// says which sign-in it found. The session layer starts every request
    /// with the anonymous expiry, so a signed-in session's lifetime is set
    /// again each time its record is written. When the sign-in cannot be
    /// read, the record gets `unknown` and the error is returned.
    pub async fn fit_expiry(
        &self,
        anonymous: Expiry,
        unknown: Expiry,
    ) -> Result<Option<SignIn>, ApiError> {
        let sign_in = match self.sign_in().await {
            Ok(sign_in) => sign_in,
            Err(e) => {
                self.0.set_expiry(Some(unknown));
                return Err(e);
            }
        };
        let expiry = sign_in
            .as_ref()
            .map_or(anonymous, |s| Expiry::AtDateTime(s.record_expiry()));
        self.0.set_expiry(Some(expiry));
        Ok(sign_in)
    }

    /// The signed-in account whose cart and profile this session shows.
    pub fn user_id(&self) -> Option<i32> {
        self.1.as_ref().map(|a| a.user_id)
    }

    pub(super) fn inner(&self) -> &Session {
        &self.0
    }

    /// A stored value that no longer decodes (an older format, a tampered
    /// store) is dropped with a warning rather than failing every request.
    async fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.0.get::<T>(key).await {
            Ok(value) => Ok(value),
            Err(tower_sessions::session::Error::SerdeJson(e)) => {
                tracing::warn!(key, error = %e, "stored session value does not decode; ignoring it");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn write<T: Serialize>(&self, key: &str, value: Option<&T>) -> Result<(), ApiError> {
        match value {
            Some(v) => self.0.insert(key, v).await?,
            None => {
                self.0.remove_value(key).await?;
            }
        }
        Ok(())
    }

    /// A value that is the account's when signed in.
    async fn read_part<T: DeserializeOwned>(&self, part: Part) -> Result<Option<T>, ApiError> {
        match &self.1 {
            Some(account) => account.read(part).await,
            None => self.read_session_part(part).await,
        }
    }

    /// What the session itself holds of an account's value, under its keys.
    async fn read_session_part<T: DeserializeOwned>(
        &self,
        part: Part,
    ) -> Result<Option<T>, ApiError> {
        let keys = session_keys(part);
        if let [key] = keys {
            return self.read(key).await;
        }
        let mut fields = Vec::with_capacity(keys.len());
        for key in keys {
            fields.push(self.read::<serde_json::Value>(key).await?);
        }
        Ok(part.join(fields).unwrap_or_else(|e| {
            tracing::warn!(part = what(part), error = %e, "stored session value does not decode; ignoring it");
            None
        }))
    }

    /// Writes the session's keys of an account's value whose contents
    /// differ from `before`.
    async fn write_session_part<T: Serialize>(
        &self,
        part: Part,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Result<(), ApiError> {
        let encode = |value| part.split(value).map_err(ApiError::internal);
        let (before, after) = (encode(before)?, encode(after)?);
        for ((key, before), after) in session_keys(part).iter().zip(before).zip(after) {
            if before != after {
                self.write(key, after.as_ref()).await?;
            }
        }
        Ok(())
    }

    /// Reads, changes and writes a value. Writes nothing when the change
    /// leaves the value as it was, or fails. An account's value is changed
    /// holding its row, so devices take turns; should a write still find
    /// another version (a database that does not lock the row), the change
    /// is applied again to the value as it is now.
    async fn change_part<V, T, F>(
        &self,
        part: Part,
        mut change: F,
    ) -> Result<(T, Option<V>), ApiError>
    where
        V: Clone + PartialEq + Serialize + DeserializeOwned,
        F: FnMut(&mut Option<V>) -> Result<T, ApiError>,
    {
        for attempt in 1..=account_state::ATTEMPTS {
            if let Some(account) = &self.1 {
                if let Some(changed) =
                    account_state::change(&account.db, account.user_id, part, &mut change).await?
                {
                    return Ok(changed);
                }
            } else {
                let mut value: Option<V> = self.read_part(part).await?;
                let before = value.clone();
                let out = change(&mut value)?;
                if value != before {
                    self.write_session_part(part, before.as_ref(), value.as_ref())
                        .await?;
                }
                return Ok((out, value));
            }
            // Another session won this round.
            account_state::step_aside(attempt).await;
        }
        Err(changed_elsewhere(what(part)))
    }

    pub async fn cart(&self) -> Result<Cart, ApiError> {
        Ok(self.read_part(Part::Cart).await?.unwrap_or_default())
    }

    /// Stores an anonymous visitor's cart in the session; an empty cart is
    /// stored as no cart at all. A signed-in visitor's cart is the account's:
    /// it changes through [`VisitorSession::change_cart`], and an order
    /// empties it in the order's own transaction.
    pub async fn set_session_cart(&self, cart: &Cart) -> Result<(), ApiError> {
        self.write(CART, Some(cart).filter(|c| !c.is_empty())).await
    }

    /// Changes the cart with `change` and stores it, unless `change` fails;
    /// returns what `change` returned and the cart. On a signed-in cart that
    /// another device changes at the same time, the change is re-applied to
    /// the cart as that device left it, so neither change is lost.
    pub async fn change_cart<T>(
        &self,
        mut change: impl FnMut(&mut Cart) -> Result<T, ApiError>,
    ) -> Result<(T, Cart), ApiError> {
        let (out, cart) = self
            .change_part(Part::Cart, |stored: &mut Option<Cart>| {
                let mut cart = stored.take().unwrap_or_default();
                let out = change(&mut cart);
                *stored = Some(cart).filter(|c| !c.is_empty());
                out
            })
            .await?;
        Ok((out, cart.unwrap_or_default()))
    }

    /// The cart to order, and for a signed-in visitor the account and the
    /// version of its cart, which the order's transaction empties only if
    /// it is still that version.
    pub async fn cart_to_order(&self) -> Result<(Cart, Option<AccountCart>), ApiError> {
        let cart = self.cart().await?;
        let account = self.1.as_ref().map(|a| AccountCart {
            user_id: a.user_id,
            // No row (`None`) means no cart, which is never ordered.
            version: a.seen().cart.flatten().unwrap_or_default(),
        });
        Ok((cart, account))
    }

    pub async fn profile(&self) -> Result<Option<Profile>, ApiError> {
        self.read_part(Part::Profile).await
    }

    /// Changes the profile with `change` (which may create or forget it), as
    /// [`VisitorSession::change_cart`] changes the cart.
    pub async fn change_profile<T>(
        &self,
        change: impl FnMut(&mut Option<Profile>) -> Result<T, ApiError>,
    ) -> Result<(T, Option<Profile>), ApiError> {
        self.change_part(Part::Profile, change).await
    }

    /// What the session itself holds, signed in or not: for handing it to
    /// the account at sign-in.
    pub(crate) async fn session_cart(&self) -> Result<Cart, ApiError> {
        Ok(self.read(CART).await?.unwrap_or_default())
    }

    pub(crate) async fn session_profile(&self) -> Result<Option<Profile>, ApiError> {
        self.read(PROFILE).await
    }

    pub(crate) async fn session_reading(&self) -> Result<Reading, ApiError> {
        Ok(self
            .read_session_part::<StoredReading>(Part::Reading)
            .await?
            .map(StoredReading::into_reading)
            .unwrap_or_default())
    }

    /// Forgets the session's own cart, profile, reading and orders once they
    /// are the account's.
    pub(crate) async fn forget_handed_over(&self) -> Result<(), ApiError> {
        self.write::<Cart>(CART, None).await?;
        self.write::<Profile>(PROFILE, None).await?;
        for key in session_keys(Part::Reading) {
            self.write::<serde_json::Value>(key, None).await?;
        }
        self.write::<Vec<i32>>(ORDERS, None).await
    }

    /// The reader's list, progress, history and favorite genres (the
    /// account's when signed in).
    pub async fn reading(&self) -> Result<Reading, ApiError> {
        Ok(self
            .read_part::<StoredReading>(Part::Reading)
            .await?
            .map(StoredReading::into_reading)
            .unwrap_or_default())
    }

    /// The reading list alone (the account's when signed in): no book twice,
    /// at most [`domain::reading::MAX_LIST`].
    pub async fn reading_list(&self) -> Result<ReadingList, ApiError> {
        Ok(self.read_reading_kinds(&[READING_LIST]).await?.list)
    }

    /// The progress in each listed book (the account's when signed in). The
    /// list is read with it, since only a listed book has progress.
    pub async fn reading_progress(&self) -> Result<Progress, ApiError> {
        Ok(self
            .read_reading_kinds(&[READING_LIST, READING_PROGRESS])
            .await?
            .progress)
    }

    /// The reading history alone (the account's when signed in), newest
    /// first.
    pub async fn reading_history(&self) -> Result<ReadingHistory, ApiError> {
        Ok(self.read_reading_kinds(&[READING_HISTORY]).await?.history)
    }

    /// The favorite genres alone (the account's when signed in).
    pub async fn favorite_genres(&self) -> Result<FavoriteGenres, ApiError> {
        Ok(self.read_reading_kinds(&[FAVORITE_GENRES]).await?.genres)
    }

    /// The kinds of the reading kept under `keys`, the others as empty, made
    /// consistent as [`Reading::from_parts`] does. In the session only those
    /// keys are read; an account keeps the four in one row, read at once.
    async fn read_reading_kinds(&self, keys: &[&str]) -> Result<Reading, ApiError> {
        let stored: Option<StoredReading> = match &self.1 {
            Some(account) => account.read(Part::Reading).await?,
            None => {
                let mut fields = Vec::with_capacity(4);
                for key in session_keys(Part::Reading) {
                    fields.push(if keys.contains(key) {
                        self.read::<serde_json::Value>(key).await?
                    } else {
                        None
                    });
                }
                Part::Reading.join(fields).unwrap_or_else(|e| {
                    tracing::warn!(part = what(Part::Reading), error = %e, "stored session value does not decode; ignoring it");
                    None
                })
            }
        };
        let Some(stored) = stored else {
            return Ok(Reading::default());
        };
        let wanted = |key: &str| keys.contains(&key);
        Ok(StoredReading {
            reading_list: stored.reading_list.filter(|_| wanted(READING_LIST)),
            reading_progress: stored.reading_progress.filter(|_| wanted(READING_PROGRESS)),
            reading_history: stored.reading_history.filter(|_| wanted(READING_HISTORY)),
            favorite_genres: stored.favorite_genres.filter(|_| wanted(FAVORITE_GENRES)),
        }
        .into_reading())
    }

    /// Changes the reader's state with `change` and stores what changed,
    /// unless `change` fails; as [`VisitorSession::change_cart`] does: a
    /// signed-in reader's four values are changed together in the account,
    /// and a change another device makes at the same time is not lost (this
    /// one is applied again to the values as that device left them). In the
    /// session, only the keys whose value changed are written, and an empty
    /// value is stored as none. It is the one writer of the four kinds (there
    /// is no writer per kind) because one change can touch several at once:
    /// finishing a book takes it off the list and its progress and puts it
    /// in the history, and those must land together or not at all.
    pub async fn change_reading<T>(
        &self,
        mut change: impl FnMut(&mut Reading) -> Result<T, ApiError>,
    ) -> Result<(T, Reading), ApiError> {
        let (out, stored) = self
            .change_part(Part::Reading, |stored: &mut Option<StoredReading>| {
                let mut reading = stored
                    .take()
                    .map(StoredReading::into_reading)
                    .unwrap_or_default();
                let out = change(&mut reading);
                *stored = StoredReading::of(reading);
                out
            })
            .await?;
        Ok((
            out,
            stored.map(StoredReading::into_reading).unwrap_or_default(),
        ))
    }

    pub async fn visits(&self) -> Result<Visits, ApiError> {
        Ok(self.read(VISITS).await?.unwrap_or_default())
    }

    pub async fn set_visits(&self, visits: &Visits) -> Result<(), ApiError> {
        self.write(VISITS, Some(visits)).await
    }

    /// Who this session is signed in as, as the sign-in check reads it.
    pub async fn sign_in(&self) -> Result<Option<SignIn>, ApiError> {
        self.read(SIGN_IN).await
    }

    pub async fn set_sign_in(&self, sign_in: Option<&SignIn>) -> Result<(), ApiError> {
        self.write(SIGN_IN, sign_in).await
    }

    /// The ids of this session's orders, oldest first.
    pub async fn order_ids(&self) -> Result<Vec<i32>, ApiError> {
        Ok(self.read(ORDERS).await?.unwrap_or_default())
    }

    pub async fn remember_order(&self, id: i32) -> Result<(), ApiError> {
        let mut ids = self.order_ids().await?;
        ids.push(id);
        if ids.len() > MAX_REMEMBERED_ORDERS {
            ids.drain(..ids.len() - MAX_REMEMBERED_ORDERS);
        }
        self.write(ORDERS, Some(&ids)).await
    }

    /// A second handle on the same stored session, for work that must end
    /// even if the request does not (checkout's task). Its changes are
    /// written by its own [`VisitorSession::save`]; the request's handle
    /// stays unchanged, so the session layer, which writes only a changed
    /// session, does not write the record a second time.
    pub fn detached(&self, store: AnyStore) -> VisitorSession {
        VisitorSession(
            Session::new(self.0.id(), Arc::new(store), self.0.expiry()),
            self.1
                .as_ref()
                .map(|a| Account::new(a.user_id, a.db.clone(), a.database_timeout)),
        )
    }

    /// Writes the session to the store now, rather than when the response
    /// goes out: for work that must be recorded even if the request ends.
    /// A signed-in session keeps the lifetime of its sign-in.
    pub async fn save(&self) -> Result<(), ApiError> {
        if let Some(sign_in) = self.sign_in().await? {
            self.0
                .set_expiry(Some(Expiry::AtDateTime(sign_in.record_expiry())));
        }
        self.0.save().await?;
        Ok(())
    }

    /// When the stored record expires unless changed again; `None` when
    /// nothing is stored for this visitor. Read from the store: the session
    /// itself only knows the expiry a save now would give it.
    pub async fn stored_expiry(
        &self,
        store: &AnyStore,
    ) -> Result<Option<OffsetDateTime>, ApiError> {
        let Some(id) = self.0.id() else {
            return Ok(None);
        };
        let record = store
            .load(&id)
            .await
            .map_err(|e| ApiError::unavailable("session store", e))?;
        // A tombstone is no session of the visitor's.
        Ok(record
            .filter(|r| !r.data.contains_key(super::renew::RENEWED))
            .map(|r| r.expiry_date))
    }
}
