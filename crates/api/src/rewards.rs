//! What checkout, `/loyalty` and `/vip` share: reading and re-issuing the
//! `loyalty` and `vip` cookies. The rules (levels, points) are the domain's;
//! this module only moves them in and out of the cookies.

use domain::Money;
use domain::loyalty::LoyaltyAccount;
use domain::vip::Vip;

use crate::cookies::{AppCookies, LOYALTY, VIP};
use crate::error::ApiError;

pub const LOYALTY_COOKIE_DOC: &str = "`loyalty`: signed cookie (purpose `loyalty`, 30 days, HttpOnly) holding the total spent; issued by the server at each checkout, so a client cannot raise its own level";

pub const VIP_COOKIE_DOC: &str =
    "`vip`: signed cookie (purpose `vip`, one year, HttpOnly) holding the membership as JSON";

/// The loyalty account; empty when the cookie is absent, expired or forged.
pub fn loyalty_account(cookies: &mut AppCookies) -> LoyaltyAccount {
    cookies
        .read::<LoyaltyAccount>(&LOYALTY)
        .map(|(account, _)| account)
        .unwrap_or_default()
}

/// The VIP membership, if this browser holds a trustworthy one.
pub fn vip_membership(cookies: &mut AppCookies) -> Option<Vip> {
    cookies.read::<Vip>(&VIP).map(|(v, _)| v)
}

/// An order's total goes to the loyalty account and, for a member, to the
/// VIP points; both cookies are re-issued.
///
/// The order is already stored when this runs, so nothing here may fail the
/// request: a total that no longer adds up (past the largest amount) leaves
/// the loyalty cookie as it was, and the caller logs what went wrong.
pub fn record_order(cookies: &mut AppCookies, total: Money) -> Result<(), ApiError> {
    let mut account = loyalty_account(cookies);
    let recorded = account.record(total);
    if recorded.is_ok() {
        cookies.write(&LOYALTY, &account)?;
    }
    if let Some(mut vip) = vip_membership(cookies) {
        vip.earn(total);
        cookies.write(&VIP, &vip)?;
    }
    recorded.map_err(ApiError::internal)
}
