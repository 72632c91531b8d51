//! A `SessionStore` of files: one per session in one directory, for one
//! host (Django's file backend).
//!
//! A session's file is named after the SHA-256 of its id (the id is a
//! credential: it appears in no name, and no path is built from what a
//! cookie says), as `<hash>.session`. It holds a header, `KMS1` and the
//! record's expiry (a big-endian Unix time), then the record in MessagePack
//! as the Redis store writes it: the expiry is read without decoding the
//! record, so loading honours it and the clean-up finds expired files by
//! reading a few bytes, whatever the record's format.
//!
//! Every write is atomic: the record goes to a temporary file in the same
//! directory, is synced, then renamed over the session's file (or, for a
//! new session, linked under its name, which fails if the name is taken),
//! and the directory is synced so the new name survives a crash. A reader
//! sees the old record or the new one, never half of one.
//!
//! Expiry is judged by the service's clock, as the database store judges it.
//! Several processes may share the directory: their changes to one session
//! take turns with the advisory lock `<hash>.lock` beside it (see
//! `SessionLock::File`). The directory must be on a local file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::lock::lock_name;
use super::shared_lock;
use crate::clock::Clock;

/// What a session file starts with: the format, then the expiry.
const MAGIC: &[u8; 4] = b"KMS1";
const HEADER_LEN: usize = MAGIC.len() + 8;

/// A temporary or lock file older than this is left over by a process that
/// stopped half-way (a crash, a cancelled request): the clean-up removes it.
/// A write takes milliseconds and a turn at most a few request timeouts.
const LEFT_OVER_AFTER: Duration = Duration::from_secs(3600);

const SESSION_SUFFIX: &str = ".session";
const TEMP_SUFFIX: &str = ".tmp";
pub(crate) const LOCK_SUFFIX: &str = ".lock";

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: Arc<PathBuf>,
    /// The service's clock: what has expired is judged by it, so a test
    /// moves it instead of waiting.
    clock: Clock,
}

/// The name of the file holding the session `id`: never the id itself.
pub fn file_name(id: &Id) -> String {
    format!("{}{SESSION_SUFFIX}", lock_name(&id.to_string()))
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl FileStore {
    /// The store in `dir`, created if missing (readable by this user only);
    /// fails when it cannot be written.
    pub async fn open(dir: PathBuf, clock: Clock) -> io::Result<Self> {
        let store = FileStore {
            dir: Arc::new(dir),
            clock,
        };
        let dir = store.dir.clone();
        blocking(move || {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir.as_path())?;
            check_writable(&dir)
        })
        .await?;
        Ok(store)
    }

    /// The directory the sessions are in.
    pub fn dir(&self) -> Arc<PathBuf> {
        self.dir.clone()
    }

    /// Whether the directory can still be written: for the readiness probe.
    pub async fn ping(&self) -> io::Result<()> {
        let dir = self.dir.clone();
        blocking(move || check_writable(&dir)).await
    }
}

/// Runs file system work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// Creates and removes a file in `dir`.
fn check_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!("ping.{:016x}{TEMP_SUFFIX}", rand::random::<u64>()));
    new_file(&probe)?;
    fs::remove_file(probe)
}

/// A file that did not exist, for this user only.
fn new_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// What a session's file holds for `record`.
fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    let body =
        rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&record.expiry_date.unix_timestamp().to_be_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// A file's expiry and record; `None` if it does not start with a header.
fn split(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (expiry, record) = rest.split_first_chunk::<8>()?;
    Some((i64::from_be_bytes(*expiry), record))
}

/// The expiry in a file's first bytes; `None` if they are not a header.
fn expiry_of(header: &[u8]) -> Option<i64> {
    split(header).map(|(expires_at, _)| expires_at)
}

/// Writes `bytes` to a new temporary file in `dir`, synced; returns its path.
fn write_temp(dir: &Path, stem: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = dir.join(format!(
        "{stem}.{:016x}{TEMP_SUFFIX}",
        rand::random::<u64>()
    ));
    let written = new_file(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Makes the directory's entries (a rename, a new name, a removal) survive
/// a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` as the file `name`, replacing it if there is one.
fn replace(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = write_temp(dir, name, bytes)?;
    if let Err(e) = fs::rename(&temp, dir.join(name)) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Writes `bytes` as the file `name` unless there is one: false then. The
/// new name is a hard link to the written file, which, unlike a rename,
/// fails if the name is taken.
fn add(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<bool> {
    let temp = write_temp(dir, name, bytes)?;
    let linked = fs::hard_link(&temp, dir.join(name));
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => sync_dir(dir).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The first bytes of the file at `path`, up to a header's length.
fn read_header(path: &Path) -> io::Result<Vec<u8>> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    File::open(path)?
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)?;
    Ok(header)
}

#[async_trait]
impl SessionStore for FileStore {
    /// Writes a new file; when its id is taken, draws another until one is free.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let (dir, name, bytes) = (self.dir.clone(), file_name(&record.id), encode(record)?);
            if blocking(move || add(&dir, &name, &bytes))
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (dir, name, bytes) = (self.dir.clone(), file_name(&record.id), encode(record)?);
        blocking(move || replace(&dir, &name, &bytes))
            .await
            .map_err(backend)
    }

    /// An expired file loads as nothing and stays where it is: a read
    /// writes nothing, and the clean-up removes it.
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let path = self.dir.join(file_name(id));
        let bytes = match blocking(move || fs::read(path)).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let decode = |what: &str| session_store::Error::Decode(what.to_owned());
        let (expires_at, record) = split(&bytes).ok_or_else(|| decode("not a session file"))?;
        if expires_at <= self.clock.now().unix_timestamp() {
            return Ok(None);
        }
        let record: Record = rmp_serde::from_slice(record)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        if record.id != *id {
            return Err(decode("the session file holds another session"));
        }
        Ok(Some(record))
    }

    /// Removes the file; one already gone is fine.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let (dir, name) = (self.dir.clone(), file_name(id));
        blocking(move || match fs::remove_file(dir.join(name)) {
            Ok(()) => sync_dir(&dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(backend)
    }
}

/// What one clean-up did.
#[derive(Debug, Default)]
struct Sweep {
    expired: usize,
    left_over: usize,
    /// Session files without a header this release reads (damaged, or
    /// written by a newer one): kept.
    unreadable: usize,
    /// Files that could not be read or removed, with the first reason.
    failed: usize,
    first_failure: Option<io::Error>,
}

impl Sweep {
    fn failed(&mut self, e: io::Error) {
        self.failed += 1;
        self.first_failure.get_or_insert(e);
    }
}

#[async_trait]
impl ExpiredDeletion for FileStore {
    /// Removes the session files expired by the service's clock, and the
    /// temporary and lock files left over by a process that stopped
    /// half-way (the lock files only while nobody holds them).
    async fn delete_expired(&self) -> session_store::Result<()> {
        let (dir, now) = (self.dir.clone(), self.clock.now().unix_timestamp());
        let sweep = blocking(move || sweep(&dir, now, LEFT_OVER_AFTER))
            .await
            .map_err(backend)?;
        if sweep.expired + sweep.left_over > 0 {
            tracing::debug!(
                expired = sweep.expired,
                left_over = sweep.left_over,
                "expired session files deleted"
            );
        }
        if sweep.unreadable > 0 {
            tracing::debug!(
                files = sweep.unreadable,
                "session files without a readable expiry kept"
            );
        }
        if let Some(e) = sweep.first_failure {
            tracing::warn!(files = sweep.failed, error = %e, "some session files could not be cleaned up; will retry");
        }
        Ok(())
    }
}

/// Removes from `dir` the session files expired at `now`, and the
/// temporary and free lock files unchanged for `left_over_after`.
fn sweep(dir: &Path, now: i64, left_over_after: Duration) -> io::Result<Sweep> {
    let mut sweep = Sweep::default();
    let left_over_before = SystemTime::now()
        .checked_sub(left_over_after)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let outcome = if name.ends_with(SESSION_SUFFIX) {
            match read_header(&path).map(|h| expiry_of(&h)) {
                Ok(Some(expires_at)) if expires_at <= now => {
                    remove_expired(dir, &name, now).map(|gone| sweep.expired += usize::from(gone))
                }
                Ok(Some(_)) => Ok(()),
                Ok(None) => {
                    sweep.unreadable += 1;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else if name.ends_with(TEMP_SUFFIX) || name.ends_with(LOCK_SUFFIX) {
            let old = entry
                .metadata()
                .and_then(|m| changed_at(&m))
                .map(|at| at < left_over_before);
            match old {
                Ok(true) if name.ends_with(LOCK_SUFFIX) => {
                    shared_lock::remove_lock_file_if_free(&path)
                        .map(|gone| sweep.left_over += usize::from(gone))
                }
                Ok(true) => fs::remove_file(&path).map(|()| sweep.left_over += 1),
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            Ok(())
        };
        match outcome {
            Ok(()) => {}
            // Removed meanwhile (a sign-out, a released lock).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => sweep.failed(e),
        }
    }
    if sweep.expired + sweep.left_over > 0 {
        sync_dir(dir)?;
    }
    Ok(sweep)
}

/// When a file was last changed, its name included: on Unix its status
/// change time, which a rename sets (so a file another process's clean-up
/// has just moved aside is not yet a left-over).
fn changed_at(meta: &fs::Metadata) -> io::Result<SystemTime> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let seconds = u64::try_from(meta.ctime()).unwrap_or(0);
        let nanos = u32::try_from(meta.ctime_nsec()).unwrap_or(0);
        Ok(SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos))
    }
    #[cfg(not(unix))]
    meta.modified()
}

/// Removes the session file `name`, found expired at `now`, unless it was
/// written again meanwhile (a change that loaded it just before it
/// expired): the file is first moved aside, which is atomic, and checked
/// again there; a renewed one is linked back unless an even newer one took
/// its place. Whether it was removed.
fn remove_expired(dir: &Path, name: &str, now: i64) -> io::Result<bool> {
    let path = dir.join(name);
    let aside = dir.join(format!(
        "{name}.{:016x}.expired{TEMP_SUFFIX}",
        rand::random::<u64>()
    ));
    fs::rename(&path, &aside)?;
    let still_expired = read_header(&aside)
        .map(|h| expiry_of(&h).is_some_and(|at| at <= now))
        .unwrap_or(false);
    if !still_expired
        && let Err(e) = fs::hard_link(&aside, &path)
        && e.kind() != io::ErrorKind::AlreadyExists
    {
        // Left aside; the clean-up removes it later, as a left-over.
        return Err(e);
    }
    fs::remove_file(&aside)?;
    Ok(still_expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("km-files-{:016x}", rand::random::<u64>()))
    }

    fn record(lives: time::Duration) -> Record {
        Record {
            id: Id::default(),
            data: [("n".to_owned(), serde_json::json!(1))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + lives,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn the_clean_up_removes_left_over_temporary_and_free_lock_files_and_keeps_a_held_lock() {
        let dir = temp_dir();
        let store = FileStore::open(dir.clone(), Clock::system()).await.unwrap();
        let mut live = record(time::Duration::hours(1));
        store.create(&mut live).await.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        new_file(&dir.join("aaaa.0000000000000001.tmp")).unwrap();
        new_file(&dir.join("bbbb.lock")).unwrap();
        let held = new_file(&dir.join("cccc.lock")).unwrap();
        held.lock().unwrap();
        let before = names(&dir);

        sweep(&dir, now, LEFT_OVER_AFTER).unwrap();
        assert_eq!(names(&dir), before, "nothing is a left-over yet");

        sweep(&dir, now, Duration::ZERO).unwrap();
        let mut kept = vec!["cccc.lock".to_owned(), file_name(&live.id)];
        kept.sort();
        assert_eq!(names(&dir), kept, "the held lock and the live session stay");
        drop(held);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_expired_then_renewed_before_it_is_removed_is_kept() {
        let dir = temp_dir();
        fs::create_dir_all(&dir).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut r = record(time::Duration::hours(1));
        let name = file_name(&r.id);
        // Found expired by the sweep, then written again before removal.
        r.expiry_date = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
        replace(&dir, &name, &encode(&r).unwrap()).unwrap();

        assert!(!remove_expired(&dir, &name, now).unwrap());
        assert_eq!(
            names(&dir),
            vec![name.clone()],
            "linked back, nothing aside"
        );

        r.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        replace(&dir, &name, &encode(&r).unwrap()).unwrap();
        assert!(remove_expired(&dir, &name, now).unwrap());
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
