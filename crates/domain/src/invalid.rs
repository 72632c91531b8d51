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

/// Declares a text value: a `String` newtype kept valid by its own
/// `parse(&str) -> Result<Self, InvalidField>`, which serde goes through too,
/// so a stored or sent value is checked exactly as a new one is.
///
/// `text_value!(Name, field "name", max 100)` also writes that `parse`:
/// [`bounded_text`] for `field`, with `MAX_CHARS` set to `max`.
#[macro_export]
#[doc(hidden)]
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, field $field:literal, max $max:literal) => {
        $crate::text_value!($(#[$meta])* $name);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, $crate::invalid::InvalidField> {
                $crate::invalid::bounded_text($field, raw, Self::MAX_CHARS).map($name)
            }
        }
    };
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::invalid::InvalidField;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
