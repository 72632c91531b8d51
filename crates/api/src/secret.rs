//! The secret that keys every signed or encrypted cookie: where it comes
//! from (`SECRET_KEY`, its fallbacks, or a development file), and the keys
//! derived from it, one per purpose.

use std::fmt;
use std::path::Path;

use rand::RngCore;

use crate::config::ConfigError;

/// The secret that keys every signed or encrypted cookie. Never printed.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(ConfigError::new(format!(
                "SECRET_KEY must be at least {} characters long (it has {}); generate one with `openssl rand -hex 32`",
                Self::MIN_LEN,
                bytes.len()
            )));
        }
        Ok(SecretKey(bytes))
    }

    /// A key for one purpose, derived from the secret, so that a value made
    /// for one purpose never verifies for another.
    pub fn derive(&self, purpose: &str) -> cookie::Key {
        let mut material = self.0.clone();
        material.extend_from_slice(b"\x00kitchen-memory\x00");
        material.extend_from_slice(purpose.as_bytes());
        cookie::Key::derive_from(&material)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The current secret and the older ones that still verify.
pub struct Secrets {
    pub current: SecretKey,
    /// Older secrets: they only verify and decrypt, so that cookies made
    /// with them keep working (and are re-issued) after a rotation.
    pub fallbacks: Vec<SecretKey>,
}

impl Secrets {
    /// From `SECRET_KEY` and `SECRET_KEY_FALLBACKS` (comma-separated). In
    /// production `SECRET_KEY` is required; in development a missing one is
    /// made once and kept in `data_dir`.
    pub fn read(
        secret_key: Option<&str>,
        fallbacks: Option<&str>,
        production: bool,
        data_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let current = match secret_key {
            Some(key) => SecretKey::new(key.as_bytes())?,
            None if production => {
                return Err(ConfigError::new(
                    "APP_ENV=production needs SECRET_KEY (at least 32 characters; `openssl rand -hex 32` makes one)",
                ));
            }
            None => dev_secret_key(data_dir)?,
        };
        let fallbacks = fallbacks
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                SecretKey::new(k.as_bytes()).map_err(|_| {
                    ConfigError::new(format!(
                        "every key in SECRET_KEY_FALLBACKS must be at least {} characters long",
                        SecretKey::MIN_LEN
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Secrets { current, fallbacks })
    }
}

/// In development the secret is generated once and kept in the data folder,
/// so sessions survive a restart without any set-up.
fn dev_secret_key(data_dir: &Path) -> Result<SecretKey, ConfigError> {
    let path = data_dir.join("secret_key");
    if path.exists() {
        return read_dev_secret(&path);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| {
        ConfigError::new(format!(
            "cannot create the data folder {}: {e}",
            data_dir.display()
        ))
    })?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written whole to a file of its own, then moved into place: a crash
    // leaves no half-written secret, and two processes starting at once
    // agree on the one that landed first.
    let tmp = data_dir.join(format!("secret_key.{:016x}.tmp", rand::random::<u64>()));
    write_private(&tmp, &hex).map_err(|e| {
        ConfigError::new(format!(
            "cannot write the development secret to {}: {e}",
            tmp.display()
        ))
    })?;
    let placed = std::fs::hard_link(&tmp, &path);
    std::fs::remove_file(&tmp).ok();
    match placed {
        Ok(()) => SecretKey::new(hex.into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_dev_secret(&path),
        Err(e) => Err(ConfigError::new(format!(
            "cannot write the development secret to {}: {e}",
            path.display()
        ))),
    }
}

fn read_dev_secret(path: &Path) -> Result<SecretKey, ConfigError> {
    let existing = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "cannot read the development secret {}: {e}",
            path.display()
        ))
    })?;
    SecretKey::new(existing.trim().as_bytes()).map_err(|_| {
        ConfigError::new(format!(
            "the development secret {} is shorter than {} characters; delete it to have a new one made, or set SECRET_KEY",
            path.display(),
            SecretKey::MIN_LEN
        ))
    })
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_secret_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("km-secret-{}", rand::random::<u64>()));
        let a = Secrets::read(None, None, false, &dir).unwrap();
        let b = Secrets::read(None, None, false, &dir).unwrap();
        assert_eq!(a.current.0, b.current.0);
        assert_eq!(a.current.0.len(), 64);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_short_development_secret_file_says_how_to_recover() {
        let dir = std::env::temp_dir().join(format!("km-secret-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret_key"), "short").unwrap();
        let err = Secrets::read(None, None, false, &dir).err().unwrap();
        assert!(err.to_string().contains("delete it"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
