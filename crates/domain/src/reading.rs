//! A reader's state: the reading list, the progress in each listed book,
//! the history of finished and abandoned books, and the favorite genres.
//! Four values, each stored under its own session key (and, signed in, with
//! the account), changed together through [`Reading`], which keeps them
//! consistent: every listed book has its progress, and only listed books do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::library::{Book, Genre};
use crate::values::BookId;

/// The most books a reading list holds.
pub const MAX_LIST: usize = 50;
/// The most entries the history keeps; the oldest drop off.
pub const MAX_HISTORY: usize = 500;
/// The most favorite genres.
pub const MAX_GENRES: usize = 5;

/// The books the reader is reading, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingList {
    pub entries: Vec<ListEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub book_id: BookId,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

/// How far the reader is in each listed book.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub books: BTreeMap<BookId, BookProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookProgress {
    /// 0 to the book's total pages.
    pub pages_read: u32,
    /// 1 to the book's chapters.
    pub current_chapter: u32,
    /// When the book went on the list.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The last progress update; `None` before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_read_at: Option<OffsetDateTime>,
}

/// Finished and abandoned books, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingHistory {
    pub entries: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The last page was reached.
    Finished,
    /// Taken off the list after reading some of it.
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub book_id: BookId,
    pub outcome: Outcome,
    /// How far the reader got (the total pages when finished).
    pub pages_read: u32,
    /// The book's total pages when the entry was made, so "how far" reads
    /// as a share without the library at hand.
    pub total_pages: u32,
    pub current_chapter: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it was finished or taken off the list.
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: OffsetDateTime,
}

/// Up to [`MAX_GENRES`] genres, no repeats, in the order the reader gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FavoriteGenres(pub Vec<Genre>);

/// The four values together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub list: ReadingList,
    pub progress: Progress,
    pub history: ReadingHistory,
    pub genres: FavoriteGenres,
}

/// Why a change to the reader's state was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    #[error("book {0} is already on the reading list")]
    AlreadyListed(BookId),
    #[error("the reading list holds at most {MAX_LIST} books; take one off first")]
    ListFull,
    #[error("book {0} is not on the reading list")]
    NotListed(BookId),
    #[error("pages_read must be from 0 to {max}, the book's pages; got {got}")]
    PagesOutOfRange { max: u32, got: i64 },
    #[error("current_chapter must be from 1 to {max}, the book's chapters; got {got}")]
    ChapterOutOfRange { max: u32, got: i64 },
    #[error("at most {MAX_GENRES} favorite genres; got {got}")]
    TooManyGenres { got: usize },
}

/// What a progress update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressOutcome {
    /// The book stays on the list with this progress.
    Reading(BookProgress),
    /// The last page was reached: the book moved to the history.
    Finished(HistoryEntry),
}

impl Reading {
    /// The four values as stored, made consistent: progress for a book not
    /// on the list is dropped, a listed book without progress starts at page
    /// 0 of chapter 1, repeats and entries over the caps are dropped.
    pub fn from_parts(
        list: ReadingList,
        progress: Progress,
        history: ReadingHistory,
        genres: FavoriteGenres,
    ) -> Self {
        let _ = (list, progress, history, genres);
        todo!("reading: from_parts")
    }

    /// Puts `book` on the list at page 0 of chapter 1.
    pub fn add(&mut self, book: &Book, now: OffsetDateTime) -> Result<(), ReadingError> {
        let _ = (book, now);
        todo!("reading: add")
    }

    /// Records how far the reader is in `book`. Each given value is checked
    /// against the book before anything changes. Reaching the last page
    /// finishes the book: it leaves the list for the history.
    pub fn update_progress(
        &mut self,
        book: &Book,
        pages_read: Option<i64>,
        current_chapter: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<ProgressOutcome, ReadingError> {
        let _ = (book, pages_read, current_chapter, now);
        todo!("reading: update_progress")
    }

    /// Takes `book` off the list. A book with pages read goes to the
    /// history as abandoned (returned); one never started just leaves.
    pub fn remove(
        &mut self,
        book: &Book,
        now: OffsetDateTime,
    ) -> Result<Option<HistoryEntry>, ReadingError> {
        let _ = (book, now);
        todo!("reading: remove")
    }

    /// Replaces the favorite genres (repeats dropped, order kept).
    pub fn set_genres(&mut self, genres: Vec<Genre>) -> Result<(), ReadingError> {
        let _ = genres;
        todo!("reading: set_genres")
    }

    /// The book the reader is in the middle of: the listed book read most
    /// recently (by `last_read_at`, else `started_at`), with its progress.
    pub fn current_book(&self) -> Option<(BookId, &BookProgress)> {
        todo!("reading: current_book")
    }

    /// Merges a session's reading into the account's at sign-in (`self` is
    /// the account's): lists join (the account's first, up to the cap), the
    /// further progress wins for a book in both, histories join newest first
    /// without repeats, genres join up to the cap (the account's first).
    pub fn merge(&mut self, other: Reading) {
        let _ = other;
        todo!("reading: merge")
    }
}
