//! The menu: `GET /products`, `GET /products/{id}`.

use axum::Json;
use axum::extract::State;
use std::collections::BTreeSet;

use domain::preferences::Cuisine;
use domain::profile::{DietaryTag, SpiceLevel, parse_dietary_tags};
use domain::recommend::satisfies_all;
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
    "stock": 40, "available": true, "spice_level": "mild", "dietary_tags": ["vegetarian", "nut-free"],
    "cuisine": "italian"
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
    /// `mild`, `medium` or `hot`.
    #[schema(value_type = String, example = "mild")]
    pub spice_level: SpiceLevel,
    /// The dietary restrictions the dish satisfies.
    #[schema(value_type = Vec<String>, example = json!(["vegetarian", "nut-free"]))]
    pub dietary_tags: Vec<DietaryTag>,
    /// The dish's cuisine, or null.
    #[schema(value_type = Option<String>, example = "italian")]
    pub cuisine: Option<Cuisine>,
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
            spice_level: d.spice_level,
            dietary_tags: d.dietary_tags.iter().copied().collect(),
            cuisine: d.cuisine,
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
/// The last page one can ask for (a menu of a million dishes at 100 a
/// page); the spec gives the same maximum.
pub const MAX_PAGE: u32 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only dishes satisfying all of these dietary tags, comma-separated
    /// (vegetarian, vegan, gluten-free, dairy-free, nut-free, halal, kosher).
    #[param(example = "vegan,gluten-free")]
    dietary: Option<String>,
    /// Only dishes of this spice level: mild, medium or hot.
    #[param(example = "mild")]
    spice: Option<String>,
    /// Only dishes whose name contains this text, ignoring case (at most 100 characters).
    #[param(example = "curry")]
    q: Option<String>,
    /// Page number, 1 to 10000 (a page past the last is empty).
    #[param(minimum = 1, maximum = 10_000, default = 1, example = 1)]
    page: Option<i64>,
    /// Dishes per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    per_page: Option<i64>,
}

/// The filters a product query asks for.
struct Filter {
    dietary: BTreeSet<DietaryTag>,
    spice: Option<SpiceLevel>,
    q: Option<String>,
}

impl Filter {
    fn matches(&self, dish: &Dish) -> bool {
        satisfies_all(&dish.dietary_tags, &self.dietary)
            && self.spice.is_none_or(|s| s == dish.spice_level)
            && self
                .q
                .as_ref()
                .is_none_or(|q| dish.entry.name.to_lowercase().contains(q))
    }
}

impl ProductQuery {
    fn parse(&self) -> Result<(Filter, u32, u32), ApiError> {
        let mut errors = Vec::new();
        let dietary = match self.dietary.as_deref() {
            None => BTreeSet::new(),
            Some(list) => parse_dietary_tags(list.split(',')).unwrap_or_else(|e| {
                errors.push(FieldError {
                    field: "dietary".into(),
                    message: e.message,
                });
                BTreeSet::new()
            }),
        };
        let spice = match self
            .spice
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => s.parse::<SpiceLevel>().map_or_else(
                |e| {
                    errors.push(FieldError {
                        field: "spice".into(),
                        message: e.message,
                    });
                    None
                },
                Some,
            ),
        };
        let q = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            errors.push(FieldError {
                field: "q".into(),
                message: "at most 100 characters".into(),
            });
        }
        let (page, per_page) = parse_paging(self.page, self.per_page, &mut errors);
        if errors.is_empty() {
            Ok((Filter { dietary, spice, q }, page, per_page))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

/// Checks `page` and `per_page`, adding a field error for each bad one.
fn parse_paging(
    page: Option<i64>,
    per_page: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> (u32, u32) {
    let page = page.unwrap_or(1);
    if !(1..=i64::from(MAX_PAGE)).contains(&page) {
        errors.push(FieldError {
            field: "page".into(),
            message: format!("page must be between 1 and {MAX_PAGE}; got {page}"),
        });
    }
    let per_page = per_page.unwrap_or(i64::from(DEFAULT_PER_PAGE));
    if !(1..=i64::from(MAX_PER_PAGE)).contains(&per_page) {
        errors.push(FieldError {
            field: "per_page".into(),
            message: format!("per_page must be between 1 and {MAX_PER_PAGE}; got {per_page}"),
        });
    }
    (
        page.clamp(1, i64::from(MAX_PAGE)) as u32,
        per_page.clamp(1, i64::from(MAX_PER_PAGE)) as u32,
    )
}

/// List the available dishes, in menu order, a page at a time, optionally
/// filtered by dietary tags (all must hold), spice level and name.
#[utoipa::path(get, path = "/products", tag = "products",
    params(ProductQuery),
    responses(
        (status = 200, description = "A page of available dishes", body = ProductPage),
        (status = "4XX", description = "An unknown dietary tag or spice level, or invalid paging", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_products(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ProductQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let (filter, page, per_page) = query.parse()?;
    let menu = state.catalog.snapshot().await?;
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    let matching: Vec<&Dish> = menu.available().filter(|d| filter.matches(d)).collect();
    let total = matching.len() as u64;
    let items = matching
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .map(Product::from)
        .collect();
    Ok(Json(ProductPage {
        items,
        page,
        per_page,
        total,
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
