//! Display preferences, in one private (encrypted) cookie: `/preferences`.
//! The session is not touched, so preferences outlive logout and expiry.

use axum::Json;
use axum::http::StatusCode;
use domain::preferences::{Cuisine, DisplayPreferences, FontSize, Theme};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::{AppCookies, PREFERENCES};
use crate::error::{ApiError, FieldError, PROBLEM_JSON, Problem};
use crate::extract::AppJson;
use crate::openapi;
use crate::responses::WithCookies;
use crate::state::AppState;
use crate::views::{PREFERENCES_COOKIE_DOC, display_preferences};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        get_preferences,
        put_preferences,
        patch_preferences,
        delete_preferences
    ))
}

/// Display preferences.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"preferred_cuisine": "italian", "theme": "dark", "font_size": "large", "reduced_motion": true}))]
pub struct PreferencesView {
    /// italian, indian, thai, chinese, japanese, mexican, american, british, mediterranean, french; or null.
    #[schema(value_type = Option<String>)]
    pub preferred_cuisine: Option<Cuisine>,
    /// light, dark or system (default).
    #[schema(value_type = String)]
    pub theme: Theme,
    /// small, medium (default), large or x-large.
    #[schema(value_type = String)]
    pub font_size: FontSize,
    pub reduced_motion: bool,
}

impl From<DisplayPreferences> for PreferencesView {
    fn from(p: DisplayPreferences) -> Self {
        PreferencesView {
            preferred_cuisine: p.preferred_cuisine,
            theme: p.theme,
            font_size: p.font_size,
            reduced_motion: p.reduced_motion,
        }
    }
}

/// Preferences to set: PUT replaces all (absent fields take their
/// defaults); PATCH changes the fields sent (`null` clears the cuisine).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"theme": "dark", "font_size": "large"}))]
pub struct PreferencesInput {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::word_or_null::<Cuisine>)]
    pub preferred_cuisine: Option<Option<String>>,
    #[schema(schema_with = openapi::word_or_null::<Theme>)]
    pub theme: Option<String>,
    #[schema(schema_with = openapi::word_or_null::<FontSize>)]
    pub font_size: Option<String>,
    pub reduced_motion: Option<bool>,
}

impl PreferencesInput {
    /// Applies the given fields over `base`, naming every invalid one.
    fn apply(&self, mut base: DisplayPreferences) -> Result<DisplayPreferences, ApiError> {
        let mut errors = Vec::new();
        let mut check = |r: Result<(), domain::InvalidField>| {
            if let Err(e) = r {
                errors.push(FieldError::from(e));
            }
        };
        if let Some(c) = &self.preferred_cuisine {
            check(match c {
                None => {
                    base.preferred_cuisine = None;
                    Ok(())
                }
                Some(c) => c.parse().map(|c| base.preferred_cuisine = Some(c)),
            });
        }
        if let Some(t) = &self.theme {
            check(t.parse().map(|t| base.theme = t));
        }
        if let Some(f) = &self.font_size {
            check(f.parse().map(|f| base.font_size = f));
        }
        if let Some(r) = self.reduced_motion {
            base.reduced_motion = r;
        }
        if errors.is_empty() {
            Ok(base)
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

/// The answer of both writes, PUT and PATCH; its field is the body's
/// schema and is never built.
#[derive(IntoResponses)]
#[response(status = 200, description = "The stored preferences",
    headers(("Set-Cookie" = String, description = "Sets `preferences`: private cookie (encrypted and authenticated, purpose `preferences`), Max-Age one year, HttpOnly, Path and Domain as configured")))]
struct PreferencesStored(
    #[allow(dead_code, reason = "only its schema, for the spec")] PreferencesView,
);

/// Why both writes, PUT and PATCH, refuse a value.
#[derive(IntoResponses)]
#[response(status = 422, description = "An unknown cuisine, theme or font size", content_type = PROBLEM_JSON)]
struct InvalidPreferences(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// The browser's preferences, or the defaults.
#[utoipa::path(get, path = "/preferences", tag = "preferences",
    params(("preferences" = Option<String>, Cookie, description = PREFERENCES_COOKIE_DOC)),
    responses((status = 200, description = "The preferences (defaults when the cookie is absent or cannot be trusted; an untrustworthy cookie is removed)", body = PreferencesView,
        headers(("Set-Cookie" = String, description = "Only to remove a bad `preferences` cookie or re-issue one made with a fallback key")))))]
async fn get_preferences(mut cookies: AppCookies) -> (AppCookies, Json<PreferencesView>) {
    let prefs = display_preferences(&mut cookies);
    (cookies, Json(prefs.into()))
}

/// Replace the preferences.
#[utoipa::path(put, path = "/preferences", tag = "preferences",
    request_body = PreferencesInput,
    responses(
        PreferencesStored,
        InvalidPreferences,
    ))]
async fn put_preferences(
    cookies: AppCookies,
    AppJson(input): AppJson<PreferencesInput>,
) -> WithCookies<Json<PreferencesView>> {
    store(cookies, input, DisplayPreferences::default()).await
}

/// Applies `input` over `base` and keeps the result in the cookie.
async fn store(
    cookies: AppCookies,
    input: PreferencesInput,
    base: DisplayPreferences,
) -> WithCookies<Json<PreferencesView>> {
    WithCookies::run(cookies, async |cookies| {
        let prefs = input.apply(base)?;
        cookies.write(&PREFERENCES, &prefs)?;
        Ok(Json(prefs.into()))
    })
    .await
}

/// Change some preferences.
#[utoipa::path(patch, path = "/preferences", tag = "preferences",
    params(("preferences" = Option<String>, Cookie, description = PREFERENCES_COOKIE_DOC)),
    request_body = PreferencesInput,
    responses(
        PreferencesStored,
        InvalidPreferences,
    ))]
async fn patch_preferences(
    mut cookies: AppCookies,
    AppJson(input): AppJson<PreferencesInput>,
) -> WithCookies<Json<PreferencesView>> {
    let base = display_preferences(&mut cookies);
    store(cookies, input, base).await
}

/// Forget the preferences: the cookie is removed.
#[utoipa::path(delete, path = "/preferences", tag = "preferences",
    responses((status = 204, description = "Removed",
        headers(("Set-Cookie" = String, description = "Removes `preferences` (Max-Age=0, same path and domain)")))))]
async fn delete_preferences(cookies: AppCookies) -> (AppCookies, StatusCode) {
    cookies.forget(&PREFERENCES)
}
