//! The visitor's cart: `/cart` and `/cart/items`. Kept in the session, or
//! with the account when the visitor is signed in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::cart::Refusal;
use domain::{Cart, CartError, Money, PricedCart, ProductId, Quantity};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::catalog::Snapshot;
use crate::error::{ApiError, PROBLEM_JSON, Problem, ProblemKind};
use crate::extract::{AppJson, AppPath};
use crate::openapi::NoSuchDish;
use crate::responses::{Created, CreatedOrUpdated};
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item_quantity, remove_item))
}

/// A cart line, priced from the menu as it is now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00"}))]
pub struct CartLineView {
    pub product_id: i64,
    pub name: String,
    #[schema(value_type = String, example = "12.50")]
    pub unit_price: Money,
    pub quantity: u32,
    #[schema(value_type = String, example = "25.00")]
    pub line_total: Money,
}

/// A line kept in the cart whose dish cannot be ordered now; it is not
/// counted in `item_count` or `total`. Remove it, or wait for the dish to return.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"product_id": 7, "name": "Mushroom Risotto", "quantity": 1, "reason": "unavailable"}))]
pub struct UnavailableLineView {
    pub product_id: i64,
    /// Null when the dish is gone from the menu.
    pub name: Option<String>,
    pub quantity: u32,
    #[schema(value_type = crate::openapi::UnavailableReasonSchema)]
    pub reason: Refusal,
}

/// The visitor's cart.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "lines": [{"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00"}],
    "unavailable": [],
    "item_count": 2,
    "total": "25.00"
}))]
pub struct CartView {
    /// Lines that can be ordered, in the order they were first added.
    pub lines: Vec<CartLineView>,
    /// Lines whose dish is unavailable or gone; left out of the count and total.
    pub unavailable: Vec<UnavailableLineView>,
    /// Items across the orderable lines.
    pub item_count: u32,
    /// Sum of the orderable lines' totals.
    #[schema(value_type = String, example = "25.00")]
    pub total: Money,
}

impl From<PricedCart> for CartView {
    fn from(p: PricedCart) -> Self {
        CartView {
            lines: p
                .lines
                .into_iter()
                .map(|l| CartLineView {
                    product_id: l.product_id.into(),
                    name: l.name,
                    unit_price: l.unit_price,
                    quantity: l.quantity.get(),
                    line_total: l.line_total,
                })
                .collect(),
            unavailable: p
                .unavailable
                .into_iter()
                .map(|l| UnavailableLineView {
                    product_id: l.product_id.into(),
                    reason: l.refusal(),
                    name: l.name,
                    quantity: l.quantity.get(),
                })
                .collect(),
            item_count: p.item_count,
            total: p.total,
        }
    }
}

/// The cart priced from the menu. A total past the largest amount comes
/// from a price no order can be made of: a fault in the menu, logged as a 500.
fn view(cart: &Cart, menu: &Snapshot) -> Result<CartView, ApiError> {
    cart.price(|id| menu.entry(id))
        .map(CartView::from)
        .map_err(ApiError::internal)
}

fn default_quantity() -> i64 {
    1
}

/// Add a dish to the cart.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": 1, "quantity": 2}))]
pub struct AddItem {
    /// The dish to add.
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub product_id: i64,
    /// How many to add to what the cart already holds; 1 when absent.
    #[serde(default = "default_quantity")]
    #[schema(minimum = 1, maximum = 99, default = 1)]
    pub quantity: i64,
}

/// Set a line's quantity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 3}))]
pub struct SetQuantity {
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

fn parse_quantity(q: i64) -> Result<Quantity, ApiError> {
    Quantity::parse(q).map_err(|e| ApiError::invalid_field("quantity", e.to_string()))
}

fn cart_error(e: CartError, menu: &Snapshot) -> ApiError {
    let name = |id: ProductId| {
        menu.entry(id)
            .map(|d| format!("{} (dish {id})", d.name))
            .unwrap_or_else(|| format!("dish {id}"))
    };
    match e {
        CartError::ProductUnavailable(id) => ApiError::new(
            ProblemKind::ProductUnavailable,
            format!(
                "{} is not available right now; choose another dish.",
                name(id)
            ),
        ),
        CartError::InsufficientStock {
            product_id,
            requested,
            stock,
        } => ApiError::new(
            ProblemKind::InsufficientStock,
            format!(
                "Only {stock} of {} are in stock; this change would put {requested} in the cart. Ask for {stock} or fewer.",
                name(product_id)
            ),
        ),
        CartError::LineCapExceeded {
            product_id,
            requested,
        } => ApiError::invalid_field(
            "quantity",
            format!(
                "a cart line holds at most {} of a dish; {} would reach {requested}",
                Quantity::MAX,
                name(product_id)
            ),
        ),
        CartError::TooManyLines => ApiError::new(
            ProblemKind::CartFull,
            format!(
                "The cart already holds {} different dishes, the most it can; remove one first.",
                domain::cart::MAX_LINES
            ),
        ),
    }
}

/// Why adding a dish, or more of it, is refused.
#[derive(IntoResponses)]
#[response(status = 409, description = "The dish is unavailable, or not enough is in stock (`/problems/product-unavailable`, `/problems/insufficient-stock`); or, signed in, another session of the account kept changing the cart at the same time (`/problems/changed-in-another-session`: send it again)", content_type = PROBLEM_JSON)]
struct DishUnavailable(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// The cart, priced from the current menu.
///
/// Signed in, it is the account's cart: the same on every device signed in
/// to the account, and changed by any of them.
#[utoipa::path(get, path = "/cart", tag = "cart",
    responses(
        (status = 200, description = "The cart (empty when the visitor has none)", body = CartView),
    ))]
async fn get_cart(
    State(state): State<AppState>,
    session: VisitorSession,
) -> Result<Json<CartView>, ApiError> {
    let cart = session.cart().await?;
    let menu = state.catalog.snapshot().await;
    Ok(Json(view(&cart, &menu)?))
}

/// Add a dish, or more of it, to the cart.
///
/// Answers 201 with a `Location` when the dish is new to the cart, 200 when
/// its line grew. Refused changes leave the cart exactly as it was.
#[utoipa::path(post, path = "/cart/items", tag = "cart",
    request_body = AddItem,
    responses(
        (status = 201, description = "The dish was added as a new line; the cart", body = CartView,
            headers(("Location" = String, description = "The new line, /api/v1/cart/items/{product_id}"))),
        (status = 200, description = "The dish's line grew; the cart", body = CartView),
        DishUnavailable,
        (status = 422, description = "Unknown dish, quantity outside 1 to 99 (also after adding), unknown field, wrong type, or a full cart", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn add_item(
    State(state): State<AppState>,
    session: VisitorSession,
    AppJson(body): AppJson<AddItem>,
) -> Result<CreatedOrUpdated<Json<CartView>>, ApiError> {
    let quantity = parse_quantity(body.quantity)?;
    let unknown = || {
        ApiError::invalid_field(
            "product_id",
            format!("there is no dish with id {} on the menu", body.product_id),
        )
    };
    let product_id = ProductId::parse(body.product_id).map_err(|_| unknown())?;
    let menu = state.catalog.snapshot().await;
    let dish = menu.entry(product_id).ok_or_else(unknown)?;
    let (is_new, cart) = session
        .change_cart(|cart| {
            let is_new = cart.quantity_of(product_id).is_none();
            cart.add(product_id, quantity, dish)
                .map_err(|e| cart_error(e, &menu))?;
            Ok(is_new)
        })
        .await?;
    let body = Json(view(&cart, &menu)?);
    Ok(if is_new {
        CreatedOrUpdated::Created(Created::at(
            &format!("/api/v1/cart/items/{product_id}"),
            body,
        )?)
    } else {
        CreatedOrUpdated::Updated(body)
    })
}

/// Set how many of a dish the cart holds (adding the line if needed).
#[utoipa::path(put, path = "/cart/items/{product_id}", tag = "cart",
    params(("product_id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1)),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The cart", body = CartView),
        NoSuchDish,
        DishUnavailable,
        (status = 422, description = "Quantity outside 1 to 99, unknown field, wrong type, or a full cart", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn set_item_quantity(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(product_id): AppPath<ProductId>,
    AppJson(body): AppJson<SetQuantity>,
) -> Result<Json<CartView>, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "There is no dish with id {product_id} on the menu."
        ))
    };
    let quantity = parse_quantity(body.quantity)?;
    let menu = state.catalog.snapshot().await;
    let dish = menu.entry(product_id).ok_or_else(not_found)?;
    let ((), cart) = session
        .change_cart(|cart| {
            cart.set_quantity(product_id, quantity, dish)
                .map_err(|e| cart_error(e, &menu))
        })
        .await?;
    Ok(Json(view(&cart, &menu)?))
}

/// Remove a dish's line. Succeeds also when the cart has no such line.
#[utoipa::path(delete, path = "/cart/items/{product_id}", tag = "cart",
    params(("product_id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1)),
    responses(
        (status = 204, description = "The line is not in the cart (any more)"),
    ))]
async fn remove_item(
    session: VisitorSession,
    AppPath(product_id): AppPath<ProductId>,
) -> Result<StatusCode, ApiError> {
    session
        .change_cart(|cart| Ok(cart.remove(product_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Empty the cart.
#[utoipa::path(delete, path = "/cart", tag = "cart",
    responses((status = 204, description = "The cart is empty")))]
async fn clear_cart(session: VisitorSession) -> Result<StatusCode, ApiError> {
    session
        .change_cart(|cart| {
            cart.clear();
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
