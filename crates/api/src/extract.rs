//! Extractors whose rejections are our own problem+json errors, so a bad
//! body, path or query gets the same error shape as everything else.

use std::fmt;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, OptionalFromRequest, RawPathParams, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use tower::layer::util::Stack;

use crate::error::{ApiError, ProblemKind};

/// When the request timeout answers this request with a 408: set as the
/// request arrives, by the layer that starts that timeout. Work that
/// answers for itself before then (checkout's "unconfirmed" 503) counts from
/// it, not from when the handler started, which may be after waiting for the
/// session's turn.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub tokio::time::Instant);

/// The largest request body the API reads. The layer that enforces it and
/// every 413 answer take the number from here, so the answer names the
/// limit that is really set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(usize);

impl Default for BodyLimit {
    /// axum's own limit, the one in force where `BodyLimit::layer` is not.
    fn default() -> Self {
        BodyLimit(2 * 1024 * 1024)
    }
}

impl BodyLimit {
    pub const fn new(bytes: usize) -> Self {
        BodyLimit(bytes)
    }

    /// Enforces the limit on every body extractor, with or without a
    /// `Content-Length`, and tells the extractors what it is.
    pub fn layer(self) -> Stack<Extension<BodyLimit>, DefaultBodyLimit> {
        Stack::new(Extension(self), DefaultBodyLimit::max(self.0))
    }

    /// The 413 for a body over the limit.
    pub fn exceeded(self) -> ApiError {
        ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("The request body is larger than the {self} this API accepts."),
        )
    }
}

impl fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1024) {
            write!(f, "{} KiB", self.0 / 1024)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// `Json<T>` with problem+json rejections.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        JsonBody::read(req, state).await?.parse().map(AppJson)
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
        let body = JsonBody::read(req, state).await?;
        // No body at all is "no body"; whitespace alone is not JSON, and is
        // refused like any other malformed body.
        if body.bytes.is_empty() {
            return Ok(None);
        }
        body.parse().map(|v| Some(AppJson(v)))
    }
}

/// A request body as read, with what its `Content-Type` said.
struct JsonBody {
    is_json: bool,
    bytes: Bytes,
}

impl JsonBody {
    async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = is_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        Ok(JsonBody { is_json, bytes })
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(self.is_json, &self.bytes)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .copied()
        .unwrap_or_default();
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            limit.exceeded()
        } else {
            // The transport's words (hyper's) name its internals; they are
            // for the log, and the client gets ours.
            tracing::warn!(error = %e, "reading a request body failed");
            ApiError::malformed(
                "The request body could not be read to its end: the connection broke off or the body's framing is invalid. Send the request again.",
            )
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
    // As axum's `Json` does, but keeping the error's path for the field name.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => {
            deserializer.end().map_err(not_json)?;
            Ok(value)
        }
        // JSON has one number type: `2.0` is the whole number 2, as JSON
        // Schema's `integer` says. serde reads it as a float, so only then is
        // the body read again with its whole floats made integers.
        Err(first)
            if first
                .inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            // A repeated key, or JSON that breaks off, past the first error:
            // the first reading stopped before it, so it is the error.
            let value = whole_numbers_value(bytes).map_err(json_error)?;
            serde_path_to_error::deserialize(&value).map_err(|second| {
                // The first reading's error keeps its position and is about
                // the field serde met first (the second reading takes an
                // object's keys in sorted order). It stands unless its
                // number was whole and the second reading failed elsewhere:
                // then it is no error, and the second reading's is.
                let first_was_whole = second.path().to_string() != first.path().to_string()
                    && value_at(&value, first.path()).is_some_and(|v| v.is_i64() || v.is_u64());
                json_error(if first_was_whole { second } else { first })
            })
        }
        Err(e) => Err(json_error(e)),
    }
}

fn not_json(e: serde_json::Error) -> ApiError {
    ApiError::malformed(format!("The body is not valid JSON: {e}"))
}

/// The body as a JSON value, its whole floats made integers, refusing a key
/// repeated in one object as serde refuses a repeated field (a `Value`
/// would keep the last silently, where the first reading refuses it).
fn whole_numbers_value(
    bytes: &[u8],
) -> Result<serde_json::Value, serde_path_to_error::Error<serde_json::Error>> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let value = WholeNumbers
        .deserialize(serde_path_to_error::Deserializer::new(
            &mut deserializer,
            &mut track,
        ))
        .and_then(|value| deserializer.end().map(|()| value));
    value.map_err(|e| serde_path_to_error::Error::new(track.path(), e))
}

/// The value `path` leads to, where it is made only of keys and indexes.
fn value_at<'v>(
    value: &'v serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(value, |at, segment| match segment {
        serde_path_to_error::Segment::Map { key } => at.get(key.as_str()),
        serde_path_to_error::Segment::Seq { index } => at.get(index),
        _ => None,
    })
}

/// Reads any JSON value as [`serde_json::Value`] does, except that a float
/// with no fraction, at most 2^53 in size (where every `f64` is an exact
/// integer), is that integer, and a repeated key is an error. The check is on
/// the parsed `f64`, not on the digits written: `2.0000000000000001` is the
/// `f64` 2, so it is 2.
struct WholeNumbers;

impl<'de> DeserializeSeed<'de> for WholeNumbers {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WholeNumbers {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        if v.fract() == 0.0 && v.abs() <= EXACT {
            // Whole and within 2^53: the cast is exact.
            return Ok((v as i64).into());
        }
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(WholeNumbers)? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                // serde's own words for a repeated field.
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let value = map.next_value_seed(WholeNumbers)?;
            fields.insert(key, value);
        }
        Ok(fields.into())
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

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if error.inner().classify() != serde_json::error::Category::Data {
        return ApiError::malformed(format!("The body is not valid JSON: {error}"));
    }
    // The body is JSON but not the expected shape: name the field.
    let path = error.path();
    let message = error.inner().to_string();
    let segments: Vec<_> = path
        .iter()
        .filter(|s| !matches!(s, serde_path_to_error::Segment::Unknown))
        .collect();
    let field = match (segments.last(), named_field(&message)) {
        // An unknown field's key is already the path's last segment.
        (Some(serde_path_to_error::Segment::Map { key }), Some(name)) if key == name => {
            path.to_string()
        }
        // A missing or repeated field fails at its parent, before it has a
        // path of its own.
        (Some(_), Some(name)) => format!("{path}.{name}"),
        (None, Some(name)) => name.to_owned(),
        (Some(_), None) => path.to_string(),
        (None, None) => "body".to_owned(),
    };
    ApiError::invalid_field(&field, message)
}

/// The field serde's "unknown field `x`, expected ...", "missing field `x`"
/// or "duplicate field `x`" is about.
fn named_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))
        .or_else(|| message.strip_prefix("duplicate field `"))?
        .split_once('`')
        .map(|(name, _)| name)
}

/// `Path<T>` with problem+json rejections. Path ids are read as their domain
/// types (`ProductId`, `OrderId`), so an id that is not an integer from 1 to
/// their `MAX` is a 400 on every route, before any lookup.
///
/// As in a body, an id written `2.0` is the whole number 2 (JSON Schema's
/// `integer` takes it); only then, on a route with one path parameter, is
/// the parameter read again as that number, and refused in the same words
/// as any other id when it is out of range (`0.0`: "got 0"). Unlike a body,
/// a path id takes a decimal point but not an exponent: `2e0` is a 400.
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let rejection = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(AppPath(value)),
            Err(rejection) => rejection,
        };
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            let mut params = raw.iter();
            if let (Some((_, value)), None) = (params.next(), params.next())
                && let Some(whole) = whole_number_with_point(value)
            {
                return serde_json::from_value(whole.into())
                    .map(AppPath)
                    .map_err(bad_path_param);
            }
        }
        Err(rejection.into())
    }
}

/// `"2.0"` or `"2.00"` as 2: a whole number written with a decimal point.
fn whole_number_with_point(raw: &str) -> Option<i64> {
    let (whole, fraction) = raw.split_once('.')?;
    if fraction.is_empty() || !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    whole.parse().ok()
}

/// The 400 for a path parameter that is not what the route takes, in the
/// same words however it was found out.
fn bad_path_param(reason: impl fmt::Display) -> ApiError {
    ApiError::malformed(format!(
        "A path parameter is invalid: Invalid URL: {reason}. Ids are positive integers."
    ))
}

/// `Query<T>` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

// What axum's own rejections become: the problems a client is sent.

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            // What the client sent (axum answers these with a 400).
            PathRejection::FailedToDeserializePathParams(e)
                if e.status() == StatusCode::BAD_REQUEST =>
            {
                bad_path_param(e.kind())
            }
            // A route and its extractor that do not fit: ours to fix.
            other => ApiError::internal(anyhow::anyhow!(other.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        match rejection {
            QueryRejection::FailedToDeserializeQueryString(e) => {
                let text = e.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                ApiError::new(
                    ProblemKind::MalformedRequest,
                    format!("The query string is invalid: {message}"),
                )
            }
            other => {
                tracing::warn!(error = %other, "reading a query string failed");
                ApiError::malformed("The query string cannot be read.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        quantity: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Label {
        name: String,
        quantity: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: Inner,
        b: Inner,
    }

    /// The one field error `body` is refused with, as `T`.
    fn refusal<T: DeserializeOwned + fmt::Debug>(body: &str) -> (String, String) {
        let error =
            parse_json::<T>(true, &Bytes::from(body.to_owned())).expect_err("the body is refused");
        let problem = error.to_problem();
        assert_eq!(problem.errors.len(), 1, "{body}");
        let error = &problem.errors[0];
        (error.field.clone(), error.message.clone())
    }

    fn field_of(body: &str) -> String {
        refusal::<Outer>(body).0
    }

    #[test]
    fn every_kind_of_shape_error_names_its_field_with_the_path_to_it() {
        assert_eq!(field_of(r#"{"inner": {"quantity": 1}, "x y": 1}"#), "x y");
        assert_eq!(
            field_of(r#"{"inner": {"quantity": 1, "extra": 1}}"#),
            "inner.extra"
        );
        assert_eq!(field_of(r#"{"inner": {}}"#), "inner.quantity");
        assert_eq!(field_of(r#"{}"#), "inner");
        assert_eq!(
            field_of(r#"{"inner": {"quantity": "two"}}"#),
            "inner.quantity"
        );
    }

    #[test]
    fn a_whole_number_written_as_a_float_is_the_number_and_a_fraction_is_refused() {
        let outer = parse_json::<Outer>(true, &Bytes::from(r#"{"inner": {"quantity": 3.0}}"#))
            .expect("3.0 is the whole number 3");
        assert_eq!(outer.inner.quantity, 3);
        assert_eq!(
            field_of(r#"{"inner": {"quantity": 2.5}}"#),
            "inner.quantity"
        );
        assert_eq!(
            field_of(r#"{"inner": {"quantity": -1.0}}"#),
            "inner.quantity"
        );
        assert_eq!(
            field_of(r#"{"inner": {"quantity": 1e300}}"#),
            "inner.quantity"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_also_when_a_whole_float_is_read_again() {
        // Without the float, serde refuses the repeat itself.
        let (field, message) = refusal::<Outer>(r#"{"inner": {"quantity": 3, "quantity": 4}}"#);
        assert_eq!(field, "inner.quantity");
        assert!(
            message.starts_with("duplicate field `quantity`"),
            "{message}"
        );
        // With it, the second reading refuses it in the same words.
        for body in [
            r#"{"inner": {"quantity": 3.0, "quantity": 4}}"#,
            r#"{"inner": {"quantity": 4, "quantity": 3.0}}"#,
        ] {
            let (field, message) = refusal::<Outer>(body);
            assert_eq!(field, "inner.quantity", "{body}");
            assert!(
                message.starts_with("duplicate field `quantity`"),
                "{message}"
            );
        }
        let (field, message) =
            refusal::<Outer>(r#"{"inner": {"quantity": 3.0}, "inner": {"quantity": 4}}"#);
        assert_eq!(field, "inner");
        assert!(message.starts_with("duplicate field `inner`"), "{message}");
        // The same key in two objects is no repeat.
        let pair = parse_json::<Pair>(
            true,
            &Bytes::from(r#"{"a": {"quantity": 1.0}, "b": {"quantity": 2}}"#),
        )
        .expect("one key in each object");
        assert_eq!((pair.a.quantity, pair.b.quantity), (1, 2));
    }

    #[test]
    fn an_error_the_second_reading_does_not_fix_is_the_first_readings() {
        // Its position is kept.
        let (field, message) = refusal::<Outer>(r#"{"inner": {"quantity": 2.5}}"#);
        assert_eq!(field, "inner.quantity");
        assert_eq!(
            message,
            "invalid type: floating point `2.5`, expected u32 at line 1 column 26"
        );
        // A float sent for text is a float, not the integer it was read as.
        let (field, message) = refusal::<Label>(r#"{"name": 5.0, "quantity": 1}"#);
        assert_eq!(field, "name");
        assert!(
            message.starts_with("invalid type: floating point `5.0`, expected a string"),
            "{message}"
        );
        let (field, message) = refusal::<Outer>(r#"{"inner": {"quantity": -1.0}}"#);
        assert_eq!(field, "inner.quantity");
        assert!(message.contains("at line 1 column"), "{message}");
        // With a second error, the first stands while it is one, although
        // the second reading meets `name` first...
        let (field, message) = refusal::<Label>(r#"{"quantity": 2.5, "name": 5}"#);
        assert_eq!(field, "quantity");
        assert!(message.ends_with("at line 1 column 16"), "{message}");
        // ...but a whole number, which the second reading took, is no error.
        let (field, _) = refusal::<Label>(r#"{"quantity": 2.0, "name": 5}"#);
        assert_eq!(field, "name");
    }

    #[test]
    fn the_body_limit_is_named_as_it_is_configured() {
        assert_eq!(BodyLimit::new(64 * 1024).to_string(), "64 KiB");
        assert_eq!(BodyLimit::new(1000).to_string(), "1000 bytes");
        let problem = BodyLimit::new(8 * 1024).exceeded().to_problem();
        assert_eq!(problem.status, 413);
        assert!(problem.detail.contains("8 KiB"), "{}", problem.detail);
    }
}
