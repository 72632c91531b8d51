//! The admin who runs the menu: `/admin/products`.
//!
//! Only a signed-in admin gets past [`AdminUser`] (401 without a sign-in,
//! 403 for a customer). Every change is written to the database, the menu
//! is reloaded here at once and announced to the other instances (see
//! `db/catalog.rs`), and one log line names who changed what. A dish is
//! never deleted: its order lines keep pointing at it, so "deleting" takes
//! it off the menu instead.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::dish::{DishDescription, DishName, DishPrice, DishSpec, ImageUrl, Stock};
use domain::preferences::Cuisine;
use domain::profile::{DietaryTag, SpiceLevel, parse_dietary_tags};
use domain::{InvalidField, ProductId};
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde::Deserialize;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::NotSignedIn;
use crate::auth::{AdminUser, CurrentUser};
use crate::db::catalog::dish_of;
use crate::db::entities::product;
use crate::error::{ApiError, FieldChecks, FieldError, PROBLEM_JSON, Problem};
use crate::extract::{AppJson, AppPath};
use crate::openapi::{self, NoSuchDish};
use crate::responses::Created;
use crate::state::AppState;
use crate::views::Product;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(replace_product, patch_product, delete_product))
}

fn yes() -> bool {
    true
}

fn mild() -> String {
    SpiceLevel::Mild.as_str().to_owned()
}

/// A whole dish (POST creates one, PUT replaces one). Absent optional fields
/// take their defaults: no picture, available, mild, no dietary tags, no
/// cuisine.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Pad Thai", "description": "Rice noodles, tamarind, peanuts, lime.",
    "price": "13.50", "image_url": "https://images.example.com/dishes/pad-thai.jpg",
    "stock": 30, "available": true, "spice_level": "medium",
    "dietary_tags": ["dairy-free"], "cuisine": "thai"
}))]
pub struct ProductInput {
    #[schema(schema_with = openapi::plain_text::<{ DishName::MAX_CHARS }>)]
    name: String,
    #[schema(schema_with = openapi::plain_text::<{ DishDescription::MAX_CHARS }>)]
    description: String,
    #[schema(schema_with = openapi::price)]
    price: String,
    #[serde(default)]
    #[schema(schema_with = openapi::image_url_or_null)]
    image_url: Option<String>,
    #[schema(schema_with = openapi::stock)]
    stock: i64,
    /// Whether the dish can be ordered; `DELETE` sets it to false.
    #[serde(default = "yes")]
    #[schema(default = true)]
    available: bool,
    #[serde(default = "mild")]
    #[schema(schema_with = openapi::word::<SpiceLevel>)]
    spice_level: String,
    #[serde(default)]
    #[schema(schema_with = openapi::words::<DietaryTag>)]
    dietary_tags: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = openapi::word_or_null::<Cuisine>)]
    cuisine: Option<String>,
}

/// Some fields of a dish (PATCH): absent fields stay as they are; `null`
/// clears `image_url` or `cuisine` (no other field can be cleared).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price": "14.00", "stock": 25}))]
pub struct ProductPatch {
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::plain_text::<{ DishName::MAX_CHARS }>)]
    name: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::plain_text::<{ DishDescription::MAX_CHARS }>)]
    description: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::price)]
    price: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::image_url_or_null)]
    image_url: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::stock)]
    stock: Option<Option<i64>>,
    /// Whether the dish can be ordered: true puts a deleted dish back.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = bool)]
    available: Option<Option<bool>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::word::<SpiceLevel>)]
    spice_level: Option<Option<String>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::words::<DietaryTag>)]
    dietary_tags: Option<Option<Vec<String>>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = openapi::word_or_null::<Cuisine>)]
    cuisine: Option<Option<String>>,
}

// Each field's check. The vocabularies name their own field in errors
// (`dietary_restrictions`, `preferred_cuisine`, as the profile and the
// preferences call them); here they are a dish's fields.

fn price(raw: &str) -> Result<DishPrice, InvalidField> {
    DishPrice::parse(raw)
}

fn image_url(raw: Option<&str>) -> Result<Option<ImageUrl>, InvalidField> {
    raw.map(ImageUrl::parse).transpose()
}

fn spice_level(raw: &str) -> Result<SpiceLevel, InvalidField> {
    raw.parse()
}

fn dietary_tags(raw: &[String]) -> Result<BTreeSet<DietaryTag>, InvalidField> {
    parse_dietary_tags(raw.iter().map(String::as_str)).map_err(|e| as_field("dietary_tags", e))
}

fn cuisine(raw: Option<&str>) -> Result<Option<Cuisine>, InvalidField> {
    raw.map(str::parse)
        .transpose()
        .map_err(|e| as_field("cuisine", e))
}

fn as_field(field: &str, e: InvalidField) -> InvalidField {
    InvalidField::new(field, e.message)
}

impl ProductInput {
    /// Checks every field, naming each one refused.
    fn parse(&self) -> Result<DishSpec, ApiError> {
        let mut checks = FieldChecks::default();
        let name = checks.take(DishName::parse(&self.name));
        let description = checks.take(DishDescription::parse(&self.description));
        let price = checks.take(price(&self.price));
        let image_url = checks.take(image_url(self.image_url.as_deref()));
        let stock = checks.take(Stock::parse(self.stock));
        let spice_level = checks.take(spice_level(&self.spice_level));
        let dietary_tags = checks.take(dietary_tags(&self.dietary_tags));
        let cuisine = checks.take(cuisine(self.cuisine.as_deref()));
        checks.finish()?;
        // A field is `None` only when its check failed, and then `finish` did.
        match (
            name,
            description,
            price,
            image_url,
            stock,
            spice_level,
            dietary_tags,
            cuisine,
        ) {
            (
                Some(name),
                Some(description),
                Some(price),
                Some(image_url),
                Some(stock),
                Some(spice_level),
                Some(dietary_tags),
                Some(cuisine),
            ) => Ok(DishSpec {
                name,
                description,
                price,
                image_url,
                stock,
                available: self.available,
                spice_level,
                dietary_tags,
                cuisine,
            }),
            _ => Err(ApiError::internal(anyhow::anyhow!(
                "a dish field passed its check but was not kept"
            ))),
        }
    }
}

/// A field of a patch that cannot be cleared, sent as `null`.
fn not_clearable(checks: &mut FieldChecks, field: &str) {
    checks.0.push(FieldError {
        field: field.into(),
        message: "cannot be cleared; send a value or leave the field out".into(),
    });
}

impl ProductPatch {
    /// Checks the fields sent and turns them into the columns to set.
    fn parse(&self) -> Result<product::ActiveModel, ApiError> {
        let mut checks = FieldChecks::default();
        let mut row = product::ActiveModel::default();
        match &self.name {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(DishName::parse(raw)) {
                    row.name = ActiveValue::Set(v.into());
                }
            }
            Some(None) => not_clearable(&mut checks, "name"),
            None => {}
        }
        match &self.description {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(DishDescription::parse(raw)) {
                    row.description = ActiveValue::Set(v.into());
                }
            }
            Some(None) => not_clearable(&mut checks, "description"),
            None => {}
        }
        match &self.price {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(price(raw)) {
                    row.price_cents = ActiveValue::Set(cents(v)?);
                }
            }
            Some(None) => not_clearable(&mut checks, "price"),
            None => {}
        }
        if let Some(raw) = &self.image_url
            && let Some(v) = checks.take(image_url(raw.as_deref()))
        {
            row.image_url = ActiveValue::Set(v.map(|u| u.as_str().to_owned()));
        }
        match self.stock {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(Stock::parse(raw)) {
                    row.stock = ActiveValue::Set(stock_column(v));
                }
            }
            Some(None) => not_clearable(&mut checks, "stock"),
            None => {}
        }
        match self.available {
            Some(Some(v)) => row.available = ActiveValue::Set(v),
            Some(None) => not_clearable(&mut checks, "available"),
            None => {}
        }
        match &self.spice_level {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(spice_level(raw)) {
                    row.spice_level = ActiveValue::Set(v.as_str().to_owned());
                }
            }
            Some(None) => not_clearable(&mut checks, "spice_level"),
            None => {}
        }
        match &self.dietary_tags {
            Some(Some(raw)) => {
                if let Some(v) = checks.take(dietary_tags(raw)) {
                    row.dietary_tags = ActiveValue::Set(tags_column(&v));
                }
            }
            Some(None) => not_clearable(&mut checks, "dietary_tags"),
            None => {}
        }
        if let Some(raw) = &self.cuisine
            && let Some(v) = checks.take(cuisine(raw.as_deref()))
        {
            row.cuisine = ActiveValue::Set(v.map(|c| c.as_str().to_owned()));
        }
        checks.finish()?;
        Ok(row)
    }
}

fn cents(price: DishPrice) -> Result<i64, ApiError> {
    price.get().minor_units().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "a checked price has no whole number of cents"
        ))
    })
}

/// A checked stock always fits the column.
fn stock_column(stock: Stock) -> i32 {
    i32::try_from(stock.get()).unwrap_or(i32::MAX)
}

/// The stored form of dietary tags: comma-separated, in vocabulary order.
fn tags_column(tags: &BTreeSet<DietaryTag>) -> String {
    tags.iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The row a whole dish is stored as.
fn row_of(id: i32, spec: &DishSpec) -> Result<product::Model, ApiError> {
    Ok(product::Model {
        id,
        name: spec.name.as_str().to_owned(),
        description: spec.description.as_str().to_owned(),
        price_cents: cents(spec.price)?,
        image_url: spec.image_url.as_ref().map(|u| u.as_str().to_owned()),
        stock: stock_column(spec.stock),
        available: spec.available,
        spice_level: spec.spice_level.as_str().to_owned(),
        dietary_tags: tags_column(&spec.dietary_tags),
        cuisine: spec.cuisine.map(|c| c.as_str().to_owned()),
    })
}

/// Every column of `row` to be written, the id left to the database.
fn active(row: &product::Model) -> product::ActiveModel {
    product::ActiveModel {
        id: ActiveValue::NotSet,
        name: ActiveValue::Set(row.name.clone()),
        description: ActiveValue::Set(row.description.clone()),
        price_cents: ActiveValue::Set(row.price_cents),
        image_url: ActiveValue::Set(row.image_url.clone()),
        stock: ActiveValue::Set(row.stock),
        available: ActiveValue::Set(row.available),
        spice_level: ActiveValue::Set(row.spice_level.clone()),
        dietary_tags: ActiveValue::Set(row.dietary_tags.clone()),
        cuisine: ActiveValue::Set(row.cuisine.clone()),
    }
}

/// The names of the fields that differ between two versions of a dish, as
/// a client names them.
fn changed_fields(before: Option<&product::Model>, after: &product::Model) -> Vec<&'static str> {
    let Some(b) = before else {
        return vec![
            "name",
            "description",
            "price",
            "image_url",
            "stock",
            "available",
            "spice_level",
            "dietary_tags",
            "cuisine",
        ];
    };
    let a = after;
    [
        ("name", b.name != a.name),
        ("description", b.description != a.description),
        ("price", b.price_cents != a.price_cents),
        ("image_url", b.image_url != a.image_url),
        ("stock", b.stock != a.stock),
        ("available", b.available != a.available),
        ("spice_level", b.spice_level != a.spice_level),
        ("dietary_tags", b.dietary_tags != a.dietary_tags),
        ("cuisine", b.cuisine != a.cuisine),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect()
}

/// The one log line of a change: who, which dish, what.
fn log_change(admin: &CurrentUser, action: &str, id: i32, fields: &[&str]) {
    tracing::info!(
        admin = %admin.username,
        admin_id = admin.id,
        product_id = id,
        action,
        changed = %fields.join(","),
        "menu changed by an admin"
    );
}

/// After a write: the menu is reloaded here and announced to the other
/// instances. The write is done whatever happens here; a reload that fails
/// is logged, and the next menu read tries again.
async fn menu_changed(state: &AppState) {
    if let Err(e) = state.catalog.changed().await {
        tracing::warn!(error = %e, "menu reload after an admin change failed; the next read tries again");
    }
}

/// The dish as the menu shows it.
fn view(row: product::Model) -> Result<Product, ApiError> {
    let id = row.id;
    dish_of(row)
        .map(|d| Product::from(&d))
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("dish {id} as stored cannot be shown")))
}

/// Starts a change of dish `id`: a transaction that holds the dish until it
/// commits, and the dish as it is now. The hold is a write that changes
/// nothing, made before the read: on PostgreSQL it locks the row, on SQLite
/// it takes the database's write lock (a read first could find its snapshot
/// stale when it came to write). A concurrent change of the same dish waits
/// for this one, so what is read before and after names exactly this
/// change. 404 when there is no such dish.
async fn hold(
    state: &AppState,
    id: ProductId,
) -> Result<(DatabaseTransaction, product::Model), ApiError> {
    let txn = state.db.begin().await?;
    let held = product::Entity::update_many()
        .col_expr(
            Alias::new("updated_at"),
            Expr::col(Alias::new("updated_at")),
        )
        .filter(product::Column::Id.eq(id.get()))
        .exec(&txn)
        .await?;
    if held.rows_affected == 0 {
        return Err(no_such_dish(id));
    }
    let before = find(&txn, id).await?;
    Ok((txn, before))
}

async fn find(db: &impl ConnectionTrait, id: ProductId) -> Result<product::Model, ApiError> {
    product::Entity::find_by_id(id.get())
        .one(db)
        .await?
        .ok_or_else(|| no_such_dish(id))
}

fn no_such_dish(id: ProductId) -> ApiError {
    ApiError::not_found(format!(
        "There is no dish with id {id}; POST /api/v1/admin/products creates one."
    ))
}

/// Writes the columns of `row` that are set to dish `id`, held by
/// [`hold`] in `txn`.
async fn update(
    txn: &DatabaseTransaction,
    id: ProductId,
    row: product::ActiveModel,
) -> Result<(), ApiError> {
    let result = product::Entity::update_many()
        .set(row)
        .col_expr(Alias::new("updated_at"), Expr::current_timestamp())
        .filter(product::Column::Id.eq(id.get()))
        .exec(txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(no_such_dish(id));
    }
    Ok(())
}

/// Writes the set columns to dish `id` while holding it, logs which fields
/// `action` changed and announces the new menu; returns the dish as stored.
async fn change(
    state: &AppState,
    admin: &CurrentUser,
    action: &str,
    id: ProductId,
    columns: product::ActiveModel,
) -> Result<product::Model, ApiError> {
    let (txn, before) = hold(state, id).await?;
    update(&txn, id, columns).await?;
    let after = find(&txn, id).await?;
    txn.commit().await?;
    log_change(
        admin,
        action,
        id.get(),
        &changed_fields(Some(&before), &after),
    );
    menu_changed(state).await;
    Ok(after)
}

/// Signed in, but not as an admin.
#[derive(IntoResponses)]
#[response(status = 403, description = "Signed in as a customer: only an admin may change the menu (`/problems/forbidden`); or a cross-site request (`/problems/cross-site-request`)", content_type = PROBLEM_JSON)]
struct AdminOnly(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// A dish field is refused.
#[derive(IntoResponses)]
#[response(status = 422, description = "A field is invalid, missing or unknown: each is named in `errors`", content_type = PROBLEM_JSON)]
struct InvalidDish(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Put a new dish on the menu. It shows in the menu and can be added to
/// carts at once, on every instance.
#[utoipa::path(post, path = "/admin/products", tag = "admin",
    security(("session_cookie" = [])),
    request_body = ProductInput,
    responses(
        (status = 201, description = "Created", body = Product,
            headers(("Location" = String, description = "The dish, /api/v1/products/{id}"))),
        NotSignedIn,
        AdminOnly,
        InvalidDish,
    ))]
async fn create_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(input): AppJson<ProductInput>,
) -> Result<Created<Json<Product>>, ApiError> {
    let spec = input.parse()?;
    let mut row = row_of(0, &spec)?;
    let inserted = product::Entity::insert(active(&row))
        .exec(&state.db)
        .await?;
    row.id = inserted.last_insert_id;
    log_change(&admin, "create", row.id, &changed_fields(None, &row));
    menu_changed(&state).await;
    let location = format!("/api/v1/products/{}", row.id);
    Created::at(&location, Json(view(row)?))
}

/// Replace a dish: every field as sent, the optional ones absent taking
/// their defaults. Carts show the new name and price at once; orders
/// already placed keep what they were placed with.
#[utoipa::path(put, path = "/admin/products/{id}", tag = "admin",
    security(("session_cookie" = [])),
    params(("id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1)),
    request_body = ProductInput,
    responses(
        (status = 200, description = "The dish as replaced", body = Product),
        NotSignedIn,
        AdminOnly,
        NoSuchDish,
        InvalidDish,
    ))]
async fn replace_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<ProductId>,
    AppJson(input): AppJson<ProductInput>,
) -> Result<Json<Product>, ApiError> {
    let spec = input.parse()?;
    let row = row_of(id.get(), &spec)?;
    let after = change(&state, &admin, "replace", id, active(&row)).await?;
    Ok(Json(view(after)?))
}

/// Change some fields of a dish; the others stay as they are. `null`
/// clears `image_url` or `cuisine`.
#[utoipa::path(patch, path = "/admin/products/{id}", tag = "admin",
    security(("session_cookie" = [])),
    params(("id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1)),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "The changed dish", body = Product),
        NotSignedIn,
        AdminOnly,
        NoSuchDish,
        InvalidDish,
    ))]
async fn patch_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<ProductId>,
    AppJson(patch): AppJson<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    let columns = patch.parse()?;
    let after = change(&state, &admin, "patch", id, columns).await?;
    Ok(Json(view(after)?))
}

/// Take a dish off the menu. It stays in the database as unavailable: orders
/// that hold it keep showing it, carts show its line as unavailable, and it
/// can no longer be added or ordered. Deleting it again changes nothing;
/// `PATCH {"available": true}` puts it back.
#[utoipa::path(delete, path = "/admin/products/{id}", tag = "admin",
    security(("session_cookie" = [])),
    params(("id" = i64, Path, description = "Dish id", minimum = 1, maximum = 2_147_483_647, example = 1)),
    responses(
        (status = 204, description = "The dish is off the menu (also when it already was)"),
        NotSignedIn,
        AdminOnly,
        NoSuchDish,
    ))]
async fn delete_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppPath(id): AppPath<ProductId>,
) -> Result<StatusCode, ApiError> {
    let (txn, before) = hold(&state, id).await?;
    if before.available {
        let columns = product::ActiveModel {
            available: ActiveValue::Set(false),
            ..Default::default()
        };
        update(&txn, id, columns).await?;
        txn.commit().await?;
        log_change(&admin, "delete", id.get(), &["available"]);
        menu_changed(&state).await;
    } else {
        log_change(&admin, "delete", id.get(), &[]);
    }
    Ok(StatusCode::NO_CONTENT)
}
