//! The library: `GET /books`, `GET /books/{id}`. Public and cacheable, like the menu.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
