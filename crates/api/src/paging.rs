//! Paging of list answers: `page` and `per_page` in a query, checked the
//! same way for every list (the menu, the library, the reading history),
//! which differ only in the last page one can ask for.

use crate::error::FieldError;

/// Items per page when `per_page` is not given.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// The most items per page.
pub const MAX_PER_PAGE: u32 = 100;

/// Checks `page` (1 to `max_page`, default 1) and `per_page` (1 to
/// [`MAX_PER_PAGE`], default [`DEFAULT_PER_PAGE`]), adding a field error to
/// `errors` for each bad one. The values returned are clamped into bounds,
/// so they are meaningful only when no error was added.
pub fn parse_paging(
    page: Option<i64>,
    per_page: Option<i64>,
    max_page: u32,
    errors: &mut Vec<FieldError>,
) -> (u32, u32) {
    let page = page.unwrap_or(1);
    if !(1..=i64::from(max_page)).contains(&page) {
        errors.push(FieldError {
            field: "page".into(),
            message: format!("page must be between 1 and {max_page}; got {page}"),
        });
    }
    let per_page = per_page.unwrap_or(i64::from(DEFAULT_PER_PAGE));
    if !(1..=i64::from(MAX_PER_PAGE)).contains(&per_page) {
        errors.push(FieldError {
            field: "per_page".into(),
            message: format!("per_page must be between 1 and {MAX_PER_PAGE}; got {per_page}"),
        });
    }
    (
        page.clamp(1, i64::from(max_page)) as u32,
        per_page.clamp(1, i64::from(MAX_PER_PAGE)) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(page: Option<i64>, per_page: Option<i64>, max_page: u32) -> (u32, u32, Vec<String>) {
        let mut errors = Vec::new();
        let (p, n) = parse_paging(page, per_page, max_page, &mut errors);
        (p, n, errors.into_iter().map(|e| e.message).collect())
    }

    #[test]
    fn defaults_to_the_first_page_of_twenty() {
        assert_eq!(parse(None, None, 500), (1, DEFAULT_PER_PAGE, vec![]));
    }

    #[test]
    fn the_last_page_is_the_one_given() {
        assert_eq!(parse(Some(500), Some(100), 500), (500, 100, vec![]));
        let (_, _, errors) = parse(Some(501), None, 500);
        assert_eq!(errors, ["page must be between 1 and 500; got 501"]);
    }

    #[test]
    fn names_each_bad_value() {
        let (_, _, errors) = parse(Some(0), Some(101), 10_000);
        assert_eq!(
            errors,
            [
                "page must be between 1 and 10000; got 0",
                "per_page must be between 1 and 100; got 101"
            ]
        );
    }
}
