//! Reading settings (font size, theme, spacing, font, width) in their own
//! private (encrypted) cookie, `reading_settings`: the library's second
//! preference cookie, beside the restaurant's `preferences`. Like those, the
//! session is not touched, so the settings outlive logout and expiry, and a
//! cookie that cannot be trusted reads as the defaults and is removed (the
//! cookie toolkit in `cookies.rs` does both for every cookie).

use axum::Json;
use axum::http::StatusCode;
use domain::reading_settings::{
    FontFamily, FontSize, LineSpacing, ReadingSettings, ReadingTheme, TextWidth,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::{AppCookies, READING_SETTINGS};
use crate::error::{ApiError, FieldError, PROBLEM_JSON, Problem};
use crate::extract::AppJson;
use crate::openapi;
use crate::responses::WithCookies;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        get_reading_settings,
        put_reading_settings,
        patch_reading_settings,
        delete_reading_settings
    ))
}

const READING_SETTINGS_COOKIE_DOC: &str = "`reading_settings`: private cookie (AES-GCM encrypted and authenticated, key derived for the purpose `reading-settings`), one year, HttpOnly";

/// The reading settings; the defaults when the cookie is absent or cannot
/// be trusted (then the response removes it).
fn reading_settings(cookies: &mut AppCookies) -> ReadingSettings {
    cookies
        .read::<ReadingSettings>(&READING_SETTINGS)
        .map(|(s, _)| s)
        .unwrap_or_default()
}

/// How the reader likes a book's pages set.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"font_size": 20, "theme": "sepia", "line_spacing": 1.75, "font_family": "dyslexic-friendly", "text_width": "narrow"}))]
pub struct ReadingSettingsView {
    /// Body text size in CSS pixels, 12 to 32 (default 18).
    #[schema(value_type = i64, minimum = 12, maximum = 32)]
    pub font_size: FontSize,
    /// light, dark, sepia or system (default: follow the device).
    #[schema(schema_with = openapi::word::<ReadingTheme>)]
    pub theme: ReadingTheme,
    /// Line height as a multiple of the font size: 1.0 to 2.5 in steps of
    /// 0.25 (default 1.5).
    #[schema(value_type = f64, minimum = 1.0, maximum = 2.5, multiple_of = 0.25)]
    pub line_spacing: LineSpacing,
    /// serif (default), sans-serif or dyslexic-friendly.
    #[schema(schema_with = openapi::word::<FontFamily>)]
    pub font_family: FontFamily,
    /// narrow (about 50 characters per line), medium (about 65, default)
    /// or wide (about 80).
    #[schema(schema_with = openapi::word::<TextWidth>)]
    pub text_width: TextWidth,
}

impl From<ReadingSettings> for ReadingSettingsView {
    fn from(s: ReadingSettings) -> Self {
        ReadingSettingsView {
            font_size: s.font_size,
            theme: s.theme,
            line_spacing: s.line_spacing,
            font_family: s.font_family,
            text_width: s.text_width,
        }
    }
}

/// Settings to set: PUT replaces all (absent or null fields take their
/// defaults); PATCH changes the fields sent (absent or null: unchanged).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"font_size": 20, "theme": "sepia", "line_spacing": 1.75}))]
pub struct ReadingSettingsInput {
    /// Pixels, 12 to 32.
    #[schema(minimum = 12, maximum = 32)]
    pub font_size: Option<i64>,
    #[schema(schema_with = openapi::word_or_null::<ReadingTheme>)]
    pub theme: Option<String>,
    /// 1.0 to 2.5 in steps of 0.25.
    #[schema(minimum = 1.0, maximum = 2.5, multiple_of = 0.25)]
    pub line_spacing: Option<f64>,
    #[schema(schema_with = openapi::word_or_null::<FontFamily>)]
    pub font_family: Option<String>,
    #[schema(schema_with = openapi::word_or_null::<TextWidth>)]
    pub text_width: Option<String>,
}

impl ReadingSettingsInput {
    /// Applies the given fields over `base`, naming every invalid one; on
    /// any error nothing is applied.
    fn apply(&self, mut base: ReadingSettings) -> Result<ReadingSettings, ApiError> {
        let mut errors = Vec::new();
        let mut check = |r: Result<(), domain::InvalidField>| {
            if let Err(e) = r {
                errors.push(FieldError::from(e));
            }
        };
        if let Some(px) = self.font_size {
            check(FontSize::parse(px).map(|f| base.font_size = f));
        }
        if let Some(t) = &self.theme {
            check(t.parse().map(|t| base.theme = t));
        }
        if let Some(l) = self.line_spacing {
            check(LineSpacing::parse(l).map(|l| base.line_spacing = l));
        }
        if let Some(f) = &self.font_family {
            check(f.parse().map(|f| base.font_family = f));
        }
        if let Some(w) = &self.text_width {
            check(w.parse().map(|w| base.text_width = w));
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
#[response(status = 200, description = "The stored reading settings",
    example = json!({"font_size": 20, "theme": "sepia", "line_spacing": 1.75, "font_family": "serif", "text_width": "medium"}),
    headers(("Set-Cookie" = String, description = "Sets `reading_settings`: private cookie (encrypted and authenticated, purpose `reading-settings`), Max-Age one year, HttpOnly, Path, Domain and SameSite as configured")))]
struct ReadingSettingsStored(
    #[allow(dead_code, reason = "only its schema, for the spec")] ReadingSettingsView,
);

/// Why both writes, PUT and PATCH, refuse a value.
#[derive(IntoResponses)]
#[response(status = 422, description = "A font size outside 12 to 32, a line spacing outside 1.0 to 2.5 or off its 0.25 steps, or an unknown theme, font family or text width; each offending field is listed and nothing is changed", content_type = PROBLEM_JSON,
    example = json!({"type": "/problems/validation-failed", "title": "Invalid input", "status": 422,
        "detail": "font_size: must be a whole number of pixels from 12 to 32; got 40",
        "errors": [{"field": "font_size", "message": "must be a whole number of pixels from 12 to 32; got 40"}]}))]
struct InvalidReadingSettings(
    #[allow(dead_code, reason = "only its schema, for the spec")] Problem,
);

/// The browser's reading settings, or the defaults.
#[utoipa::path(get, path = "/reading-settings", tag = "reading-settings",
    params(("reading_settings" = Option<String>, Cookie, description = READING_SETTINGS_COOKIE_DOC)),
    responses((status = 200, description = "The reading settings (defaults when the cookie is absent or cannot be trusted: forged, expired or undecodable; such a cookie is removed)", body = ReadingSettingsView,
        headers(("Set-Cookie" = String, description = "Only to remove a bad `reading_settings` cookie or re-issue one made with a fallback key")),
        example = json!({"font_size": 18, "theme": "system", "line_spacing": 1.5, "font_family": "serif", "text_width": "medium"}))))]
async fn get_reading_settings(mut cookies: AppCookies) -> (AppCookies, Json<ReadingSettingsView>) {
    let settings = reading_settings(&mut cookies);
    (cookies, Json(settings.into()))
}

/// Replace the reading settings: fields left out take their defaults. The
/// `reading_settings` cookie sent, if any, is not read: it is replaced.
#[utoipa::path(put, path = "/reading-settings", tag = "reading-settings",
    params(("reading_settings" = Option<String>, Cookie, description = READING_SETTINGS_COOKIE_DOC)),
    request_body = ReadingSettingsInput,
    responses(
        ReadingSettingsStored,
        InvalidReadingSettings,
    ))]
async fn put_reading_settings(
    cookies: AppCookies,
    AppJson(input): AppJson<ReadingSettingsInput>,
) -> WithCookies<Json<ReadingSettingsView>> {
    store(cookies, input, ReadingSettings::default()).await
}

/// Change the reading settings sent; the others stay as they are.
#[utoipa::path(patch, path = "/reading-settings", tag = "reading-settings",
    params(("reading_settings" = Option<String>, Cookie, description = READING_SETTINGS_COOKIE_DOC)),
    request_body = ReadingSettingsInput,
    responses(
        ReadingSettingsStored,
        InvalidReadingSettings,
    ))]
async fn patch_reading_settings(
    mut cookies: AppCookies,
    AppJson(input): AppJson<ReadingSettingsInput>,
) -> WithCookies<Json<ReadingSettingsView>> {
    let base = reading_settings(&mut cookies);
    store(cookies, input, base).await
}

/// Applies `input` over `base` and keeps the result in the cookie.
async fn store(
    cookies: AppCookies,
    input: ReadingSettingsInput,
    base: ReadingSettings,
) -> WithCookies<Json<ReadingSettingsView>> {
    WithCookies::run(cookies, async |cookies| {
        let settings = input.apply(base)?;
        cookies.write(&READING_SETTINGS, &settings)?;
        Ok(Json(settings.into()))
    })
    .await
}

/// Forget the reading settings: the cookie is removed and the defaults
/// apply again.
#[utoipa::path(delete, path = "/reading-settings", tag = "reading-settings",
    responses((status = 204, description = "Removed (also when there was none)",
        headers(("Set-Cookie" = String, description = "Removes `reading_settings` (Max-Age=0, same path and domain)")))))]
async fn delete_reading_settings(cookies: AppCookies) -> (AppCookies, StatusCode) {
    cookies.forget(&READING_SETTINGS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> ReadingSettingsInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_invalid_field_is_named_and_nothing_applies() {
        let err = input(
            serde_json::json!({"font_size": 40, "theme": "neon", "line_spacing": 1.1,
            "font_family": "comic", "text_width": "huge"}),
        )
        .apply(ReadingSettings::default())
        .unwrap_err();
        let text = format!("{err:?}");
        for field in [
            "font_size",
            "theme",
            "line_spacing",
            "font_family",
            "text_width",
        ] {
            assert!(text.contains(field), "{field} not named: {text}");
        }
    }
}
