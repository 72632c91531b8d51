//! The library: books and the fixed vocabulary of genres.

use std::collections::BTreeSet;

use crate::values::BookId;
use crate::vocabulary;

vocabulary!(
    /// A book's genre, and a reader's favorite.
    Genre, "genres" {
        Fiction,
        Mystery,
        ScienceFiction,
        Fantasy,
        Romance,
        History,
        Biography,
        Science,
        Philosophy,
        Poetry,
        Children,
        Horror,
        Adventure,
        Drama,
    }
);

/// A book as the library holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub id: BookId,
    pub title: String,
    pub author: String,
    /// One or more, from the vocabulary.
    pub genres: BTreeSet<Genre>,
    /// At least 1.
    pub total_pages: u32,
    /// At least 1.
    pub chapters: u32,
    /// Negative for a year before the common era.
    pub published_year: i32,
    pub description: String,
    /// An ISO 639-1 code such as `en`.
    pub language: String,
}
