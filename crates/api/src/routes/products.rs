//! The menu: `GET /products`, `GET /products/{id}`.

use axum::Json;
use axum::extract::State;
use domain::{Money, ProductId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::catalog::Dish;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{AppPath, AppQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
}

/// A dish on the menu.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 1, "name": "Margherita Pizza",
    "description": "San Marzano tomato, fior di latte, basil.",
    "price": "12.50", "image_url": "https://images.example.com/dishes/margherita-pizza.jpg",
    "stock": 40, "available": true
}))]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Exact decimal string in the menu's currency.
    #[schema(value_type = String, example = "12.50")]
    pub price: Money,
    pub image_url: Option<String>,
    pub stock: u32,
    pub available: bool,
}

impl From<&Dish> for Product {
    fn from(d: &Dish) -> Self {
        Product {
            id: d.id.get(),
            name: d.entry.name.clone(),
            description: d.description.clone(),
            price: d.entry.price,
            image_url: d.image_url.clone(),
            stock: d.entry.stock,
            available: d.entry.available,
        }
    }
}

/// One page of available dishes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub page: u32,
    pub per_page: u32,
    /// How many available dishes there are in all.
    pub total: u64,
}

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Page number, from 1.
    #[param(minimum = 1, default = 1, example = 1)]
    page: Option<i64>,
    /// Dishes per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    per_page: Option<i64>,
}

impl Pagination {
    fn parse(&self) -> Result<(u32, u32), ApiError> {
        let mut errors = Vec::new();
        let page = self.page.unwrap_or(1);
        if !(1..=i64::from(u32::MAX)).contains(&page) {
            errors.push(FieldError {
                field: "page".into(),
                message: format!("page starts at 1; got {page}"),
            });
        }
        let per_page = self.per_page.unwrap_or(i64::from(DEFAULT_PER_PAGE));
        if !(1..=i64::from(MAX_PER_PAGE)).contains(&per_page) {
            errors.push(FieldError {
                field: "per_page".into(),
                message: format!("per_page must be between 1 and {MAX_PER_PAGE}; got {per_page}"),
            });
        }
        if errors.is_empty() {
            Ok((page as u32, per_page as u32))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

/// List the available dishes, in menu order, a page at a time.
#[utoipa::path(get, path = "/products", tag = "products",
    params(Pagination),
    responses(
        (status = 200, description = "A page of available dishes", body = ProductPage),
        (status = "4XX", description = "Invalid paging parameters", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_products(
    State(state): State<AppState>,
    AppQuery(paging): AppQuery<Pagination>,
) -> Result<Json<ProductPage>, ApiError> {
    let (page, per_page) = paging.parse()?;
    let menu = state.catalog.snapshot().await?;
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    let items = menu
        .available()
        .skip(skip)
        .take(per_page as usize)
        .map(Product::from)
        .collect();
    Ok(Json(ProductPage {
        items,
        page,
        per_page,
        total: menu.available_count() as u64,
    }))
}

/// One dish, available or not.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Dish id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The dish", body = Product),
        (status = 404, description = "No dish has this id", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The id is not an integer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_product(
    State(state): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<Json<Product>, ApiError> {
    let not_found = || ApiError::not_found(format!("There is no dish with id {id} on the menu."));
    let id = ProductId::parse(id).map_err(|_| not_found())?;
    let menu = state.catalog.snapshot().await?;
    let dish = menu.get(id).ok_or_else(not_found)?;
    Ok(Json(Product::from(dish)))
}
