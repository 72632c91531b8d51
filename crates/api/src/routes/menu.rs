//! The personalized menu: `GET /menu`.

use axum::Json;
use axum::extract::State;
use domain::profile::Profile;
use domain::recommend::{Tastes, personal_menu};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cookies::AppCookies;
use crate::error::ApiError;
use crate::responses::WithCookies;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::{PREFERENCES_COOKIE_DOC, Product, display_preferences};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_menu))
}

/// A recommended dish and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendedDish {
    pub product: Product,
    #[schema(example = json!(["Suits all your dietary restrictions: vegan, gluten-free", "Matches your spice level (medium)"]))]
    pub reasons: Vec<String>,
}

/// The menu for this visitor.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalMenu {
    /// Dishes that satisfy every dietary restriction of the profile (and,
    /// with a preferred spice level, are at most one step from it unless they
    /// are the favorite), ranked by closeness to the preferred spice level,
    /// then the favorite, then the preferred cuisine, then name.
    pub recommended: Vec<RecommendedDish>,
    /// Every other available dish: the preferred cuisine first, then by name.
    pub others: Vec<Product>,
}

/// The available dishes, with recommendations from the profile. Without a
/// profile nothing is recommended and every dish is under `others`; so too
/// while the visitor's session cannot be read (its store does not answer):
/// the menu is then served without recommendations rather than not at all.
/// The preferred cuisine of the `preferences` cookie puts that cuisine's
/// dishes first among equals, in both lists.
#[utoipa::path(get, path = "/menu", tag = "menu",
    params(("preferences" = Option<String>, Cookie, description = PREFERENCES_COOKIE_DOC)),
    responses((status = 200, description = "The personalized menu", body = PersonalMenu)))]
async fn get_menu(
    State(state): State<AppState>,
    session: Result<VisitorSession, ApiError>,
    cookies: AppCookies,
) -> WithCookies<Json<PersonalMenu>> {
    WithCookies::run(cookies, async |cookies| {
        let profile = match profile(session).await {
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = ?e, "the visitor's profile cannot be read; serving the menu without recommendations");
                None
            }
            profile => profile?,
        };
        let preferred_cuisine = display_preferences(cookies).preferred_cuisine;
        let menu = state.catalog.snapshot().await;
        let facts: Vec<_> = menu.available().map(|d| d.facts()).collect();
        let tastes = profile.as_ref().map(|p| Tastes {
            dietary_restrictions: &p.dietary_restrictions,
            spice_level: p.spice_level,
            favorite_dish: p.favorite_dish.as_ref(),
        });
        let result = personal_menu(&facts, tastes, preferred_cuisine);
        let product = |id| menu.get(id).map(Product::from);
        Ok(Json(PersonalMenu {
            recommended: result
                .recommended
                .into_iter()
                .filter_map(|r| {
                    Some(RecommendedDish {
                        product: product(r.id)?,
                        reasons: r.reasons.iter().map(|reason| reason.describe()).collect(),
                    })
                })
                .collect(),
            others: result.others.into_iter().filter_map(product).collect(),
        }))
    })
    .await
}

/// The visitor's profile, or what kept it from being read.
async fn profile(session: Result<VisitorSession, ApiError>) -> Result<Option<Profile>, ApiError> {
    session?.profile().await
}
