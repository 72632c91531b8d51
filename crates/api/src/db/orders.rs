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
//!
//! A signed-in visitor's order belongs to their account, and their cart is
//! kept with the account: the order's transaction empties that cart, and
//! only if it is still the one the order was made from (another device may
//! have changed it since), so an order and its emptied cart are one change.

use std::collections::HashMap;

use domain::cart::Refusal;
use domain::order::KitchenRequest;
use domain::{Money, ProductId, Quantity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, LoaderTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};
use time::OffsetDateTime;

use super::account_state;
use super::entities::{order, order_line, product};

/// A line to order.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub special_requests: Option<KitchenRequest>,
}

#[derive(Debug, Clone)]
pub struct RefusedLine {
    pub product_id: ProductId,
    pub name: Option<String>,
    pub requested: u32,
    pub in_stock: Option<u32>,
    pub refusal: Refusal,
}

/// The account an order is placed for, and the version of its cart the
/// order was made from.
#[derive(Debug, Clone, Copy)]
pub struct AccountCart {
    pub user_id: i32,
    pub version: i64,
}

#[derive(Debug)]
pub enum PlaceError {
    /// These lines do not fit; nothing was ordered.
    Refused(Vec<RefusedLine>),
    /// The account's cart changed (in another session) since it was read;
    /// nothing was ordered.
    CartChanged,
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

/// An amount read from a money column: minor units, never negative.
pub fn money(cents: i64) -> Result<Money, DbErr> {
    Money::from_minor_units(cents)
        .map_err(|e| DbErr::Custom(format!("stored amount {cents} is not money: {e}")))
}

fn cents(m: Money) -> Result<i64, DbErr> {
    m.minor_units()
        .ok_or_else(|| DbErr::Custom(format!("amount {m} does not fit in minor units")))
}

/// Stock as the domain counts it: a negative column (only a hand edit can
/// make one, the decrement never goes below zero) means none left.
pub fn stock(column: i32) -> u32 {
    Ord::max(column, 0).unsigned_abs()
}

/// An order written inside its transaction, not yet committed: dropping it
/// rolls everything back (stock and order), [`Prepared::commit`] keeps it.
///
/// The two steps are apart so that a caller can bound the waiting for locks
/// and writes, which may be cancelled at any point, without ever cancelling
/// the commit itself: a `COMMIT` dropped half-way may still take effect on
/// the server while the caller believes the order rolled back.
pub struct Prepared {
    txn: DatabaseTransaction,
    stored: StoredOrder,
    backend: Option<i32>,
}

impl Prepared {
    /// The order's id, as the commit will keep it.
    pub fn id(&self) -> i32 {
        self.stored.order.id
    }

    /// The order as the commit will keep it.
    pub fn order(&self) -> &StoredOrder {
        &self.stored
    }

    /// The PostgreSQL server process running the transaction (`None` on
    /// SQLite): a commit whose answer does not come can be settled by
    /// ending it from another connection ([`settle`]).
    pub fn backend(&self) -> Option<i32> {
        self.backend
    }

    /// Commits the order; await it to the end.
    pub async fn commit(self) -> Result<StoredOrder, DbErr> {
        self.txn.commit().await?;
        Ok(self.stored)
    }
}

/// Writes an order of `lines` at `now` inside a transaction: takes the stock
/// and stores the order and its lines, or takes and stores nothing. For an
/// account, the order is the account's and its cart is emptied, or nothing
/// happens when that cart changed since. Nothing is kept until the caller
/// commits.
pub async fn prepare(
    db: &DatabaseConnection,
    mut lines: Vec<NewLine>,
    account: Option<AccountCart>,
    now: OffsetDateTime,
) -> Result<Prepared, PlaceError> {
    lines.sort_by_key(|l| l.product_id);
    let txn = db.begin().await?;
    let backend = backend_pid(&txn).await?;
    // First, so that two devices ordering one account's cart at once wait
    // for each other here, and the second finds the cart changed.
    if let Some(account) = account
        && !account_state::empty_cart_if_unchanged(&txn, account.user_id, account.version).await?
    {
        txn.rollback().await?;
        return Err(PlaceError::CartChanged);
    }
    let short = take_stock(&txn, &lines).await?;
    let dishes = dishes_of(&txn, &lines).await?;
    if !short.is_empty() {
        let refused = short
            .into_iter()
            .map(|line| refused(line, dishes.get(&line.product_id.get())))
            .collect();
        txn.rollback().await?;
        return Err(PlaceError::Refused(refused));
    }
    let priced = price(&lines, &dishes)?;
    let stored = store(&txn, priced, account.map(|a| a.user_id), now).await?;
    Ok(Prepared {
        txn,
        stored,
        backend,
    })
}

/// The server process of `txn`'s connection, on PostgreSQL.
async fn backend_pid(txn: &DatabaseTransaction) -> Result<Option<i32>, DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    txn.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_backend_pid() AS pid",
    ))
    .await?
    .map(|row| row.try_get::<i32>("", "pid"))
    .transpose()
}

/// Whether order `id`, whose commit ran on server process `backend` and
/// whose answer never came, was placed. The process is ended first, and
/// waited for (up to `wait`): until then its commit may still take effect,
/// after that nothing changes, and the order's row says what happened. An
/// error when the database cannot be reached or the process did not end:
/// the outcome is still unknown.
pub async fn settle(
    db: &DatabaseConnection,
    backend: i32,
    id: i32,
    wait: std::time::Duration,
) -> Result<bool, DbErr> {
    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    // A process already gone is only a warning, and `false`.
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_terminate_backend($1, $2)",
        [backend.into(), wait_ms.into()],
    ))
    .await?;
    let flag = |sql: &str, value: i32| {
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, [value.into()]);
        async move {
            db.query_one_raw(statement)
                .await?
                .map(|row| row.try_get::<bool>("", "yes"))
                .transpose()
                .map(|yes| yes.unwrap_or(false))
        }
    };
    if flag(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1) AS yes",
        backend,
    )
    .await?
    {
        return Err(DbErr::Custom(format!(
            "server process {backend} did not end within {wait:?}"
        )));
    }
    flag(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1) AS yes",
        id,
    )
    .await
}

/// Decrements each line's stock where enough is left and the dish is
/// available; returns the lines that did not fit.
async fn take_stock<'l>(
    txn: &DatabaseTransaction,
    lines: &'l [NewLine],
) -> Result<Vec<&'l NewLine>, DbErr> {
    let mut short = Vec::new();
    for line in lines {
        let q = line.quantity.as_i32();
        let decrement = Query::update()
            .table(product::Entity)
            .value(
                product::Column::Stock,
                Expr::col(product::Column::Stock).sub(q),
            )
            .value(Alias::new("updated_at"), Expr::current_timestamp())
            .and_where(product::Column::Id.eq(line.product_id.get()))
            .and_where(product::Column::Available.eq(true))
            .and_where(product::Column::Stock.gte(q))
            .to_owned();
        if txn.execute(&decrement).await?.rows_affected() == 0 {
            short.push(line);
        }
    }
    Ok(short)
}

/// The ordered dishes as they are inside the transaction, by id.
async fn dishes_of(
    txn: &DatabaseTransaction,
    lines: &[NewLine],
) -> Result<HashMap<i32, product::Model>, DbErr> {
    let ids: Vec<i32> = lines.iter().map(|l| l.product_id.get()).collect();
    Ok(product::Entity::find()
        .filter(product::Column::Id.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect())
}

fn refused(line: &NewLine, dish: Option<&product::Model>) -> RefusedLine {
    RefusedLine {
        product_id: line.product_id,
        name: dish.map(|d| d.name.clone()),
        requested: line.quantity.get(),
        in_stock: dish.map(|d| stock(d.stock)),
        refusal: match dish {
            None => Refusal::Removed,
            Some(d) if !d.available => Refusal::Unavailable,
            Some(_) => Refusal::InsufficientStock,
        },
    }
}

/// An order line priced from the dish as it is now.
struct PricedLine<'l> {
    line: &'l NewLine,
    name: String,
    unit: Money,
    total: Money,
}

/// Prices every line and the order. A price that is not money, or a total
/// past the largest amount, is a fault in the menu's data: the order fails
/// (and the transaction rolls back) with the reason in the log.
fn price<'l>(
    lines: &'l [NewLine],
    dishes: &HashMap<i32, product::Model>,
) -> Result<(Vec<PricedLine<'l>>, Money), DbErr> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut total = Money::ZERO;
    for line in lines {
        let dish = dishes
            .get(&line.product_id.get())
            .ok_or_else(|| DbErr::RecordNotFound(format!("dish {}", line.product_id)))?;
        let unit = money(dish.price_cents)?;
        let too_large = || {
            DbErr::Custom(format!(
                "the order's total passes the largest amount at dish {}",
                line.product_id
            ))
        };
        let line_total = unit
            .checked_mul(line.quantity.get())
            .ok_or_else(too_large)?;
        total = total.checked_add(line_total).ok_or_else(too_large)?;
        priced.push(PricedLine {
            line,
            name: dish.name.clone(),
            unit,
            total: line_total,
        });
    }
    Ok((priced, total))
}

async fn store(
    txn: &DatabaseTransaction,
    (lines, total): (Vec<PricedLine<'_>>, Money),
    user_id: Option<i32>,
    now: OffsetDateTime,
) -> Result<StoredOrder, DbErr> {
    let order = order::Entity::insert(order::ActiveModel {
        id: NotSet,
        status: Set(RECEIVED.to_owned()),
        total_cents: Set(cents(total)?),
        created_at: Set(now),
        user_id: Set(user_id),
    })
    .exec_with_returning(txn)
    .await?;
    let mut stored_lines = Vec::with_capacity(lines.len());
    for priced in lines {
        let stored = order_line::Entity::insert(order_line::ActiveModel {
            id: NotSet,
            order_id: Set(order.id),
            product_id: Set(priced.line.product_id.get()),
            name: Set(priced.name),
            unit_price_cents: Set(cents(priced.unit)?),
            quantity: Set(priced.line.quantity.as_i32()),
            line_total_cents: Set(cents(priced.total)?),
            special_requests: Set(priced
                .line
                .special_requests
                .as_ref()
                .map(|r| r.as_str().to_owned())),
        })
        .exec_with_returning(txn)
        .await?;
        stored_lines.push(stored);
    }
    Ok(StoredOrder {
        order,
        lines: stored_lines,
    })
}

/// Whose orders to read.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A signed-in user: every order of their account.
    Account(i32),
    /// An anonymous visitor: the orders their session remembers, as long as
    /// no account has claimed them.
    Session(&'a [i32]),
}

/// The orders of `owner`, newest first; at most `limit` of them.
pub async fn of(
    db: &impl ConnectionTrait,
    owner: Owner<'_>,
    limit: u64,
) -> Result<Vec<StoredOrder>, DbErr> {
    let Some(query) = owned_by(owner) else {
        return Ok(Vec::new());
    };
    let orders = query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    with_lines(db, orders).await
}

/// Every order of `owner`, newest first: for the privacy export, which
/// holds them all.
pub async fn all_of(
    db: &impl ConnectionTrait,
    owner: Owner<'_>,
) -> Result<Vec<StoredOrder>, DbErr> {
    let Some(query) = owned_by(owner) else {
        return Ok(Vec::new());
    };
    let orders = query
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .all(db)
        .await?;
    with_lines(db, orders).await
}

/// How many orders `owner` has.
pub async fn count_of(db: &impl ConnectionTrait, owner: Owner<'_>) -> Result<u64, DbErr> {
    match owned_by(owner) {
        Some(query) => query.count(db).await,
        None => Ok(0),
    }
}

/// The orders of `owner`; `None` for a session that remembers none.
fn owned_by(owner: Owner<'_>) -> Option<sea_orm::Select<order::Entity>> {
    Some(match owner {
        Owner::Account(user_id) => order::Entity::find().filter(order::Column::UserId.eq(user_id)),
        Owner::Session([]) => return None,
        Owner::Session(ids) => order::Entity::find()
            .filter(order::Column::Id.is_in(ids.to_vec()))
            .filter(order::Column::UserId.is_null()),
    })
}

/// The order `id` if it is one of `owner`'s.
pub async fn one_of(
    db: &impl ConnectionTrait,
    owner: Owner<'_>,
    id: i32,
) -> Result<Option<StoredOrder>, DbErr> {
    let query = order::Entity::find_by_id(id);
    let query = match owner {
        Owner::Account(user_id) => query.filter(order::Column::UserId.eq(user_id)),
        Owner::Session(ids) if ids.contains(&id) => query.filter(order::Column::UserId.is_null()),
        Owner::Session(_) => return Ok(None),
    };
    let orders = query.all(db).await?;
    Ok(with_lines(db, orders).await?.into_iter().next())
}

async fn with_lines(
    db: &impl ConnectionTrait,
    orders: Vec<order::Model>,
) -> Result<Vec<StoredOrder>, DbErr> {
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
