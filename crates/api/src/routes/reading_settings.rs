//! Reading settings (font size, theme, spacing, font, width) in their own encrypted cookie.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
