//! What more than one resource shows or reads: the dish, the book, the profile and the
//! goodbye summary as clients see them, and the display preferences cookie.
//! Route modules share these through here, never through each other.

use domain::Money;
use domain::library::{Book, Genre};
use domain::preferences::{Cuisine, DisplayPreferences};
use domain::profile::{DietaryTag, Profile, SpiceLevel};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::cookies::{AppCookies, PREFERENCES};
use crate::db::catalog::Dish;

/// A dish on the menu.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 1, "name": "Margherita Pizza",
    "description": "San Marzano tomato, fior di latte, basil.",
    "price": "12.50", "image_url": "https://images.example.com/dishes/margherita-pizza.jpg",
    "stock": 40, "available": true, "spice_level": "mild", "dietary_tags": ["vegetarian", "nut-free"],
    "cuisine": "italian"
}))]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Exact decimal string in the menu's currency.
    #[schema(value_type = String, example = "12.50")]
    pub price: Money,
    pub image_url: Option<String>,
    pub stock: u32,
    pub available: bool,
    /// `mild`, `medium` or `hot`.
    #[schema(value_type = String, example = "mild")]
    pub spice_level: SpiceLevel,
    /// The dietary restrictions the dish satisfies.
    #[schema(value_type = Vec<String>, example = json!(["vegetarian", "nut-free"]))]
    pub dietary_tags: Vec<DietaryTag>,
    /// The dish's cuisine, or null.
    #[schema(value_type = Option<String>, example = "italian")]
    pub cuisine: Option<Cuisine>,
}

impl From<&Dish> for Product {
    fn from(d: &Dish) -> Self {
        Product {
            id: d.id.into(),
            name: d.entry.name.clone(),
            description: d.description.clone(),
            price: d.entry.price,
            image_url: d.image_url.clone(),
            stock: d.entry.stock,
            available: d.entry.available,
            spice_level: d.spice_level,
            dietary_tags: d.dietary_tags.iter().copied().collect(),
            cuisine: d.cuisine,
        }
    }
}

/// The customer profile.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "Ada", "favorite_dish": "Pad Thai",
    "dietary_restrictions": ["vegan", "gluten-free"], "spice_level": "medium",
    "created_at": "2026-11-25T18:30:00Z"
}))]
pub struct ProfileView {
    /// 1 to 100 characters.
    pub name: String,
    /// Up to 100 characters, or null.
    pub favorite_dish: Option<String>,
    /// From: vegetarian, vegan, gluten-free, dairy-free, nut-free, halal, kosher.
    #[schema(value_type = Vec<String>)]
    pub dietary_restrictions: Vec<DietaryTag>,
    /// mild, medium, hot, or null.
    #[schema(value_type = Option<String>)]
    pub spice_level: Option<SpiceLevel>,
    /// When the profile was first created (set by the server).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&Profile> for ProfileView {
    fn from(p: &Profile) -> Self {
        ProfileView {
            name: p.name.as_str().to_owned(),
            favorite_dish: p.favorite_dish.as_ref().map(|f| f.as_str().to_owned()),
            dietary_restrictions: p.dietary_restrictions.iter().copied().collect(),
            spice_level: p.spice_level,
            created_at: p.created_at,
        }
    }
}

pub const SUMMARY_COOKIE_DOC: &str = "`last_visit_summary`: signed cookie (purpose `visit-summary`, 30 days, HttpOnly) with the name, visit count and date of the last goodbye";

/// What the goodbye leaves in the browser, and what the next visit reads.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada", "visit_count": 4, "date": "2026-11-25T21:15:00Z"}))]
pub struct VisitSummary {
    pub name: Option<String>,
    pub visit_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub date: OffsetDateTime,
}

pub const PREFERENCES_COOKIE_DOC: &str = "`preferences`: private cookie (AES-GCM encrypted and authenticated, key derived for the purpose `preferences`), one year, HttpOnly";

/// The display preferences; the defaults when the cookie is absent or
/// cannot be trusted.
pub fn display_preferences(cookies: &mut AppCookies) -> DisplayPreferences {
    cookies
        .read::<DisplayPreferences>(&PREFERENCES)
        .map(|(p, _)| p)
        .unwrap_or_default()
}

/// A book in the library.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "title": "Dracula", "author": "Bram Stoker",
    "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
    "published_year": 1897, "language": "en",
    "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."
}))]
pub struct BookView {
    pub id: i64,
    pub title: String,
    pub author: String,
    /// From: fiction, mystery, science-fiction, fantasy, romance, history,
    /// biography, science, philosophy, poetry, children, horror, adventure, drama.
    #[schema(value_type = Vec<String>)]
    pub genres: Vec<Genre>,
    pub total_pages: u32,
    pub chapters: u32,
    /// Negative for a year before the common era.
    pub published_year: i32,
    /// ISO 639-1, such as `en`.
    pub language: String,
    pub description: String,
}

impl From<&Book> for BookView {
    fn from(b: &Book) -> Self {
        BookView {
            id: b.id.into(),
            title: b.title.clone(),
            author: b.author.clone(),
            genres: b.genres.iter().copied().collect(),
            total_pages: b.total_pages,
            chapters: b.chapters,
            published_year: b.published_year,
            language: b.language.clone(),
            description: b.description.clone(),
        }
    }
}
