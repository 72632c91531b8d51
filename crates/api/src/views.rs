//! What more than one resource shows or reads: the dish, the book, the profile,
//! the order and the goodbye summary as clients see them, and the display
//! preferences cookie.
//! Route modules share these through here, never through each other.

use domain::library::{Book, Genre};
use domain::preferences::{Cuisine, DisplayPreferences};
use domain::profile::{DietaryTag, Profile, SpiceLevel};
use domain::reading::{Reading, percent};
use domain::{BookId, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::cookies::{AppCookies, PREFERENCES};
use crate::db::catalog::Dish;
use crate::db::library::Library;
use crate::db::orders::{self, StoredOrder};
use crate::error::ApiError;

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

/// An order line, at the price it was ordered for.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    pub product_id: i64,
    pub name: String,
    #[schema(value_type = String, example = "12.50")]
    pub unit_price: Money,
    pub quantity: u32,
    #[schema(value_type = String, example = "25.00")]
    pub line_total: Money,
    pub special_requests: Option<String>,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "status": "received",
    "lines": [{"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00", "special_requests": "extra basil"}],
    "total": "25.00", "created_at": "2026-11-25T19:02:00Z"
}))]
pub struct OrderView {
    pub id: i32,
    /// `received` when placed.
    pub status: String,
    pub lines: Vec<OrderLineView>,
    #[schema(value_type = String, example = "25.00")]
    pub total: Money,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl TryFrom<StoredOrder> for OrderView {
    type Error = ApiError;

    /// A stored row that breaks the rules the service writes by (a negative
    /// amount or quantity, edited by hand) is a logged 500, not a made-up value.
    fn try_from(o: StoredOrder) -> Result<Self, ApiError> {
        let lines = o
            .lines
            .into_iter()
            .map(|l| {
                Ok(OrderLineView {
                    product_id: i64::from(l.product_id),
                    name: l.name,
                    unit_price: orders::money(l.unit_price_cents)?,
                    quantity: u32::try_from(l.quantity).map_err(|_| {
                        ApiError::internal(anyhow::anyhow!(
                            "order line {} has quantity {}",
                            l.id,
                            l.quantity
                        ))
                    })?,
                    line_total: orders::money(l.line_total_cents)?,
                    special_requests: l.special_requests,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(OrderView {
            id: o.order.id,
            status: o.order.status,
            lines,
            total: orders::money(o.order.total_cents)?,
            created_at: o.order.created_at,
        })
    }
}

pub const SUMMARY_COOKIE_DOC: &str = "`last_visit_summary`: signed cookie (purpose `visit-summary`, 30 days, HttpOnly) with the name, visit count and date of the last goodbye, and the book the reader was in the middle of";

/// What the goodbye leaves in the browser, and what the next visit reads.
///
/// Unknown fields are ignored, not refused: the cookie is signed, so a
/// field this build does not know can only come from another build of this
/// server (a newer one, before a rollback), never from the browser, and
/// reading the rest keeps the visit count. Builds from before the library
/// refused unknown fields; rolled back to one of those, a summary with
/// `last_book` is dropped as unreadable and the next visit starts the count
/// again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Ada", "visit_count": 4, "date": "2026-11-25T21:15:00Z",
    "last_book": {"book_id": 7, "pages_read": 212, "current_chapter": 14, "last_activity_at": "2026-11-25T21:02:00Z"}}))]
pub struct VisitSummary {
    pub name: Option<String>,
    pub visit_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub date: OffsetDateTime,
    /// The book the reader was in the middle of at goodbye, or null. Absent
    /// from summaries written before the library existed: those read as null.
    #[serde(default)]
    pub last_book: Option<LastBook>,
}

/// Where the reader stopped in a book, as the goodbye keeps it: the next
/// visit offers it back (see [`CurrentReading`]); the title and author are
/// looked up in the library then, never taken from the cookie. Unknown
/// fields are ignored, as in [`VisitSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"book_id": 7, "pages_read": 212, "current_chapter": 14, "last_activity_at": "2026-11-25T21:02:00Z"}))]
pub struct LastBook {
    #[schema(value_type = i64, minimum = 1)]
    pub book_id: BookId,
    pub pages_read: u32,
    pub current_chapter: u32,
    /// The last progress update, else when the book went on the list
    /// (summaries written before this name was chosen call it
    /// `last_read_at`; they still read).
    #[serde(with = "time::serde::rfc3339", alias = "last_read_at")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: OffsetDateTime,
}

impl LastBook {
    /// The reader's current book (see [`Reading::current_book`]), if any.
    pub fn of(reading: &Reading) -> Option<LastBook> {
        reading.current_book().map(|(book_id, p)| LastBook {
            book_id,
            pages_read: p.pages_read,
            current_chapter: p.current_chapter,
            last_activity_at: p.last_activity(),
        })
    }

    /// Whether this place, kept by an earlier goodbye, may still be offered
    /// to a reader whose state is `reading`: not when the reader has since
    /// finished or taken off the book, that is when the history has an entry
    /// for it ending at or after this place was recorded (a goodbye that
    /// carries a place over gives the summary a new date, so the place's own
    /// time is what entries are compared with). An older entry (the book
    /// finished or dropped before, then listed again) does not count.
    pub fn still_current(&self, reading: &Reading) -> bool {
        !reading
            .history
            .entries
            .iter()
            .any(|e| e.book_id == self.book_id && e.ended_at >= self.last_activity_at)
    }
}

/// What the reader is in the middle of, for a greeting such as "Welcome
/// back, continue Dracula at page 212?": the most recently read book on the
/// reading list, or, when the session's list is empty, the book kept by the
/// last goodbye (`from_last_visit: true`; it is not on the new session's
/// list: to continue, add it with `POST /reading-list` and set the page
/// with `PATCH /reading-list/{book_id}`), unless the reader has finished or
/// taken off that book since.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "pages_read": 212, "percent": 50, "current_chapter": 14,
    "last_activity_at": "2026-11-25T21:02:00Z", "from_last_visit": false
}))]
pub struct CurrentReading {
    pub book: BookView,
    /// From 0 to `book.total_pages`.
    pub pages_read: u32,
    /// `pages_read` as a whole percentage of `book.total_pages`, rounded
    /// down: 100 only when every page is read.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    /// From 1 to `book.chapters`.
    pub current_chapter: u32,
    /// The last progress update, else when the book went on the list: never
    /// null (the reading list's `last_read_at` is null before the first
    /// update; this is not the same value).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: OffsetDateTime,
    /// True when this comes from the last goodbye's summary cookie rather
    /// than from the session's reading list.
    pub from_last_visit: bool,
}

impl CurrentReading {
    /// `last` as the library knows its book; `None` when the library no
    /// longer has it.
    fn of(library: &Library, last: &LastBook, from_last_visit: bool) -> Option<Self> {
        let book = library.get(last.book_id)?;
        let pages_read = last.pages_read.min(book.total_pages);
        Some(CurrentReading {
            book: BookView::from(book),
            pages_read,
            percent: percent(pages_read, book.total_pages),
            current_chapter: last.current_chapter.clamp(1, book.chapters.max(1)),
            last_activity_at: last.last_activity_at,
            from_last_visit,
        })
    }

    /// The reader's current book from the session's reading list, or null.
    pub fn from_session(library: &Library, reading: &Reading) -> Option<Self> {
        CurrentReading::of(library, &LastBook::of(reading)?, false)
    }

    /// What to offer: the session's current book; else, when the session's
    /// list is empty, the book the last goodbye kept, unless the reader has
    /// finished or taken it off since (see [`LastBook::still_current`]).
    pub fn offer(
        library: &Library,
        reading: &Reading,
        last_visit: Option<&LastBook>,
    ) -> Option<Self> {
        if let Some(current) = CurrentReading::from_session(library, reading) {
            return Some(current);
        }
        if reading.listed_ids().next().is_some() {
            return None;
        }
        let last = last_visit.filter(|last| last.still_current(reading))?;
        CurrentReading::of(library, last, true)
    }
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
