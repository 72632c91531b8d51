//! VIP membership, in a signed cookie with JSON data: `/vip`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::Money;
use domain::preferences::{SpecialRequest, Vip};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::{AppCookies, VIP};
use crate::error::{ApiError, Problem};
use crate::extract::AppJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(join_vip, get_vip, leave_vip))
}

const PROBLEM: &str = "application/problem+json";
pub const COOKIE_DOC: &str =
    "`vip`: signed cookie (purpose `vip`, one year, HttpOnly) holding the membership as JSON";

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
        let json = serde_json::to_value(v).unwrap_or_default();
        VipView {
            status: v.status.as_str().to_owned(),
            member_since: json["member_since"].as_str().unwrap_or_default().to_owned(),
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
    /// At most 10, each 1 to 100 characters.
    #[serde(default)]
    pub special_requests: Vec<String>,
}

pub fn current(cookies: &mut AppCookies) -> Option<Vip> {
    cookies.read::<Vip>(&VIP).map(|(v, _)| v)
}

/// Adds points for an order to a member's cookie.
pub fn earn(cookies: &mut AppCookies, total: Money) -> Result<(), ApiError> {
    if let Some(mut vip) = current(cookies) {
        vip.earn(total);
        cookies.write(&VIP, &vip)?;
    }
    Ok(())
}

/// Become a VIP member; a member who joins again keeps the date and points
/// and replaces the special requests.
#[utoipa::path(post, path = "/vip", tag = "vip",
    params(("vip" = Option<String>, Cookie, description = COOKIE_DOC)),
    request_body(content = Option<JoinVip>, description = "Optional: send no body, or `{}`, to join without special requests"),
    responses(
        (status = 201, description = "Joined", body = VipView,
            headers(("Set-Cookie" = String, description = "Sets `vip`: signed cookie (purpose `vip`), Max-Age one year, HttpOnly, with the membership as JSON"), ("Location" = String, description = "/api/v1/vip"))),
        (status = 200, description = "Already a member: special requests replaced", body = VipView,
            headers(("Set-Cookie" = String, description = "Sets `vip`: signed cookie (purpose `vip`), Max-Age one year, HttpOnly, with the membership as JSON"))),
        (status = 422, description = "Too many or too long special requests, or a cookie over 4096 bytes", body = Problem, content_type = PROBLEM),
    ))]
async fn join_vip(mut cookies: AppCookies, body: Option<AppJson<JoinVip>>) -> Response {
    // The cookies go out with errors too: a bad cookie found on the way is
    // still removed.
    match join(&mut cookies, body) {
        Ok((StatusCode::CREATED, vip)) => (
            StatusCode::CREATED,
            cookies,
            [(header::LOCATION, HeaderValue::from_static("/api/v1/vip"))],
            Json(VipView::from(&vip)),
        )
            .into_response(),
        Ok((status, vip)) => (status, cookies, Json(VipView::from(&vip))).into_response(),
        Err(e) => (cookies, e).into_response(),
    }
}

fn join(
    cookies: &mut AppCookies,
    body: Option<AppJson<JoinVip>>,
) -> Result<(StatusCode, Vip), ApiError> {
    let join = body.map(|AppJson(j)| j).unwrap_or_default();
    let requests = SpecialRequest::parse_list(join.special_requests.iter().map(String::as_str))
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let (vip, status) = match current(cookies) {
        Some(mut vip) => {
            vip.special_requests = requests;
            (vip, StatusCode::OK)
        }
        None => (
            Vip::join(OffsetDateTime::now_utc().date(), requests),
            StatusCode::CREATED,
        ),
    };
    cookies.write(&VIP, &vip)?;
    Ok((status, vip))
}

/// The membership; 404 when this browser is not a member.
#[utoipa::path(get, path = "/vip", tag = "vip",
    params(("vip" = Option<String>, Cookie, description = COOKIE_DOC)),
    responses(
        (status = 200, description = "The membership", body = VipView),
        (status = 404, description = "Not a member (or the cookie cannot be trusted, and is removed)", body = Problem, content_type = PROBLEM),
    ))]
async fn get_vip(mut cookies: AppCookies) -> Response {
    match current(&mut cookies) {
        Some(vip) => (cookies, Json(VipView::from(&vip))).into_response(),
        None => (
            cookies,
            ApiError::not_found("This browser is not a VIP member; join with POST /api/v1/vip."),
        )
            .into_response(),
    }
}

/// End the membership: the cookie is removed.
#[utoipa::path(delete, path = "/vip", tag = "vip",
    responses((status = 204, description = "Not a member (any more)",
        headers(("Set-Cookie" = String, description = "Removes `vip` (Max-Age=0, same path and domain)")))))]
async fn leave_vip(mut cookies: AppCookies) -> (AppCookies, StatusCode) {
    cookies.remove(&VIP);
    (cookies, StatusCode::NO_CONTENT)
}
