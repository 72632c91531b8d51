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

/// How many hashes may run at once. Each holds 19 MiB while it runs, and the
/// blocking pool has hundreds of threads: without a bound, a burst of
/// sign-ins from many addresses (each under its own rate limit) could take
/// gigabytes. One per CPU keeps every core busy and memory under
/// 19 MiB × CPUs; the rest wait their turn, and every path (known user,
/// unknown user, new password) waits alike, so waiting reveals nothing.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    tokio::sync::Semaphore::new(cpus)
});

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = HASHING.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// Hashes `password` into a PHC string (argon2id, its own random salt).
pub async fn hash(password: String) -> Result<String, ApiError> {
    hashing(move || {
        argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing a password failed: {e}")))
    })
    .await?
}

/// Whether `password` matches the PHC string `stored`; `None` verifies
/// against a dummy hash and is always false, in about the same time.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    hashing(move || {
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
}

/// Computes the dummy hash now, so the first unknown-user sign-in does not
/// pay for it (and stand out by its time).
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_cpus_and_all_finish() {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..cpus * 3)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(hashing(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(most >= 1 && most <= cpus, "{most} at once with {cpus} CPUs");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(phc)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
