//! What forget-me erases in the database (`DELETE /privacy`), and the
//! account row the privacy view shows.
//!
//! Orders are the restaurant's books and stay; what ties one to a person is
//! taken off it: its account (`orders.user_id`, the only column naming the
//! person: an order keeps no customer name) and the special requests of its
//! lines (free text such as "no nuts, it's for my daughter"). The dish's
//! name on a line is the menu's, not the person's, and stays.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::entities::{login, order, order_line, user, user_state};

/// The account's row; `None` when it is gone.
pub async fn account(db: &DatabaseConnection, user_id: i32) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(user_id).one(db).await
}

/// Clears the special requests of the orders `ids` that belong to no
/// account (an anonymous visitor's, as their session remembers them; an
/// order an account claimed is that account's to erase). Returns how many
/// lines held one.
pub async fn forget_anonymous_requests(db: &DatabaseConnection, ids: &[i32]) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let anonymous = Query::select()
        .column(order::Column::Id)
        .from(order::Entity)
        .and_where(order::Column::Id.is_in(ids.to_vec()))
        .and_where(order::Column::UserId.is_null())
        .to_owned();
    clear_requests(db, anonymous).await
}

async fn clear_requests(
    db: &impl ConnectionTrait,
    orders: sea_orm::sea_query::SelectStatement,
) -> Result<u64, DbErr> {
    Ok(order_line::Entity::update_many()
        .col_expr(
            order_line::Column::SpecialRequests,
            Expr::value(Option::<String>::None),
        )
        .filter(order_line::Column::OrderId.in_subquery(orders))
        .filter(order_line::Column::SpecialRequests.is_not_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// What erasing an account did, for the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Erased {
    /// Orders kept, now of no account.
    pub orders_unlinked: u64,
    /// Order lines whose special requests were cleared.
    pub requests_cleared: u64,
}

/// Erases the account `user_id` in one transaction: its cart, profile and
/// reading (`user_state`), its sign-ins (`logins`) and the account itself;
/// its orders stay, unlinked and without special requests. The account's
/// row in `user_state` goes first, so an order being placed from another
/// device at this moment (whose transaction empties that row first) either
/// ends before, and its order is unlinked here, or finds the cart gone and
/// orders nothing.
pub async fn erase_account(db: &DatabaseConnection, user_id: i32) -> Result<Erased, DbErr> {
    let txn = db.begin().await?;
    user_state::Entity::delete_many()
        .filter(user_state::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    let of_account = Query::select()
        .column(order::Column::Id)
        .from(order::Entity)
        .and_where(order::Column::UserId.eq(user_id))
        .to_owned();
    let requests_cleared = clear_requests(&txn, of_account).await?;
    let orders_unlinked = order::Entity::update_many()
        .col_expr(order::Column::UserId, Expr::value(Option::<i32>::None))
        .filter(order::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    login::Entity::delete_many()
        .filter(login::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    user::Entity::delete_by_id(user_id).exec(&txn).await?;
    txn.commit().await?;
    Ok(Erased {
        orders_unlinked,
        requests_cleared,
    })
}
