//! The cart as kept in the session: one typed view, one key.

use domain::Cart;
use tower_sessions::Session;

use crate::error::ApiError;

/// The session key the cart lives under.
const CART_KEY: &str = "cart";

/// The visitor's cart, read from and written to the session.
pub struct CartSession(pub Session);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CartSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| ApiError::internal(anyhow::anyhow!(msg)))?;
        Ok(CartSession(session))
    }
}

impl CartSession {
    /// The cart, empty when there is none. A stored cart that no longer
    /// decodes (an older format, a tampered store) is dropped with a warning
    /// rather than failing every request of that visitor.
    pub async fn load(&self) -> Result<Cart, ApiError> {
        match self.0.get::<Cart>(CART_KEY).await {
            Ok(cart) => Ok(cart.unwrap_or_default()),
            Err(tower_sessions::session::Error::SerdeJson(e)) => {
                tracing::warn!(error = %e, "stored cart does not decode; starting an empty one");
                Ok(Cart::new())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the cart; an empty cart is stored as no cart at all.
    pub async fn save(&self, cart: &Cart) -> Result<(), ApiError> {
        if cart.is_empty() {
            self.0.remove_value(CART_KEY).await?;
        } else {
            self.0.insert(CART_KEY, cart).await?;
        }
        Ok(())
    }
}
