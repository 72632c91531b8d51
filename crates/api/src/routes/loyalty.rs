//! Loyalty: a level earned by what this browser has spent, kept in a signed
//! cookie the server issues at each checkout. `GET /loyalty`.

use axum::Json;
use domain::Money;
use domain::preferences::LoyaltyLevel;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::{AppCookies, LOYALTY};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_loyalty))
}

pub const COOKIE_DOC: &str = "`loyalty`: signed cookie (purpose `loyalty`, 30 days, HttpOnly) holding the total spent; issued by the server at each checkout, so a client cannot raise its own level";

/// What the `loyalty` cookie holds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyTicket {
    pub spent: Money,
}

/// The loyalty standing.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"level": "silver", "spent": "72.40", "next_level": "gold", "to_next_level": "127.60"}))]
pub struct LoyaltyView {
    /// bronze (below 50), silver (from 50), gold (from 200), platinum (from 500).
    #[schema(value_type = String)]
    pub level: LoyaltyLevel,
    #[schema(value_type = String)]
    pub spent: Money,
    #[schema(value_type = Option<String>)]
    pub next_level: Option<LoyaltyLevel>,
    #[schema(value_type = Option<String>)]
    pub to_next_level: Option<Money>,
}

impl From<LoyaltyTicket> for LoyaltyView {
    fn from(t: LoyaltyTicket) -> Self {
        let next = LoyaltyLevel::next(t.spent);
        LoyaltyView {
            level: LoyaltyLevel::for_spent(t.spent),
            spent: t.spent,
            next_level: next.map(|(l, _)| l),
            to_next_level: next.map(|(_, m)| m),
        }
    }
}

pub fn current(cookies: &mut AppCookies) -> LoyaltyTicket {
    cookies
        .read::<LoyaltyTicket>(&LOYALTY)
        .map(|(t, _)| t)
        .unwrap_or_default()
}

/// Adds an order's total and re-issues the cookie.
pub fn record_spending(cookies: &mut AppCookies, total: Money) -> Result<LoyaltyTicket, ApiError> {
    let mut ticket = current(cookies);
    ticket.spent = ticket.spent + total;
    cookies.write(&LOYALTY, &ticket)?;
    Ok(ticket)
}

/// The loyalty level; Bronze when the cookie is absent, expired or forged.
#[utoipa::path(get, path = "/loyalty", tag = "loyalty",
    params(("loyalty" = Option<String>, Cookie, description = COOKIE_DOC)),
    responses((status = 200, description = "The loyalty standing", body = LoyaltyView,
        headers(("Set-Cookie" = String, description = "Only to remove a bad `loyalty` cookie or re-issue one made with a fallback key")))))]
async fn get_loyalty(mut cookies: AppCookies) -> (AppCookies, Json<LoyaltyView>) {
    let ticket = current(&mut cookies);
    (cookies, Json(ticket.into()))
}
