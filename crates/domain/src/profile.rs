//! The customer profile kept in the session: who the visitor is and what
//! they can and like to eat. Every field is valid by construction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::invalid::{InvalidField, text_value};
use crate::vocabulary;

text_value!(
    /// The customer's name: 1 to 100 characters, trimmed.
    CustomerName, field "name", max 100
);

text_value!(
    /// A favorite dish, as the customer names it: 1 to 100 characters, trimmed.
    FavoriteDish, field "favorite_dish", max 100
);

impl FavoriteDish {
    /// Whether a dish on the menu is this favorite: the same name, or one
    /// name containing the other, ignoring case ("curry" matches "Chicken Curry").
    pub fn matches(&self, dish_name: &str) -> bool {
        let favorite = self.0.to_lowercase();
        let dish = dish_name.to_lowercase();
        dish.contains(&favorite) || favorite.contains(&dish)
    }
}

vocabulary!(
    /// A dietary restriction a customer has, and a tag a dish carries when it suits it.
    DietaryTag, "dietary_restrictions" {
        Vegetarian,
        Vegan,
        GlutenFree,
        DairyFree,
        NutFree,
        Halal,
        Kosher,
    }
);

vocabulary!(
    /// How hot a dish is, or how hot a customer likes it.
    SpiceLevel, "spice_level" {
        Mild,
        Medium,
        Hot,
    }
);

impl SpiceLevel {
    fn rank(self) -> u8 {
        match self {
            SpiceLevel::Mild => 0,
            SpiceLevel::Medium => 1,
            SpiceLevel::Hot => 2,
        }
    }

    /// Steps between two levels: 0 (same), 1 or 2.
    pub fn distance(self, other: SpiceLevel) -> u8 {
        self.rank().abs_diff(other.rank())
    }
}

/// Parses a list of tags: unknown values are refused, and so is a blank
/// entry (a mistake to show, not "no tag"); duplicates merge.
pub fn parse_dietary_tags<'a>(
    raw: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<DietaryTag>, InvalidField> {
    raw.into_iter()
        .map(|tag| {
            if tag.trim().is_empty() {
                Err(InvalidField::new(
                    <DietaryTag as crate::vocabulary::Vocabulary>::FIELD,
                    format!(
                        "an entry is empty; each must be one of: {}",
                        DietaryTag::choices()
                    ),
                ))
            } else {
                tag.parse()
            }
        })
        .collect()
}

/// The customer profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: CustomerName,
    pub favorite_dish: Option<FavoriteDish>,
    pub dietary_restrictions: BTreeSet<DietaryTag>,
    pub spice_level: Option<SpiceLevel>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Profile {
    /// The account's profile after a visitor signs in with `visitor`'s:
    /// the visitor's fills what the account's lacks, field by field, and
    /// overwrites nothing. A favorite dish or spice level is lacking when
    /// absent, dietary restrictions when there are none; the name is always
    /// there. With no account profile, the visitor's is taken whole.
    pub fn filled_from(account: Option<Profile>, visitor: Option<Profile>) -> Option<Profile> {
        match (account, visitor) {
            (None, visitor) => visitor,
            (Some(account), None) => Some(account),
            (Some(account), Some(visitor)) => Some(Profile {
                name: account.name,
                favorite_dish: account.favorite_dish.or(visitor.favorite_dish),
                dietary_restrictions: if account.dietary_restrictions.is_empty() {
                    visitor.dietary_restrictions
                } else {
                    account.dietary_restrictions
                },
                spice_level: account.spice_level.or(visitor.spice_level),
                created_at: account.created_at.min(visitor.created_at),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(CustomerName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(CustomerName::parse("   ").is_err());
        assert!(
            CustomerName::parse(&"é".repeat(100)).is_ok(),
            "characters, not bytes"
        );
        let err = CustomerName::parse(&"a".repeat(101)).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("at most 100"));
        assert!(CustomerName::parse("Ada\u{0}").is_err());
        assert!(
            CustomerName::parse("\tBob\n").is_err(),
            "a control character at an end is refused, not trimmed away"
        );
        assert!(
            CustomerName::parse(&format!(" {} ", "a".repeat(99))).is_err(),
            "surrounding spaces count toward the length"
        );
    }

    #[test]
    fn unknown_restrictions_are_refused_and_the_error_lists_the_choices() {
        let err = parse_dietary_tags(["vegan", "carnivore"]).unwrap_err();
        assert_eq!(err.field, "dietary_restrictions");
        assert!(err.message.contains("carnivore") && err.message.contains("gluten-free"));
        assert!(parse_dietary_tags(["vegan", " "]).is_err());
        let set = parse_dietary_tags(["vegan", "Gluten-Free", "vegan"]).unwrap();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn spice_levels_parse_and_measure_distance() {
        assert_eq!("HOT".parse::<SpiceLevel>().unwrap(), SpiceLevel::Hot);
        assert!("volcanic".parse::<SpiceLevel>().is_err());
        assert_eq!(SpiceLevel::Mild.distance(SpiceLevel::Hot), 2);
        assert_eq!(SpiceLevel::Medium.distance(SpiceLevel::Hot), 1);
        assert_eq!(SpiceLevel::Hot.distance(SpiceLevel::Hot), 0);
    }

    #[test]
    fn favorites_match_by_name_either_way_ignoring_case() {
        let fav = FavoriteDish::parse("curry").unwrap();
        assert!(fav.matches("Chicken Curry"));
        let fav = FavoriteDish::parse("The Pad Thai at Kitchen Memory").unwrap();
        assert!(fav.matches("Pad Thai"));
        assert!(!fav.matches("Tiramisu"));
    }

    #[test]
    fn a_stored_profile_round_trips_and_a_bad_one_does_not_load() {
        let json = r#"{"name":"Ada","favorite_dish":null,"dietary_restrictions":["vegan"],"spice_level":"hot","created_at":"2026-11-25T10:00:00Z"}"#;
        let p: Profile = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::from_str::<Profile>(&serde_json::to_string(&p).unwrap()).unwrap(),
            p
        );
        let bad = json.replace("vegan", "carnivore");
        assert!(serde_json::from_str::<Profile>(&bad).is_err());
    }

    fn profile(
        name: &str,
        favorite: Option<&str>,
        tags: &[&str],
        spice: Option<SpiceLevel>,
        day: u8,
    ) -> Profile {
        Profile {
            name: CustomerName::parse(name).unwrap(),
            favorite_dish: favorite.map(|f| FavoriteDish::parse(f).unwrap()),
            dietary_restrictions: parse_dietary_tags(tags.iter().copied()).unwrap(),
            spice_level: spice,
            created_at: time::Date::from_calendar_date(2026, time::Month::November, day)
                .unwrap()
                .midnight()
                .assume_utc(),
        }
    }

    #[test]
    fn a_visitor_profile_fills_what_the_account_lacks_and_overwrites_nothing() {
        let account = profile("Ada", None, &[], Some(SpiceLevel::Hot), 20);
        let visitor = profile(
            "Guest",
            Some("Pad Thai"),
            &["vegan"],
            Some(SpiceLevel::Mild),
            25,
        );

        let filled = Profile::filled_from(Some(account), Some(visitor)).unwrap();

        assert_eq!(
            filled,
            profile(
                "Ada",
                Some("Pad Thai"),
                &["vegan"],
                Some(SpiceLevel::Hot),
                20
            )
        );
    }

    #[test]
    fn an_account_profile_with_every_field_stays_as_it_is() {
        let account = profile(
            "Ada",
            Some("Curry"),
            &["halal"],
            Some(SpiceLevel::Medium),
            20,
        );
        let visitor = profile(
            "Guest",
            Some("Pad Thai"),
            &["vegan"],
            Some(SpiceLevel::Mild),
            10,
        );

        let filled = Profile::filled_from(Some(account.clone()), Some(visitor)).unwrap();

        assert_eq!(filled.name, account.name);
        assert_eq!(filled.favorite_dish, account.favorite_dish);
        assert_eq!(filled.dietary_restrictions, account.dietary_restrictions);
        assert_eq!(filled.spice_level, account.spice_level);
        assert_eq!(
            filled.created_at,
            profile("x", None, &[], None, 10).created_at,
            "the earlier creation"
        );
    }

    #[test]
    fn with_one_profile_missing_the_other_is_kept_whole() {
        let one = profile("Ada", Some("Curry"), &[], None, 20);
        assert_eq!(
            Profile::filled_from(None, Some(one.clone())),
            Some(one.clone())
        );
        assert_eq!(Profile::filled_from(Some(one.clone()), None), Some(one));
        assert_eq!(Profile::filled_from(None, None), None);
    }
}
