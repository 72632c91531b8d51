//! Typed answers handlers return, so a handler's signature says what it
//! sends and no handler builds a bare `Response`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headers::{ETag, HeaderMapExt, IfNoneMatch};

use crate::cookies::AppCookies;
use crate::error::ApiError;

/// A handler's answer together with the request's cookie jar: the jar's
/// `Set-Cookie` headers go out with the success value and with the error
/// alike, so a bad cookie found on the way is removed even when the request
/// fails.
///
/// A handler that reads or writes cookies and can fail returns this, built
/// from the jar and the result of its work:
///
/// ```ignore
/// async fn handler(cookies: AppCookies) -> WithCookies<Json<View>> {
///     WithCookies::run(cookies, async |cookies| work(cookies).await).await
/// }
/// ```
#[must_use]
pub struct WithCookies<T> {
    cookies: AppCookies,
    result: Result<T, ApiError>,
}

impl<T> WithCookies<T> {
    /// Runs `work` on the jar, then answers with its result and the jar.
    pub async fn run(
        mut cookies: AppCookies,
        work: impl AsyncFnOnce(&mut AppCookies) -> Result<T, ApiError>,
    ) -> Self {
        let result = work(&mut cookies).await;
        WithCookies { cookies, result }
    }
}

impl<T: IntoResponse> IntoResponse for WithCookies<T> {
    fn into_response(self) -> Response {
        match self.result {
            Ok(value) => (self.cookies, value).into_response(),
            Err(error) => (self.cookies, error).into_response(),
        }
    }
}

/// 201 Created, with the new resource's URL in `Location`.
#[must_use]
pub struct Created<T> {
    location: HeaderValue,
    body: T,
}

impl<T> Created<T> {
    /// `location` is a path under `/api/v1` that the API built itself.
    pub fn at(location: &str, body: T) -> Result<Self, ApiError> {
        let location = HeaderValue::from_str(location).map_err(ApiError::internal)?;
        Ok(Created { location, body })
    }
}

impl<T: IntoResponse> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (
            StatusCode::CREATED,
            [(header::LOCATION, self.location)],
            self.body,
        )
            .into_response()
    }
}

/// A write that either made a new resource (201 with `Location`) or changed
/// one that was already there (200).
#[must_use]
pub enum CreatedOrUpdated<T> {
    Created(Created<T>),
    Updated(T),
}

impl<T: IntoResponse> IntoResponse for CreatedOrUpdated<T> {
    fn into_response(self) -> Response {
        match self {
            CreatedOrUpdated::Created(created) => created.into_response(),
            CreatedOrUpdated::Updated(body) => body.into_response(),
        }
    }
}

/// An answer that depends only on data every visitor shares (the menu, the
/// library), tagged with that data's version as its `ETag`, or `304 Not
/// Modified` when the client already holds that version. Where it is
/// served, `Cache-Control: public` is set by the router (see
/// `startup::with_public_caching`).
#[must_use]
pub enum Versioned<T> {
    Fresh(ETag, T),
    NotModified(ETag),
}

impl<T> Versioned<T> {
    /// Answers 304 when the request's `If-None-Match` names `version` (weak
    /// comparison, as RFC 9110 asks for `If-None-Match`); otherwise builds
    /// the body. A malformed `If-None-Match` is ignored, as if absent.
    pub fn new(version: &ETag, request: &HeaderMap, body: impl FnOnce() -> T) -> Self {
        let etag = version.clone();
        match request.typed_get::<IfNoneMatch>() {
            Some(held) if !held.precondition_passes(&etag) => Versioned::NotModified(etag),
            _ => Versioned::Fresh(etag, body()),
        }
    }
}

impl<T: IntoResponse> IntoResponse for Versioned<T> {
    fn into_response(self) -> Response {
        let (etag, mut res) = match self {
            Versioned::Fresh(etag, body) => (etag, body.into_response()),
            Versioned::NotModified(etag) => (etag, StatusCode::NOT_MODIFIED.into_response()),
        };
        res.headers_mut().typed_insert(etag);
        res
    }
}
