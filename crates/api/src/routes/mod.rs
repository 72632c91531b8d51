//! One module per resource; each owns its router and its OpenAPI paths.

pub mod admin;
pub mod auth;
pub mod auth_sessions;
pub mod book_recommendations;
pub mod books;
pub mod cart;
pub mod health;
pub mod loyalty;
pub mod menu;
pub mod orders;
pub mod preferences;
pub mod privacy;
pub mod products;
pub mod profile;
pub mod reading;
pub mod reading_settings;
pub mod session;
pub mod vip;
pub mod visits;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// What under `/api/v1` is the same for every visitor: served without a
/// session, and cacheable.
pub fn public_v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(products::router())
        .merge(books::router())
}

/// Everything else under `/api/v1`: it depends on the visitor's session.
pub fn api_v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(cart::router())
        .merge(profile::router())
        .merge(visits::router())
        .merge(session::router())
        .merge(menu::router())
        .merge(orders::router())
        .merge(preferences::router())
        .merge(loyalty::router())
        .merge(vip::router())
        .merge(auth_sessions::router())
        .merge(admin::router())
        .merge(reading::router())
        .merge(reading_settings::router())
        .merge(book_recommendations::router())
        .merge(privacy::router())
}
