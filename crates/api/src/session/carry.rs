//! What an anonymous visitor's session hands over to their account at
//! sign-in: the cart (merged into the account's), the profile (filling what
//! the account's lacks) and the orders (claimed).
//!
//! SKELETON: hands over nothing yet.

use crate::error::ApiError;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

/// Moves what `session` holds for an anonymous visitor into the account
/// `user_id`, and clears it from the session. Called by sign-in and
/// registration, after the session got its new id.
pub async fn carry_over(
    state: &AppState,
    session: &VisitorSession,
    user_id: i32,
) -> Result<(), ApiError> {
    let _ = (state, session, user_id);
    Ok(())
}
