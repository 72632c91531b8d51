//! Book recommendations from the reader's history, list and favorite genres.
//!
//! Scores are whole numbers of points (thousandths of "one finished book"),
//! so equal scores are exactly equal and the order never depends on float
//! rounding. The rules:
//!
//! 1. **Candidates** are the library's books that are not on the reading list
//!    and were never finished. A book the reader abandoned may come back, but
//!    its own abandonment counts against it (rule 2), so it rarely does.
//! 2. **What each book the reader touched weighs** (its *weight*):
//!    - finished at least once: [`FINISHED`] (1000), whatever came after;
//!    - otherwise on the list: the share read, `1000 * pages_read / total_pages`
//!      (a book not yet opened weighs nothing);
//!    - otherwise abandoned (its latest abandonment): minus the share left
//!      unread, `-1000 * (total - pages_read) / total`: dropping a book after
//!      ten pages says more than dropping it near the end.
//!
//!    Books no longer in the library are skipped (their genres are unknown).
//! 3. **A candidate's score** adds, for every weighed book, its weight once
//!    per genre they share ([`GENRE_SHARE`] per thousand) and, when they have
//!    the same author, [`SAME_AUTHOR`] per thousand of its weight; then
//!    [`FAVORITE_GENRE`] for each of the candidate's genres among the
//!    favorites. Every term grows with the weights, so finishing another book
//!    can only raise the score of a book that shares its genre or author.
//! 4. **Order**: a reader with anything to go on (a listed or past book, or a
//!    favorite genre) first gets the books with a positive score, highest
//!    first, equal scores by book id. The rest, up to `limit`, is filled from
//!    the starter order (rule 5) with books whose score is zero; a book with a
//!    negative score (its genre or author was abandoned) is never offered.
//! 5. **Starters** (a reader with nothing to go on, or the fill of rule 4):
//!    round-robin over the genres in the vocabulary's order, each turn taking
//!    the oldest book (by published year, then id) of that genre not yet
//!    taken, so no genre gets a second book before every genre with books has
//!    one.
//!
//! Reasons: the books that raised the score ("Because you finished Dracula",
//! "Because you are reading Emma"; the three that count most), then each
//! favorite genre matched ("You like mystery"), then the author ("You have
//! read Agatha Christie before") when the reader finished a book by that
//! author or read at least [`REAL_SHARE`] of one (a quarter; a book only begun
//! does not count), and their books by that author weigh more than nothing in
//! all; a starter says which genre's turn picked it.
//!
//! The answer is a starter set (see [`all_starters`]) when no item has a
//! positive score: every item is then a first pick.

use std::collections::{BTreeMap, BTreeSet};

use crate::library::{Book, Genre};
use crate::reading::{Outcome, Reading};
use crate::values::BookId;

/// The weight of a finished book; the unit of every score.
pub const FINISHED: i64 = 1000;
/// Per thousand of a weighed book's weight, for each genre it shares with
/// the candidate.
pub const GENRE_SHARE: i64 = 1000;
/// Per thousand of a weighed book's weight, when it has the candidate's
/// author.
pub const SAME_AUTHOR: i64 = 1500;
/// For each of the candidate's genres among the favorites: as much as two
/// finished books of that genre, so a stated taste outweighs one book read.
pub const FAVORITE_GENRE: i64 = 2000;
/// How much of a book by an author (in thousandths) the reader must have read
/// for "You have read ... before": a quarter, or the book finished.
pub const REAL_SHARE: i64 = 250;
/// The most "Because you finished/are reading ..." reasons on one book.
pub const MAX_SOURCE_REASONS: usize = 3;

/// Why a book is recommended, in words a reader understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookReason {
    /// "Because you finished Dracula"
    Finished { title: String },
    /// "Because you are reading Dracula"
    Reading { title: String },
    /// "You like mystery"
    LikesGenre(Genre),
    /// "You have read Bram Stoker before"
    ReadAuthor { author: String },
    /// For a reader with nothing to go on, or to fill the list: "A first pick
    /// from the mystery shelf"
    Starter(Genre),
}

impl BookReason {
    /// The reason as a reader reads it.
    pub fn describe(&self) -> String {
        match self {
            BookReason::Finished { title } => format!("Because you finished {title}"),
            BookReason::Reading { title } => format!("Because you are reading {title}"),
            BookReason::LikesGenre(genre) => format!("You like {genre}"),
            BookReason::ReadAuthor { author } => format!("You have read {author} before"),
            BookReason::Starter(genre) => format!("A first pick from the {genre} shelf"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRecommendation {
    pub book_id: BookId,
    /// Points, a thousand to a finished book of the same genre; 0 for a
    /// starter.
    pub score: i64,
    pub reasons: Vec<BookReason>,
}

/// Whether the reader has anything for the recommendations to learn from: a
/// book on the list, one in the history, or a favorite genre. Without, the
/// recommendations are all starters.
pub fn has_signals(reading: &Reading) -> bool {
    !reading.list.entries.is_empty()
        || !reading.history.entries.is_empty()
        || !reading.genres.0.is_empty()
}

/// Whether `recs` is a starter set: no item has a positive score, so every
/// item is a first pick ("A first pick from ..."). True of no items too.
/// A reader with something to go on can still get one, when nothing they
/// read speaks for any book yet (say, a listed book not yet opened).
pub fn all_starters(recs: &[BookRecommendation]) -> bool {
    recs.iter().all(|r| r.score <= 0)
}

/// Up to `limit` books not on the list and not finished, best first (equal
/// scores by book id); a reader with no history, list or genres gets a
/// varied starter set across genres. See the module's rules.
pub fn recommend_books(books: &[Book], reading: &Reading, limit: usize) -> Vec<BookRecommendation> {
    if limit == 0 {
        return Vec::new();
    }
    let weighed = weigh(books, reading);
    let excluded: BTreeSet<BookId> = reading
        .list
        .entries
        .iter()
        .map(|e| e.book_id)
        .chain(
            reading
                .history
                .entries
                .iter()
                .filter(|e| e.outcome == Outcome::Finished)
                .map(|e| e.book_id),
        )
        .collect();
    let mut scored: Vec<BookRecommendation> = Vec::new();
    let mut zero: BTreeSet<BookId> = BTreeSet::new();
    if has_signals(reading) {
        for book in books.iter().filter(|b| !excluded.contains(&b.id)) {
            let rec = score(book, &weighed, &reading.genres.0);
            match rec.score {
                s if s > 0 => scored.push(rec),
                0 => {
                    zero.insert(book.id);
                }
                _ => {}
            }
        }
    } else {
        zero.extend(
            books
                .iter()
                .map(|b| b.id)
                .filter(|id| !excluded.contains(id)),
        );
    }
    scored.sort_by(|a, b| b.score.cmp(&a.score).then(a.book_id.cmp(&b.book_id)));
    scored.truncate(limit);
    let room = limit - scored.len();
    scored.extend(
        starters(books, &zero, room)
            .into_iter()
            .map(|(book_id, genre)| BookRecommendation {
                book_id,
                score: 0,
                reasons: vec![BookReason::Starter(genre)],
            }),
    );
    scored
}

/// A book the reader touched, with its weight (rule 2).
struct Weighed<'a> {
    book: &'a Book,
    weight: i64,
    finished: bool,
    /// How much of it was read, in thousandths ([`FINISHED`] when finished).
    read: i64,
}

/// Rule 2: each book of the list and the history once, with its weight, in
/// book id order.
fn weigh<'a>(books: &'a [Book], reading: &Reading) -> Vec<Weighed<'a>> {
    let by_id: BTreeMap<BookId, &Book> = books.iter().map(|b| (b.id, b)).collect();
    // (weight, finished, share read) of each book.
    let mut weights: BTreeMap<BookId, (i64, bool, i64)> = BTreeMap::new();
    // The history is newest first: the first abandonment seen is the latest.
    for entry in &reading.history.entries {
        match entry.outcome {
            Outcome::Finished => {
                weights.insert(entry.book_id, (FINISHED, true, FINISHED));
            }
            Outcome::Abandoned => {
                let unread = share(
                    entry.total_pages.saturating_sub(entry.pages_read),
                    entry.total_pages,
                );
                let read = share(entry.pages_read, entry.total_pages);
                weights
                    .entry(entry.book_id)
                    .or_insert((-unread, false, read));
            }
        }
    }
    for entry in &reading.list.entries {
        let Some(book) = by_id.get(&entry.book_id) else {
            continue;
        };
        let pages = reading
            .progress
            .books
            .get(&entry.book_id)
            .map_or(0, |p| p.pages_read);
        let read = share(pages, book.total_pages);
        match weights.get(&entry.book_id) {
            Some((_, true, _)) => {}
            _ => {
                weights.insert(entry.book_id, (read, false, read));
            }
        }
    }
    weights
        .into_iter()
        .filter_map(|(id, (weight, finished, read))| {
            by_id.get(&id).map(|book| Weighed {
                book,
                weight,
                finished,
                read,
            })
        })
        .collect()
}

/// `part / whole` in thousandths, at most [`FINISHED`]; 0 of nothing.
fn share(part: u32, whole: u32) -> i64 {
    if whole == 0 {
        return 0;
    }
    (i64::from(part.min(whole)) * FINISHED) / i64::from(whole)
}

fn same_author(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Rule 3, with the reasons.
fn score(book: &Book, weighed: &[Weighed<'_>], favorites: &[Genre]) -> BookRecommendation {
    let mut total: i64 = 0;
    let mut author_weight: i64 = 0;
    // The reader finished a book by the author or read a real share of one.
    let mut author_read = false;
    // (contribution, book id, reason) of the books that raised the score.
    let mut sources: Vec<(i64, BookId, BookReason)> = Vec::new();
    for w in weighed {
        let shared = i64::try_from(w.book.genres.intersection(&book.genres).count())
            .unwrap_or(i64::MAX / FINISHED);
        let mut part = w.weight * shared * GENRE_SHARE / FINISHED;
        if same_author(&w.book.author, &book.author) {
            part += w.weight * SAME_AUTHOR / FINISHED;
            author_weight += w.weight;
            author_read |= w.finished || w.read >= REAL_SHARE;
        }
        total += part;
        if part > 0 {
            let title = w.book.title.clone();
            let reason = if w.finished {
                BookReason::Finished { title }
            } else {
                BookReason::Reading { title }
            };
            sources.push((part, w.book.id, reason));
        }
    }
    sources.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut reasons: Vec<BookReason> = sources
        .into_iter()
        .take(MAX_SOURCE_REASONS)
        .map(|(_, _, r)| r)
        .collect();
    for genre in favorites.iter().filter(|g| book.genres.contains(g)) {
        total += FAVORITE_GENRE;
        reasons.push(BookReason::LikesGenre(*genre));
    }
    if author_read && author_weight > 0 {
        reasons.push(BookReason::ReadAuthor {
            author: book.author.clone(),
        });
    }
    BookRecommendation {
        book_id: book.id,
        score: total,
        reasons,
    }
}

/// Rule 5: up to `limit` of the `eligible` books, round-robin over the
/// genres, each with the genre whose turn picked it.
fn starters(books: &[Book], eligible: &BTreeSet<BookId>, limit: usize) -> Vec<(BookId, Genre)> {
    let mut by_age: Vec<&Book> = books.iter().filter(|b| eligible.contains(&b.id)).collect();
    by_age.sort_by(|a, b| {
        a.published_year
            .cmp(&b.published_year)
            .then(a.id.cmp(&b.id))
    });
    // Each genre's books, oldest first; genres in the vocabulary's order.
    let mut shelves: BTreeMap<Genre, Vec<&Book>> = BTreeMap::new();
    for book in &by_age {
        for genre in &book.genres {
            shelves.entry(*genre).or_default().push(book);
        }
    }
    let mut next: BTreeMap<Genre, usize> = BTreeMap::new();
    let mut taken: BTreeSet<BookId> = BTreeSet::new();
    let mut picks = Vec::new();
    while picks.len() < limit && taken.len() < by_age.len() {
        let mut progressed = false;
        for (genre, shelf) in &shelves {
            if picks.len() >= limit {
                break;
            }
            let at = next.entry(*genre).or_insert(0);
            while *at < shelf.len() && taken.contains(&shelf[*at].id) {
                *at += 1;
            }
            if let Some(book) = shelf.get(*at) {
                taken.insert(book.id);
                picks.push((book.id, *genre));
                *at += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{
        BookProgress, FavoriteGenres, HistoryEntry, ListEntry, Progress, ReadingHistory,
        ReadingList,
    };
    use Genre::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn id(n: i64) -> BookId {
        BookId::parse(n).unwrap()
    }

    fn book(n: i64, title: &str, author: &str, genres: &[Genre], year: i32) -> Book {
        Book {
            id: id(n),
            title: title.into(),
            author: author.into(),
            genres: genres.iter().copied().collect(),
            total_pages: 200,
            chapters: 10,
            published_year: year,
            description: String::new(),
            language: "en".into(),
        }
    }

    /// A small library: three mysteries (two by Christie), horror, romance,
    /// science fiction, poetry.
    fn library() -> Vec<Book> {
        vec![
            book(1, "Dracula", "Bram Stoker", &[Horror, Fiction], 1897),
            book(
                2,
                "The Murder of Roger Ackroyd",
                "Agatha Christie",
                &[Mystery],
                1926,
            ),
            book(
                3,
                "Murder on the Orient Express",
                "Agatha Christie",
                &[Mystery],
                1934,
            ),
            book(
                4,
                "The Hound of the Baskervilles",
                "Arthur Conan Doyle",
                &[Mystery],
                1902,
            ),
            book(5, "Emma", "Jane Austen", &[Romance, Fiction], 1815),
            book(
                6,
                "Pride and Prejudice",
                "Jane Austen",
                &[Romance, Fiction],
                1813,
            ),
            book(
                7,
                "The Time Machine",
                "H. G. Wells",
                &[ScienceFiction],
                1895,
            ),
            book(8, "Leaves of Grass", "Walt Whitman", &[Poetry], 1855),
            book(
                9,
                "Frankenstein",
                "Mary Shelley",
                &[Horror, ScienceFiction],
                1818,
            ),
        ]
    }

    fn finished(book: &Book) -> HistoryEntry {
        HistoryEntry {
            book_id: book.id,
            outcome: Outcome::Finished,
            pages_read: book.total_pages,
            total_pages: book.total_pages,
            current_chapter: book.chapters,
            started_at: NOW,
            ended_at: NOW,
        }
    }

    fn abandoned(book: &Book, pages_read: u32) -> HistoryEntry {
        HistoryEntry {
            outcome: Outcome::Abandoned,
            pages_read,
            current_chapter: 1,
            ..finished(book)
        }
    }

    /// A reading with the given list (book, pages read), history (newest
    /// first) and favorite genres.
    fn reading(list: &[(&Book, u32)], history: Vec<HistoryEntry>, genres: &[Genre]) -> Reading {
        Reading {
            list: ReadingList {
                entries: list
                    .iter()
                    .map(|(b, _)| ListEntry {
                        book_id: b.id,
                        added_at: NOW,
                    })
                    .collect(),
            },
            progress: Progress {
                books: list
                    .iter()
                    .map(|(b, pages)| {
                        (
                            b.id,
                            BookProgress {
                                pages_read: *pages,
                                current_chapter: 1,
                                started_at: NOW,
                                last_read_at: None,
                            },
                        )
                    })
                    .collect(),
            },
            history: ReadingHistory { entries: history },
            genres: FavoriteGenres(genres.to_vec()),
        }
    }

    fn ids(recs: &[BookRecommendation]) -> Vec<i64> {
        recs.iter().map(|r| i64::from(r.book_id.get())).collect()
    }

    fn rec(recs: &[BookRecommendation], n: i64) -> &BookRecommendation {
        recs.iter().find(|r| r.book_id == id(n)).unwrap()
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            BookReason::Finished {
                title: "Dracula".into()
            }
            .describe(),
            "Because you finished Dracula"
        );
        assert_eq!(
            BookReason::Reading {
                title: "Emma".into()
            }
            .describe(),
            "Because you are reading Emma"
        );
        assert_eq!(
            BookReason::LikesGenre(Mystery).describe(),
            "You like mystery"
        );
        assert_eq!(
            BookReason::ReadAuthor {
                author: "Agatha Christie".into()
            }
            .describe(),
            "You have read Agatha Christie before"
        );
        assert_eq!(
            BookReason::Starter(ScienceFiction).describe(),
            "A first pick from the science-fiction shelf"
        );
    }

    #[test]
    fn a_new_reader_gets_one_book_of_each_genre_before_a_second_of_any() {
        let books = library();
        let recs = recommend_books(&books, &Reading::default(), 10);
        // Genres with books, in vocabulary order: fiction, mystery,
        // science-fiction, romance, poetry, horror; each takes its oldest
        // book not yet taken.
        assert_eq!(ids(&recs)[..6], [6, 4, 9, 5, 8, 1]);
        let genres: Vec<Genre> = recs[..6]
            .iter()
            .map(|r| match r.reasons[..] {
                [BookReason::Starter(g)] => g,
                _ => panic!("a starter has one starter reason: {r:?}"),
            })
            .collect();
        assert_eq!(
            genres,
            [Fiction, Mystery, ScienceFiction, Romance, Poetry, Horror]
        );
        assert!(recs.iter().all(|r| r.score == 0));
        // The second round: the next oldest of the genres that still have
        // books (fiction's Emma went to romance, Dracula to horror).
        assert_eq!(ids(&recs)[6..], [2, 7, 3]);
    }

    #[test]
    fn a_new_reader_gets_at_most_limit_books_and_none_for_zero() {
        let books = library();
        assert_eq!(recommend_books(&books, &Reading::default(), 3).len(), 3);
        assert!(recommend_books(&books, &Reading::default(), 0).is_empty());
        assert_eq!(
            recommend_books(&books, &Reading::default(), 50).len(),
            books.len()
        );
        assert!(recommend_books(&[], &Reading::default(), 10).is_empty());
    }

    #[test]
    fn a_finished_mystery_raises_mysteries_and_most_the_same_author() {
        let books = library();
        let r = reading(&[], vec![finished(&books[1])], &[]);
        let recs = recommend_books(&books, &r, 10);
        // Christie's other mystery (genre + author), then the other mystery.
        assert_eq!(ids(&recs)[..2], [3, 4]);
        assert_eq!(rec(&recs, 3).score, GENRE_SHARE + SAME_AUTHOR);
        assert_eq!(rec(&recs, 4).score, GENRE_SHARE);
        assert_eq!(
            rec(&recs, 3).reasons,
            [
                BookReason::Finished {
                    title: "The Murder of Roger Ackroyd".into()
                },
                BookReason::ReadAuthor {
                    author: "Agatha Christie".into()
                },
            ]
        );
        assert_eq!(
            rec(&recs, 4).reasons,
            [BookReason::Finished {
                title: "The Murder of Roger Ackroyd".into()
            }]
        );
        // The finished book itself is not offered; the rest are starters.
        assert!(!ids(&recs).contains(&2));
        assert!(
            recs[2..]
                .iter()
                .all(|r| r.score == 0 && matches!(r.reasons[..], [BookReason::Starter(_)]))
        );
        assert_eq!(recs.len(), books.len() - 1);
    }

    #[test]
    fn a_book_in_progress_counts_by_the_share_read() {
        let books = library();
        // Half of Emma read: romance and fiction books gain half a book each.
        let r = reading(&[(&books[4], 100)], vec![], &[]);
        let recs = recommend_books(&books, &r, 10);
        assert_eq!(ids(&recs)[..2], [6, 1]);
        // Pride and Prejudice: romance + fiction + Austen, each half.
        assert_eq!(rec(&recs, 6).score, (2 * GENRE_SHARE + SAME_AUTHOR) / 2);
        assert_eq!(rec(&recs, 1).score, GENRE_SHARE / 2);
        assert_eq!(
            rec(&recs, 6).reasons,
            [
                BookReason::Reading {
                    title: "Emma".into()
                },
                BookReason::ReadAuthor {
                    author: "Jane Austen".into()
                },
            ]
        );
        assert!(!ids(&recs).contains(&5), "a listed book is not recommended");
        // Not yet opened: nothing to learn, all starters.
        let r = reading(&[(&books[4], 0)], vec![], &[]);
        let recs = recommend_books(&books, &r, 10);
        assert!(recs.iter().all(|r| r.score == 0));
        assert!(!ids(&recs).contains(&5));
    }

    #[test]
    fn an_author_only_begun_is_not_one_the_reader_has_read() {
        let books = library();
        // 20 pages of Emma's 200: a tenth, under a quarter.
        let begun = recommend_books(&books, &reading(&[(&books[4], 20)], vec![], &[]), 10);
        assert_eq!(
            rec(&begun, 6).reasons,
            [BookReason::Reading {
                title: "Emma".into()
            }]
        );
        // A quarter read counts.
        let quarter = recommend_books(&books, &reading(&[(&books[4], 50)], vec![], &[]), 10);
        assert!(rec(&quarter, 6).reasons.contains(&BookReason::ReadAuthor {
            author: "Jane Austen".into()
        }));
        // Emma dropped after three quarters, Pride and Prejudice finished:
        // Austen counts as read for a third Austen.
        let mut more = books.clone();
        more.push(book(10, "Persuasion", "Jane Austen", &[Romance], 1817));
        let r = reading(
            &[],
            vec![abandoned(&books[4], 150), finished(&books[5])],
            &[],
        );
        let recs = recommend_books(&more, &r, 10);
        assert!(rec(&recs, 10).reasons.contains(&BookReason::ReadAuthor {
            author: "Jane Austen".into()
        }));
    }

    #[test]
    fn the_answer_is_a_starter_set_exactly_when_no_item_scores() {
        let books = library();
        assert!(all_starters(&recommend_books(
            &books,
            &Reading::default(),
            10
        )));
        // A listed book not yet opened: something to go on, nothing learned.
        let unopened = recommend_books(&books, &reading(&[(&books[4], 0)], vec![], &[]), 10);
        assert!(all_starters(&unopened));
        let begun = recommend_books(&books, &reading(&[(&books[4], 20)], vec![], &[]), 10);
        assert!(!all_starters(&begun));
        let liked = recommend_books(&books, &reading(&[], vec![], &[Poetry]), 10);
        assert!(!all_starters(&liked));
        assert!(all_starters(&[]));
    }

    #[test]
    fn a_book_read_further_raises_its_genre_more() {
        let books = library();
        let little = recommend_books(&books, &reading(&[(&books[4], 20)], vec![], &[]), 10);
        let much = recommend_books(&books, &reading(&[(&books[4], 180)], vec![], &[]), 10);
        assert!(rec(&much, 6).score > rec(&little, 6).score);
    }

    #[test]
    fn an_abandoned_book_counts_against_its_genre_and_author_the_more_the_earlier() {
        let books = library();
        // Dracula dropped after 20 pages of 200: horror and fiction go down
        // by nine tenths of a book each.
        let r = reading(&[], vec![abandoned(&books[0], 20)], &[Horror]);
        let recs = recommend_books(&books, &r, 50);
        // Frankenstein: a favorite genre, less the dropped horror.
        assert_eq!(rec(&recs, 9).score, FAVORITE_GENRE - 900);
        // Emma and Pride and Prejudice share fiction: negative, not offered;
        // Dracula itself counts against itself (horror, fiction, author).
        for n in [1, 5, 6] {
            assert!(!ids(&recs).contains(&n), "book {n} is not offered");
        }
        // Dropped near the end: a smaller penalty.
        let late = reading(&[], vec![abandoned(&books[0], 180)], &[Horror]);
        let recs_late = recommend_books(&books, &late, 50);
        assert_eq!(rec(&recs_late, 9).score, FAVORITE_GENRE - 100);
    }

    #[test]
    fn an_abandoned_book_can_come_back_when_other_signals_outweigh_it() {
        let books = library();
        let r = reading(
            &[],
            vec![abandoned(&books[0], 180), finished(&books[8])],
            &[Horror],
        );
        let recs = recommend_books(&books, &r, 50);
        // Dracula: horror favorite 2000, Frankenstein's horror +1000, its own
        // horror, fiction and Stoker -100 each (less 50 for the author).
        assert_eq!(rec(&recs, 1).score, 2000 + 1000 - 100 - 100 - 150);
    }

    #[test]
    fn a_book_finished_once_counts_as_finished_even_after_being_dropped_on_a_reread() {
        let books = library();
        let r = reading(
            &[],
            vec![abandoned(&books[1], 10), finished(&books[1])],
            &[],
        );
        let recs = recommend_books(&books, &r, 50);
        assert_eq!(rec(&recs, 4).score, GENRE_SHARE);
        assert!(!ids(&recs).contains(&2));
    }

    #[test]
    fn a_favorite_genre_is_a_strong_boost_per_match() {
        let books = library();
        let r = reading(&[], vec![finished(&books[1])], &[Romance, Fiction]);
        let recs = recommend_books(&books, &r, 50);
        // Emma and Pride: two favorites each (4000) outrank Christie's
        // other mystery (2500); Dracula has one (fiction).
        assert_eq!(ids(&recs)[..5], [5, 6, 3, 1, 4]);
        assert_eq!(rec(&recs, 5).score, 2 * FAVORITE_GENRE);
        assert_eq!(
            rec(&recs, 5).reasons,
            [
                BookReason::LikesGenre(Romance),
                BookReason::LikesGenre(Fiction)
            ]
        );
    }

    #[test]
    fn only_favorite_genres_still_personalize_and_fill_with_starters() {
        let books = library();
        let r = reading(&[], vec![], &[Poetry]);
        let recs = recommend_books(&books, &r, 3);
        assert_eq!(ids(&recs)[0], 8);
        assert_eq!(recs[0].reasons, [BookReason::LikesGenre(Poetry)]);
        // Then starters across the other genres.
        assert_eq!(ids(&recs)[1..], [6, 4]);
    }

    #[test]
    fn equal_scores_are_ordered_by_book_id() {
        let books = library();
        let r = reading(&[], vec![], &[Mystery]);
        let recs = recommend_books(&books, &r, 3);
        assert_eq!(ids(&recs), [2, 3, 4]);
    }

    #[test]
    fn the_reasons_name_at_most_three_books_those_that_count_most() {
        let mut books = library();
        for n in 10..16 {
            books.push(book(n, &format!("Mystery {n}"), "Anon", &[Mystery], 1950));
        }
        let history = (10..15).map(|n| finished(&books[n as usize - 1])).collect();
        // Orient Express read most of the way: counts less than the others.
        let r = reading(&[(&books[2], 150)], history, &[]);
        let recs = recommend_books(&books, &r, 50);
        let reasons = &rec(&recs, 15).reasons;
        assert_eq!(
            reasons[..],
            [
                BookReason::Finished {
                    title: "Mystery 10".into()
                },
                BookReason::Finished {
                    title: "Mystery 11".into()
                },
                BookReason::Finished {
                    title: "Mystery 12".into()
                },
                BookReason::ReadAuthor {
                    author: "Anon".into()
                },
            ]
        );
    }

    #[test]
    fn history_of_books_no_longer_in_the_library_is_ignored() {
        let books = library();
        let gone = book(99, "Gone", "Nobody", &[Mystery], 2000);
        let r = reading(&[], vec![finished(&gone)], &[]);
        let recs = recommend_books(&books, &r, 50);
        assert!(recs.iter().all(|r| r.score == 0));
        assert_eq!(recs.len(), books.len());
    }

    // Property tests over random libraries and readers.

    fn any_book(n: i64) -> impl Strategy<Value = Book> {
        (
            proptest::sample::subsequence(
                vec![Fiction, Mystery, Horror, Romance, Poetry, History],
                1..3,
            ),
            0usize..4,
            1u32..400,
            1800i32..2000,
        )
            .prop_map(move |(genres, author, pages, year)| Book {
                total_pages: pages,
                ..book(
                    n,
                    &format!("Book {n}"),
                    ["A", "B", "C", "D"][author],
                    &genres,
                    year,
                )
            })
    }

    fn any_library() -> impl Strategy<Value = Vec<Book>> {
        (1usize..25).prop_flat_map(|n| (1..=n as i64).map(any_book).collect::<Vec<_>>())
    }

    /// A library and a reader of it: some books listed with progress, some
    /// finished or abandoned, some favorite genres.
    fn any_case() -> impl Strategy<Value = (Vec<Book>, Reading)> {
        any_library().prop_flat_map(|books| {
            let n = books.len();
            (
                Just(books),
                proptest::collection::vec((0..n, 0u32..=1000, 0u8..4), 0..12),
                proptest::sample::subsequence(vec![Fiction, Mystery, Horror, Poetry], 0..3),
            )
                .prop_map(|(books, touches, genres)| {
                    let mut list: Vec<(&Book, u32)> = Vec::new();
                    let mut history = Vec::new();
                    for (i, permille, kind) in touches {
                        let b = &books[i];
                        let pages = (u64::from(b.total_pages) * u64::from(permille) / 1000) as u32;
                        match kind {
                            0 if !list.iter().any(|(l, _)| l.id == b.id) => list.push((b, pages)),
                            1 => history.push(finished(b)),
                            2 | 3 => {
                                history.push(abandoned(b, pages.clamp(1, b.total_pages.max(2) - 1)))
                            }
                            _ => {}
                        }
                    }
                    let r = reading(&list, history, &genres);
                    (books, r)
                })
        })
    }

    fn finished_ids(r: &Reading) -> BTreeSet<BookId> {
        r.history
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::Finished)
            .map(|e| e.book_id)
            .collect()
    }

    proptest! {
        #[test]
        fn never_a_book_already_listed_or_finished((books, r) in any_case(), limit in 0usize..60) {
            let recs = recommend_books(&books, &r, limit);
            let finished = finished_ids(&r);
            for rec in &recs {
                prop_assert!(!r.list.entries.iter().any(|e| e.book_id == rec.book_id));
                prop_assert!(!finished.contains(&rec.book_id));
            }
        }

        #[test]
        fn at_most_limit_each_book_once_best_first((books, r) in any_case(), limit in 0usize..60) {
            let recs = recommend_books(&books, &r, limit);
            prop_assert!(recs.len() <= limit);
            let distinct: BTreeSet<BookId> = recs.iter().map(|r| r.book_id).collect();
            prop_assert_eq!(distinct.len(), recs.len());
            prop_assert!(recs.iter().all(|r| r.score >= 0 && !r.reasons.is_empty()));
            // Scored books first, highest first, equal scores by id.
            let scored: Vec<_> = recs.iter().filter(|r| r.score > 0).collect();
            prop_assert!(recs[..scored.len()].iter().all(|r| r.score > 0));
            for pair in scored.windows(2) {
                prop_assert!(
                    pair[0].score > pair[1].score
                        || (pair[0].score == pair[1].score && pair[0].book_id < pair[1].book_id)
                );
            }
        }

        #[test]
        fn the_same_input_gives_the_same_output((books, r) in any_case(), limit in 0usize..60) {
            let first = recommend_books(&books, &r, limit);
            prop_assert_eq!(&first, &recommend_books(&books, &r, limit));
            // Nor does the order of the library matter.
            let mut reversed = books.clone();
            reversed.reverse();
            prop_assert_eq!(&first, &recommend_books(&reversed, &r, limit));
        }

        #[test]
        fn a_new_reader_sees_every_genre_before_a_second_of_any(books in any_library(), limit in 1usize..30) {
            let recs = recommend_books(&books, &Reading::default(), limit);
            prop_assert_eq!(recs.len(), limit.min(books.len()));
            let mut seen: Vec<Genre> = Vec::new();
            for rec in &recs {
                let [BookReason::Starter(g)] = rec.reasons[..] else {
                    return Err(TestCaseError::fail("a starter has one starter reason"));
                };
                let book = books.iter().find(|b| b.id == rec.book_id).unwrap();
                prop_assert!(book.genres.contains(&g));
                if seen.contains(&g) {
                    // A genre's second turn: every genre that still had a
                    // book not yet taken at this point has had its first.
                    let taken: BTreeSet<BookId> = recs.iter().take_while(|r| r.book_id != rec.book_id).map(|r| r.book_id).collect();
                    for other in books.iter().filter(|b| !taken.contains(&b.id)) {
                        for og in &other.genres {
                            prop_assert!(seen.contains(og), "{og} had no turn before {g}'s second");
                        }
                    }
                }
                seen.push(g);
            }
        }

        #[test]
        fn another_finish_in_a_genre_never_lowers_a_book_of_that_genre(
            (books, r) in any_case(),
            pick in any::<proptest::sample::Index>(),
        ) {
            let done = finished_ids(&r);
            let listed: BTreeSet<BookId> = r.list.entries.iter().map(|e| e.book_id).collect();
            let x = pick.get(&books);
            prop_assume!(!done.contains(&x.id));
            // Finish x: off the list (if on it) into the history, newest first.
            let mut after = r.clone();
            after.list.entries.retain(|e| e.book_id != x.id);
            after.progress.books.remove(&x.id);
            after.history.entries.insert(0, finished(x));
            let everything = books.len();
            let before = recommend_books(&books, &r, everything);
            let later = recommend_books(&books, &after, everything);
            for b in books.iter().filter(|b| {
                b.id != x.id
                    && !done.contains(&b.id)
                    && !listed.contains(&b.id)
                    && !b.genres.is_disjoint(&x.genres)
            }) {
                let old = before.iter().find(|r| r.book_id == b.id).map(|r| r.score);
                let new = later.iter().find(|r| r.book_id == b.id).map(|r| r.score);
                if let Some(old) = old {
                    // Recommended before: still recommended, with a score
                    // no lower and above zero.
                    let new = new.expect("still recommended");
                    prop_assert!(new >= old, "book {} fell from {old} to {new}", b.id.get());
                    prop_assert!(new > 0);
                    // Nor does it fall below a book that was under it and
                    // has nothing to do with x (no genre, not the author).
                    let at = |recs: &[BookRecommendation], id: BookId| {
                        recs.iter().position(|r| r.book_id == id)
                    };
                    let (was, is) = (at(&before, b.id).unwrap(), at(&later, b.id).unwrap());
                    for c in &before[was + 1..] {
                        let cb = books.iter().find(|k| k.id == c.book_id).unwrap();
                        if cb.id != x.id && cb.genres.is_disjoint(&x.genres) && !same_author(&cb.author, &x.author) {
                            prop_assert!(at(&later, cb.id).is_some_and(|c_is| c_is > is),
                                "book {} fell below book {}", b.id.get(), cb.id.get());
                        }
                    }
                    let because = BookReason::Finished { title: x.title.clone() };
                    // Named among the reasons, unless three others count
                    // as much or more.
                    let says_why = later.iter().any(|r| {
                        r.book_id == b.id
                            && (r.reasons.contains(&because)
                                || r.reasons
                                    .iter()
                                    .filter(|r| matches!(r, BookReason::Finished { .. } | BookReason::Reading { .. }))
                                    .count()
                                    == MAX_SOURCE_REASONS)
                    });
                    prop_assert!(says_why, "book {} does not name the finished book", b.id.get());
                }
            }
        }
    }
}
