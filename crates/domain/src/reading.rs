//! A reader's state: the reading list, the progress in each listed book,
//! the history of finished and abandoned books, and the favorite genres.
//! Four values, each stored under its own session key (and, signed in, with
//! the account), changed together through [`Reading`], which keeps them
//! consistent: every listed book has its progress, and only listed books do.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::library::{Book, Genre};
use crate::values::BookId;
use crate::vocabulary;

/// The most books a reading list holds.
pub const MAX_LIST: usize = 50;
/// The most entries the history keeps; the oldest drop off.
pub const MAX_HISTORY: usize = 500;
/// The most favorite genres.
pub const MAX_GENRES: usize = 5;

/// The books the reader is reading, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
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
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_read_at: Option<OffsetDateTime>,
}

/// Finished and abandoned books, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadingHistory {
    pub entries: Vec<HistoryEntry>,
}

vocabulary!(
    /// How a history entry ended.
    Outcome, "outcome" {
        /// The last page was reached.
        Finished,
        /// Taken off the list after reading some of it.
        Abandoned,
    }
);

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
    /// Each progress value outside the book's bounds (one or both).
    #[error("{}", progress_problems(.0))]
    Progress(Vec<ProgressError>),
    /// More entries than [`MAX_GENRES`], counted as sent (repeats too).
    #[error("at most {MAX_GENRES} favorite genres, repeats counted; got {got}")]
    TooManyGenres { got: usize },
}

/// A progress value outside the book's bounds. Its message does not name
/// the value: [`ProgressError::field`] does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    #[error("must be from 0 to {max}, the book's pages; got {got}")]
    Pages { max: u32, got: i64 },
    #[error("must be from 1 to {max}, the book's chapters; got {got}")]
    Chapter { max: u32, got: i64 },
}

impl ProgressError {
    /// The request field the value came in.
    pub fn field(&self) -> &'static str {
        match self {
            ProgressError::Pages { .. } => "pages_read",
            ProgressError::Chapter { .. } => "current_chapter",
        }
    }
}

/// "pages_read must be ...; current_chapter must be ...".
fn progress_problems(problems: &[ProgressError]) -> String {
    problems
        .iter()
        .map(|p| format!("{} {p}", p.field()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a progress update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressOutcome {
    /// The book stays on the list with this progress.
    Reading(BookProgress),
    /// The last page was reached: the book moved to the history.
    Finished(HistoryEntry),
}

impl BookProgress {
    /// Where a book starts when it goes on the list at `at`: page 0 of
    /// chapter 1, not read yet.
    pub fn start(at: OffsetDateTime) -> Self {
        BookProgress {
            pages_read: 0,
            current_chapter: 1,
            started_at: at,
            last_read_at: None,
        }
    }

    /// How far into a book of `total_pages` the reader is, in whole percent
    /// rounded down: 100 only when every page is read (0 for a book without
    /// pages).
    pub fn percent(&self, total_pages: u32) -> u8 {
        percent(self.pages_read, total_pages)
    }

    /// When the reader last did something with the book: the last update,
    /// else when it went on the list.
    pub fn last_activity(&self) -> OffsetDateTime {
        self.last_read_at.unwrap_or(self.started_at)
    }

    /// The order in which the further progress wins a merge: pages, then
    /// chapter, then the later update.
    fn further_than(&self, other: &BookProgress) -> bool {
        (self.pages_read, self.current_chapter, self.last_read_at)
            > (other.pages_read, other.current_chapter, other.last_read_at)
    }
}

impl HistoryEntry {
    /// How far the reader got, in whole percent rounded down (100 for a
    /// finished book).
    pub fn percent(&self) -> u8 {
        percent(self.pages_read, self.total_pages)
    }

    /// What makes two entries the same: one book ended at one instant.
    fn key(&self) -> (BookId, OffsetDateTime) {
        (self.book_id, self.ended_at)
    }
}

/// `part` of `whole` in whole percent, rounded down, at most 100.
pub fn percent(part: u32, whole: u32) -> u8 {
    if whole == 0 {
        return 0;
    }
    let p = (u64::from(part) * 100 / u64::from(whole)).min(100);
    u8::try_from(p).unwrap_or(100)
}

impl ReadingList {
    pub fn contains(&self, book_id: BookId) -> bool {
        self.entries.iter().any(|e| e.book_id == book_id)
    }
}

impl ReadingHistory {
    /// Sorts newest first (stable: entries ending at the same instant keep
    /// their order), drops repeats (same book ended at the same instant; the
    /// first kept) and keeps the newest [`MAX_HISTORY`].
    fn normalize(&mut self) {
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.ended_at));
        let mut seen = BTreeSet::new();
        self.entries.retain(|e| seen.insert(e.key()));
        self.entries.truncate(MAX_HISTORY);
    }

    /// Puts a new entry first (it is the newest) and drops the oldest over
    /// the cap.
    fn record(&mut self, entry: HistoryEntry) {
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_HISTORY);
    }
}

impl FavoriteGenres {
    /// `genres` without repeats, in the order first given.
    fn distinct(genres: impl IntoIterator<Item = Genre>) -> Vec<Genre> {
        let mut seen = BTreeSet::new();
        genres.into_iter().filter(|g| seen.insert(*g)).collect()
    }
}

impl Reading {
    /// The four values as stored, made consistent: progress for a book not
    /// on the list is dropped, a listed book without progress starts at page
    /// 0 of chapter 1 (started when it was added), repeats (a book listed
    /// twice, a history entry for the same book and end, a genre twice; the
    /// first kept) and entries over the caps are dropped (the list and the
    /// genres keep their first, the history its newest), and the history is
    /// sorted newest first.
    pub fn from_parts(
        list: ReadingList,
        progress: Progress,
        history: ReadingHistory,
        genres: FavoriteGenres,
    ) -> Self {
        let mut list = list;
        let mut seen = BTreeSet::new();
        list.entries.retain(|e| seen.insert(e.book_id));
        list.entries.truncate(MAX_LIST);

        let mut stored = progress.books;
        let books = list
            .entries
            .iter()
            .map(|e| {
                let mut p = stored
                    .remove(&e.book_id)
                    .unwrap_or_else(|| BookProgress::start(e.added_at));
                p.current_chapter = p.current_chapter.max(1);
                (e.book_id, p)
            })
            .collect();

        let mut history = history;
        history.normalize();

        let mut genres = FavoriteGenres::distinct(genres.0);
        genres.truncate(MAX_GENRES);

        Reading {
            list,
            progress: Progress { books },
            history,
            genres: FavoriteGenres(genres),
        }
    }

    /// Whether `book_id` is on the reading list.
    pub fn is_listed(&self, book_id: BookId) -> bool {
        self.list.contains(book_id)
    }

    /// The progress in a listed book; `None` when it is not listed.
    pub fn progress_of(&self, book_id: BookId) -> Option<&BookProgress> {
        self.progress.books.get(&book_id)
    }

    /// The listed books, in the order they were added.
    pub fn listed_ids(&self) -> impl Iterator<Item = BookId> + '_ {
        self.list.entries.iter().map(|e| e.book_id)
    }

    /// The listed books with their progress, in the order they were added.
    pub fn listed(&self) -> impl Iterator<Item = (&ListEntry, &BookProgress)> + '_ {
        self.list
            .entries
            .iter()
            .filter_map(|e| Some((e, self.progress.books.get(&e.book_id)?)))
    }

    /// Every book the history says was finished (at least once).
    pub fn finished_ids(&self) -> BTreeSet<BookId> {
        self.history
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::Finished)
            .map(|e| e.book_id)
            .collect()
    }

    /// Puts `book` on the list at page 0 of chapter 1. A book finished or
    /// abandoned before can go on again (read again); its history stays.
    pub fn add(&mut self, book: &Book, now: OffsetDateTime) -> Result<(), ReadingError> {
        if self.is_listed(book.id) {
            return Err(ReadingError::AlreadyListed(book.id));
        }
        if self.list.entries.len() >= MAX_LIST {
            return Err(ReadingError::ListFull);
        }
        self.list.entries.push(ListEntry {
            book_id: book.id,
            added_at: now,
        });
        self.progress
            .books
            .insert(book.id, BookProgress::start(now));
        Ok(())
    }

    /// Records how far the reader is in `book`. Each given value is checked
    /// against the book before anything changes (`pages_read` from 0 to the
    /// book's pages, `current_chapter` from 1 to its chapters), and every
    /// value out of bounds is named in the error, so a body with both wrong
    /// is refused for both. An update is reading, so it sets `last_read_at`
    /// to `now` even when the values do not change, and when neither value
    /// is given that is all it does. Giving the last page finishes the book:
    /// it leaves the list, and a finished entry (at the last chapter) goes
    /// first in the history.
    pub fn update_progress(
        &mut self,
        book: &Book,
        pages_read: Option<i64>,
        current_chapter: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<ProgressOutcome, ReadingError> {
        if !self.is_listed(book.id) {
            return Err(ReadingError::NotListed(book.id));
        }
        let mut problems = Vec::new();
        let pages = pages_read.and_then(|got| {
            let pages = u32::try_from(got).ok().filter(|p| *p <= book.total_pages);
            if pages.is_none() {
                problems.push(ProgressError::Pages {
                    max: book.total_pages,
                    got,
                });
            }
            pages
        });
        let chapter = current_chapter.and_then(|got| {
            let chapter = u32::try_from(got)
                .ok()
                .filter(|c| (1..=book.chapters).contains(c));
            if chapter.is_none() {
                problems.push(ProgressError::Chapter {
                    max: book.chapters,
                    got,
                });
            }
            chapter
        });
        if !problems.is_empty() {
            return Err(ReadingError::Progress(problems));
        }

        if pages == Some(book.total_pages) {
            let started_at = self
                .progress
                .books
                .get(&book.id)
                .map_or(now, |p| p.started_at);
            let entry = HistoryEntry {
                book_id: book.id,
                outcome: Outcome::Finished,
                pages_read: book.total_pages,
                total_pages: book.total_pages,
                current_chapter: book.chapters,
                started_at,
                ended_at: now,
            };
            self.take_off(book.id);
            self.history.record(entry.clone());
            return Ok(ProgressOutcome::Finished(entry));
        }

        let progress = self
            .progress
            .books
            .entry(book.id)
            .or_insert_with(|| BookProgress::start(now));
        if let Some(p) = pages {
            progress.pages_read = p;
        }
        if let Some(c) = chapter {
            progress.current_chapter = c;
        }
        progress.last_read_at = Some(now);
        Ok(ProgressOutcome::Reading(progress.clone()))
    }

    /// Takes `book` off the list. A book with pages read goes first in the
    /// history as abandoned (returned), with how far the reader got; one
    /// never started just leaves.
    pub fn remove(
        &mut self,
        book: &Book,
        now: OffsetDateTime,
    ) -> Result<Option<HistoryEntry>, ReadingError> {
        if !self.is_listed(book.id) {
            return Err(ReadingError::NotListed(book.id));
        }
        let progress = self.take_off(book.id);
        let entry = progress.filter(|p| p.pages_read > 0).map(|p| HistoryEntry {
            book_id: book.id,
            outcome: Outcome::Abandoned,
            pages_read: p.pages_read,
            total_pages: book.total_pages,
            current_chapter: p.current_chapter,
            started_at: p.started_at,
            ended_at: now,
        });
        if let Some(entry) = &entry {
            self.history.record(entry.clone());
        }
        Ok(entry)
    }

    /// Replaces the favorite genres (repeats dropped, the first occurrence's
    /// order kept). More than [`MAX_GENRES`] entries are refused, a repeat
    /// counting as one more (the limit is on the list as given, which is
    /// what a client can check before sending it), naming how many were
    /// given, and nothing changes.
    pub fn set_genres(&mut self, genres: Vec<Genre>) -> Result<(), ReadingError> {
        if genres.len() > MAX_GENRES {
            return Err(ReadingError::TooManyGenres { got: genres.len() });
        }
        self.genres = FavoriteGenres(FavoriteGenres::distinct(genres));
        Ok(())
    }

    /// The book the reader is in the middle of: the listed book read most
    /// recently (by `last_read_at`, else `started_at`), with its progress.
    /// Of books equally recent, the one later on the list (added later) wins.
    pub fn current_book(&self) -> Option<(BookId, &BookProgress)> {
        self.listed()
            .max_by_key(|(_, p)| p.last_activity())
            .map(|(e, p)| (e.book_id, p))
    }

    /// Merges a session's reading into the account's at sign-in (`self` is
    /// the account's): lists join (the account's first, then the session's
    /// books not on it, up to [`MAX_LIST`]); for a book on both, the further
    /// progress wins (more pages, then a later chapter, then the later
    /// update) and it counts as started (and added) at the earlier of the
    /// two; histories join newest first without repeats (the same book ended
    /// at the same instant), keeping the newest [`MAX_HISTORY`]; genres join
    /// up to [`MAX_GENRES`], the account's first. A book listed on one side
    /// and finished on the other stays listed: reading again is allowed.
    ///
    /// A session book that does not fit on a full list is not lost: when it
    /// was started (pages read), it goes into the history as abandoned at
    /// `now`, with how far the reader got (`total_pages` gives the book's
    /// length; a book the library no longer has leaves no entry, as it could
    /// not be shown); one never started just stays off.
    ///
    /// Returns the session's books that did not fit on the list, in the
    /// session's order, whether or not they went into the history.
    pub fn merge(
        &mut self,
        other: Reading,
        now: OffsetDateTime,
        total_pages: impl Fn(BookId) -> Option<u32>,
    ) -> Vec<BookId> {
        let Reading {
            list,
            mut progress,
            history,
            genres,
        } = other;
        let mut dropped = Vec::new();
        let mut abandoned = Vec::new();
        for entry in list.entries {
            let theirs = progress
                .books
                .remove(&entry.book_id)
                .unwrap_or_else(|| BookProgress::start(entry.added_at));
            if let Some(ours) = self.progress.books.get_mut(&entry.book_id) {
                let started_at = ours.started_at.min(theirs.started_at);
                if theirs.further_than(ours) {
                    *ours = theirs;
                }
                ours.started_at = started_at;
                if let Some(listed) = self
                    .list
                    .entries
                    .iter_mut()
                    .find(|e| e.book_id == entry.book_id)
                {
                    listed.added_at = listed.added_at.min(entry.added_at);
                }
            } else if self.list.entries.len() >= MAX_LIST {
                dropped.push(entry.book_id);
                if theirs.pages_read > 0
                    && let Some(total) = total_pages(entry.book_id)
                {
                    abandoned.push(HistoryEntry {
                        book_id: entry.book_id,
                        outcome: Outcome::Abandoned,
                        pages_read: theirs.pages_read,
                        total_pages: total,
                        current_chapter: theirs.current_chapter,
                        started_at: theirs.started_at,
                        ended_at: now,
                    });
                }
            } else {
                self.progress.books.insert(entry.book_id, theirs);
                self.list.entries.push(entry);
            }
        }

        // The books just dropped first among the entries ending at `now`.
        self.history.entries.splice(0..0, abandoned);
        self.history.entries.extend(history.entries);
        self.history.normalize();

        let mut joined = FavoriteGenres::distinct(
            std::mem::take(&mut self.genres.0)
                .into_iter()
                .chain(genres.0),
        );
        joined.truncate(MAX_GENRES);
        self.genres = FavoriteGenres(joined);
        dropped
    }

    /// Takes a book off the list and its progress away, returning that.
    fn take_off(&mut self, book_id: BookId) -> Option<BookProgress> {
        self.list.entries.retain(|e| e.book_id != book_id);
        self.progress.books.remove(&book_id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

    fn at(minutes: i64) -> OffsetDateTime {
        T0 + Duration::minutes(minutes)
    }

    fn id(n: i64) -> BookId {
        BookId::parse(n).unwrap()
    }

    /// Book n has 100 + n pages and n % 20 + 1 chapters.
    fn book(n: i64) -> Book {
        Book {
            id: id(n),
            title: format!("Book {n}"),
            author: "An Author".into(),
            genres: BTreeSet::from([Genre::Fiction]),
            total_pages: 100 + u32::try_from(n).unwrap(),
            chapters: u32::try_from(n % 20 + 1).unwrap(),
            published_year: 2000,
            description: String::new(),
            language: "en".into(),
        }
    }

    fn small(n: i64, pages: u32, chapters: u32) -> Book {
        Book {
            total_pages: pages,
            chapters,
            ..book(n)
        }
    }

    fn history_entry(n: i64, outcome: Outcome, ended: i64) -> HistoryEntry {
        HistoryEntry {
            book_id: id(n),
            outcome,
            pages_read: 10,
            total_pages: 100,
            current_chapter: 1,
            started_at: at(ended - 1),
            ended_at: at(ended),
        }
    }

    fn with_books(ns: &[i64]) -> Reading {
        let mut r = Reading::default();
        for (i, n) in ns.iter().enumerate() {
            r.add(&book(*n), at(i64::try_from(i).unwrap())).unwrap();
        }
        r
    }

    /// Checks the invariants every `Reading` keeps, against the books it
    /// was made with (`book(n)`).
    fn assert_consistent(r: &Reading) {
        assert!(r.list.entries.len() <= MAX_LIST);
        let listed: BTreeSet<BookId> = r.listed_ids().collect();
        assert_eq!(listed.len(), r.list.entries.len(), "a book listed twice");
        let with_progress: BTreeSet<BookId> = r.progress.books.keys().copied().collect();
        assert_eq!(listed, with_progress);
        for (book_id, p) in &r.progress.books {
            let b = book(i64::from(book_id.get()));
            assert!(
                p.pages_read < b.total_pages,
                "a finished book is still listed"
            );
            assert!((1..=b.chapters).contains(&p.current_chapter));
        }
        assert!(r.history.entries.len() <= MAX_HISTORY);
        assert!(
            r.history
                .entries
                .windows(2)
                .all(|w| w[0].ended_at >= w[1].ended_at)
        );
        let keys: BTreeSet<_> = r.history.entries.iter().map(HistoryEntry::key).collect();
        assert_eq!(keys.len(), r.history.entries.len(), "a history entry twice");
        assert!(r.genres.0.len() <= MAX_GENRES);
        assert_eq!(FavoriteGenres::distinct(r.genres.0.clone()), r.genres.0);
    }

    // from_parts

    #[test]
    fn from_parts_drops_unlisted_progress_and_starts_listed_books_without_it() {
        let list = ReadingList {
            entries: vec![
                ListEntry {
                    book_id: id(1),
                    added_at: at(1),
                },
                ListEntry {
                    book_id: id(2),
                    added_at: at(2),
                },
                ListEntry {
                    book_id: id(1),
                    added_at: at(3),
                },
            ],
        };
        let kept = BookProgress {
            pages_read: 30,
            current_chapter: 2,
            started_at: at(1),
            last_read_at: Some(at(5)),
        };
        let progress = Progress {
            books: BTreeMap::from([(id(1), kept.clone()), (id(9), BookProgress::start(at(0)))]),
        };
        let r = Reading::from_parts(
            list,
            progress,
            ReadingHistory::default(),
            FavoriteGenres::default(),
        );
        assert_eq!(r.listed_ids().collect::<Vec<_>>(), vec![id(1), id(2)]);
        assert_eq!(r.list.entries[0].added_at, at(1));
        assert_eq!(r.progress_of(id(1)), Some(&kept));
        assert_eq!(r.progress_of(id(2)), Some(&BookProgress::start(at(2))));
        assert_eq!(r.progress_of(id(9)), None);
        assert_consistent(&r);
    }

    #[test]
    fn from_parts_sorts_dedupes_and_caps_history_and_caps_list_and_genres() {
        let list = ReadingList {
            entries: (1..=60)
                .map(|n| ListEntry {
                    book_id: id(n),
                    added_at: at(n),
                })
                .collect(),
        };
        // Oldest first, with one repeat.
        let mut entries: Vec<_> = (0..600)
            .map(|m| history_entry(m % 7 + 1, Outcome::Finished, m))
            .collect();
        entries.push(history_entry(5, Outcome::Abandoned, 599));
        let genres = FavoriteGenres(vec![
            Genre::Poetry,
            Genre::Drama,
            Genre::Poetry,
            Genre::Horror,
            Genre::Fiction,
            Genre::Science,
            Genre::History,
        ]);
        let r = Reading::from_parts(
            list,
            Progress::default(),
            ReadingHistory { entries },
            genres,
        );
        assert_eq!(r.list.entries.len(), MAX_LIST);
        assert_eq!(r.list.entries.last().unwrap().book_id, id(50));
        assert_eq!(r.history.entries.len(), MAX_HISTORY);
        assert_eq!(r.history.entries[0].ended_at, at(599));
        assert_eq!(
            r.history.entries[0].outcome,
            Outcome::Finished,
            "the first of a repeat is kept"
        );
        assert_eq!(
            r.history.entries[MAX_HISTORY - 1].ended_at,
            at(100),
            "the newest are kept"
        );
        assert_eq!(
            r.genres.0,
            vec![
                Genre::Poetry,
                Genre::Drama,
                Genre::Horror,
                Genre::Fiction,
                Genre::Science
            ]
        );
        assert_consistent(&r);
    }

    #[test]
    fn from_parts_of_a_consistent_reading_changes_nothing() {
        let mut r = with_books(&[3, 1, 2]);
        r.update_progress(&book(1), Some(20), Some(2), at(10))
            .unwrap();
        r.update_progress(&book(2), Some(book(2).total_pages.into()), None, at(11))
            .unwrap();
        r.set_genres(vec![Genre::Mystery]).unwrap();
        let again = Reading::from_parts(
            r.list.clone(),
            r.progress.clone(),
            r.history.clone(),
            r.genres.clone(),
        );
        assert_eq!(again, r);
    }

    #[test]
    fn stored_values_round_trip_and_missing_fields_read_as_empty() {
        let mut r = with_books(&[1]);
        r.update_progress(&book(1), Some(5), None, at(3)).unwrap();
        let json = serde_json::to_value(&r.progress).unwrap();
        assert_eq!(json["books"]["1"]["pages_read"], 5);
        assert_eq!(json["books"]["1"]["last_read_at"], "2026-11-01T12:03:00Z");
        let back: Progress = serde_json::from_value(json).unwrap();
        assert_eq!(back, r.progress);
        let list: ReadingList = serde_json::from_str("{}").unwrap();
        assert_eq!(list, ReadingList::default());
        let p: BookProgress = serde_json::from_str(
            r#"{"pages_read":1,"current_chapter":1,"started_at":"2026-11-01T12:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(p.last_read_at, None);
        let outcome = serde_json::to_value(Outcome::Abandoned).unwrap();
        assert_eq!(outcome, "abandoned");
    }

    // add

    #[test]
    fn adding_puts_the_book_on_the_list_at_the_start() {
        let mut r = Reading::default();
        r.add(&book(7), at(1)).unwrap();
        assert!(r.is_listed(id(7)));
        assert_eq!(
            r.list.entries,
            vec![ListEntry {
                book_id: id(7),
                added_at: at(1)
            }]
        );
        assert_eq!(
            r.progress_of(id(7)),
            Some(&BookProgress {
                pages_read: 0,
                current_chapter: 1,
                started_at: at(1),
                last_read_at: None
            })
        );
    }

    #[test]
    fn adding_a_listed_book_is_refused_and_changes_nothing() {
        let mut r = with_books(&[1, 2]);
        let before = r.clone();
        assert_eq!(
            r.add(&book(2), at(9)),
            Err(ReadingError::AlreadyListed(id(2)))
        );
        assert_eq!(r, before);
    }

    #[test]
    fn the_list_holds_fifty_books_and_refuses_the_fifty_first() {
        let ns: Vec<i64> = (1..=50).collect();
        let mut r = with_books(&ns);
        assert_eq!(r.list.entries.len(), MAX_LIST);
        let before = r.clone();
        assert_eq!(r.add(&book(51), at(99)), Err(ReadingError::ListFull));
        assert_eq!(r, before);
        r.remove(&book(1), at(100)).unwrap();
        r.add(&book(51), at(101)).unwrap();
        assert_consistent(&r);
    }

    // update_progress

    #[test]
    fn updating_progress_sets_the_values_and_the_time() {
        let mut r = with_books(&[1]);
        let out = r
            .update_progress(&book(1), Some(40), Some(2), at(5))
            .unwrap();
        let expected = BookProgress {
            pages_read: 40,
            current_chapter: 2,
            started_at: at(0),
            last_read_at: Some(at(5)),
        };
        assert_eq!(out, ProgressOutcome::Reading(expected.clone()));
        assert_eq!(r.progress_of(id(1)), Some(&expected));
        // One value alone leaves the other.
        r.update_progress(&book(1), None, Some(1), at(6)).unwrap();
        let p = r.progress_of(id(1)).unwrap();
        assert_eq!(
            (p.pages_read, p.current_chapter, p.last_read_at),
            (40, 1, Some(at(6)))
        );
        r.update_progress(&book(1), Some(0), None, at(7)).unwrap();
        assert_eq!(r.progress_of(id(1)).unwrap().pages_read, 0);
    }

    #[test]
    fn an_update_without_values_or_with_the_same_values_only_touches_the_time() {
        let mut r = with_books(&[1]);
        r.update_progress(&book(1), Some(10), Some(2), at(5))
            .unwrap();
        let out = r.update_progress(&book(1), None, None, at(6)).unwrap();
        let ProgressOutcome::Reading(p) = out else {
            panic!("finished")
        };
        assert_eq!(
            (p.pages_read, p.current_chapter, p.last_read_at),
            (10, 2, Some(at(6)))
        );
        r.update_progress(&book(1), Some(10), Some(2), at(8))
            .unwrap();
        assert_eq!(r.progress_of(id(1)).unwrap().last_read_at, Some(at(8)));
    }

    #[test]
    fn every_refused_update_changes_nothing() {
        let b = small(1, 200, 10);
        let mut r = Reading::default();
        r.add(&b, at(0)).unwrap();
        r.update_progress(&b, Some(50), Some(3), at(1)).unwrap();
        let before = r.clone();
        let cases = [
            (
                Some(201),
                None,
                ReadingError::Progress(vec![ProgressError::Pages { max: 200, got: 201 }]),
            ),
            (
                Some(-1),
                None,
                ReadingError::Progress(vec![ProgressError::Pages { max: 200, got: -1 }]),
            ),
            (
                Some(i64::MAX),
                Some(2),
                ReadingError::Progress(vec![ProgressError::Pages {
                    max: 200,
                    got: i64::MAX,
                }]),
            ),
            (
                None,
                Some(0),
                ReadingError::Progress(vec![ProgressError::Chapter { max: 10, got: 0 }]),
            ),
            (
                None,
                Some(11),
                ReadingError::Progress(vec![ProgressError::Chapter { max: 10, got: 11 }]),
            ),
            (
                None,
                Some(-5),
                ReadingError::Progress(vec![ProgressError::Chapter { max: 10, got: -5 }]),
            ),
            // A good page count with a bad chapter: nothing changes, not even the pages.
            (
                Some(60),
                Some(11),
                ReadingError::Progress(vec![ProgressError::Chapter { max: 10, got: 11 }]),
            ),
            // The last page with a bad chapter does not finish the book.
            (
                Some(200),
                Some(0),
                ReadingError::Progress(vec![ProgressError::Chapter { max: 10, got: 0 }]),
            ),
            // Both wrong: both are named, the pages first.
            (
                Some(300),
                Some(30),
                ReadingError::Progress(vec![
                    ProgressError::Pages { max: 200, got: 300 },
                    ProgressError::Chapter { max: 10, got: 30 },
                ]),
            ),
        ];
        for (pages, chapter, error) in cases {
            assert_eq!(r.update_progress(&b, pages, chapter, at(9)), Err(error));
            assert_eq!(r, before);
        }
        let mut unlisted = r.clone();
        assert_eq!(
            unlisted.update_progress(&book(2), Some(1), None, at(9)),
            Err(ReadingError::NotListed(id(2)))
        );
        assert_eq!(unlisted, before);
    }

    #[test]
    fn a_progress_problem_names_its_field_once() {
        let both = ReadingError::Progress(vec![
            ProgressError::Pages { max: 418, got: 500 },
            ProgressError::Chapter { max: 27, got: 0 },
        ]);
        assert_eq!(
            both.to_string(),
            "pages_read must be from 0 to 418, the book's pages; got 500; \
             current_chapter must be from 1 to 27, the book's chapters; got 0"
        );
        let pages = ProgressError::Pages { max: 418, got: 500 };
        assert_eq!(pages.field(), "pages_read");
        assert_eq!(
            pages.to_string(),
            "must be from 0 to 418, the book's pages; got 500"
        );
    }

    #[test]
    fn outcomes_are_stored_as_their_words() {
        assert_eq!(
            serde_json::to_value([Outcome::Finished, Outcome::Abandoned]).unwrap(),
            serde_json::json!(["finished", "abandoned"])
        );
        assert_eq!(
            serde_json::from_value::<Outcome>(serde_json::json!("abandoned")).unwrap(),
            Outcome::Abandoned
        );
    }

    #[test]
    fn reaching_the_last_page_finishes_the_book_into_the_history() {
        let b = small(4, 120, 6);
        let mut r = with_books(&[1]);
        r.add(&b, at(10)).unwrap();
        r.update_progress(&b, Some(30), Some(2), at(11)).unwrap();
        let out = r.update_progress(&b, Some(120), None, at(20)).unwrap();
        let expected = HistoryEntry {
            book_id: id(4),
            outcome: Outcome::Finished,
            pages_read: 120,
            total_pages: 120,
            current_chapter: 6,
            started_at: at(10),
            ended_at: at(20),
        };
        assert_eq!(out, ProgressOutcome::Finished(expected.clone()));
        assert!(!r.is_listed(id(4)));
        assert_eq!(r.progress_of(id(4)), None);
        assert_eq!(r.history.entries, vec![expected]);
        assert_eq!(r.history.entries[0].percent(), 100);
        assert_eq!(r.finished_ids(), BTreeSet::from([id(4)]));
        assert_eq!(r.listed_ids().collect::<Vec<_>>(), vec![id(1)]);
    }

    #[test]
    fn a_finished_book_can_be_read_again() {
        let b = small(3, 50, 2);
        let mut r = Reading::default();
        r.add(&b, at(0)).unwrap();
        r.update_progress(&b, Some(50), None, at(1)).unwrap();
        r.add(&b, at(2)).unwrap();
        assert_eq!(r.progress_of(id(3)), Some(&BookProgress::start(at(2))));
        let out = r.update_progress(&b, Some(50), Some(1), at(3)).unwrap();
        assert!(
            matches!(out, ProgressOutcome::Finished(ref e) if e.started_at == at(2) && e.current_chapter == 2)
        );
        assert_eq!(r.history.entries.len(), 2);
        assert_eq!(r.history.entries[0].ended_at, at(3));
        assert_eq!(r.history.entries[1].ended_at, at(1));
        assert_eq!(r.finished_ids(), BTreeSet::from([id(3)]));
    }

    #[test]
    fn the_history_keeps_the_newest_five_hundred() {
        let b = small(1, 10, 1);
        let mut r = Reading::default();
        for m in 0..(i64::try_from(MAX_HISTORY).unwrap() + 20) {
            r.add(&b, at(2 * m)).unwrap();
            r.update_progress(&b, Some(10), None, at(2 * m + 1))
                .unwrap();
        }
        assert_eq!(r.history.entries.len(), MAX_HISTORY);
        assert_eq!(r.history.entries[0].ended_at, at(2 * 519 + 1));
        assert_eq!(r.history.entries[MAX_HISTORY - 1].ended_at, at(2 * 20 + 1));
        assert_consistent(&r);
    }

    // remove

    #[test]
    fn removing_a_started_book_records_it_as_abandoned() {
        let b = small(2, 300, 12);
        let mut r = Reading::default();
        r.add(&b, at(0)).unwrap();
        r.update_progress(&b, Some(75), Some(4), at(1)).unwrap();
        let entry = r.remove(&b, at(2)).unwrap();
        let expected = HistoryEntry {
            book_id: id(2),
            outcome: Outcome::Abandoned,
            pages_read: 75,
            total_pages: 300,
            current_chapter: 4,
            started_at: at(0),
            ended_at: at(2),
        };
        assert_eq!(entry, Some(expected.clone()));
        assert_eq!(r.history.entries, vec![expected]);
        assert_eq!(r.history.entries[0].percent(), 25);
        assert!(!r.is_listed(id(2)));
        assert_eq!(r.progress_of(id(2)), None);
        assert!(r.finished_ids().is_empty());
    }

    #[test]
    fn removing_an_unstarted_book_leaves_no_trace() {
        let mut r = with_books(&[1, 2]);
        // Touched, a chapter on, but no pages read.
        r.update_progress(&book(2), None, Some(2), at(5)).unwrap();
        assert_eq!(r.remove(&book(2), at(6)), Ok(None));
        assert!(r.history.entries.is_empty());
        assert_eq!(r, with_books(&[1]));
    }

    #[test]
    fn removing_an_unlisted_book_is_refused_and_changes_nothing() {
        let mut r = with_books(&[1]);
        r.update_progress(&book(1), Some(1), None, at(1)).unwrap();
        let before = r.clone();
        assert_eq!(
            r.remove(&book(2), at(2)),
            Err(ReadingError::NotListed(id(2)))
        );
        assert_eq!(r, before);
    }

    // genres

    #[test]
    fn genres_drop_repeats_keep_order_and_refuse_more_than_five_entries() {
        let mut r = Reading::default();
        r.set_genres(vec![Genre::Horror, Genre::Poetry, Genre::Horror])
            .unwrap();
        assert_eq!(r.genres.0, vec![Genre::Horror, Genre::Poetry]);
        let before = r.clone();
        let six_distinct = vec![
            Genre::Fiction,
            Genre::Mystery,
            Genre::Fantasy,
            Genre::Romance,
            Genre::History,
            Genre::Drama,
        ];
        assert_eq!(
            r.set_genres(six_distinct),
            Err(ReadingError::TooManyGenres { got: 6 })
        );
        assert_eq!(r, before);
        // Five distinct among six entries: the repeat counts.
        let six_entries = vec![
            Genre::Fiction,
            Genre::Fiction,
            Genre::Mystery,
            Genre::Fantasy,
            Genre::Romance,
            Genre::History,
        ];
        assert_eq!(
            r.set_genres(six_entries),
            Err(ReadingError::TooManyGenres { got: 6 })
        );
        assert_eq!(
            r.set_genres(vec![Genre::Drama; 6]),
            Err(ReadingError::TooManyGenres { got: 6 })
        );
        assert_eq!(r, before);
        // Five entries fit, repeats or not.
        r.set_genres(vec![
            Genre::Fiction,
            Genre::Fiction,
            Genre::Mystery,
            Genre::Fantasy,
            Genre::Romance,
        ])
        .unwrap();
        assert_eq!(
            r.genres.0,
            vec![
                Genre::Fiction,
                Genre::Mystery,
                Genre::Fantasy,
                Genre::Romance
            ]
        );
        r.set_genres(Vec::new()).unwrap();
        assert_eq!(r.genres, FavoriteGenres::default());
    }

    // current_book

    #[test]
    fn the_current_book_is_the_one_read_last() {
        let mut r = Reading::default();
        assert_eq!(r.current_book(), None);
        r.add(&book(1), at(0)).unwrap();
        r.add(&book(2), at(1)).unwrap();
        r.add(&book(3), at(2)).unwrap();
        // Not read yet: the latest added.
        assert_eq!(r.current_book().map(|(b, _)| b), Some(id(3)));
        r.update_progress(&book(1), Some(3), None, at(10)).unwrap();
        let (current, p) = r.current_book().unwrap();
        assert_eq!((current, p.pages_read), (id(1), 3));
        // Reading another since makes that one current.
        r.update_progress(&book(2), None, None, at(11)).unwrap();
        assert_eq!(r.current_book().map(|(b, _)| b), Some(id(2)));
    }

    #[test]
    fn of_books_read_at_the_same_time_the_later_listed_is_current() {
        let mut r = with_books(&[5, 3, 9]);
        for n in [9, 3, 5] {
            r.update_progress(&book(n), Some(1), None, at(20)).unwrap();
        }
        assert_eq!(r.current_book().map(|(b, _)| b), Some(id(9)));
        // Added at the same moment, never read.
        let mut same = Reading::default();
        for n in [4, 2, 6] {
            same.add(&book(n), at(0)).unwrap();
        }
        assert_eq!(same.current_book().map(|(b, _)| b), Some(id(6)));
    }

    // percent

    #[test]
    fn percent_rounds_down_and_is_100_only_when_finished() {
        let mut p = BookProgress::start(at(0));
        assert_eq!(p.percent(300), 0);
        p.pages_read = 299;
        assert_eq!(p.percent(300), 99);
        p.pages_read = 150;
        assert_eq!(p.percent(300), 50);
        p.pages_read = 1;
        assert_eq!(p.percent(300), 0);
        p.pages_read = 300;
        assert_eq!(p.percent(300), 100);
        p.pages_read = 400;
        assert_eq!(p.percent(300), 100);
        assert_eq!(p.percent(0), 0);
        p.pages_read = u32::MAX - 1;
        assert_eq!(p.percent(u32::MAX), 99);
    }

    // merge

    fn progress(pages: u32, chapter: u32, started: i64, last: Option<i64>) -> BookProgress {
        BookProgress {
            pages_read: pages,
            current_chapter: chapter,
            started_at: at(started),
            last_read_at: last.map(at),
        }
    }

    /// The length of `book(n)`, as the library gives it to a merge.
    fn pages_of(b: BookId) -> Option<u32> {
        Some(book(i64::from(b.get())).total_pages)
    }

    /// Signing in at minute 1000.
    const MERGED_AT: i64 = 1000;

    fn merge(account: &mut Reading, session: Reading) -> Vec<BookId> {
        account.merge(session, at(MERGED_AT), pages_of)
    }

    fn set(r: &mut Reading, n: i64, p: BookProgress) {
        *r.progress.books.get_mut(&id(n)).unwrap() = p;
    }

    #[test]
    fn merging_joins_lists_the_accounts_first() {
        let mut account = with_books(&[1, 2]);
        let session = with_books(&[3, 2, 4]);
        let dropped = merge(&mut account, session);
        assert!(dropped.is_empty());
        assert_eq!(
            account.listed_ids().collect::<Vec<_>>(),
            vec![id(1), id(2), id(3), id(4)]
        );
        assert_eq!(
            account.progress_of(id(3)),
            Some(&BookProgress::start(at(0)))
        );
        assert_consistent(&account);
    }

    #[test]
    fn merging_into_an_empty_account_takes_the_session_as_it_is() {
        let mut session = with_books(&[3, 1]);
        session
            .update_progress(&book(1), Some(7), Some(2), at(5))
            .unwrap();
        session.remove(&book(3), at(6)).unwrap();
        session.set_genres(vec![Genre::Drama]).unwrap();
        let mut account = Reading::default();
        assert!(merge(&mut account, session.clone()).is_empty());
        assert_eq!(account, session);
        // And the other way round.
        let mut again = session.clone();
        merge(&mut again, Reading::default());
        assert_eq!(again, session);
    }

    #[test]
    fn merging_keeps_the_further_progress_whichever_side_has_it() {
        let mut account = with_books(&[1, 2, 3, 4, 5]);
        let mut session = with_books(&[1, 2, 3, 4, 5]);
        // 1: the session read more pages; 2: the account did.
        set(&mut account, 1, progress(10, 3, 5, Some(50)));
        set(&mut session, 1, progress(20, 1, 2, Some(40)));
        set(&mut account, 2, progress(30, 1, 8, Some(20)));
        set(&mut session, 2, progress(25, 4, 3, Some(60)));
        // 3: same pages, the session is a chapter on; 4: same pages, the account is.
        set(&mut account, 3, progress(10, 2, 1, Some(10)));
        set(&mut session, 3, progress(10, 3, 1, Some(9)));
        set(&mut account, 4, progress(10, 3, 1, Some(9)));
        set(&mut session, 4, progress(10, 2, 0, Some(10)));
        // 5: same pages and chapter, the session read later.
        set(&mut account, 5, progress(10, 2, 1, None));
        set(&mut session, 5, progress(10, 2, 4, Some(3)));
        merge(&mut account, session);
        assert_eq!(
            account.progress_of(id(1)),
            Some(&progress(20, 1, 2, Some(40)))
        );
        assert_eq!(
            account.progress_of(id(2)),
            Some(&progress(30, 1, 3, Some(20)))
        );
        assert_eq!(
            account.progress_of(id(3)),
            Some(&progress(10, 3, 1, Some(9)))
        );
        assert_eq!(
            account.progress_of(id(4)),
            Some(&progress(10, 3, 0, Some(9)))
        );
        assert_eq!(
            account.progress_of(id(5)),
            Some(&progress(10, 2, 1, Some(3)))
        );
        assert_eq!(account.list.entries.len(), 5);
        assert_consistent(&account);
    }

    #[test]
    fn merging_keeps_the_started_books_over_the_list_cap_as_abandoned_and_names_them_all() {
        let account_books: Vec<i64> = (1..=48).collect();
        let mut account = with_books(&account_books);
        account.history.entries = vec![history_entry(5, Outcome::Finished, 20)];
        // 10 and 20 are on both; 60..=64 are new, two fit.
        let mut session = with_books(&[10, 60, 20, 61, 62, 63, 64]);
        session
            .update_progress(&book(62), Some(5), Some(2), at(9))
            .unwrap();
        session
            .update_progress(&book(64), Some(40), Some(3), at(11))
            .unwrap();
        let dropped = merge(&mut account, session);
        assert_eq!(dropped, vec![id(62), id(63), id(64)]);
        assert_eq!(account.list.entries.len(), MAX_LIST);
        assert_eq!(
            account.listed_ids().skip(48).collect::<Vec<_>>(),
            vec![id(60), id(61)]
        );
        assert_eq!(account.progress_of(id(62)), None);
        // The started ones are abandoned at the sign-in with how far they
        // got, newest first ahead of the account's; 63 was never opened.
        let abandoned = |n: i64, pages: u32, chapter: u32, listed: i64| HistoryEntry {
            book_id: id(n),
            outcome: Outcome::Abandoned,
            pages_read: pages,
            total_pages: book(n).total_pages,
            current_chapter: chapter,
            started_at: at(listed),
            ended_at: at(MERGED_AT),
        };
        assert_eq!(
            account.history.entries,
            vec![
                abandoned(62, 5, 2, 4),
                abandoned(64, 40, 3, 6),
                history_entry(5, Outcome::Finished, 20),
            ]
        );
        assert_consistent(&account);
    }

    #[test]
    fn a_dropped_book_the_library_no_longer_has_leaves_no_history() {
        let account_books: Vec<i64> = (1..=50).collect();
        let mut account = with_books(&account_books);
        let mut session = with_books(&[60, 61]);
        session
            .update_progress(&book(60), Some(5), None, at(9))
            .unwrap();
        session
            .update_progress(&book(61), Some(6), None, at(9))
            .unwrap();
        let dropped = account.merge(session, at(MERGED_AT), |b| {
            (b != id(60)).then(|| book(i64::from(b.get())).total_pages)
        });
        assert_eq!(dropped, vec![id(60), id(61)]);
        assert_eq!(
            account
                .history
                .entries
                .iter()
                .map(|e| e.book_id)
                .collect::<Vec<_>>(),
            vec![id(61)]
        );
        assert_consistent(&account);
    }

    #[test]
    fn merging_histories_drops_repeats_sorts_newest_first_and_caps() {
        let mut account = Reading::default();
        account.history.entries = (0..300)
            .rev()
            .map(|m| history_entry(m % 5 + 1, Outcome::Finished, 2 * m))
            .collect();
        let mut session = Reading::default();
        // Every account entry from minute 400 up again, and odd minutes of its own.
        session.history.entries = (0..300)
            .rev()
            .flat_map(|m| {
                let mut v = vec![history_entry(m % 3 + 1, Outcome::Abandoned, 2 * m + 1)];
                if 2 * m >= 400 {
                    v.push(history_entry(m % 5 + 1, Outcome::Finished, 2 * m));
                }
                v
            })
            .collect();
        session.history.normalize();
        merge(&mut account, session);
        assert_eq!(account.history.entries.len(), MAX_HISTORY);
        let ends: Vec<OffsetDateTime> =
            account.history.entries.iter().map(|e| e.ended_at).collect();
        let expected: Vec<OffsetDateTime> = (100..600).rev().map(at).collect();
        assert_eq!(ends, expected);
        assert_consistent(&account);
    }

    #[test]
    fn merging_genres_puts_the_accounts_first_up_to_five() {
        let mut account = Reading::default();
        account
            .set_genres(vec![Genre::Poetry, Genre::Drama, Genre::Horror])
            .unwrap();
        let mut session = Reading::default();
        session
            .set_genres(vec![
                Genre::Fiction,
                Genre::Drama,
                Genre::Science,
                Genre::History,
            ])
            .unwrap();
        merge(&mut account, session);
        assert_eq!(
            account.genres.0,
            vec![
                Genre::Poetry,
                Genre::Drama,
                Genre::Horror,
                Genre::Fiction,
                Genre::Science
            ]
        );
    }

    #[test]
    fn a_book_listed_on_one_side_and_finished_on_the_other_stays_listed() {
        let mut account = with_books(&[1]);
        account
            .update_progress(&book(1), Some(4), None, at(3))
            .unwrap();
        let mut session = with_books(&[1]);
        session
            .update_progress(&book(1), Some(book(1).total_pages.into()), None, at(4))
            .unwrap();
        merge(&mut account, session);
        assert!(account.is_listed(id(1)));
        assert_eq!(account.progress_of(id(1)).unwrap().pages_read, 4);
        assert_eq!(account.finished_ids(), BTreeSet::from([id(1)]));
        assert_consistent(&account);
    }

    // Any sequence of operations.

    #[derive(Debug, Clone)]
    enum Op {
        Add(i64),
        Update(i64, Option<i64>, Option<i64>),
        Finish(i64),
        Remove(i64),
        Genres(Vec<usize>),
        Merge(Vec<(i64, Option<i64>)>),
    }

    const BOOKS: i64 = 70;

    fn op() -> impl Strategy<Value = Op> {
        let pages = proptest::option::of(-5i64..200);
        let chapter = proptest::option::of(-1i64..25);
        prop_oneof![
            8 => (1..=BOOKS).prop_map(Op::Add),
            6 => (1..=BOOKS, pages, chapter).prop_map(|(b, p, c)| Op::Update(b, p, c)),
            2 => (1..=BOOKS).prop_map(Op::Finish),
            2 => (1..=BOOKS).prop_map(Op::Remove),
            1 => proptest::collection::vec(0usize..14, 0..9).prop_map(Op::Genres),
            1 => proptest::collection::vec((1..=BOOKS, proptest::option::of(0i64..200)), 0..60)
                .prop_map(Op::Merge),
        ]
    }

    fn genre(i: usize) -> Genre {
        use strum::VariantArray;
        Genre::VARIANTS[i % Genre::VARIANTS.len()]
    }

    proptest! {
        // Each case runs up to 200 operations and checks everything after
        // each: fewer cases than the default keep the suite quick.
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn invariants_hold_after_any_sequence(ops in proptest::collection::vec(op(), 0..200)) {
            let mut r = Reading::default();
            for (minute, op) in ops.into_iter().enumerate() {
                let now = at(i64::try_from(minute).unwrap());
                let before = r.clone();
                let refused = match op {
                    Op::Add(b) => r.add(&book(b), now).is_err(),
                    Op::Update(b, p, c) => r.update_progress(&book(b), p, c, now).is_err(),
                    Op::Finish(b) => {
                        let total = i64::from(book(b).total_pages);
                        match r.update_progress(&book(b), Some(total), None, now) {
                            Ok(out) => {
                                prop_assert!(matches!(out, ProgressOutcome::Finished(_)));
                                prop_assert_eq!(r.history.entries[0].book_id, id(b));
                                false
                            }
                            Err(e) => {
                                prop_assert_eq!(e, ReadingError::NotListed(id(b)));
                                true
                            }
                        }
                    }
                    Op::Remove(b) => r.remove(&book(b), now).is_err(),
                    Op::Genres(gs) => r.set_genres(gs.into_iter().map(genre).collect()).is_err(),
                    Op::Merge(adds) => {
                        let mut other = Reading::default();
                        for (b, p) in adds {
                            let _ = other.add(&book(b), now);
                            let _ = other.update_progress(&book(b), p, None, now);
                        }
                        let listed_before = r.list.entries.len();
                        let started: BTreeSet<BookId> = other
                            .progress
                            .books
                            .iter()
                            .filter(|(_, p)| p.pages_read > 0)
                            .map(|(b, _)| *b)
                            .collect();
                        let dropped = r.merge(other, now, pages_of);
                        if !dropped.is_empty() {
                            prop_assert_eq!(r.list.entries.len(), MAX_LIST);
                        }
                        // Each started book dropped is in the history as
                        // abandoned now (unless more than the cap ended now).
                        let ended_now: BTreeSet<BookId> = r
                            .history
                            .entries
                            .iter()
                            .filter(|e| e.ended_at == now && e.outcome == Outcome::Abandoned)
                            .map(|e| e.book_id)
                            .collect();
                        for b in dropped.iter().filter(|b| started.contains(b)) {
                            prop_assert!(
                                ended_now.contains(b) || r.history.entries.len() == MAX_HISTORY,
                                "started book {:?} dropped without a trace", b
                            );
                        }
                        prop_assert!(r.list.entries.len() >= listed_before);
                        prop_assert_eq!(&r.list.entries[..listed_before], &before.list.entries[..]);
                        false
                    }
                };
                if refused {
                    prop_assert_eq!(&r, &before, "a refused change left the reading changed");
                }
                assert_consistent(&r);
                let again = Reading::from_parts(
                    r.list.clone(),
                    r.progress.clone(),
                    r.history.clone(),
                    r.genres.clone(),
                );
                prop_assert_eq!(&again, &r);
            }
        }
    }
}
