//! Display preferences, kept in the browser's `preferences` cookie: the
//! cuisine a visitor likes to see first, the theme and the font size.

use serde::{Deserialize, Serialize};

use crate::vocabulary;

vocabulary!(
    /// A cuisine on the menu, and the one a visitor prefers.
    Cuisine, "preferred_cuisine" {
        Italian,
        Indian,
        Thai,
        Chinese,
        Japanese,
        Mexican,
        American,
        British,
        Mediterranean,
        French,
    }
);

vocabulary!(
    Theme, "theme" {
        Light,
        Dark,
        System,
    }
);

vocabulary!(
    FontSize, "font_size" {
        Small,
        Medium,
        Large,
        XLarge,
    }
);

/// How the visitor likes the pages shown (not what they like to eat: that
/// is the profile's [`Tastes`](crate::recommend::Tastes)); the defaults
/// apply when a browser has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayPreferences {
    pub preferred_cuisine: Option<Cuisine>,
    pub theme: Theme,
    pub font_size: FontSize,
    pub reduced_motion: bool,
}

impl Default for DisplayPreferences {
    fn default() -> Self {
        DisplayPreferences {
            preferred_cuisine: None,
            theme: Theme::System,
            font_size: FontSize::Medium,
            reduced_motion: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::Vocabulary;
    use strum::VariantArray;

    #[test]
    fn preferences_default_and_reject_unknown_values() {
        let p = DisplayPreferences::default();
        assert_eq!(serde_json::to_value(p).unwrap()["theme"], "system");
        assert!("sepia".parse::<Theme>().is_err());
        assert_eq!("X-Large".parse::<FontSize>().unwrap(), FontSize::XLarge);
        assert_eq!(FontSize::XLarge.to_string(), "x-large");
        let err = "klingon".parse::<Cuisine>().unwrap_err();
        assert_eq!(err.field, "preferred_cuisine");
        assert_eq!(
            err.message,
            "`klingon` is not one of: italian, indian, thai, chinese, japanese, mexican, american, british, mediterranean, french"
        );
    }

    #[test]
    fn every_word_reads_back_as_its_variant() {
        for c in Cuisine::VARIANTS {
            assert_eq!(Cuisine::from_word(&c.to_string().to_uppercase()), Ok(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(
            serde_json::from_str::<FontSize>("\" x-large \"").unwrap(),
            FontSize::XLarge
        );
    }
}
