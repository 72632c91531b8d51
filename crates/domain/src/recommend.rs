//! The personalized menu: which dishes to recommend to a customer, and why.
//!
//! Rules, in order:
//! 1. A dish is recommended only if it satisfies *every* dietary restriction
//!    of the customer (not just any one of them).
//! 2. With a preferred spice level, dishes two steps away (mild for someone
//!    who likes it hot) are not recommended, unless they are the favorite.
//! 3. Recommended dishes are ranked by closeness to the preferred spice level,
//!    then favorites first, then the preferred cuisine (from the browser's
//!    preferences), then by name.
//! 4. Every other available dish follows, preferred cuisine first, then by
//!    name, unmarked.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::preferences::Cuisine;
use crate::profile::{DietaryTag, FavoriteDish, SpiceLevel};
use crate::values::ProductId;

/// What the recommender needs to know of a dish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DishFacts<'a> {
    pub id: ProductId,
    pub name: &'a str,
    pub spice_level: SpiceLevel,
    pub dietary_tags: &'a BTreeSet<DietaryTag>,
    pub cuisine: Option<Cuisine>,
}

/// What the customer eats and likes, from the profile (not how pages are
/// shown: that is [`DisplayPreferences`](crate::preferences::DisplayPreferences)).
#[derive(Debug, Clone, Copy)]
pub struct Tastes<'a> {
    pub dietary_restrictions: &'a BTreeSet<DietaryTag>,
    pub spice_level: Option<SpiceLevel>,
    pub favorite_dish: Option<&'a FavoriteDish>,
}

/// Why a dish was recommended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It satisfies all of these restrictions (the customer's, non-empty).
    SuitsRestrictions(Vec<DietaryTag>),
    /// Its spice level is the preferred one.
    SpiceMatches(SpiceLevel),
    /// Its spice level is one step from the preferred one.
    SpiceClose {
        dish: SpiceLevel,
        preferred: SpiceLevel,
    },
    /// It is, or is like, the customer's favorite dish.
    Favorite(String),
    /// It is of the cuisine the visitor prefers.
    PreferredCuisine(Cuisine),
}

impl Reason {
    /// The reason as a customer reads it.
    pub fn describe(&self) -> String {
        match self {
            Reason::SuitsRestrictions(tags) => format!(
                "Suits all your dietary restrictions: {}",
                tags.iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reason::SpiceMatches(level) => format!("Matches your spice level ({level})"),
            Reason::SpiceClose { dish, preferred } => {
                format!("Close to your spice level: {dish}, you like {preferred}")
            }
            Reason::Favorite(name) => format!("Your favorite dish is {name}"),
            Reason::PreferredCuisine(c) => format!("From your preferred cuisine ({c})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub id: ProductId,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonalMenu {
    pub recommended: Vec<Recommendation>,
    pub others: Vec<ProductId>,
}

/// Whether a dish satisfies every restriction.
pub fn satisfies_all(
    dish_tags: &BTreeSet<DietaryTag>,
    restrictions: &BTreeSet<DietaryTag>,
) -> bool {
    restrictions.is_subset(dish_tags)
}

/// Splits the available dishes into recommended (ranked, with reasons) and
/// the rest. Without tastes (`None`: no profile) nothing is recommended.
///
/// `preferred_cuisine` (from the browser's display preferences, not the
/// profile) puts that cuisine's dishes first among otherwise equal ones, in
/// both lists.
pub fn personal_menu(
    dishes: &[DishFacts<'_>],
    tastes: Option<Tastes<'_>>,
    preferred_cuisine: Option<Cuisine>,
) -> PersonalMenu {
    let by_name = MenuOrder { preferred_cuisine };
    let mut recommended: Vec<Scored<'_, '_>> = Vec::new();
    let mut others: Vec<&DishFacts<'_>> = Vec::new();
    for dish in dishes {
        match tastes.and_then(|t| score(dish, t, &by_name)) {
            Some(scored) => recommended.push(scored),
            None => others.push(dish),
        }
    }
    recommended.sort_by(|a, b| {
        a.distance
            .cmp(&b.distance)
            .then_with(|| b.favorite.cmp(&a.favorite))
            .then_with(|| by_name.compare(a.dish, b.dish))
    });
    others.sort_by(|a, b| by_name.compare(a, b));
    PersonalMenu {
        recommended: recommended
            .into_iter()
            .map(|s| Recommendation {
                id: s.dish.id,
                reasons: s.reasons,
            })
            .collect(),
        others: others.into_iter().map(|d| d.id).collect(),
    }
}

/// The order among otherwise equal dishes: the preferred cuisine first,
/// then by name, then by id.
struct MenuOrder {
    preferred_cuisine: Option<Cuisine>,
}

impl MenuOrder {
    fn preferred(&self, d: &DishFacts<'_>) -> bool {
        self.preferred_cuisine.is_some() && d.cuisine == self.preferred_cuisine
    }

    fn compare(&self, a: &DishFacts<'_>, b: &DishFacts<'_>) -> Ordering {
        self.preferred(b)
            .cmp(&self.preferred(a))
            .then_with(|| a.name.cmp(b.name))
            .then(a.id.cmp(&b.id))
    }
}

/// A dish to recommend, with what it is ranked by.
struct Scored<'d, 'a> {
    dish: &'d DishFacts<'a>,
    distance: u8,
    favorite: bool,
    reasons: Vec<Reason>,
}

/// Whether to recommend a dish, and why; `None` puts it with the others.
fn score<'d, 'a>(
    dish: &'d DishFacts<'a>,
    tastes: Tastes<'_>,
    order: &MenuOrder,
) -> Option<Scored<'d, 'a>> {
    if !satisfies_all(dish.dietary_tags, tastes.dietary_restrictions) {
        return None;
    }
    let favorite = tastes.favorite_dish.is_some_and(|f| f.matches(dish.name));
    let distance = tastes
        .spice_level
        .map_or(0, |p| p.distance(dish.spice_level));
    if distance >= 2 && !favorite {
        return None;
    }
    let mut reasons = Vec::new();
    if let Some(f) = tastes.favorite_dish.filter(|_| favorite) {
        reasons.push(Reason::Favorite(f.as_str().to_owned()));
    }
    if !tastes.dietary_restrictions.is_empty() {
        reasons.push(Reason::SuitsRestrictions(
            tastes.dietary_restrictions.iter().copied().collect(),
        ));
    }
    match tastes.spice_level {
        Some(p) if distance == 0 => reasons.push(Reason::SpiceMatches(p)),
        Some(p) if distance == 1 => reasons.push(Reason::SpiceClose {
            dish: dish.spice_level,
            preferred: p,
        }),
        _ => {}
    }
    if reasons.is_empty() {
        // A profile that states nothing to go on recommends nothing.
        return None;
    }
    if let Some(c) = order.preferred_cuisine.filter(|_| order.preferred(dish)) {
        reasons.push(Reason::PreferredCuisine(c));
    }
    Some(Scored {
        dish,
        distance,
        favorite,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DietaryTag::*;
    use SpiceLevel::*;

    struct Menu(Vec<(i64, &'static str, SpiceLevel, BTreeSet<DietaryTag>)>);

    impl Menu {
        fn seed() -> Self {
            // The seed lesson's menu.
            Menu(vec![
                (1, "Spicy Chicken Curry", Hot, [GlutenFree].into()),
                (2, "Margherita Pizza", Mild, [Vegetarian].into()),
                (3, "Beef Steak", Mild, [].into()),
                (
                    4,
                    "Vegan Buddha Bowl",
                    Medium,
                    [Vegan, Vegetarian, GlutenFree].into(),
                ),
            ])
        }
        fn facts(&self) -> Vec<DishFacts<'_>> {
            self.0
                .iter()
                .map(|(id, name, spice, tags)| DishFacts {
                    id: ProductId::parse(*id).unwrap(),
                    name,
                    spice_level: *spice,
                    dietary_tags: tags,
                    cuisine: if name.contains("Pizza") || name.contains("Zucchini") {
                        Some(Cuisine::Italian)
                    } else {
                        None
                    },
                })
                .collect()
        }
    }

    fn ids(list: &[Recommendation]) -> Vec<i64> {
        list.iter().map(|r| i64::from(r.id)).collect()
    }
    fn other_ids(list: &[ProductId]) -> Vec<i64> {
        list.iter().map(|r| i64::from(*r)).collect()
    }

    #[test]
    fn a_vegan_who_is_also_gluten_free_is_not_offered_the_chicken_curry() {
        let menu = Menu::seed();
        let restrictions: BTreeSet<_> = [Vegan, GlutenFree].into();
        let prefs = Tastes {
            dietary_restrictions: &restrictions,
            spice_level: None,
            favorite_dish: None,
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        assert_eq!(ids(&result.recommended), [4]);
        assert_eq!(other_ids(&result.others), [3, 2, 1], "the rest, by name");
        assert_eq!(
            result.recommended[0].reasons,
            [Reason::SuitsRestrictions(vec![Vegan, GlutenFree])]
        );
    }

    #[test]
    fn without_a_profile_nothing_is_recommended_and_everything_is_listed() {
        let menu = Menu::seed();
        let result = personal_menu(&menu.facts(), None, None);
        assert!(result.recommended.is_empty());
        assert_eq!(other_ids(&result.others), [3, 2, 1, 4]);
    }

    #[test]
    fn closer_spice_ranks_first_and_two_steps_away_is_not_recommended() {
        let menu = Menu::seed();
        let none = BTreeSet::new();
        let prefs = Tastes {
            dietary_restrictions: &none,
            spice_level: Some(Hot),
            favorite_dish: None,
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        assert_eq!(ids(&result.recommended), [1, 4]);
        assert_eq!(result.recommended[0].reasons, [Reason::SpiceMatches(Hot)]);
        assert_eq!(
            result.recommended[1].reasons,
            [Reason::SpiceClose {
                dish: Medium,
                preferred: Hot
            }]
        );
        assert_eq!(other_ids(&result.others), [3, 2]);
    }

    #[test]
    fn the_favorite_comes_first_among_equal_spice_and_is_kept_even_when_far() {
        let menu = Menu::seed();
        let none = BTreeSet::new();
        let fav = FavoriteDish::parse("pizza").unwrap();
        let prefs = Tastes {
            dietary_restrictions: &none,
            spice_level: Some(Mild),
            favorite_dish: Some(&fav),
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        // Mild: pizza (favorite) before steak; then medium bowl.
        assert_eq!(ids(&result.recommended), [2, 3, 4]);
        assert_eq!(
            result.recommended[0].reasons[0],
            Reason::Favorite("pizza".into())
        );

        let fav = FavoriteDish::parse("chicken curry").unwrap();
        let prefs = Tastes {
            dietary_restrictions: &none,
            spice_level: Some(Mild),
            favorite_dish: Some(&fav),
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        assert!(
            ids(&result.recommended).contains(&1),
            "the favorite stays though it is hot"
        );
    }

    #[test]
    fn a_favorite_that_breaks_a_restriction_is_still_not_recommended() {
        let menu = Menu::seed();
        let restrictions: BTreeSet<_> = [Vegetarian].into();
        let fav = FavoriteDish::parse("Beef Steak").unwrap();
        let prefs = Tastes {
            dietary_restrictions: &restrictions,
            spice_level: None,
            favorite_dish: Some(&fav),
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        assert_eq!(ids(&result.recommended), [2, 4]);
    }

    #[test]
    fn equal_rank_falls_back_to_name() {
        let menu = Menu(vec![
            (1, "Zucchini Fritters", Mild, [Vegetarian].into()),
            (2, "Aubergine Bake", Mild, [Vegetarian].into()),
        ]);
        let restrictions: BTreeSet<_> = [Vegetarian].into();
        let prefs = Tastes {
            dietary_restrictions: &restrictions,
            spice_level: Some(Mild),
            favorite_dish: None,
        };
        assert_eq!(
            ids(&personal_menu(&menu.facts(), Some(prefs), None).recommended),
            [2, 1]
        );
    }

    #[test]
    fn the_preferred_cuisine_comes_first_among_equals_in_both_lists() {
        let menu = Menu(vec![
            (1, "Aubergine Bake", Mild, [Vegetarian].into()),
            (2, "Zucchini Fritters", Mild, [Vegetarian].into()),
            (3, "Beef Steak", Mild, [].into()),
            (4, "Margherita Pizza", Hot, [].into()),
        ]);
        let restrictions: BTreeSet<_> = [Vegetarian].into();
        let prefs = Tastes {
            dietary_restrictions: &restrictions,
            spice_level: Some(Mild),
            favorite_dish: None,
        };
        let result = personal_menu(&menu.facts(), Some(prefs), Some(Cuisine::Italian));
        assert_eq!(ids(&result.recommended), [2, 1]);
        assert_eq!(
            result.recommended[0].reasons.last(),
            Some(&Reason::PreferredCuisine(Cuisine::Italian))
        );
        assert_eq!(other_ids(&result.others), [4, 3]);
        // Spice closeness still outranks cuisine.
        let prefs = Tastes {
            dietary_restrictions: &BTreeSet::new(),
            spice_level: Some(Mild),
            favorite_dish: None,
        };
        let result = personal_menu(&menu.facts(), Some(prefs), Some(Cuisine::Italian));
        assert_eq!(ids(&result.recommended), [2, 1, 3]);
        // Without a profile, the whole menu leads with the cuisine.
        let result = personal_menu(&menu.facts(), None, Some(Cuisine::Italian));
        assert_eq!(other_ids(&result.others), [4, 2, 1, 3]);
    }

    #[test]
    fn a_profile_with_nothing_to_go_on_recommends_nothing() {
        let menu = Menu::seed();
        let none = BTreeSet::new();
        let prefs = Tastes {
            dietary_restrictions: &none,
            spice_level: None,
            favorite_dish: None,
        };
        let result = personal_menu(&menu.facts(), Some(prefs), None);
        assert!(result.recommended.is_empty());
        assert_eq!(result.others.len(), 4);
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            Reason::SuitsRestrictions(vec![Vegan, GlutenFree]).describe(),
            "Suits all your dietary restrictions: vegan, gluten-free"
        );
        assert_eq!(
            Reason::SpiceMatches(Hot).describe(),
            "Matches your spice level (hot)"
        );
    }
}
