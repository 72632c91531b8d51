//! Reading settings, kept in the browser's `reading_settings` cookie: how a
//! reader likes a book's pages set (size, theme, spacing, font and width),
//! apart from the restaurant's display preferences
//! ([`DisplayPreferences`](crate::preferences::DisplayPreferences)).
//!
//! The two numbers are newtypes checked on the way in, by `parse` and by
//! serde alike, so a cookie holding an out-of-range value does not decode
//! (and is then treated as absent).

use serde::{Deserialize, Serialize};

use crate::invalid::InvalidField;
use crate::vocabulary;

vocabulary!(
    /// The reading page's colours: `system` follows the device.
    ReadingTheme, "theme" {
        Light,
        Dark,
        Sepia,
        System,
    }
);

vocabulary!(
    /// The typeface family; `dyslexic-friendly` is a face such as
    /// OpenDyslexic or Atkinson Hyperlegible, chosen by the client.
    FontFamily, "font_family" {
        Serif,
        SansSerif,
        DyslexicFriendly,
    }
);

vocabulary!(
    /// The column's width: about 50 (`narrow`), 65 (`medium`) or 80
    /// (`wide`) characters per line.
    TextWidth, "text_width" {
        Narrow,
        Medium,
        Wide,
    }
);

/// The body text's size in CSS pixels, [`FontSize::MIN`] to [`FontSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct FontSize(u8);

impl FontSize {
    pub const MIN: i64 = 12;
    pub const MAX: i64 = 32;
    pub const DEFAULT: FontSize = FontSize(18);

    pub fn parse(px: i64) -> Result<Self, InvalidField> {
        if (Self::MIN..=Self::MAX).contains(&px) {
            Ok(FontSize(px as u8))
        } else {
            Err(InvalidField::new(
                "font_size",
                format!(
                    "must be a whole number of pixels from {} to {}; got {px}",
                    Self::MIN,
                    Self::MAX
                ),
            ))
        }
    }

    pub fn px(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for FontSize {
    type Error = InvalidField;
    fn try_from(px: i64) -> Result<Self, Self::Error> {
        FontSize::parse(px)
    }
}

impl From<FontSize> for i64 {
    fn from(f: FontSize) -> Self {
        f.0.into()
    }
}

/// The line height as a multiple of the font size: 1.0 to 2.5 in steps of
/// 0.25 (1.0, 1.25, 1.5, ... 2.5). Quarters are exact in binary, so the
/// step check never trips on rounding, and the value is kept as a count
/// of quarters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct LineSpacing(u8);

impl LineSpacing {
    pub const MIN: f64 = 1.0;
    pub const MAX: f64 = 2.5;
    pub const STEP: f64 = 0.25;
    pub const DEFAULT: LineSpacing = LineSpacing(6);

    pub fn parse(value: f64) -> Result<Self, InvalidField> {
        let quarters = value / Self::STEP;
        if !(Self::MIN..=Self::MAX).contains(&value) || quarters.fract() != 0.0 {
            return Err(InvalidField::new(
                "line_spacing",
                format!(
                    "must be from {:.1} to {:.1} in steps of {} (1.0, 1.25, 1.5, ...); got {value}",
                    Self::MIN,
                    Self::MAX,
                    Self::STEP
                ),
            ));
        }
        Ok(LineSpacing(quarters as u8))
    }

    pub fn value(self) -> f64 {
        f64::from(self.0) * Self::STEP
    }
}

impl TryFrom<f64> for LineSpacing {
    type Error = InvalidField;
    fn try_from(v: f64) -> Result<Self, Self::Error> {
        LineSpacing::parse(v)
    }
}

impl From<LineSpacing> for f64 {
    fn from(l: LineSpacing) -> Self {
        l.value()
    }
}

/// How the reader likes a book's pages set; the defaults apply when a
/// browser has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingSettings {
    pub font_size: FontSize,
    pub theme: ReadingTheme,
    pub line_spacing: LineSpacing,
    pub font_family: FontFamily,
    pub text_width: TextWidth,
}

impl Default for ReadingSettings {
    fn default() -> Self {
        ReadingSettings {
            font_size: FontSize::DEFAULT,
            theme: ReadingTheme::System,
            line_spacing: LineSpacing::DEFAULT,
            font_family: FontFamily::Serif,
            text_width: TextWidth::Medium,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_defaults_are_a_comfortable_page() {
        assert_eq!(
            serde_json::to_value(ReadingSettings::default()).unwrap(),
            json!({"font_size": 18, "theme": "system", "line_spacing": 1.5,
                   "font_family": "serif", "text_width": "medium"})
        );
    }

    #[test]
    fn font_sizes_are_bounded_and_named_in_the_error() {
        assert_eq!(FontSize::parse(12).unwrap().px(), 12);
        assert_eq!(FontSize::parse(32).unwrap().px(), 32);
        for bad in [11, 33, 0, -18, i64::MAX] {
            let err = FontSize::parse(bad).unwrap_err();
            assert_eq!(err.field, "font_size");
            assert!(err.message.contains("12 to 32"), "{}", err.message);
        }
    }

    #[test]
    fn line_spacing_goes_in_quarters_from_one_to_two_and_a_half() {
        for ok in [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5] {
            assert_eq!(LineSpacing::parse(ok).unwrap().value(), ok);
        }
        for bad in [0.75, 2.75, 1.1, 1.3, f64::NAN, f64::INFINITY, -1.5] {
            let err = LineSpacing::parse(bad).unwrap_err();
            assert_eq!(err.field, "line_spacing");
        }
    }

    #[test]
    fn words_are_read_in_any_case_and_unknown_ones_list_the_choices() {
        assert_eq!(
            "Dyslexic-Friendly".parse::<FontFamily>(),
            Ok(FontFamily::DyslexicFriendly)
        );
        assert_eq!(FontFamily::SansSerif.as_str(), "sans-serif");
        assert_eq!("sepia".parse::<ReadingTheme>(), Ok(ReadingTheme::Sepia));
        let err = "huge".parse::<TextWidth>().unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("text_width", "`huge` is not one of: narrow, medium, wide")
        );
    }

    #[test]
    fn a_stored_value_out_of_bounds_does_not_decode() {
        let stored = json!({"font_size": 99, "theme": "dark", "line_spacing": 1.5,
                            "font_family": "serif", "text_width": "wide"});
        assert!(serde_json::from_value::<ReadingSettings>(stored).is_err());
        let round = ReadingSettings {
            font_size: FontSize::parse(24).unwrap(),
            theme: ReadingTheme::Sepia,
            line_spacing: LineSpacing::parse(2.0).unwrap(),
            font_family: FontFamily::DyslexicFriendly,
            text_width: TextWidth::Narrow,
        };
        let text = serde_json::to_string(&round).unwrap();
        assert_eq!(
            serde_json::from_str::<ReadingSettings>(&text).unwrap(),
            round
        );
    }
}
