//! Extractors whose rejections are our own problem+json errors, so a bad
//! body, path or query gets the same error shape as everything else.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
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
        let json = is_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        parse_json(json, &bytes).map(AppJson)
    }
}

/// An optional JSON body: no body at all is `None`; anything sent must be valid.
impl<S, T> OptionalFromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(json, &bytes).map(|v| Some(AppJson(v)))
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ProblemKind::PayloadTooLarge,
                "The request body is larger than the 64 KiB this API accepts.",
            )
        } else {
            ApiError::malformed(e.body_text())
        }
    })
}

fn parse_json<T: DeserializeOwned>(is_json: bool, bytes: &Bytes) -> Result<T, ApiError> {
    if !is_json {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "Send the body as JSON with `Content-Type: application/json`.",
        ));
    }
    // serde would also read a struct from a JSON array; bodies are objects.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => {
            return Err(ApiError::malformed(
                "The body is empty; send a JSON object.",
            ));
        }
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(ApiError::invalid_field(
                "body",
                "the body must be a JSON object",
            ));
        }
        Some(_) => {}
    }
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Ok(mime) = value.parse::<mime::Mime>() else {
        return false;
    };
    mime.type_() == "application"
        && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
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
            // serde_path_to_error puts the field's path first: "quantity: invalid type ..."
            match message.split_once(": ") {
                Some((path, rest)) if !path.contains(' ') && path != "." => {
                    ApiError::invalid_field(path, rest)
                }
                _ => ApiError::invalid_field("body", message),
            }
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
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
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
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::malformed(format!(
                    "A path parameter is invalid: {}. Ids are positive integers.",
                    e.body_text()
                )))
            }
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
