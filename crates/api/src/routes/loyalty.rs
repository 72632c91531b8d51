//! Loyalty: a level earned by what this browser has spent, kept in a signed
//! cookie the server issues at each checkout. `GET /loyalty`.

use axum::Json;
use domain::Money;
use domain::loyalty::{LoyaltyAccount, LoyaltyLevel};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::AppCookies;
use crate::rewards::{LOYALTY_COOKIE_DOC, loyalty_account};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_loyalty))
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

impl From<LoyaltyAccount> for LoyaltyView {
    fn from(account: LoyaltyAccount) -> Self {
        let next = account.next_level();
        LoyaltyView {
            level: account.level(),
            spent: account.spent,
            next_level: next.map(|(l, _)| l),
            to_next_level: next.map(|(_, m)| m),
        }
    }
}

/// The loyalty level; Bronze when the cookie is absent, expired or forged.
#[utoipa::path(get, path = "/loyalty", tag = "loyalty",
    params(("loyalty" = Option<String>, Cookie, description = LOYALTY_COOKIE_DOC)),
    responses((status = 200, description = "The loyalty standing", body = LoyaltyView,
        headers(("Set-Cookie" = String, description = "Only to remove a bad `loyalty` cookie or re-issue one made with a fallback key")))))]
async fn get_loyalty(mut cookies: AppCookies) -> (AppCookies, Json<LoyaltyView>) {
    let account = loyalty_account(&mut cookies);
    (cookies, Json(account.into()))
}
