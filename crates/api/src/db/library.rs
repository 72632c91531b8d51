//! The library's books, read once at start: they change only by migration,
//! so every instance holds the same books and the same `ETag`.

use std::collections::BTreeSet;
use std::fmt::Display;

use domain::BookId;
use domain::library::{Book, Genre};
use headers::ETag;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryOrder};
use sha2::{Digest, Sha256};

use super::entities::book;
use crate::error::ApiError;

/// Every book, by id.
#[derive(Debug)]
pub struct Library {
    /// Sorted by id.
    books: Vec<Book>,
    version: ETag,
}

impl Library {
    /// Reads every book, in id order. A row no book can be made of (an
    /// unknown or missing genre, no pages, no chapters) is left out with a
    /// warning, so one bad row written by hand cannot stop the service.
    pub async fn load(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let rows = book::Entity::find()
            .order_by_asc(book::Column::Id)
            .all(db)
            .await?;
        Self::from_rows(rows)
    }

    fn from_rows(rows: Vec<book::Model>) -> Result<Self, DbErr> {
        let version = version_of(&rows)?;
        let books = rows.into_iter().filter_map(book_of).collect();
        Ok(Library { books, version })
    }

    /// Every book, by id.
    pub fn books(&self) -> &[Book] {
        &self.books
    }

    pub fn get(&self, id: BookId) -> Option<&Book> {
        self.books
            .binary_search_by_key(&id, |b| b.id)
            .ok()
            .map(|i| &self.books[i])
    }

    /// The library's version, for `ETag`: a digest of every row, so it is
    /// the same on every instance reading the same books.
    pub fn version(&self) -> &ETag {
        &self.version
    }
}

/// The 404 for a book id the library does not hold (or an id that names no
/// book at all), the same wherever a book is looked up by id.
pub fn no_such_book(id: impl Display) -> ApiError {
    ApiError::not_found(format!(
        "There is no book with id {id} in the library; GET /api/v1/books lists them."
    ))
}

/// A row as a book, or `None` (logged) for a row no book can be made of.
fn book_of(row: book::Model) -> Option<Book> {
    let Ok(id) = BookId::try_from(row.id) else {
        tracing::warn!(book = row.id, "a book id below 1; leaving the book out");
        return None;
    };
    let genres = match parse_genres(&row.genres) {
        Ok(genres) => genres,
        Err(e) => {
            tracing::warn!(book = row.id, genres = %row.genres, error = %e, "a book's genres are not of the vocabulary; leaving the book out");
            return None;
        }
    };
    let (Ok(total_pages @ 1..), Ok(chapters @ 1..)) =
        (u32::try_from(row.total_pages), u32::try_from(row.chapters))
    else {
        tracing::warn!(
            book = row.id,
            total_pages = row.total_pages,
            chapters = row.chapters,
            "a book without pages or chapters; leaving it out"
        );
        return None;
    };
    Some(Book {
        id,
        title: row.title,
        author: row.author,
        genres,
        total_pages,
        chapters,
        published_year: row.published_year,
        description: row.description,
        language: row.language,
    })
}

/// The column's comma-separated words: at least one, each of the vocabulary.
fn parse_genres(raw: &str) -> Result<BTreeSet<Genre>, String> {
    let genres = raw
        .split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|g| g.parse::<Genre>().map_err(|e| e.to_string()))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if genres.is_empty() {
        return Err("no genre".into());
    }
    Ok(genres)
}

/// A digest of every column of every row, in id order, each text prefixed
/// by its length so that no two different libraries feed it the same bytes.
fn version_of(rows: &[book::Model]) -> Result<ETag, DbErr> {
    fn text(hash: &mut Sha256, value: &str) {
        hash.update((value.len() as u64).to_le_bytes());
        hash.update(value.as_bytes());
    }
    let mut hash = Sha256::new();
    for row in rows {
        hash.update(row.id.to_le_bytes());
        text(&mut hash, &row.title);
        text(&mut hash, &row.author);
        text(&mut hash, &row.genres);
        hash.update(row.total_pages.to_le_bytes());
        hash.update(row.chapters.to_le_bytes());
        hash.update(row.published_year.to_le_bytes());
        text(&mut hash, &row.description);
        text(&mut hash, &row.language);
    }
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // "library-" keeps it apart from the menu's tags.
    format!("\"library-{hex}\"")
        .parse()
        .map_err(|e| DbErr::Custom(format!("the library's digest {hex} is no entity tag: {e}")))
}

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Database};

    use super::*;

    fn row(id: i32, genres: &str) -> book::Model {
        book::Model {
            id,
            title: format!("Book {id}"),
            author: "A. Author".into(),
            genres: genres.into(),
            total_pages: 100,
            chapters: 10,
            published_year: 1900,
            description: String::new(),
            language: "en".into(),
        }
    }

    #[test]
    fn a_row_whose_genres_do_not_parse_is_left_out_and_the_others_kept() {
        let library = Library::from_rows(vec![
            row(1, "fiction,horror"),
            row(2, "fiction,cookery"),
            row(3, ""),
            row(4, "Mystery"),
        ])
        .unwrap();
        let ids: Vec<i64> = library.books().iter().map(|b| b.id.into()).collect();
        assert_eq!(ids, [1, 4]);
        assert_eq!(
            library.get(BookId::parse(4).unwrap()).unwrap().genres,
            BTreeSet::from([Genre::Mystery])
        );
        assert!(library.get(BookId::parse(2).unwrap()).is_none());
    }

    #[test]
    fn the_version_follows_the_content() {
        let a = Library::from_rows(vec![row(1, "fiction")]).unwrap();
        let b = Library::from_rows(vec![row(1, "fiction")]).unwrap();
        let c = Library::from_rows(vec![row(1, "horror")]).unwrap();
        assert_eq!(a.version(), b.version());
        assert_ne!(a.version(), c.version());
    }

    #[tokio::test]
    async fn the_books_migration_goes_down_and_up_again_on_sqlite_with_its_demo_library() {
        let dir = std::env::temp_dir().join(format!("km-books-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&file);
        let db = Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        Migrator::up(&db, None).await.unwrap();
        let first = Library::load(&db).await.unwrap();
        assert!(first.books().len() >= 40);

        // Down to just before the books (and the later steps), then up again.
        let migrations = Migrator::migrations();
        let position = migrations
            .iter()
            .position(|m| m.name() == "m20261127_000010_create_books")
            .unwrap();
        let steps = u32::try_from(migrations.len() - position).unwrap();
        Migrator::down(&db, Some(steps)).await.unwrap();
        assert!(
            db.execute_unprepared("SELECT 1 FROM books").await.is_err(),
            "the table is gone"
        );
        Migrator::up(&db, None).await.unwrap();

        let again = Library::load(&db).await.unwrap();
        assert_eq!(again.books(), first.books());
        assert_eq!(again.version(), first.version());
        let dracula = again.get(BookId::parse(7).unwrap()).unwrap();
        assert_eq!(
            (
                dracula.title.as_str(),
                dracula.author.as_str(),
                dracula.published_year,
                dracula.chapters
            ),
            ("Dracula", "Bram Stoker", 1897, 27)
        );
        // The CHECKs hold.
        for bad in [
            "INSERT INTO books (title, author, genres, total_pages, chapters, published_year) VALUES ('x', 'y', '', 1, 1, 1)",
            "INSERT INTO books (title, author, genres, total_pages, chapters, published_year) VALUES ('x', 'y', 'fiction', 0, 1, 1)",
            "INSERT INTO books (title, author, genres, total_pages, chapters, published_year) VALUES ('x', 'y', 'fiction', 1, 0, 1)",
        ] {
            assert!(db.execute_unprepared(bad).await.is_err(), "{bad}");
        }
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
