//! The customer profile: `/profile`. Kept in the session, or with the
//! account when the visitor is signed in.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::InvalidField;
use domain::profile::{
    CustomerName, DietaryTag, FavoriteDish, Profile, SpiceLevel, parse_dietary_tags,
};
use serde::Deserialize;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiError, FieldChecks as Checks, FieldError, PROBLEM_JSON, Problem};
use crate::extract::AppJson;
use crate::openapi;
use crate::responses::{Created, CreatedOrUpdated};
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::ProfileView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        get_profile,
        put_profile,
        patch_profile,
        delete_profile
    ))
}

/// A whole profile (PUT). Absent optional fields are empty.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada", "favorite_dish": "Pad Thai", "dietary_restrictions": ["vegan", "gluten-free"], "spice_level": "medium"}))]
pub struct ProfileInput {
    #[schema(schema_with = openapi::plain_text::<{ CustomerName::MAX_CHARS }>)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = openapi::plain_text_or_null::<{ FavoriteDish::MAX_CHARS }>)]
    pub favorite_dish: Option<String>,
    #[serde(default)]
    #[schema(schema_with = openapi::words_or_null::<DietaryTag>)]
    pub dietary_restrictions: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = openapi::word_or_null::<SpiceLevel>)]
    pub spice_level: Option<String>,
}

/// Some fields of the profile (PATCH): absent fields stay as they are;
/// `null` clears `favorite_dish`, `spice_level` or `dietary_restrictions`
/// (the name cannot be cleared).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"spice_level": "hot", "favorite_dish": null}))]
pub struct ProfilePatch {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::plain_text::<{ CustomerName::MAX_CHARS }>)]
    pub name: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::plain_text_or_null::<{ FavoriteDish::MAX_CHARS }>)]
    pub favorite_dish: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::words_or_null::<DietaryTag>)]
    pub dietary_restrictions: Option<Option<Vec<String>>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::word_or_null::<SpiceLevel>)]
    pub spice_level: Option<Option<String>>,
}

fn favorite(raw: Option<&str>) -> Result<Option<FavoriteDish>, InvalidField> {
    raw.map(FavoriteDish::parse).transpose()
}

/// Each entry must be a tag: a blank one is refused, as the spec's `enum` says.
fn restrictions(raw: Option<&[String]>) -> Result<BTreeSet<DietaryTag>, InvalidField> {
    parse_dietary_tags(raw.unwrap_or_default().iter().map(String::as_str))
}

fn spice(raw: Option<&str>) -> Result<Option<SpiceLevel>, InvalidField> {
    raw.map(str::parse).transpose()
}

fn no_profile() -> ApiError {
    ApiError::not_found("This visitor has no profile yet; create one with PUT /api/v1/profile.")
}

/// The visitor has no profile to read or change.
#[derive(IntoResponses)]
#[response(status = 404, description = "No profile yet", content_type = PROBLEM_JSON)]
struct NoProfile(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// A profile field the visitor sent is refused.
#[derive(IntoResponses)]
#[response(status = 422, description = "A field is invalid: each is named in `errors`", content_type = PROBLEM_JSON)]
struct InvalidProfile(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// The visitor's profile.
///
/// Signed in, it is the account's profile, the same on every device.
#[utoipa::path(get, path = "/profile", tag = "profile",
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        NoProfile,
    ))]
async fn get_profile(session: VisitorSession) -> Result<Json<ProfileView>, ApiError> {
    let profile = session.profile().await?.ok_or_else(no_profile)?;
    Ok(Json(ProfileView::from(&profile)))
}

/// Create or replace the profile. `created_at` is kept from the first one.
#[utoipa::path(put, path = "/profile", tag = "profile",
    request_body = ProfileInput,
    responses(
        (status = 201, description = "Created", body = ProfileView,
            headers(("Location" = String, description = "The profile, /api/v1/profile"))),
        (status = 200, description = "Replaced", body = ProfileView),
        InvalidProfile,
    ))]
async fn put_profile(
    State(state): State<AppState>,
    session: VisitorSession,
    AppJson(input): AppJson<ProfileInput>,
) -> Result<CreatedOrUpdated<Json<ProfileView>>, ApiError> {
    let mut checks = Checks::default();
    let name = checks.take(CustomerName::parse(&input.name));
    let favorite_dish = checks.take(favorite(input.favorite_dish.as_deref()));
    let dietary_restrictions = checks.take(restrictions(input.dietary_restrictions.as_deref()));
    let spice_level = checks.take(spice(input.spice_level.as_deref()));
    checks.finish()?;
    // A field is `None` only when its check failed, and then `finish` did.
    let (Some(name), Some(favorite_dish), Some(dietary_restrictions), Some(spice_level)) =
        (name, favorite_dish, dietary_restrictions, spice_level)
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a profile field passed its check but was not kept"
        )));
    };
    let now = state.clock.now();
    let (existed, profile) = session
        .change_profile(|stored| {
            let existed = stored.is_some();
            *stored = Some(Profile {
                name: name.clone(),
                favorite_dish: favorite_dish.clone(),
                dietary_restrictions: dietary_restrictions.clone(),
                spice_level,
                created_at: stored.as_ref().map_or(now, |p| p.created_at),
            });
            Ok(existed)
        })
        .await?;
    let profile = profile
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a profile just stored is not there")))?;
    let body = Json(ProfileView::from(&profile));
    Ok(if existed {
        CreatedOrUpdated::Updated(body)
    } else {
        CreatedOrUpdated::Created(Created::at("/api/v1/profile", body)?)
    })
}

/// Change some fields of the profile.
#[utoipa::path(patch, path = "/profile", tag = "profile",
    request_body = ProfilePatch,
    responses(
        (status = 200, description = "The changed profile", body = ProfileView),
        NoProfile,
        InvalidProfile,
    ))]
async fn patch_profile(
    session: VisitorSession,
    AppJson(patch): AppJson<ProfilePatch>,
) -> Result<Json<ProfileView>, ApiError> {
    let mut checks = Checks::default();
    let name = match &patch.name {
        None => None,
        Some(None) => {
            checks.0.push(FieldError {
                field: "name".into(),
                message: "cannot be cleared; send a name or leave the field out".into(),
            });
            None
        }
        Some(Some(raw)) => checks.take(CustomerName::parse(raw)),
    };
    let favorite = patch
        .favorite_dish
        .as_ref()
        .map(|raw| checks.take(favorite(raw.as_deref())));
    let restrictions = patch
        .dietary_restrictions
        .as_ref()
        .map(|raw| checks.take(restrictions(raw.as_deref())));
    let spice = patch
        .spice_level
        .as_ref()
        .map(|raw| checks.take(spice(raw.as_deref())));
    checks.finish()?;
    let ((), profile) = session
        .change_profile(|stored| {
            let profile = stored.as_mut().ok_or_else(no_profile)?;
            if let Some(name) = &name {
                profile.name = name.clone();
            }
            if let Some(Some(favorite)) = &favorite {
                profile.favorite_dish = favorite.clone();
            }
            if let Some(Some(restrictions)) = &restrictions {
                profile.dietary_restrictions = restrictions.clone();
            }
            if let Some(Some(spice)) = spice {
                profile.spice_level = spice;
            }
            Ok(())
        })
        .await?;
    let profile = profile.ok_or_else(no_profile)?;
    Ok(Json(ProfileView::from(&profile)))
}

/// Forget the profile (the rest of the session stays).
#[utoipa::path(delete, path = "/profile", tag = "profile",
    responses((status = 204, description = "There is no profile (any more)")))]
async fn delete_profile(session: VisitorSession) -> Result<StatusCode, ApiError> {
    session
        .change_profile(|stored| {
            *stored = None;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
