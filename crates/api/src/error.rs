//! Every error the API returns is an RFC 9457 `application/problem+json`
//! document. A 5xx carries a generic detail; the real cause goes to the log,
//! inside the request's span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::BodyLimit;
use domain::cart::Refusal;

/// The media type of every error response; route modules declare their
/// problem responses with it (`content_type = PROBLEM_JSON`).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before retrying a 503, in seconds
/// (`Retry-After`): outages of the database or the session store that are
/// worth a retry at all are usually short.
const RETRY_AFTER_SECONDS: &str = "1";

/// What a client reads for any 5xx that is not a dependency being down.
const INTERNAL_DETAIL: &str = "Something went wrong on our side. Try again; if it keeps happening, report the x-request-id of this response.";

/// The kinds of problem the API reports. Each has a stable `type` URI
/// (`/problems/<slug>`, the slug being the kind's name in kebab-case), a
/// title and a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum ProblemKind {
    MalformedRequest,
    ValidationFailed,
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    ProductUnavailable,
    InsufficientStock,
    CartFull,
    EmptyCart,
    CartNotOrderable,
    CookieTooLarge,
    CrossSiteRequest,
    ServiceUnavailable,
    /// Signing in is needed and the request carries no signed-in session.
    Unauthorized,
    /// The signed-in session ended (idle, absolute limit, revoked).
    SessionExpired,
    /// The signed-in session was used from another client IP (`SESSION_BIND_IP`).
    SessionIpChanged,
    /// Signed in, but not allowed (a customer on an admin route).
    Forbidden,
    /// The session got a new id while this request waited its turn.
    SessionRenewed,
    /// The visitor's cart, profile or reading list changed in another
    /// session of their account while this request changed or ordered it.
    ChangedInAnotherSession,
    UsernameTaken,
    TooManyRequests,
    /// The book is already on the reader's list.
    AlreadyOnReadingList,
    /// The reading list holds as many books as it can.
    ReadingListFull,
    #[strum(serialize = "internal-error")]
    Internal,
}

impl ProblemKind {
    /// The last segment of the problem's `type` URI.
    pub fn slug(self) -> &'static str {
        self.into()
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedRequest => "Malformed request",
            ProblemKind::ValidationFailed => "Validation failed",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::RequestTimeout => "Request timeout",
            ProblemKind::ProductUnavailable => "Dish unavailable",
            ProblemKind::InsufficientStock => "Not enough in stock",
            ProblemKind::CartFull => "Cart full",
            ProblemKind::EmptyCart => "Empty cart",
            ProblemKind::CartNotOrderable => "Some lines cannot be ordered",
            ProblemKind::CookieTooLarge => "Cookie too large",
            ProblemKind::CrossSiteRequest => "Cross-site request refused",
            ProblemKind::ServiceUnavailable => "Service unavailable",
            ProblemKind::Unauthorized => "Sign-in required",
            ProblemKind::SessionExpired => "Session expired",
            ProblemKind::SessionIpChanged => "Session used from another address",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::SessionRenewed => "Session renewed",
            ProblemKind::ChangedInAnotherSession => "Changed in another session",
            ProblemKind::UsernameTaken => "Username taken",
            ProblemKind::TooManyRequests => "Too many requests",
            ProblemKind::AlreadyOnReadingList => "Already on the reading list",
            ProblemKind::ReadingListFull => "Reading list full",
            ProblemKind::Internal => "Internal server error",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedRequest => StatusCode::BAD_REQUEST,
            ProblemKind::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::ProductUnavailable => StatusCode::CONFLICT,
            ProblemKind::InsufficientStock => StatusCode::CONFLICT,
            ProblemKind::CartFull => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::EmptyCart => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::CartNotOrderable => StatusCode::CONFLICT,
            ProblemKind::CookieTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::CrossSiteRequest => StatusCode::FORBIDDEN,
            ProblemKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::SessionExpired => StatusCode::UNAUTHORIZED,
            ProblemKind::SessionIpChanged => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::SessionRenewed => StatusCode::CONFLICT,
            ProblemKind::ChangedInAnotherSession => StatusCode::CONFLICT,
            ProblemKind::UsernameTaken => StatusCode::CONFLICT,
            ProblemKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::AlreadyOnReadingList => StatusCode::CONFLICT,
            ProblemKind::ReadingListFull => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind a bare status maps to, for responses made by middleware
    /// (timeouts, body limits, unknown methods) rather than by a handler.
    pub fn for_status(status: StatusCode) -> ProblemKind {
        match status {
            StatusCode::NOT_FOUND => ProblemKind::NotFound,
            StatusCode::FORBIDDEN => ProblemKind::CrossSiteRequest,
            StatusCode::METHOD_NOT_ALLOWED => ProblemKind::MethodNotAllowed,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
            StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT => ProblemKind::RequestTimeout,
            StatusCode::UNPROCESSABLE_ENTITY => ProblemKind::ValidationFailed,
            StatusCode::SERVICE_UNAVAILABLE => ProblemKind::ServiceUnavailable,
            StatusCode::UNAUTHORIZED => ProblemKind::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => ProblemKind::TooManyRequests,
            s if s.is_server_error() => ProblemKind::Internal,
            _ => ProblemKind::MalformedRequest,
        }
    }
}

/// A problem detail (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "quantity must be between 1 and 99; got 0",
    "errors": [{"field": "quantity", "message": "quantity must be between 1 and 99; got 0"}]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, one per kind.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person, with what to change.
    pub detail: String,
    /// For validation problems: each offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a refused order: each cart line that cannot be ordered, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<ProblemLine>,
    /// For the readiness probe's 503: each part that does not answer, named
    /// as in its ready answer (`database`, `session_store`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["session_store"]))]
    pub unavailable: Vec<&'static str>,
}

/// A cart line that stops an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"product_id": 11, "name": "Lamb Rogan Josh", "requested": 3, "in_stock": 1, "reason": "insufficient-stock"}))]
pub struct ProblemLine {
    pub product_id: i64,
    /// Null when the dish is gone from the menu.
    pub name: Option<String>,
    /// The quantity in the cart.
    pub requested: u32,
    /// What is left, when the dish is still on the menu.
    pub in_stock: Option<u32>,
    #[schema(value_type = crate::openapi::RefusalSchema)]
    pub reason: Refusal,
}

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<domain::InvalidField> for FieldError {
    fn from(e: domain::InvalidField) -> Self {
        FieldError {
            field: e.field,
            message: e.message,
        }
    }
}

/// Collects every field's problem, so one response names them all.
#[derive(Debug, Default)]
pub struct FieldChecks(pub Vec<FieldError>);

impl FieldChecks {
    /// The value, or `None` with its problem kept.
    pub fn take<T>(&mut self, result: Result<T, domain::InvalidField>) -> Option<T> {
        result.map_err(|e| self.0.push(e.into())).ok()
    }

    /// A 422 naming every problem kept, if there is one.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(self.0))
        }
    }
}

/// The error every handler returns.
#[derive(Debug)]
pub struct ApiError {
    kind: ProblemKind,
    detail: String,
    errors: Vec<FieldError>,
    lines: Vec<ProblemLine>,
    /// The parts of the service that do not answer (the readiness probe's).
    unavailable: &'static [&'static str],
    /// The cause of a 5xx; logged, never sent.
    source: Option<anyhow::Error>,
    /// A 503 says when to try again (`Retry-After`) unless retrying could
    /// do harm (see [`ApiError::not_to_be_retried`]).
    retry: bool,
    /// `Retry-After` in whole seconds, when known (a 429's, a busy session's).
    retry_after: Option<u64>,
    /// The session layer must still write the session and send its cookie,
    /// also on a 5xx (see [`ApiError::keeping_session`]).
    keep_session: bool,
}

/// The status of a 5xx answer that still writes the session and sends its
/// cookie: the session layer skips both on a 5xx, so the answer passes it
/// as a 200 carrying this, and `session::unavailable_when_save_fails`
/// puts the status back.
#[derive(Debug, Clone, Copy)]
pub struct HeldStatus(pub StatusCode);

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            lines: Vec::new(),
            unavailable: &[],
            source: None,
            retry: true,
            retry_after: None,
            keep_session: false,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::MalformedRequest, detail)
    }

    /// A validation problem on one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            kind: ProblemKind::ValidationFailed,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
            lines: Vec::new(),
            unavailable: &[],
            source: None,
            retry: true,
            retry_after: None,
            keep_session: false,
        }
    }

    /// A validation problem on several fields at once.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            kind: ProblemKind::ValidationFailed,
            detail,
            errors,
            lines: Vec::new(),
            unavailable: &[],
            source: None,
            retry: true,
            retry_after: None,
            keep_session: false,
        }
    }

    /// An unexpected failure: the client sees a generic message.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError {
            kind: ProblemKind::Internal,
            detail: INTERNAL_DETAIL.into(),
            errors: Vec::new(),
            lines: Vec::new(),
            unavailable: &[],
            source: Some(source.into()),
            retry: true,
            retry_after: None,
            keep_session: false,
        }
    }

    /// A dependency (database, session store) is down: worth retrying.
    pub fn unavailable(what: &str, source: impl Into<anyhow::Error>) -> Self {
        ApiError {
            kind: ProblemKind::ServiceUnavailable,
            detail: format!("The {what} is not reachable right now. Try again in a moment."),
            errors: Vec::new(),
            lines: Vec::new(),
            unavailable: &[],
            source: Some(source.into()),
            retry: true,
            retry_after: None,
            keep_session: false,
        }
    }

    /// A rate limit was reached: `Retry-After` says when the next attempt
    /// can succeed.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::new(ProblemKind::TooManyRequests, detail).retrying_after(retry_after)
    }

    /// Says when to try again (`Retry-After`), in whole seconds rounded up,
    /// at least 1: for a 429, or a 503 whose wait is known (a busy session).
    pub fn retrying_after(mut self, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = Some(secs.max(1));
        self
    }

    /// Replaces the detail a client reads.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Sends a 503 without `Retry-After`: for an outcome a retry could
    /// repeat rather than complete (an order already placed).
    pub fn not_to_be_retried(mut self) -> Self {
        self.retry = false;
        self
    }

    /// Names the cart lines behind the problem.
    /// The session changed in ways the browser must learn even though the
    /// request failed (it got a new id: the old one loads nothing), so the
    /// session is written and its cookie sent also when this is a 5xx.
    pub fn keeping_session(mut self) -> Self {
        self.keep_session = true;
        self
    }

    pub fn with_lines(mut self, lines: Vec<ProblemLine>) -> Self {
        self.lines = lines;
        self
    }

    /// Names the parts of the service that do not answer.
    pub fn with_unavailable(mut self, parts: &'static [&'static str]) -> Self {
        self.unavailable = parts;
        self
    }

    /// Whether this is a 503: a dependency down, or a session busy.
    pub fn is_unavailable(&self) -> bool {
        self.kind == ProblemKind::ServiceUnavailable
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.kind.slug()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            lines: self.lines.clone(),
            unavailable: self.unavailable.to_vec(),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    /// A database that cannot be reached or stopped answering is worth a
    /// retry (503); a statement it refuses is a defect of ours (a logged 500).
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::db::is_unreachable(&e) {
            ApiError::unavailable("database", e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    /// Only a store that does not answer is worth a retry (503); a record
    /// that does not encode or decode is a defect of ours (a logged 500).
    fn from(e: tower_sessions::session::Error) -> Self {
        use tower_sessions::session::Error;
        use tower_sessions::session_store::Error as StoreError;
        match e {
            Error::Store(StoreError::Backend(_)) => ApiError::unavailable("session store", e),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = self
            .source
            .as_ref()
            .filter(|_| self.kind.status().is_server_error())
        {
            tracing::error!(error = ?source, kind = self.kind.slug(), "request failed");
        }
        let mut res = problem_response(&self.to_problem());
        if let Some(secs) = self.retry_after.filter(|_| self.retry) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind == ProblemKind::ServiceUnavailable && self.retry {
            retry_soon(&mut res);
        }
        if self.keep_session && res.status().is_server_error() {
            let status = std::mem::replace(res.status_mut(), StatusCode::OK);
            res.extensions_mut().insert(HeldStatus(status));
        }
        res
    }
}

/// Says when a 503 is worth trying again; a `Retry-After` already given
/// (a busy session's, from how long a change waits its turn) is kept.
fn retry_soon(res: &mut Response) {
    res.headers_mut()
        .entry(header::RETRY_AFTER)
        .or_insert(HeaderValue::from_static(RETRY_AFTER_SECONDS));
}

/// Renders a problem with its status and media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}

/// On every answer: a 4xx or 5xx made outside our handlers (a body limit, a
/// timeout, an unknown method) becomes problem+json too, so clients meet one
/// error shape everywhere. (A failed session save is turned into a 503
/// earlier, by `session::unavailable_when_save_fails`.) A bare 503 gets the
/// same `Retry-After` as ours.
pub fn problem_for_bare_errors(body_limit: BodyLimit, res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return res;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => body_limit.exceeded(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            ProblemKind::RequestTimeout,
            // Not "stopped": a change whose work outlives its request (a
            // checkout) may still be carried out.
            "The request took too long to be answered. A change it asked for may still be carried out: look before sending it again.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ProblemKind::MethodNotAllowed,
            "This resource does not support that method; the Allow header lists the ones it does.",
        ),
        s => ApiError::new(
            ProblemKind::for_status(s),
            if s.is_server_error() {
                INTERNAL_DETAIL
            } else {
                s.canonical_reason().unwrap_or("Request failed")
            },
        ),
    };
    let mut problem = error.to_problem();
    problem.status = status.as_u16();
    let (mut parts, _) = res.into_parts();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        parts
            .headers
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    let fresh = problem_response(&problem);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, fresh.into_body())
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn problem_types_are_the_kebab_case_names_and_internal_keeps_its_own() {
        assert_eq!(ProblemKind::VARIANTS.len(), 26);
        assert_eq!(
            ProblemKind::UnsupportedMediaType.slug(),
            "unsupported-media-type"
        );
        assert_eq!(ProblemKind::CartNotOrderable.slug(), "cart-not-orderable");
        assert_eq!(
            ProblemKind::ChangedInAnotherSession.slug(),
            "changed-in-another-session"
        );
        assert_eq!(ProblemKind::Internal.slug(), "internal-error");
    }

    #[test]
    fn a_database_that_cannot_be_reached_or_stops_answering_is_unavailable() {
        use sea_orm::sqlx::Error;
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        use std::sync::Arc;
        let kind = |e: DbErr| ApiError::from(e).kind;
        let broken = |e: std::io::ErrorKind| Arc::new(Error::Io(e.into()));
        for e in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::Internal("did not answer".into())),
            DbErr::Query(RuntimeErr::SqlxError(broken(
                std::io::ErrorKind::UnexpectedEof,
            ))),
            DbErr::Exec(RuntimeErr::SqlxError(broken(
                std::io::ErrorKind::ConnectionReset,
            ))),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(Error::PoolTimedOut))),
        ] {
            assert_eq!(kind(e), ProblemKind::ServiceUnavailable);
        }
        for e in [
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(Error::RowNotFound))),
            DbErr::RecordNotFound("dish 7".into()),
            DbErr::Custom("stored amount -1 is not money".into()),
        ] {
            assert_eq!(kind(e), ProblemKind::Internal);
        }
    }

    #[test]
    fn only_a_session_store_that_does_not_answer_is_unavailable() {
        use tower_sessions::session::Error;
        use tower_sessions::session_store::Error as StoreError;
        let kind = |e: Error| ApiError::from(e).kind;
        assert_eq!(
            kind(Error::Store(StoreError::Backend(
                "connection refused".into()
            ))),
            ProblemKind::ServiceUnavailable
        );
        assert_eq!(
            kind(Error::Store(StoreError::Encode("not msgpack".into()))),
            ProblemKind::Internal
        );
        assert_eq!(
            kind(Error::Store(StoreError::Decode("not msgpack".into()))),
            ProblemKind::Internal
        );
        let json = serde_json::from_str::<u8>("\"not a number\"").unwrap_err();
        assert_eq!(kind(Error::SerdeJson(json)), ProblemKind::Internal);
    }
}
