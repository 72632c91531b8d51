//! The menu: `GET /products`, `GET /products/{id}`.
//!
//! These answers depend on the menu alone, never on the visitor, so they are
//! served outside the session layer: a shared cache may keep them for as long
//! as this service keeps its own copy of the menu (`Cache-Control: public`,
//! set where the router is built), and a client that already holds the
//! current version (its `ETag`) gets a bodiless 304.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use std::collections::BTreeSet;

use domain::ProductId;
use domain::profile::{DietaryTag, SpiceLevel, parse_dietary_tags};
use domain::recommend::satisfies_all;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::catalog::Dish;
use crate::error::{ApiError, FieldError, PROBLEM_JSON, Problem};
use crate::extract::{AppPath, AppQuery};
use crate::openapi::NoSuchDish;
use crate::paging::parse_paging;
use crate::responses::Versioned;
use crate::state::AppState;
use crate::views::Product;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
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

/// The last page one can ask for (a menu of a million dishes at 100 a
/// page); the spec gives the same maximum.
pub const MAX_PAGE: u32 = 10_000;
/// The longest name filter `q`, in characters as sent; the spec's
/// `maxLength` on `q` gives the same.
const MAX_QUERY_CHARS: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only dishes satisfying all of these dietary tags, comma-separated
    /// (vegetarian, vegan, gluten-free, dairy-free, nut-free, halal, kosher;
    /// case is ignored).
    #[param(inline, value_type = Option<crate::openapi::DietaryTagList>, style = Form, explode = false, example = json!(["vegan", "gluten-free"]))]
    dietary: Option<String>,
    /// Only dishes of this spice level: mild, medium or hot (case is ignored).
    #[param(inline, value_type = Option<crate::openapi::SpiceWord>, example = "mild")]
    spice: Option<String>,
    /// Only dishes whose name contains this text, ignoring case (at most 100 characters).
    #[param(max_length = 100, example = "curry")]
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
            // The spec's list holds tags only: `dietary=` or `vegan,,halal`
            // has an empty entry, which the domain refuses like a wrong tag.
            Some(list) => parse_dietary_tags(list.split(',')).unwrap_or_else(|e| {
                errors.push(FieldError {
                    field: "dietary".into(),
                    message: e.message,
                });
                BTreeSet::new()
            }),
        };
        // A blank `spice=` is no level, refused like any other unknown word.
        let spice = match self.spice.as_deref() {
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
        // Counted as sent, surrounding spaces included, as the spec's
        // maxLength counts (and before lower-casing, which can lengthen
        // text: "İ" becomes two chars).
        if self
            .q
            .as_deref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            errors.push(FieldError {
                field: "q".into(),
                message: format!("at most {MAX_QUERY_CHARS} characters"),
            });
        }
        let q = self.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let (page, per_page) = parse_paging(self.page, self.per_page, MAX_PAGE, &mut errors);
        if errors.is_empty() {
            let q = q.map(str::to_lowercase);
            Ok((Filter { dietary, spice, q }, page, per_page))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

/// The request header both catalog reads answer 304 to.
const IF_NONE_MATCH_DOC: &str = "An `ETag` from an earlier answer: while the menu keeps that version, the answer is a 304 without a body.";

/// The 304 of both catalog reads (see [`Versioned`]).
#[derive(IntoResponses)]
#[response(status = 304, description = "The menu has not changed since the version named in If-None-Match",
    headers(("ETag" = String, description = "The menu's version")))]
struct NotModified;

/// List the available dishes, in menu order, a page at a time, optionally
/// filtered by dietary tags (all must hold), spice level and name.
#[utoipa::path(get, path = "/products", tag = "products",
    params(ProductQuery, ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_DOC)),
    responses(
        (status = 200, description = "A page of available dishes", body = ProductPage, headers(
            ("ETag" = String, description = "The menu's version"),
            ("Cache-Control" = String, description = "`public, max-age=N`: the same for every visitor"),
        )),
        NotModified,
        (status = "4XX", description = "An unknown dietary tag or spice level, or invalid paging", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn list_products(
    State(state): State<AppState>,
    request: HeaderMap,
    AppQuery(query): AppQuery<ProductQuery>,
) -> Result<Versioned<Json<ProductPage>>, ApiError> {
    let (filter, page, per_page) = query.parse()?;
    let menu = state.catalog.snapshot().await;
    Ok(Versioned::new(menu.version(), &request, || {
        let skip = (page as usize - 1).saturating_mul(per_page as usize);
        let matching: Vec<&Dish> = menu.available().filter(|d| filter.matches(d)).collect();
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(skip)
            .take(per_page as usize)
            .map(Product::from)
            .collect();
        Json(ProductPage {
            items,
            page,
            per_page,
            total,
        })
    }))
}

/// One dish, available or not.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1), ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_DOC)),
    responses(
        (status = 200, description = "The dish", body = Product, headers(
            ("ETag" = String, description = "The menu's version"),
            ("Cache-Control" = String, description = "`public, max-age=N`: the same for every visitor"),
        )),
        NotModified,
        NoSuchDish,
    ))]
async fn get_product(
    State(state): State<AppState>,
    request: HeaderMap,
    AppPath(id): AppPath<ProductId>,
) -> Result<Versioned<Json<Product>>, ApiError> {
    let not_found = || ApiError::not_found(format!("There is no dish with id {id} on the menu."));
    let menu = state.catalog.snapshot().await;
    let dish = menu.get(id).ok_or_else(not_found)?;
    Ok(Versioned::new(menu.version(), &request, || {
        Json(Product::from(dish))
    }))
}
