//! Why a value from a visitor was refused, naming the field it came in.

/// A refused value: `field` names the offending field as the client sent
/// it, `message` says what is wrong in words the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    pub field: String,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Trimmed text of 1 to `max` characters without control characters.
pub(crate) fn bounded_text(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, InvalidField> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len == 0 {
        return Err(InvalidField::new(field, "must not be blank"));
    }
    if len > max {
        return Err(InvalidField::new(
            field,
            format!("must be at most {max} characters; got {len}"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}
