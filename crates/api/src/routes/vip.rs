//! VIP membership, in a signed cookie with JSON data: `/vip`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::vip::{StandingRequest, Vip, iso_date};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::clock::Clock;
use crate::cookies::{AppCookies, VIP};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::AppJson;
use crate::openapi;
use crate::responses::{Created, CreatedOrUpdated, WithCookies};
use crate::rewards::{VIP_COOKIE_DOC, vip_membership};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(join_vip, get_vip, leave_vip))
}

/// A VIP membership.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "active", "member_since": "2026-11-25", "points": 120, "special_requests": ["gluten-free", "extra-spicy"]}))]
pub struct VipView {
    /// `active`.
    pub status: String,
    #[schema(format = Date)]
    pub member_since: String,
    /// One point per whole unit spent at checkout while a member.
    pub points: u64,
    pub special_requests: Vec<String>,
}

impl From<&Vip> for VipView {
    fn from(v: &Vip) -> Self {
        VipView {
            status: v.status.as_str().to_owned(),
            // A calendar date always formats; the fallback is ISO's own text.
            member_since: iso_date::format(v.member_since)
                .unwrap_or_else(|_| v.member_since.to_string()),
            points: v.points,
            special_requests: v
                .special_requests
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        }
    }
}

/// Joining (or updating) the membership.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"special_requests": ["gluten-free", "extra-spicy"]}))]
pub struct JoinVip {
    #[serde(default)]
    #[schema(schema_with = standing_requests)]
    pub special_requests: Vec<String>,
}

fn standing_requests() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(openapi::plain_text::<{ StandingRequest::MAX_CHARS }>())
        .max_items(Some(StandingRequest::MAX_COUNT))
        .description(Some(format!(
            "At most {}, each 1 to {} characters.",
            StandingRequest::MAX_COUNT,
            StandingRequest::MAX_CHARS
        )))
        .build()
}

/// Become a VIP member; a member who joins again keeps the date and points
/// and replaces the special requests.
#[utoipa::path(post, path = "/vip", tag = "vip",
    params(("vip" = Option<String>, Cookie, description = VIP_COOKIE_DOC)),
    request_body(content = Option<JoinVip>, description = "Optional: send no body, or `{}`, to join without special requests"),
    responses(
        (status = 201, description = "Joined", body = VipView,
            headers(("Set-Cookie" = String, description = "Sets `vip`: signed cookie (purpose `vip`), Max-Age one year, HttpOnly, with the membership as JSON"), ("Location" = String, description = "/api/v1/vip"))),
        (status = 200, description = "Already a member: special requests replaced", body = VipView,
            headers(("Set-Cookie" = String, description = "Sets `vip`: signed cookie (purpose `vip`), Max-Age one year, HttpOnly, with the membership as JSON"))),
        (status = 422, description = "Too many or too long special requests, or a cookie over 4096 bytes", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn join_vip(
    State(state): State<AppState>,
    cookies: AppCookies,
    body: Option<AppJson<JoinVip>>,
) -> WithCookies<CreatedOrUpdated<Json<VipView>>> {
    WithCookies::run(cookies, async |cookies| join(cookies, &state.clock, body)).await
}

fn join(
    cookies: &mut AppCookies,
    clock: &Clock,
    body: Option<AppJson<JoinVip>>,
) -> Result<CreatedOrUpdated<Json<VipView>>, ApiError> {
    let join = body.map(|AppJson(j)| j).unwrap_or_default();
    let requests = StandingRequest::parse_list(join.special_requests.iter().map(String::as_str))
        .map_err(|e| ApiError::invalid_field(&e.field, e.message))?;
    match vip_membership(cookies) {
        Some(mut vip) => {
            vip.special_requests = requests;
            cookies.write(&VIP, &vip)?;
            Ok(CreatedOrUpdated::Updated(Json(VipView::from(&vip))))
        }
        None => {
            let vip = Vip::join(clock.today(), requests);
            cookies.write(&VIP, &vip)?;
            Ok(CreatedOrUpdated::Created(Created::at(
                "/api/v1/vip",
                Json(VipView::from(&vip)),
            )?))
        }
    }
}

/// The membership; 404 when this browser is not a member.
#[utoipa::path(get, path = "/vip", tag = "vip",
    params(("vip" = Option<String>, Cookie, description = VIP_COOKIE_DOC)),
    responses(
        (status = 200, description = "The membership", body = VipView),
        (status = 404, description = "Not a member (or the cookie cannot be trusted, and is removed)", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn get_vip(cookies: AppCookies) -> WithCookies<Json<VipView>> {
    WithCookies::run(cookies, async |cookies| {
        vip_membership(cookies)
            .map(|vip| Json(VipView::from(&vip)))
            .ok_or_else(|| {
                ApiError::not_found("This browser is not a VIP member; join with POST /api/v1/vip.")
            })
    })
    .await
}

/// End the membership: the cookie is removed.
#[utoipa::path(delete, path = "/vip", tag = "vip",
    responses((status = 204, description = "Not a member (any more)",
        headers(("Set-Cookie" = String, description = "Removes `vip` (Max-Age=0, same path and domain)")))))]
async fn leave_vip(cookies: AppCookies) -> (AppCookies, StatusCode) {
    cookies.forget(&VIP)
}
