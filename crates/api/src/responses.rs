//! Typed answers handlers return, so a handler's signature says what it
//! sends and no handler builds a bare `Response`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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
