//! The offline and result cache: what Crowd last said about a user, kept in a
//! root-only directory (`[cache] dir`), one JSON file per user and Crowd.
//!
//! An [`Entry`] holds an argon2id verifier of the password Crowd last accepted (for
//! offline login), when Crowd last confirmed the user active, and Crowd's answers
//! about the user's membership in the groups the rules name, each with its time.
//! Deciding what to record and when to trust it is [`crate::offline`]'s job; this
//! module only keeps entries safely.

pub(crate) mod store;
pub mod verifier;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The entry format written; entries of another format are not read.
const ENTRY_FORMAT: u32 = 1;
/// A time this far ahead of the clock is not Crowd's: a rewound clock or a forged entry.
const CLOCK_SLACK_SECS: u64 = 300;

/// A cache that could not be used as asked. Never contains a password or verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// A file or directory that someone else could have written, or that is not ours.
    Untrusted { path: PathBuf, why: String },
    /// An entry that does not parse, or whose contents contradict its name.
    Corrupt { path: PathBuf, why: String },
    /// Another login held the entry's lock for too long.
    Busy(PathBuf),
    /// A read or write failed.
    Io { path: PathBuf, error: String },
    /// The password could not be hashed.
    Hash(verifier::VerifierError),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Untrusted { path, why } => {
                write!(f, "{} ignored, not trusted: {why}", path.display())
            }
            CacheError::Corrupt { path, why } => {
                write!(f, "{} ignored, corrupt: {why}", path.display())
            }
            CacheError::Busy(path) => {
                write!(f, "{} stayed locked by another login", path.display())
            }
            CacheError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CacheError::Hash(why) => write!(f, "cannot hash the password: {why}"),
        }
    }
}

impl std::error::Error for CacheError {}

/// Seconds since the epoch, as entries record time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a time recorded at `at` is at most `max_age` old at `now` (and not from
/// the future).
pub fn fresh(at: u64, now: u64, max_age: Duration) -> bool {
    at <= now.saturating_add(CLOCK_SLACK_SECS) && now.saturating_sub(at) <= max_age.as_secs()
}

/// "3 min", "2 h", "5 days": how long ago `at` was.
pub fn age(at: u64, now: u64) -> String {
    let secs = now.saturating_sub(at);
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// What the cache knows about one user of one Crowd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// [`ENTRY_FORMAT`].
    pub format: u32,
    /// Which Crowd said all this (application and urls): another config's entries
    /// are never used.
    pub crowd: String,
    /// The user, exactly as Crowd names them.
    pub user: String,
    /// The verifier of the password Crowd last accepted, for offline login.
    #[serde(default)]
    pub password: Option<Verifier>,
    /// Wrong offline passwords since the last good one.
    #[serde(default)]
    pub failures: u32,
    /// When Crowd last said this user exists and is active, under this exact name.
    #[serde(default)]
    pub active_at: Option<u64>,
    /// Crowd's answers about nested membership, by lowercased group name (Crowd
    /// compares group names without case).
    #[serde(default)]
    pub groups: BTreeMap<String, Membership>,
    /// The values of `ssh_keys_attribute` when Crowd last served them (keys cache only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys: Option<Vec<String>>,
}

/// A password verifier and when Crowd accepted the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verifier {
    /// argon2id PHC string (parameters, salt, hash).
    pub phc: String,
    /// When Crowd accepted the password.
    pub at: u64,
}

/// One membership answer and when Crowd gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub member: bool,
    pub at: u64,
}

impl Entry {
    /// An empty entry for `user` of `crowd`.
    pub fn new(crowd: &str, user: &str) -> Entry {
        Entry {
            format: ENTRY_FORMAT,
            crowd: crowd.to_owned(),
            user: user.to_owned(),
            password: None,
            failures: 0,
            active_at: None,
            groups: BTreeMap::new(),
            ssh_keys: None,
        }
    }

    /// Records Crowd's answer about `group`, given at `now`.
    pub fn record_membership(&mut self, group: &str, member: bool, now: u64) {
        self.groups
            .insert(group.to_lowercase(), Membership { member, at: now });
    }
}

/// One entry file and what reading it gave.
pub type Stored = (PathBuf, Result<Entry, CacheError>);

/// An open cache directory, for the entries of one Crowd (one config).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    crowd: String,
}

impl Cache {
    /// The cache of `config`: `Ok(None)` when it is off, or when this process may not
    /// use it (an unprivileged caller, where the directory is root's).
    pub fn open(config: &Config) -> Result<Option<Cache>, CacheError> {
        if !config.cache.enabled() {
            return Ok(None);
        }
        Cache::open_dir(&config.cache.dir, config)
    }

    /// The cache directory of `config` even when `[cache]` is off: the admin command
    /// lists and purges what an earlier configuration left.
    pub fn open_dir(dir: &Path, config: &Config) -> Result<Option<Cache>, CacheError> {
        Cache::prepare(dir, config, false)
    }

    /// The cache of `pam-crowd authorized-keys` (`[cache] keys_dir`), when offline use
    /// is on and this process owns the directory, which the packages make (see
    /// [`crate::ssh_keys`]); never created here.
    pub fn open_keys(config: &Config) -> Result<Option<Cache>, CacheError> {
        if !config.cache.offline() {
            return Ok(None);
        }
        Cache::prepare(&config.cache.keys_dir, config, true)
    }

    fn prepare(
        dir: &Path,
        config: &Config,
        keys_user_owns: bool,
    ) -> Result<Option<Cache>, CacheError> {
        match store::prepare_dir(dir, keys_user_owns)? {
            store::DirState::NotOurs => Ok(None),
            store::DirState::Usable => Ok(Some(Cache {
                dir: dir.to_owned(),
                crowd: crowd_identity(config),
            })),
        }
    }

    /// The entry for `user`, if there is one. An entry that is not trustworthy or
    /// does not parse is an error, never an entry.
    pub fn load(&self, user: &str) -> Result<Option<Entry>, CacheError> {
        let path = self.path_of(user);
        match store::read(&path)? {
            None => Ok(None),
            Some(bytes) => self.parse(&path, &bytes, Some(user)).map(Some),
        }
    }

    /// Changes `user`'s entry under its lock: `change` gets the entry as stored (none
    /// when absent or unusable, so a broken entry is replaced) and leaves the entry
    /// to store, or none to remove it. Returns what `change` returned.
    pub fn update<T>(
        &self,
        user: &str,
        change: impl FnOnce(&mut Option<Entry>) -> T,
    ) -> Result<T, CacheError> {
        let path = self.path_of(user);
        let _lock = store::Lock::acquire(&path)?;
        let mut entry = self.load(user).ok().flatten();
        let result = change(&mut entry);
        match entry {
            Some(entry) => {
                let bytes = serde_json::to_vec_pretty(&entry).map_err(|e| CacheError::Io {
                    path: path.clone(),
                    error: e.to_string(),
                })?;
                store::write(&path, &bytes)?;
            }
            None => {
                store::remove(&path)?;
            }
        }
        Ok(result)
    }

    /// Removes `user`'s entry; `false` when there was none.
    pub fn remove(&self, user: &str) -> Result<bool, CacheError> {
        let path = self.path_of(user);
        // Checked first, so that refusals of names never cached (USER_NOT_FOUND for
        // whatever a scanner tries) create no lock files.
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(false);
        }
        let _lock = store::Lock::acquire(&path)?;
        store::remove(&path)
    }

    /// Every entry in the directory, this config's or not, each read as [`load`]
    /// would (so a bad one shows as its error).
    ///
    /// [`load`]: Cache::load
    pub fn entries(&self) -> Result<Vec<Stored>, CacheError> {
        let mut all = Vec::new();
        for path in store::entry_files(&self.dir)? {
            let entry = match store::read(&path) {
                Ok(Some(bytes)) => self.parse(&path, &bytes, None),
                Ok(None) => continue,
                Err(e) => Err(e),
            };
            all.push((path, entry));
        }
        Ok(all)
    }

    /// Removes every entry file in the directory, of any config. Returns how many.
    pub fn purge_all(&self) -> Result<usize, CacheError> {
        let mut removed = 0;
        for path in store::entry_files(&self.dir)? {
            let _lock = store::Lock::acquire(&path)?;
            removed += usize::from(store::remove(&path)?);
        }
        Ok(removed)
    }

    /// Whether `entry` was written for this config's Crowd.
    pub fn is_ours(&self, entry: &Entry) -> bool {
        entry.crowd == self.crowd
    }

    /// An entry of this config's Crowd for `user`.
    pub fn new_entry(&self, user: &str) -> Entry {
        Entry::new(&self.crowd, user)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn parse(&self, path: &Path, bytes: &[u8], user: Option<&str>) -> Result<Entry, CacheError> {
        let corrupt = |why: String| CacheError::Corrupt {
            path: path.to_owned(),
            why,
        };
        let entry: Entry = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if entry.format != ENTRY_FORMAT {
            return Err(corrupt(format!("entry format {}", entry.format)));
        }
        // The name is a hash of Crowd and user: an entry whose contents disagree was
        // moved or edited.
        let expected = self.dir.join(file_name(&entry.crowd, &entry.user));
        if expected != path || user.is_some_and(|u| u != entry.user) {
            return Err(corrupt("its contents do not match its file name".into()));
        }
        Ok(entry)
    }

    fn path_of(&self, user: &str) -> PathBuf {
        self.dir.join(file_name(&self.crowd, user))
    }
}

/// Which Crowd a config talks to: entries of one are never used for another (a test
/// Crowd's passwords must not open a production service).
fn crowd_identity(config: &Config) -> String {
    let urls: Vec<&str> = config.urls.iter().map(|u| u.as_str()).collect();
    format!("{} at {}", config.application, urls.join(" "))
}

/// A fixed-length file name from any user name (which may hold `/`, or be 255 bytes).
fn file_name(crowd: &str, user: &str) -> String {
    let mut hasher = Blake2s256::new();
    hasher.update(crowd.as_bytes());
    hasher.update([0]);
    hasher.update(user.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

#[cfg(test)]
mod tests;
