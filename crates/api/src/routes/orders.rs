//! Checkout and order tracking: `/orders`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::{Money, ProductId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::AppCookies;
use crate::db::orders::{self, NewLine, PlaceError, Refusal, StoredOrder};
use crate::error::{ApiError, FieldError, Problem, ProblemKind, ProblemLine};
use crate::extract::{AppJson, AppPath};
use crate::routes::{loyalty, vip};
use crate::session::lock::SessionTurn;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
}

const PROBLEM: &str = "application/problem+json";
/// The longest special request for one line.
pub const MAX_SPECIAL_REQUEST_CHARS: usize = 200;

/// An order line, at the price it was ordered for.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: i64,
    pub name: String,
    #[schema(value_type = String, example = "12.50")]
    pub unit_price: Money,
    pub quantity: u32,
    #[schema(value_type = String, example = "25.00")]
    pub line_total: Money,
    pub special_requests: Option<String>,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "status": "received",
    "lines": [{"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00", "special_requests": "extra basil"}],
    "total": "25.00", "created_at": "2026-11-25T19:02:00Z"
}))]
pub struct OrderView {
    pub id: i32,
    /// `received` when placed.
    pub status: String,
    pub lines: Vec<OrderLineView>,
    #[schema(value_type = String, example = "25.00")]
    pub total: Money,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<StoredOrder> for OrderView {
    fn from(o: StoredOrder) -> Self {
        OrderView {
            id: o.order.id,
            status: o.order.status,
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLineView {
                    product_id: i64::from(l.product_id),
                    name: l.name,
                    unit_price: Money::from_minor_units(l.unit_price_cents),
                    quantity: u32::try_from(l.quantity).unwrap_or(0),
                    line_total: Money::from_minor_units(l.line_total_cents),
                    special_requests: l.special_requests,
                })
                .collect(),
            total: Money::from_minor_units(o.order.total_cents),
            created_at: o.order.created_at,
        }
    }
}

/// This session's orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<OrderView>,
}

/// Checkout options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"special_requests": {"1": "extra basil, no garlic"}}))]
pub struct PlaceOrder {
    /// Per-line requests for the kitchen, keyed by the dish id of a cart
    /// line; each up to 200 characters.
    #[serde(default)]
    pub special_requests: HashMap<String, String>,
}

/// Turn the cart into an order.
///
/// Stock is taken in the same transaction; when any line no longer fits
/// (not enough left, unavailable, removed from the menu) nothing is ordered,
/// nothing is taken, and the 409 names the lines. The cart is emptied only
/// once the order is stored. The order's total is added to the signed
/// `loyalty` cookie, and to a VIP member's points in the `vip` cookie.
#[utoipa::path(post, path = "/orders", tag = "orders",
    params(
        ("loyalty" = Option<String>, Cookie, description = crate::routes::loyalty::COOKIE_DOC),
        ("vip" = Option<String>, Cookie, description = crate::routes::vip::COOKIE_DOC),
    ),
    request_body(content = Option<PlaceOrder>, description = "Optional: send no body, or `{}`, for no special requests"),
    responses(
        (status = 201, description = "The order", body = OrderView,
            headers(("Location" = String, description = "/api/v1/orders/{id}"),
                ("Set-Cookie" = String, description = "`loyalty` re-issued with the new total; `vip` with the new points for a member"))),
        (status = 409, description = "Some lines cannot be ordered; `lines` names each", body = Problem, content_type = PROBLEM),
        (status = 422, description = "The cart is empty, or a special request is invalid", body = Problem, content_type = PROBLEM),
    ))]
async fn place_order(
    State(state): State<AppState>,
    session: VisitorSession,
    turn: Option<Extension<SessionTurn>>,
    mut cookies: AppCookies,
    body: Option<AppJson<PlaceOrder>>,
) -> Result<Response, ApiError> {
    let request = body.map(|AppJson(b)| b).unwrap_or_default();
    let cart = session.cart().await?;
    if cart.is_empty() {
        return Err(ApiError::new(
            ProblemKind::EmptyCart,
            "The cart is empty; add dishes with POST /api/v1/cart/items before ordering.",
        ));
    }
    let mut requests = parse_special_requests(&request.special_requests, |id| {
        cart.quantity_of(id).is_some()
    })?;
    let lines = cart
        .lines()
        .iter()
        .map(|l| NewLine {
            product_id: l.product_id,
            quantity: l.quantity,
            special_requests: requests.remove(&l.product_id),
        })
        .collect();

    // Storing the order and recording it in the session run as a task of
    // their own: a timeout or a client hanging up cannot stop them half-way
    // (order stored, cart still full), and a retry cannot start before they end.
    let VisitorSession(raw_session) = session;
    let (db, catalog) = (state.db.clone(), state.catalog.clone());
    let task = tokio::spawn(async move {
        // The session's turn goes with the task: no other change to this
        // session starts before the order is recorded in it.
        let _turn = turn;
        let stored = orders::place(&db, lines).await?;
        let session = VisitorSession(raw_session);
        let recorded = record_in_session(&session, stored.order.id).await;
        if let Err(e) = catalog.invalidate().await {
            tracing::warn!(error = %e, "menu reload after an order failed; the cache catches up within its TTL");
        }
        Ok::<_, PlaceError>((stored, recorded))
    });
    let stored = match task.await.map_err(ApiError::internal)? {
        Ok((stored, Ok(()))) => stored,
        Ok((stored, Err(e))) => {
            tracing::error!(order_id = stored.order.id, error = ?e, "order stored but the session was not updated");
            return Err(ApiError::unavailable(
                "session store",
                anyhow::anyhow!("session save after order {}", stored.order.id),
            )
            .with_detail(format!(
                "Order {} was placed and the stock taken, but this session could not be updated: the cart still shows the ordered dishes. Do not order again; quote order {} to the restaurant.",
                stored.order.id, stored.order.id
            )));
        }
        Err(PlaceError::Refused(refused)) => return Err(refused_error(refused)),
        Err(PlaceError::Db(e)) => return Err(e.into()),
    };

    // The order is stored: the browser's loyalty total and VIP points grow.
    let total = Money::from_minor_units(stored.order.total_cents);
    if let Err(e) =
        loyalty::record_spending(&mut cookies, total).and_then(|_| vip::earn(&mut cookies, total))
    {
        tracing::warn!(error = ?e, "the loyalty or VIP cookie could not be re-issued after an order");
    }
    let location = HeaderValue::from_str(&format!("/api/v1/orders/{}", stored.order.id))
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        cookies,
        [(header::LOCATION, location)],
        Json(OrderView::from(stored)),
    )
        .into_response())
}

/// Empties the cart and remembers the order, saved to the store at once.
async fn record_in_session(session: &VisitorSession, order_id: i32) -> Result<(), ApiError> {
    session.set_cart(&domain::Cart::new()).await?;
    session.remember_order(order_id).await?;
    session.0.save().await?;
    Ok(())
}

fn parse_special_requests(
    raw: &HashMap<String, String>,
    in_cart: impl Fn(ProductId) -> bool,
) -> Result<HashMap<ProductId, String>, ApiError> {
    let mut errors = Vec::new();
    let mut parsed = HashMap::new();
    let mut keys: Vec<&String> = raw.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("special_requests.{key}");
        let Some(id) = key
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| ProductId::parse(n).ok())
        else {
            errors.push(FieldError {
                field,
                message: "keys are the dish ids of cart lines".into(),
            });
            continue;
        };
        if !in_cart(id) {
            errors.push(FieldError {
                field,
                message: format!("dish {id} is not in the cart"),
            });
            continue;
        }
        let text = raw[key].trim();
        let len = text.chars().count();
        if len > MAX_SPECIAL_REQUEST_CHARS {
            errors.push(FieldError {
                field,
                message: format!("at most {MAX_SPECIAL_REQUEST_CHARS} characters; got {len}"),
            });
        } else if text.chars().any(|c| c.is_control() && c != '\n') {
            errors.push(FieldError {
                field,
                message: "must not contain control characters".into(),
            });
        } else if len > 0 {
            parsed.insert(id, text.to_owned());
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

fn refused_error(refused: Vec<orders::RefusedLine>) -> ApiError {
    let describe = |l: &orders::RefusedLine| {
        let name = l
            .name
            .clone()
            .unwrap_or_else(|| format!("dish {}", l.product_id));
        match l.refusal {
            Refusal::InsufficientStock => format!(
                "{name}: {} in the cart, {} left",
                l.requested,
                l.in_stock.unwrap_or(0)
            ),
            Refusal::Unavailable => format!("{name} is not available right now"),
            Refusal::Removed => format!("{name} is no longer on the menu"),
        }
    };
    let detail = format!(
        "Nothing was ordered: {}. Change or remove these lines, then order again.",
        refused.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    ApiError::new(ProblemKind::CartNotOrderable, detail).with_lines(
        refused
            .into_iter()
            .map(|l| ProblemLine {
                product_id: l.product_id.get(),
                name: l.name,
                requested: l.requested,
                in_stock: l.in_stock,
                reason: match l.refusal {
                    Refusal::InsufficientStock => "insufficient-stock",
                    Refusal::Unavailable => "unavailable",
                    Refusal::Removed => "removed",
                },
            })
            .collect(),
    )
}

/// This session's orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders",
    responses((status = 200, description = "The orders", body = OrderList)))]
async fn list_orders(
    State(state): State<AppState>,
    session: VisitorSession,
) -> Result<Json<OrderList>, ApiError> {
    let ids = session.order_ids().await?;
    let items = orders::find(&state.db, &ids)
        .await?
        .into_iter()
        .map(OrderView::from)
        .collect();
    Ok(Json(OrderList { items }))
}

/// One of this session's orders.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id", minimum = 1, example = 42)),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "This session has no order with this id", body = Problem, content_type = PROBLEM),
        (status = 400, description = "The id is not an integer", body = Problem, content_type = PROBLEM),
    ))]
async fn get_order(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(id): AppPath<i64>,
) -> Result<Json<OrderView>, ApiError> {
    let not_found = || ApiError::not_found(format!("This session has no order {id}."));
    let id = i32::try_from(id).map_err(|_| not_found())?;
    if !session.order_ids().await?.contains(&id) {
        return Err(not_found());
    }
    let order = orders::find(&state.db, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    Ok(Json(OrderView::from(order)))
}
