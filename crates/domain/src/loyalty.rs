//! Loyalty: a level earned by what a browser has spent. The running total
//! lives in a signed cookie the server issues at each checkout.

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::vocabulary;

vocabulary!(
    /// Loyalty levels, by what a browser has spent.
    LoyaltyLevel, "level" {
        Bronze,
        Silver,
        Gold,
        Platinum,
    }
);

impl LoyaltyLevel {
    /// The least spent that reaches each level above Bronze.
    const THRESHOLDS: [(LoyaltyLevel, Money); 3] = [
        (LoyaltyLevel::Silver, Money::cents(5_000)),
        (LoyaltyLevel::Gold, Money::cents(20_000)),
        (LoyaltyLevel::Platinum, Money::cents(50_000)),
    ];

    /// The level a total spent earns: Bronze below 50, Silver from 50, Gold
    /// from 200, Platinum from 500.
    pub fn for_spent(spent: Money) -> LoyaltyLevel {
        Self::THRESHOLDS
            .into_iter()
            .rev()
            .find(|(_, min)| spent >= *min)
            .map_or(LoyaltyLevel::Bronze, |(level, _)| level)
    }

    /// The next level and what is left to spend to reach it; `None` at Platinum.
    pub fn next(spent: Money) -> Option<(LoyaltyLevel, Money)> {
        Self::THRESHOLDS
            .into_iter()
            .find(|(_, min)| spent < *min)
            .and_then(|(level, min)| Some((level, min.checked_sub(spent)?)))
    }
}

/// What the `loyalty` cookie holds: the total spent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyAccount {
    pub spent: Money,
}

/// A total spent that no longer fits in an amount; the account is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the total spent would pass the largest amount")]
pub struct SpendingOverflow;

impl LoyaltyAccount {
    /// Adds an order's total.
    pub fn record(&mut self, total: Money) -> Result<(), SpendingOverflow> {
        self.spent = self.spent.checked_add(total).ok_or(SpendingOverflow)?;
        Ok(())
    }

    pub fn level(&self) -> LoyaltyLevel {
        LoyaltyLevel::for_spent(self.spent)
    }

    /// The next level and what is left to spend to reach it; `None` at Platinum.
    pub fn next_level(&self) -> Option<(LoyaltyLevel, Money)> {
        LoyaltyLevel::next(self.spent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn loyalty_levels_follow_the_thresholds() {
        assert_eq!(LoyaltyLevel::for_spent(m("0")), LoyaltyLevel::Bronze);
        assert_eq!(LoyaltyLevel::for_spent(m("49.99")), LoyaltyLevel::Bronze);
        assert_eq!(LoyaltyLevel::for_spent(m("50.00")), LoyaltyLevel::Silver);
        assert_eq!(LoyaltyLevel::for_spent(m("199.99")), LoyaltyLevel::Silver);
        assert_eq!(LoyaltyLevel::for_spent(m("200")), LoyaltyLevel::Gold);
        assert_eq!(LoyaltyLevel::for_spent(m("500")), LoyaltyLevel::Platinum);
        assert_eq!(
            LoyaltyLevel::next(m("12.50")),
            Some((LoyaltyLevel::Silver, m("37.50")))
        );
        assert_eq!(
            LoyaltyLevel::next(m("250")),
            Some((LoyaltyLevel::Platinum, m("250")))
        );
        assert_eq!(LoyaltyLevel::next(m("500")), None);
        assert_eq!(LoyaltyLevel::Platinum.to_string(), "platinum");
    }

    #[test]
    fn spending_adds_up_and_an_overflow_leaves_the_account_unchanged() {
        let mut account = LoyaltyAccount::default();
        account.record(m("44.99")).unwrap();
        account.record(m("5.01")).unwrap();
        assert_eq!(account.spent, m("50"));
        assert_eq!(account.level(), LoyaltyLevel::Silver);

        let mut full = LoyaltyAccount { spent: Money::MAX };
        assert_eq!(full.record(m("0.01")), Err(SpendingOverflow));
        assert_eq!(full.spent, Money::MAX);
        assert_eq!(full.level(), LoyaltyLevel::Platinum);
    }
}
