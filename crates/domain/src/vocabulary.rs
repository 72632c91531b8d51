//! The fixed vocabularies (dietary tags, spice levels, cuisines, themes...):
//! enums whose wire strings come from strum's `serialize_all`, read
//! case-insensitively, with an error that names the field and lists the
//! accepted values.

use strum::VariantArray;

use crate::invalid::InvalidField;

/// A closed list of lower-case words; see [`vocabulary!`](crate::vocabulary).
pub trait Vocabulary: Copy + VariantArray + Into<&'static str> + 'static {
    /// The request field these words arrive in, for error messages.
    const FIELD: &'static str;

    /// The accepted values, for error messages.
    fn choices() -> String {
        Self::VARIANTS
            .iter()
            .map(|v| (*v).into())
            .collect::<Vec<&str>>()
            .join(", ")
    }

    /// Reads a word, ignoring case and surrounding space.
    fn from_word(raw: &str) -> Result<Self, InvalidField> {
        let wanted = raw.trim().to_ascii_lowercase();
        Self::VARIANTS
            .iter()
            .copied()
            .find(|v| Into::<&'static str>::into(*v) == wanted)
            .ok_or_else(|| {
                InvalidField::new(
                    Self::FIELD,
                    format!("`{wanted}` is not one of: {}", Self::choices()),
                )
            })
    }
}

/// Declares a vocabulary enum: strum gives the words (kebab-case), the
/// variant list and `Display`; this adds `FromStr`/serde with our error.
#[macro_export]
#[doc(hidden)]
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            ::serde::Serialize, ::serde::Deserialize,
            ::strum::Display, ::strum::IntoStaticStr, ::strum::AsRefStr,
            ::strum::VariantArray, ::strum::EnumIter,
        )]
        #[strum(serialize_all = "kebab-case")]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $crate::vocabulary::Vocabulary for $name {
            const FIELD: &'static str = $field;
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// The accepted values, for error messages.
            pub fn choices() -> String {
                <Self as $crate::vocabulary::Vocabulary>::choices()
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::invalid::InvalidField;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <Self as $crate::vocabulary::Vocabulary>::from_word(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::invalid::InvalidField;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}
