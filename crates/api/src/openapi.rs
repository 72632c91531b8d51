//! The OpenAPI document: generated from the routes (utoipa), served at
//! `/api-docs/openapi.json`, committed as `openapi/openapi.json`.

use strum::VariantArray;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem, ProblemKind, ProblemLine};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kitchen Memory API",
        description = include_str!("openapi_intro.md"),
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "products", description = "The menu"),
        (name = "cart", description = "The visitor's cart, kept in the session"),
        (name = "profile", description = "The customer profile, kept in the session"),
        (name = "visits", description = "Visit counting and the welcome"),
        (name = "session", description = "The state of the visitor's session"),
        (name = "menu", description = "The personalized menu"),
        (name = "orders", description = "Checkout and order tracking"),
        (name = "preferences", description = "Display preferences, in an encrypted cookie"),
        (name = "loyalty", description = "The loyalty level, in a signed cookie"),
        (name = "vip", description = "VIP membership, in a signed cookie"),
        (name = "health", description = "Liveness and readiness probes"),
    ),
    components(schemas(Problem, FieldError, ProblemLine)),
    modifiers(&SessionCookie, &ProblemTypes),
)]
pub struct ApiDoc;

/// The session cookie as a security scheme, so clients see which calls use it.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "km_session",
                "The signed session cookie (name set by SESSION_COOKIE_NAME). Set by the first response that stores something in the session; send it back on every request (`credentials: \"include\"`, `curl -b jar -c jar`).",
            ))),
        );
    }
}

/// Lists every problem `type` with its status and title in the description.
struct ProblemTypes;

impl Modify for ProblemTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut table =
            String::from("\n\n## Problem types\n\n| type | status | title |\n|---|---|---|\n");
        for &kind in ProblemKind::VARIANTS {
            table.push_str(&format!(
                "| `/problems/{}` | {} | {} |\n",
                kind.slug(),
                kind.status().as_u16(),
                kind.title()
            ));
        }
        if let Some(d) = openapi.info.description.as_mut() {
            d.push_str(&table);
        }
    }
}
