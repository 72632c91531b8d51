//! Extractors whose rejections are our own problem+json errors, so a bad
//! body, path or query gets the same error shape as everything else.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ProblemKind};

/// `Json<T>` with problem+json rejections.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // The body is JSON but not the expected shape: name the field.
            let text = e.body_text();
            let message = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or(&text)
                .to_owned();
            let field = message
                .split_once(": ")
                .map(|(path, _)| path)
                .filter(|p| !p.contains(' '))
                .unwrap_or("body")
                .to_owned();
            ApiError::invalid_field(&field, message)
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::malformed(format!(
            "The body is not valid JSON: {}",
            e.body_text()
                .strip_prefix("Failed to parse the request body as JSON: ")
                .unwrap_or(&e.body_text())
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ProblemKind::PayloadTooLarge,
                "The request body is larger than the 64 KiB this API accepts.",
            )
        }
        other => ApiError::malformed(other.body_text()),
    }
}

/// `Path<T>` with problem+json rejections: a path id that is not an integer is a 400.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(AppPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::malformed(
                format!("A path parameter is invalid: {}. Ids are positive integers.", e.body_text()),
            )),
            Err(other) => Err(ApiError::internal(anyhow::anyhow!(other.body_text()))),
        }
    }
}

/// `Query<T>` with problem+json rejections.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                Err(ApiError::new(
                    ProblemKind::MalformedRequest,
                    format!("The query string is invalid: {message}"),
                ))
            }
            Err(other) => Err(ApiError::malformed(other.body_text())),
        }
    }
}
