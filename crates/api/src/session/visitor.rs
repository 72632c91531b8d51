//! What the session holds about a visitor, read and written through typed
//! methods, one pair per concern, each under its own constant key.

use std::sync::Arc;

use domain::Cart;
use domain::profile::Profile;
use domain::visits::Visits;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use tower_sessions::{Session, SessionStore};

use super::AnyStore;

use crate::auth::logins::SignIn;
use crate::error::ApiError;

const CART: &str = "cart";
const PROFILE: &str = "profile";
const VISITS: &str = "visits";
const ORDERS: &str = "orders";
const SIGN_IN: &str = "sign_in";

/// The most orders a session remembers; older ones drop off the list (the
/// orders themselves stay in the database).
pub const MAX_REMEMBERED_ORDERS: usize = 100;

/// The visitor's session. Handlers reach it only through the typed methods
/// below, never as a raw `Session` with ad-hoc keys.
pub struct VisitorSession(Session);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for VisitorSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| ApiError::internal(anyhow::anyhow!(msg)))?;
        let session = VisitorSession(session);
        // A change sent with an id that was renewed while it waited: refused
        // before anything changes (see `super::renew`). A read goes on and
        // finds an empty, anonymous session.
        if !parts.method.is_safe() && session.is_tombstone().await? {
            return Err(super::renew::renewed());
        }
        Ok(session)
    }
}

impl VisitorSession {
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

    pub async fn cart(&self) -> Result<Cart, ApiError> {
        Ok(self.read(CART).await?.unwrap_or_default())
    }

    /// Stores the cart; an empty cart is stored as no cart at all.
    pub async fn set_cart(&self, cart: &Cart) -> Result<(), ApiError> {
        self.write(CART, Some(cart).filter(|c| !c.is_empty())).await
    }

    pub async fn profile(&self) -> Result<Option<Profile>, ApiError> {
        self.read(PROFILE).await
    }

    pub async fn set_profile(&self, profile: Option<&Profile>) -> Result<(), ApiError> {
        self.write(PROFILE, profile).await
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
        VisitorSession(Session::new(self.0.id(), Arc::new(store), self.0.expiry()))
    }

    /// Writes the session to the store now, rather than when the response
    /// goes out: for work that must be recorded even if the request ends.
    pub async fn save(&self) -> Result<(), ApiError> {
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
