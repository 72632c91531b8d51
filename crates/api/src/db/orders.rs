//! Placing and reading orders.
//!
//! Placing an order is one transaction: every line's stock is decremented
//! with a conditional `UPDATE ... WHERE stock >= quantity AND available`, so
//! two checkouts racing for the last units can never drive stock below zero;
//! if any line does not fit, the transaction is rolled back and nothing is
//! ordered or decremented. Lines are decremented in product-id order, so two
//! orders touching the same dishes lock them in the same order and cannot
//! deadlock; on SQLite the first statement being a write takes the write lock
//! at once.

use std::collections::HashMap;

use domain::{Money, ProductId, Quantity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, LoaderTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use time::OffsetDateTime;

use super::entities::{order, order_line, product};

/// A line to order.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub special_requests: Option<String>,
}

/// Why a line cannot be ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InsufficientStock,
    Unavailable,
    Removed,
}

#[derive(Debug, Clone)]
pub struct RefusedLine {
    pub product_id: ProductId,
    pub name: Option<String>,
    pub requested: u32,
    pub in_stock: Option<u32>,
    pub refusal: Refusal,
}

#[derive(Debug)]
pub enum PlaceError {
    /// These lines do not fit; nothing was ordered.
    Refused(Vec<RefusedLine>),
    Db(DbErr),
}

impl From<DbErr> for PlaceError {
    fn from(e: DbErr) -> Self {
        PlaceError::Db(e)
    }
}

/// An order with its lines, as stored.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub order: order::Model,
    pub lines: Vec<order_line::Model>,
}

/// The status every new order starts in.
pub const RECEIVED: &str = "received";

fn cents(m: Money) -> Result<i64, DbErr> {
    m.minor_units()
        .ok_or_else(|| DbErr::Custom(format!("amount {m} does not fit in minor units")))
}

pub async fn place(
    db: &DatabaseConnection,
    mut lines: Vec<NewLine>,
) -> Result<StoredOrder, PlaceError> {
    lines.sort_by_key(|l| l.product_id);
    let txn = db.begin().await?;

    let mut short = Vec::new();
    for line in &lines {
        let q = i32::try_from(line.quantity.get()).unwrap_or(i32::MAX);
        let decrement = Query::update()
            .table(product::Entity)
            .value(
                product::Column::Stock,
                Expr::col(product::Column::Stock).sub(q),
            )
            .value(Alias::new("updated_at"), Expr::current_timestamp())
            .and_where(product::Column::Id.eq(line_id(line.product_id)))
            .and_where(product::Column::Available.eq(true))
            .and_where(product::Column::Stock.gte(q))
            .to_owned();
        let updated = txn.execute(&decrement).await?;
        if updated.rows_affected() == 0 {
            short.push(line);
        }
    }

    let ids: Vec<i32> = lines.iter().map(|l| line_id(l.product_id)).collect();
    let dishes: HashMap<i32, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    if !short.is_empty() {
        let refused = short
            .into_iter()
            .map(|line| {
                let dish = dishes.get(&line_id(line.product_id));
                RefusedLine {
                    product_id: line.product_id,
                    name: dish.map(|d| d.name.clone()),
                    requested: line.quantity.get(),
                    in_stock: dish.map(|d| u32::try_from(d.stock).unwrap_or(0)),
                    refusal: match dish {
                        None => Refusal::Removed,
                        Some(d) if !d.available => Refusal::Unavailable,
                        Some(_) => Refusal::InsufficientStock,
                    },
                }
            })
            .collect();
        txn.rollback().await?;
        return Err(PlaceError::Refused(refused));
    }

    let now = OffsetDateTime::now_utc();
    let created_at = now.replace_nanosecond(0).unwrap_or(now);
    let mut rows = Vec::with_capacity(lines.len());
    let mut total = Money::ZERO;
    for line in &lines {
        let dish = dishes
            .get(&line_id(line.product_id))
            .ok_or_else(|| DbErr::RecordNotFound(format!("dish {}", line.product_id)))?;
        let unit = Money::from_minor_units(dish.price_cents);
        let line_total = unit * line.quantity.get();
        total = total + line_total;
        rows.push((dish.name.clone(), unit, line_total, line));
    }
    let order = order::Entity::insert(order::ActiveModel {
        id: NotSet,
        status: Set(RECEIVED.to_owned()),
        total_cents: Set(cents(total)?),
        created_at: Set(created_at),
    })
    .exec_with_returning(&txn)
    .await?;
    let mut stored_lines = Vec::with_capacity(rows.len());
    for (name, unit, line_total, line) in rows {
        let stored = order_line::Entity::insert(order_line::ActiveModel {
            id: NotSet,
            order_id: Set(order.id),
            product_id: Set(line_id(line.product_id)),
            name: Set(name),
            unit_price_cents: Set(cents(unit)?),
            quantity: Set(i32::try_from(line.quantity.get()).unwrap_or(i32::MAX)),
            line_total_cents: Set(cents(line_total)?),
            special_requests: Set(line.special_requests.clone()),
        })
        .exec_with_returning(&txn)
        .await?;
        stored_lines.push(stored);
    }
    txn.commit().await?;
    Ok(StoredOrder {
        order,
        lines: stored_lines,
    })
}

fn line_id(id: ProductId) -> i32 {
    i32::try_from(id.get()).unwrap_or(i32::MAX)
}

/// The orders with these ids, newest first.
pub async fn find(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<StoredOrder>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let orders = order::Entity::find()
        .filter(order::Column::Id.is_in(ids.to_vec()))
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .all(db)
        .await?;
    let lines = orders
        .load_many(
            order_line::Entity::find().order_by_asc(order_line::Column::Id),
            db,
        )
        .await?;
    Ok(orders
        .into_iter()
        .zip(lines)
        .map(|(order, lines)| StoredOrder { order, lines })
        .collect())
}
