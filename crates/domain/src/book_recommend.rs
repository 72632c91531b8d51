//! Book recommendations from the reader's history, list and favorite genres.

use crate::library::{Book, Genre};
use crate::reading::Reading;
use crate::values::BookId;

/// Why a book is recommended, in words a reader understands.
#[derive(Debug, Clone, PartialEq)]
pub enum BookReason {
    /// "Because you finished Dracula"
    Finished { title: String },
    /// "Because you are reading Dracula"
    Reading { title: String },
    /// "You like mystery"
    LikesGenre(Genre),
    /// "You have read Bram Stoker"
    ReadAuthor { author: String },
    /// For a reader with nothing to go on: "A popular mystery to start with"
    Starter(Genre),
}

impl BookReason {
    pub fn describe(&self) -> String {
        todo!("book_recommend: describe")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookRecommendation {
    pub book_id: BookId,
    pub score: f64,
    pub reasons: Vec<BookReason>,
}

/// Up to `limit` books not on the list and not finished, best first (equal
/// scores by book id); a reader with no history, list or genres gets a
/// varied starter set across genres.
pub fn recommend_books(books: &[Book], reading: &Reading, limit: usize) -> Vec<BookRecommendation> {
    let _ = (books, reading, limit);
    todo!("book_recommend: recommend_books")
}
