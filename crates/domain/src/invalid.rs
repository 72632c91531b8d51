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

/// Text of 1 to `max` characters with no control characters, kept without
/// its surrounding spaces. Both rules apply to the text as sent, so that
/// they are the ones a schema's `maxLength` and `pattern` state: a tab or
/// line break at either end is refused, not trimmed away, and spaces count
/// toward the length.
pub(crate) fn bounded_text(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, InvalidField> {
    let len = raw.chars().count();
    if len > max {
        return Err(InvalidField::new(
            field,
            format!("must be at most {max} characters; got {len}"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            "must not contain control characters",
        ));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidField::new(field, "must not be blank"));
    }
    Ok(trimmed.to_owned())
}

/// Declares a text value: a `String` newtype kept valid by its own
/// `parse(&str) -> Result<Self, InvalidField>`, which serde goes through too,
/// so a stored or sent value is checked exactly as a new one is.
///
/// `text_value!(Name, field "name", max 100)` writes that `parse` as
/// [`bounded_text`] for `field`, with `FIELD` and `MAX_CHARS` set to
/// `field` and `max`.
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, field $field:literal, max $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The request field this text arrives in, for error messages.
            pub const FIELD: &'static str = $field;
            /// The longest text accepted, in characters, spaces included.
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, $crate::invalid::InvalidField> {
                $crate::invalid::bounded_text(Self::FIELD, raw, Self::MAX_CHARS).map($name)
            }

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
pub(crate) use text_value;
