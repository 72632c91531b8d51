//! Accounts in the database.

use sea_orm::{DatabaseConnection, EntityTrait};

use crate::auth::{CurrentUser, Role};
use crate::db::entities::user;
use crate::error::ApiError;

/// The account `id` as a signed-in user; `None` when it is gone, disabled,
/// or holds a role this release does not know.
pub async fn signed_in(db: &DatabaseConnection, id: i32) -> Result<Option<CurrentUser>, ApiError> {
    let Some(row) = user::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if row.disabled {
        return Ok(None);
    }
    Ok(Role::parse(&row.role).map(|role| CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role,
    }))
}
