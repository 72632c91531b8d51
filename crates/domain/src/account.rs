//! Accounts: the username a customer signs in with, the name shown for
//! them, and a new password good enough to keep.

use std::fmt;

use zxcvbn::Score;

use crate::invalid::{InvalidField, text_value};

/// A username: 3 to 32 of `a-z 0-9 _ . -`. Capitals are accepted and folded
/// to lower case, so `Ada` and `ada` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const FIELD: &'static str = "username";
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;
    /// The rule as a pattern on the text as sent (before folding), for the spec.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_.-]{3,32}$";

    /// Checks the text as sent: nothing is trimmed, so the rule is the
    /// one [`Username::PATTERN`] states.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let len = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(InvalidField::new(
                Self::FIELD,
                format!(
                    "must be {} to {} characters; got {len}",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(InvalidField::new(
                Self::FIELD,
                format!(
                    "may hold only letters a-z, digits, '_', '.' and '-'; {bad:?} is not allowed"
                ),
            ));
        }
        Ok(Username(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_value!(
    /// The name shown for an account: 1 to 100 characters, trimmed.
    DisplayName, field "display_name", max 100
);

impl DisplayName {
    /// The display name of an account registered without one: its username.
    pub fn from_username(username: &Username) -> Self {
        DisplayName(username.0.clone())
    }
}

/// A password chosen for an account: 8 to 128 characters and not easy to
/// guess. Kept as sent (spaces count); its text never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// The field a new password arrives in at registration.
    pub const FIELD: &'static str = "password";
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks `raw` as the password for an account that `user_inputs` (its
    /// username and display name) describe: a password built from them is
    /// easy to guess. `field` names the request field it came in.
    ///
    /// Strength is zxcvbn's estimate; a score below 3 (crackable within
    /// about 10^8 guesses: common passwords, words with digits appended,
    /// keyboard runs, dates) is refused, saying why.
    pub fn parse(field: &str, raw: &str, user_inputs: &[&str]) -> Result<Self, InvalidField> {
        let len = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(InvalidField::new(
                field,
                format!(
                    "must be {} to {} characters; got {len}",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        let estimate = zxcvbn::zxcvbn(raw, user_inputs);
        if estimate.score() < Score::Three {
            return Err(InvalidField::new(field, weakness(&estimate)));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// The password's text, to hash it.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// Why a password is too easy to guess, in zxcvbn's words, with what to do.
fn weakness(estimate: &zxcvbn::Entropy) -> String {
    let mut message = String::from("is too easy to guess");
    let feedback = estimate.feedback();
    if let Some(warning) = feedback.and_then(|f| f.warning()) {
        let warning = warning.to_string();
        message.push_str(&format!(": {}", warning.trim_end_matches('.')));
    }
    let suggestions: Vec<String> = feedback
        .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    if suggestions.is_empty() {
        message.push_str(". Use a longer password of several unrelated words.");
    } else {
        message.push_str(". ");
        message.push_str(&suggestions.join(" "));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_folded_to_lower_case() {
        assert_eq!(
            Username::parse("Ada.Lovelace_1-x").unwrap().as_str(),
            "ada.lovelace_1-x"
        );
    }

    #[test]
    fn a_username_outside_the_allowed_letters_or_lengths_is_refused() {
        for bad in [
            "ab",
            "a b c",
            " ada",
            "ada ",
            "ädä",
            "ada@home",
            &"a".repeat(33),
            "",
        ] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.field, "username", "{bad:?}");
        }
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn a_display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert_eq!(DisplayName::parse("   ").unwrap_err().field, "display_name");
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse(&"x".repeat(100)).is_ok());
    }

    #[test]
    fn a_display_name_defaults_to_the_username() {
        let username = Username::parse("Ada").unwrap();
        assert_eq!(DisplayName::from_username(&username).as_str(), "ada");
    }

    #[test]
    fn a_password_outside_8_to_128_characters_is_refused_naming_its_length() {
        let short = NewPassword::parse("password", "x7#Qp!", &[]).unwrap_err();
        assert_eq!(short.field, "password");
        assert!(short.message.contains("got 6"), "{}", short.message);
        let long = "correct horse battery staple ".repeat(5);
        assert!(NewPassword::parse("new_password", &long, &[]).is_err());
    }

    #[test]
    fn common_and_guessable_passwords_are_refused_saying_why() {
        for weak in [
            "password",
            "password123",
            "qwertyuiop",
            "11111111",
            "iloveyou1",
            "Summer2024",
        ] {
            let err = NewPassword::parse("password", weak, &[]).unwrap_err();
            assert!(
                err.message.starts_with("is too easy to guess"),
                "{weak}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_password_made_of_the_username_is_refused() {
        let err = NewPassword::parse("password", "adalovelace", &["adalovelace", "Ada Lovelace"])
            .unwrap_err();
        assert!(
            err.message.starts_with("is too easy to guess"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_long_passphrase_is_accepted_and_hidden_from_debug() {
        let password =
            NewPassword::parse("password", "plum orbit candle seventy", &["ada"]).unwrap();
        assert_eq!(format!("{password:?}"), "NewPassword(..)");
        assert_eq!(password.into_string(), "plum orbit candle seventy");
    }
}
