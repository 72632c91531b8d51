//! The OpenAPI document: generated from the routes (utoipa), served at
//! `/api-docs/openapi.json`, committed as `openapi/openapi.json`.

use std::borrow::Cow;

use domain::ProductId;
use domain::cart::Refusal;
use domain::dish::{DishPrice, ImageUrl, Stock};
use domain::profile::{DietaryTag, SpiceLevel};
use domain::vocabulary::Vocabulary;
use serde_json::Value;
use strum::VariantArray;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    Array, ArrayBuilder, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Required, Response};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::config::{BODY_LIMIT_BYTES, DEFAULT_REQUEST_TIMEOUT};
use crate::error::{FieldError, PROBLEM_JSON, Problem, ProblemKind, ProblemLine};
use crate::extract::BodyLimit;
use crate::limits::Limit;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kitchen Memory API",
        description = include_str!("openapi_intro.md"),
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "auth", description = "Accounts and signing in; a new session id at every change"),
        (name = "products", description = "The menu"),
        (name = "cart", description = "The visitor's cart: kept in the session, or with the account when signed in (shared by every device signed in to it)"),
        (name = "profile", description = "The customer profile: kept in the session, or with the account when signed in (shared by every device signed in to it)"),
        (name = "visits", description = "Visit counting and the welcome"),
        (name = "session", description = "The state of the visitor's session"),
        (name = "menu", description = "The personalized menu"),
        (name = "orders", description = "Checkout and order tracking"),
        (name = "preferences", description = "Display preferences, in an encrypted cookie"),
        (name = "reading-settings", description = "The library's reading settings (font size, theme, line spacing, font family, text width), in their own encrypted cookie"),
        (name = "loyalty", description = "The loyalty level, in a signed cookie"),
        (name = "vip", description = "VIP membership, in a signed cookie"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "admin", description = "Running the menu: for signed-in admins only"),
        (name = "books", description = "The library's books: the same for every visitor, cacheable"),
        (name = "privacy", description = "What the service keeps about the visitor (every cookie, the session, the account), an export of it, and forget-me"),
        (name = "reading", description = "The reader's reading list with progress, reading history and favorite genres: kept in the session, or with the account when signed in (shared by every device signed in to it)"),
    ),
    components(schemas(Problem, FieldError, ProblemLine)),
    modifiers(&SessionCookie, &ProblemTypes),
)]
pub struct ApiDoc;

/// The name of the session cookie's security scheme.
pub const SESSION_COOKIE_SCHEME: &str = "session_cookie";

/// The session cookie as a security scheme, so clients see which calls use it.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "km_session",
                "The signed session cookie (name set by SESSION_COOKIE_NAME). Set by the first response that stores something in the session; send it back on every request (`credentials: \"include\"`, `curl -b jar -c jar`).",
            ))),
        );
    }
}

/// Lists every problem `type` with its status and title in the description.
struct ProblemTypes;

impl Modify for ProblemTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut table =
            String::from("\n\n## Problem types\n\n| type | status | title |\n|---|---|---|\n");
        for &kind in ProblemKind::VARIANTS {
            table.push_str(&format!(
                "| `/problems/{}` | {} | {} |\n",
                kind.slug(),
                kind.status().as_u16(),
                kind.title()
            ));
        }
        if let Some(d) = openapi.info.description.as_mut() {
            d.push_str(&table);
        }
    }
}

/// The tags whose operations read or write the visitor's session (the
/// handlers take a `VisitorSession`). The others keep their state in their
/// own cookies (`preferences`, `loyalty`, `vip`) or use no state at all.
pub const SESSION_TAGS: [&str; 10] = [
    "auth", "cart", "profile", "visits", "session", "menu", "orders", "admin", "reading", "privacy",
];

/// The session tags whose reads are served without the session when its
/// store does not answer: the menu, then without the visitor's profile's
/// recommendations. Their spec lists no 503.
pub const SESSION_OPTIONAL_TAGS: [&str; 1] = ["menu"];

/// The tags whose state is kept with the account when the visitor is signed
/// in, where two devices may change it at once.
pub const ACCOUNT_TAGS: [&str; 3] = ["cart", "profile", "reading"];

/// The answers that middleware and extractors give to any operation, added
/// to each operation of the finished spec (after the routers have put their
/// paths in), so that no handler has to repeat them and none can forget one:
///
/// - 408 on every operation: the request timeout wraps the whole service;
/// - 403 `/problems/cross-site-request` on every write (see `origin.rs`);
/// - 400, 413, 415 and 422 where a JSON body is read (`AppJson`), and 400
///   where a path parameter is read (`AppPath`);
/// - 409 `/problems/changed-in-another-session` on writes to what a
///   signed-in visitor's account keeps (cart, profile);
/// - 503 where the session store is used (but on the reads of
///   [`SESSION_OPTIONAL_TAGS`]), and on every write under `/api/v1`: a
///   write that carries a session cookie waits for its turn on the session
///   (`session/lock.rs`), which can fail or take too long;
/// - 409 `/problems/session-renewed` on every write that uses the session:
///   one that waited for its turn behind a sign-in or sign-out of the same
///   session finds its id renewed (see `session/renew.rs`);
/// - the `session_cookie` security scheme where the session is used, as
///   optional (those calls work without a cookie and start a session),
///   unless the operation states its own: one that needs a signed-in
///   session says `security(("session_cookie" = []))`.
/// - 429 on every write under `/api/v1`: one sent without a session cookie
///   starts a session, and a client IP may start only so many
///   (`NEW_SESSION_LIMIT_PER_IP`, see `limits.rs`).
///
/// An operation's own description of a status is kept when it has one.
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (false, item.get.as_mut()),
                (false, item.head.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (write, op) in operations {
                if let Some(op) = op {
                    complete_operation(path, write, op);
                }
            }
        }
    }
}

fn complete_operation(path: &str, write: bool, op: &mut Operation) {
    let uses_session = op
        .tags
        .iter()
        .flatten()
        .any(|t| SESSION_TAGS.contains(&t.as_str()));
    let reads_body = op.request_body.is_some();
    optional_body_is_absent_not_null(op);
    // Text path parameters (a session's handle) take any value.
    let reads_path = op.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Path && !is_text(p.schema.as_ref()),
        RefOr::Ref(_) => false,
    });

    add_malformed(op, reads_body, reads_path);
    if write {
        add(
            op,
            "403",
            ProblemKind::CrossSiteRequest,
            "A browser sent this change from a page whose origin is neither this API's nor one in CORS_ALLOWED_ORIGINS; nothing was changed.",
        );
    }
    add(
        op,
        "408",
        ProblemKind::RequestTimeout,
        &format!(
            "The request did not finish within the service's time limit (REQUEST_TIMEOUT_MS, {} s by default).",
            DEFAULT_REQUEST_TIMEOUT.as_secs()
        ),
    );
    if reads_body {
        add_body_problems(op);
    }
    let account_kept = op
        .tags
        .iter()
        .flatten()
        .any(|t| ACCOUNT_TAGS.contains(&t.as_str()));
    if write && account_kept {
        add(
            op,
            "409",
            ProblemKind::ChangedInAnotherSession,
            "Signed in: another session of the account kept changing this at the same time, and the change could not be applied; send it again.",
        );
    }
    let session_optional = !write
        && op
            .tags
            .iter()
            .flatten()
            .any(|t| SESSION_OPTIONAL_TAGS.contains(&t.as_str()));
    if (uses_session && !session_optional) || (path.starts_with("/api/") && write) {
        add_unavailable(op);
    }
    if path.starts_with("/api/") && write {
        add_too_many_new_sessions(op);
    }
    if uses_session && write {
        add_session_renewed(op);
    }
    if uses_session && op.security.is_none() {
        // Optional: without a cookie the call works on a fresh, empty session.
        op.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(SESSION_COOKIE_SCHEME, Vec::<String>::new()),
        ]);
    }
}

fn is_text(schema: Option<&RefOr<Schema>>) -> bool {
    matches!(schema, Some(RefOr::T(Schema::Object(o))) if o.schema_type == SchemaType::Type(Type::String))
}

/// The 409 of a write whose session id was renewed while it waited; added
/// to the operation's own 409 when it has one.
fn add_session_renewed(op: &mut Operation) {
    const WHY: &str = "The session's id was renewed or the session ended (a sign-in, sign-out, password change or forget-me) while this request waited for its turn; nothing was changed. Send it again with the cookie the browser now holds.";
    let kind = ProblemKind::SessionRenewed;
    match op.responses.responses.get_mut("409") {
        Some(RefOr::T(own)) => {
            let slug = format!("/problems/{}", kind.slug());
            if !own.description.contains(&slug) {
                let own_text = own.description.trim_end_matches('.');
                own.description = format!("{own_text}. Or `{slug}`: {WHY}");
            }
        }
        _ => add(op, "409", kind, WHY),
    }
}

/// The 400 for a body that is not JSON or a path id out of range.
fn add_malformed(op: &mut Operation, reads_body: bool, reads_path: bool) {
    let mut malformed = Vec::new();
    if reads_body {
        malformed.push("the body is not valid JSON".to_owned());
    }
    if reads_path {
        // Product and order ids share their range.
        malformed.push(format!(
            "a path id is not an integer from 1 to {}",
            ProductId::MAX
        ));
    }
    if !malformed.is_empty() {
        let text = format!("Sent when {}.", malformed.join(", or "));
        add(op, "400", ProblemKind::MalformedRequest, &text);
    }
}

/// What reading a JSON body can refuse.
fn add_body_problems(op: &mut Operation) {
    add(
        op,
        "413",
        ProblemKind::PayloadTooLarge,
        &format!(
            "The body is larger than the {} this API accepts.",
            BodyLimit::new(BODY_LIMIT_BYTES)
        ),
    );
    add(
        op,
        "415",
        ProblemKind::UnsupportedMediaType,
        "The body is not sent with `Content-Type: application/json`.",
    );
    add(
        op,
        "422",
        ProblemKind::ValidationFailed,
        "The body is JSON but not the expected object: an unknown field or a wrong type, named in `errors`.",
    );
}

/// The 503 of a store that does not answer or a session busy with another
/// change, with the `Retry-After` that says when to try again.
fn add_unavailable(op: &mut Operation) {
    add(
        op,
        "503",
        ProblemKind::ServiceUnavailable,
        "A store this call depends on (the session store, the database) does not answer, or another change to this session is still running; try again in a moment.",
    );
    add_retry_after(op, "503", false);
}

/// Documents the `Retry-After` header of the `status` answer, which is
/// always sent when `always`.
fn add_retry_after(op: &mut Operation, status: &str, always: bool) {
    if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
        let seconds = Object::builder()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .build();
        let description = if always {
            "How many seconds to wait before trying again."
        } else {
            "When present, how many seconds to wait before trying again."
        };
        let header = HeaderBuilder::new()
            .schema(Some(seconds))
            .description(Some(description));
        response
            .headers
            .entry("Retry-After".to_owned())
            .or_insert(header.build().into());
    }
}

/// The 429 of a client IP that started too many sessions.
fn add_too_many_new_sessions(op: &mut Operation) {
    let default = Limit::NewSessionPerIp.default_rate();
    add(
        op,
        "429",
        ProblemKind::TooManyRequests,
        &format!(
            "Sent without a session cookie, this change would start a new session, and this client IP started too many (NEW_SESSION_LIMIT_PER_IP, {} per {} s by default). Send back the session cookie a previous answer set, or wait `Retry-After` seconds.",
            default.count,
            default.window.as_secs()
        ),
    );
    add_retry_after(op, "429", true);
}

/// utoipa writes an optional body (`Option<T>`) as `oneOf: [T, null]`, which
/// would invite a JSON `null`; the service means "send T, or no body at all",
/// which is what `required: false` with T alone says.
fn optional_body_is_absent_not_null(op: &mut Operation) {
    let Some(RefOr::T(body)) = op.request_body.as_mut() else {
        return;
    };
    if body.required == Some(Required::True) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = content.schema.as_ref() else {
            continue;
        };
        let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
        if let [only] = one_of
            .items
            .iter()
            .filter(|s| !is_null(s))
            .collect::<Vec<_>>()[..]
        {
            let only = only.clone();
            content.schema = Some(only);
        }
    }
}

/// Adds a problem+json response for `status`, unless the operation already
/// describes that status.
fn add(op: &mut Operation, status: &str, kind: ProblemKind, description: &str) {
    let responses = &mut op.responses.responses;
    if responses.contains_key(status) {
        return;
    }
    let text = format!(
        "{} (`/problems/{}`). {description}",
        kind.title(),
        kind.slug()
    );
    responses.insert(status.to_owned(), RefOr::T(problem_response(text)));
}

/// A problem+json answer, described as `description`.
pub fn problem_response(description: impl Into<String>) -> Response {
    Response::builder()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// A dish id that names no dish on the menu. Like every problem answer
/// named in an operation's `responses(...)`, it is a type whose
/// `IntoResponses` gives its status and description once; its field is the
/// body's schema and is never built.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No dish has this id", content_type = PROBLEM_JSON)]
pub struct NoSuchDish(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// A book id that names no book in the library (see [`NoSuchDish`]).
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No book in the library has this id", content_type = PROBLEM_JSON)]
pub struct NoSuchBook(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

// Schemas for rules that the Rust types of request bodies cannot state by
// themselves (their fields are plain strings that the domain parses), used
// with `#[schema(schema_with = ...)]` and `#[param(schema_with = ...)]`, so
// that what a client may send is in the spec, not only in a 422.

/// Text the domain's bounded text accepts: something besides spaces, and no
/// control characters (C0, DEL, C1).
const PLAIN_TEXT: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// A kitchen request: any text without control characters but line breaks,
/// blank meaning no request.
const KITCHEN_TEXT: &str = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$";

/// One word of a vocabulary, as an `enum` of its canonical spellings.
pub fn word<V: Vocabulary>() -> Object {
    word_schema::<V>(false)
}

/// One word of a vocabulary, or `null`.
pub fn word_or_null<V: Vocabulary>() -> Object {
    word_schema::<V>(true)
}

fn word_schema<V: Vocabulary>(nullable: bool) -> Object {
    let mut values: Vec<Value> = V::VARIANTS
        .iter()
        .map(|&v| Value::from(Into::<&'static str>::into(v)))
        .collect();
    let schema_type = if nullable {
        values.push(Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .enum_values(Some(values))
        .description(Some(
            "The canonical spelling is listed; other capitalisation and surrounding spaces are read as the same word.",
        ))
        .build()
}

/// A list of vocabulary words.
pub fn words<V: Vocabulary>() -> Array {
    ArrayBuilder::new().items(word::<V>()).build()
}

/// A dish's price: a decimal string, more than zero and at most
/// [`DishPrice::MAX`].
pub fn price() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(DishPrice::PATTERN))
        .description(Some(format!(
            "A decimal string with at most two decimals, more than 0 and at most {}.",
            DishPrice::MAX
        )))
        .examples([Value::from("12.50")])
        .build()
}

/// How many of a dish can still be ordered.
pub fn stock() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(Stock::MAX))
        .examples([Value::from(40)])
        .build()
}

/// A picture of a dish: an absolute http(s) URL, or `null`.
pub fn image_url_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(ImageUrl::MAX_CHARS))
        .pattern(Some(ImageUrl::PATTERN))
        .examples([Value::from(
            "https://images.example.com/dishes/pad-thai.jpg",
        )])
        .build()
}

/// A list of vocabulary words, or `null`.
pub fn words_or_null<V: Vocabulary>() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(word::<V>())
        .build()
}

/// A comma-separated list of vocabulary words in a query string
/// (`style: form, explode: false`). At least one: an empty list would be
/// sent as `name=`, the same text as a list of one empty word.
pub fn word_list<V: Vocabulary>() -> Array {
    ArrayBuilder::new()
        .items(word::<V>())
        .min_items(Some(1))
        .build()
}

/// Bounded text: 1 to `MAX` characters, not blank, no control characters.
pub fn plain_text<const MAX: usize>() -> Object {
    plain_text_schema(MAX, false)
}

/// Bounded text, or `null`.
pub fn plain_text_or_null<const MAX: usize>() -> Object {
    plain_text_schema(MAX, true)
}

fn plain_text_schema(max_chars: usize, nullable: bool) -> Object {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .min_length(Some(1))
        .max_length(Some(max_chars))
        .pattern(Some(PLAIN_TEXT))
        .build()
}

/// The checkout's kitchen requests: a map from a cart line's dish id to its
/// request, each at most `MAX` characters.
pub fn kitchen_requests<const MAX: usize>() -> Object {
    let request = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX))
        .pattern(Some(KITCHEN_TEXT))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(Schema::Object(request)))
        .description(Some(format!(
            "Per-line requests for the kitchen, keyed by the dish id of a cart line; each up to {MAX} characters, line breaks allowed."
        )))
        .build()
}

/// Query parameters typed as vocabularies, for `#[param(inline, value_type
/// = ...)]`: unlike `schema_with`, which drops a parameter's description,
/// style and example, these keep them.
macro_rules! parameter_schema {
    ($($(#[$doc:meta])* $name:ident = $schema:expr;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    )+};
}

parameter_schema! {
    /// A spice level.
    SpiceWord = Schema::Object(word::<SpiceLevel>());
    /// Dietary tags, comma-separated.
    DietaryTagList = Schema::Array(word_list::<DietaryTag>());
    /// Genres, comma-separated.
    GenreList = Schema::Array(word_list::<domain::library::Genre>());
}

/// A checkout's refused line's `reason`: any [`Refusal`].
pub struct RefusalSchema;

impl PartialSchema for RefusalSchema {
    fn schema() -> RefOr<Schema> {
        refusal_schema(
            "Why a line cannot be ordered; sent as a refused line's `reason`.",
            Refusal::VARIANTS,
        )
    }
}

impl ToSchema for RefusalSchema {
    fn name() -> Cow<'static, str> {
        "Refusal".into()
    }
}

/// A cart's unavailable line's `reason`: only the refusals that do not
/// depend on the quantity (stock is checked at checkout).
pub struct UnavailableReasonSchema;

impl PartialSchema for UnavailableReasonSchema {
    fn schema() -> RefOr<Schema> {
        refusal_schema(
            "Why a line cannot be ordered.",
            &[Refusal::Unavailable, Refusal::Removed],
        )
    }
}

impl ToSchema for UnavailableReasonSchema {
    fn name() -> Cow<'static, str> {
        "UnavailableReason".into()
    }
}

fn refusal_schema(description: &str, words: &[Refusal]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(words.iter().map(|w| w.as_str())))
        .into()
}
