//! Rate limits: sign-in and registration per client IP and per username,
//! and new sessions per client IP.
//!
//! SKELETON: every hit is allowed; the finished version counts in Redis
//! when it is configured, in process otherwise.

use crate::error::ApiError;

/// What is being limited; each has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    LoginPerIp,
    LoginPerUsername,
    RegisterPerIp,
    NewSessionPerIp,
}

/// The counters behind every [`Limit`].
#[derive(Debug, Default)]
pub struct RateLimits {}

impl RateLimits {
    /// Counts one attempt of `limit` for `key` (an IP or a username):
    /// `Err` is the 429 (with `Retry-After`) once the budget is spent.
    pub async fn hit(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        let _ = (limit, key);
        Ok(())
    }
}
