//! Accounts in the database.

use domain::account::{DisplayName, Username};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqlErr,
};
use time::OffsetDateTime;

use crate::auth::{CurrentUser, Role};
use crate::db::entities::user;
use crate::error::{ApiError, ProblemKind};

/// The account as a signed-in user; `None` when it is disabled or holds a
/// role this release does not know: such an account cannot sign in.
pub fn as_signed_in(row: user::Model) -> Option<CurrentUser> {
    if row.disabled {
        return None;
    }
    Role::parse(&row.role).map(|role| CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role,
    })
}

/// A new account with `role`. A taken username is a 409, found by the unique
/// index as the row goes in, so two registrations racing for one name
/// cannot both win.
pub async fn create(
    db: &DatabaseConnection,
    username: &Username,
    display_name: &DisplayName,
    password_hash: String,
    role: Role,
    now: OffsetDateTime,
) -> Result<CurrentUser, ApiError> {
    let row = user::ActiveModel {
        username: Set(username.as_str().to_owned()),
        display_name: Set(display_name.as_str().to_owned()),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_owned()),
        created_at: Set(now),
        last_login_at: Set(None),
        disabled: Set(false),
        ..Default::default()
    };
    let row = row.insert(db).await.map_err(|e| {
        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            ApiError::new(
                ProblemKind::UsernameTaken,
                format!("The username {username} is taken; choose another."),
            )
        } else {
            e.into()
        }
    })?;
    Ok(CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role,
    })
}

/// Deletes an account that was just created and never signed in (its
/// registration failed after the row went in).
pub async fn delete_unused(db: &DatabaseConnection, id: i32) -> Result<(), ApiError> {
    user::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The account with this username, disabled or not.
pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &Username,
) -> Result<Option<user::Model>, ApiError> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username.as_str()))
        .one(db)
        .await?)
}

/// The account's password hash (a PHC string); `None` when it is gone.
pub async fn password_hash(db: &DatabaseConnection, id: i32) -> Result<Option<String>, ApiError> {
    Ok(user::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|row| row.password_hash))
}

/// Notes a successful sign-in.
pub async fn record_login(
    db: &DatabaseConnection,
    id: i32,
    at: OffsetDateTime,
) -> Result<(), ApiError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::LastLoginAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the account's password hash.
pub async fn set_password_hash(
    db: &DatabaseConnection,
    id: i32,
    password_hash: String,
) -> Result<(), ApiError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            sea_orm::sea_query::Expr::value(password_hash),
        )
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
