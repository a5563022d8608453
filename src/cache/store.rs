//! The cache's files: a directory only its owner can enter, one file per entry,
//! replaced atomically (temporary file, fsync, rename) under a per-entry lock, and
//! read only when the owner and mode show nobody else could have written it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CacheError;

/// An entry larger than this is not one of ours.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;
/// How long an update waits for another login holding the same entry. The lock is
/// held for a read and a write, never across a network call.
const LOCK_WAIT: Duration = Duration::from_secs(1);
const LOCK_POLL: Duration = Duration::from_millis(2);

/// What was found at the cache directory.
pub enum DirState {
    /// Ours, private: usable.
    Usable,
    /// Not ours and we are not root: an unprivileged caller (a screen locker running
    /// as the user), for whom the cache is off.
    NotOurs,
}

/// The process's effective uid: the owner every cache file must have.
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks the cache directory, creating it (0700) when missing. `keys_user_owns`: the
/// directory belongs to the user sshd runs the keys command as, so it is never
/// created here (root trying the command must not take it over) and another user's
/// is quietly `NotOurs`, even for root.
pub fn prepare_dir(dir: &Path, keys_user_owns: bool) -> Result<DirState, CacheError> {
    let untrusted = |why: String| CacheError::Untrusted {
        path: dir.to_owned(),
        why,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound && keys_user_owns => {
            return Ok(DirState::NotOurs);
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            match DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => std::fs::symlink_metadata(dir).map_err(|e| io(dir, e))?,
                Err(e) if e.kind() == ErrorKind::PermissionDenied && euid() != 0 => {
                    return Ok(DirState::NotOurs);
                }
                Err(e) => return Err(io(dir, e)),
            }
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied && euid() != 0 => {
            return Ok(DirState::NotOurs);
        }
        Err(e) => return Err(io(dir, e)),
    };
    if !meta.file_type().is_dir() {
        return Err(untrusted("not a directory (a symlink?)".into()));
    }
    if meta.uid() != euid() {
        if euid() != 0 || keys_user_owns {
            return Ok(DirState::NotOurs);
        }
        return Err(untrusted(format!(
            "owned by uid {}, not root: run chown root {}",
            meta.uid(),
            dir.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(untrusted(format!(
            "mode {:04o}: others could read the password verifiers: run chmod 0700 {}",
            meta.mode() & 0o7777,
            dir.display()
        )));
    }
    Ok(DirState::Usable)
}

/// Reads one entry's bytes; `None` when there is no entry. Refuses a file that is not
/// a regular file owned by us with mode 0600 or stricter.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let meta = file.metadata().map_err(|e| io(path, e))?;
    let untrusted = |why: String| CacheError::Untrusted {
        path: path.to_owned(),
        why,
    };
    if !meta.file_type().is_file() {
        return Err(untrusted("not a regular file".into()));
    }
    if meta.uid() != euid() {
        return Err(untrusted(format!(
            "owned by uid {}, not by uid {}",
            meta.uid(),
            euid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(untrusted(format!(
            "mode {:04o}, not private",
            meta.mode() & 0o7777
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(path, e))?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err(untrusted(format!("larger than {MAX_ENTRY_BYTES} bytes")));
    }
    Ok(Some(bytes))
}

/// Replaces `path` with `bytes` atomically: readers see the old or the new entry,
/// never a part. Call with the entry's lock held.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let tmp = sibling(path, "tmp");
    // A leftover from a crash; only we (under the lock) write this name.
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    Ok(())
}

/// Removes an entry; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, CacheError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path, e)),
    }
}

/// An exclusive lock on one entry, released on drop. A separate file, because the
/// entry itself is replaced by rename and a lock on the old file would lock nothing.
pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    /// Waits up to [`LOCK_WAIT`] for the lock of the entry at `entry`.
    pub fn acquire(entry: &Path) -> Result<Lock, CacheError> {
        let path = sibling(entry, "lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let started = Instant::now();
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock(file)),
                Err(rustix::io::Errno::WOULDBLOCK) => {}
                Err(e) => return Err(io(&path, e.into())),
            }
            if started.elapsed() >= LOCK_WAIT {
                return Err(CacheError::Busy(path));
            }
            std::thread::sleep(LOCK_POLL);
        }
    }
}

/// The entry files in `dir` (`*.json`), in name order.
pub fn entry_files(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let mut files = Vec::new();
    for item in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = item.map_err(|e| io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `a1b2….json` → `a1b2….lock`, `a1b2….tmp`.
fn sibling(entry: &Path, extension: &str) -> PathBuf {
    entry.with_extension(extension)
}

fn io(path: &Path, e: std::io::Error) -> CacheError {
    CacheError::Io {
        path: path.to_owned(),
        error: e.to_string(),
    }
}
