//! Password hashing: argon2id with OWASP's parameters (19 MiB, 2 passes,
//! 1 lane), on tokio's blocking pool so a hash never stalls the async
//! workers.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::ApiError;

/// OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of no one's password, verified against when the username is
/// unknown, so that an unknown user costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    argon2()
        .hash_password(b"no account has this password")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Hashes `password` into a PHC string (argon2id, its own random salt).
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing a password failed: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches the PHC string `stored`; `None` verifies
/// against a dummy hash and is always false, in about the same time.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            tracing::error!("a stored password hash does not parse; refusing the sign-in");
            return false;
        };
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .map_err(ApiError::internal)
}

/// Computes the dummy hash now, so the first unknown-user sign-in does not
/// pay for it (and stand out by its time).
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}
