//! The `[cache]` table: the offline and result cache's settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

/// Where the offline and result cache lives unless `[cache] dir` says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/pam_crowd";
/// Where `pam-crowd authorized-keys` keeps Crowd's answers for offline use, unless
/// `[cache] keys_dir` says otherwise: owned by the user it runs as (pam-crowd-keys).
pub const DEFAULT_KEYS_CACHE_DIR: &str = "/var/cache/pam_crowd-keys";
/// Longest offline window: beyond a year, a departed user's password is not "recent".
const MAX_OFFLINE_DAYS: u32 = 366;
/// Longest reuse of Crowd's membership answers: a day.
const MAX_POSITIVE_TTL_SECS: u64 = 86_400;
/// Wrong offline passwords in a row before that user's offline login locks.
const DEFAULT_OFFLINE_MAX_FAILURES: u32 = 5;

/// The `[cache]` table, validated. Both uses are off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Days a password verified by Crowd may be checked offline; 0: no offline login.
    pub offline_days: u32,
    /// Wrong offline passwords in a row that lock a user's offline login.
    pub offline_max_failures: u32,
    /// How long the account phase may reuse Crowd's membership answers; zero: never.
    pub positive_ttl: Duration,
    /// The root-only directory holding the entries.
    pub dir: PathBuf,
    /// The directory `pam-crowd authorized-keys` keeps its entries in, owned by the
    /// user it runs as.
    pub keys_dir: PathBuf,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            offline_days: 0,
            offline_max_failures: DEFAULT_OFFLINE_MAX_FAILURES,
            positive_ttl: Duration::ZERO,
            dir: PathBuf::from(DEFAULT_CACHE_DIR),
            keys_dir: PathBuf::from(DEFAULT_KEYS_CACHE_DIR),
        }
    }
}

impl CacheConfig {
    /// Whether anything is cached at all.
    pub fn enabled(&self) -> bool {
        self.offline() || !self.positive_ttl.is_zero()
    }

    /// Whether offline login is on.
    pub fn offline(&self) -> bool {
        self.offline_days > 0
    }

    /// How old an answer or password may be for an offline decision.
    pub fn offline_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.offline_days) * 86_400)
    }
}

/// `[cache]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    offline_days: Option<Spanned<u32>>,
    offline_max_failures: Option<Spanned<u32>>,
    positive_ttl: Option<Spanned<u64>>,
    dir: Option<Spanned<PathBuf>>,
    keys_dir: Option<Spanned<PathBuf>>,
}

impl RawCache {
    pub(super) fn validate(
        self,
        err: &impl Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    ) -> Result<CacheConfig, ConfigError> {
        let mut cache = CacheConfig::default();
        if let Some(days) = self.offline_days {
            if *days.get_ref() > MAX_OFFLINE_DAYS {
                return Err(err(
                    days.span(),
                    "cache.offline_days",
                    format!("must be between 0 (off) and {MAX_OFFLINE_DAYS}"),
                ));
            }
            cache.offline_days = days.into_inner();
        }
        if let Some(max) = self.offline_max_failures {
            if *max.get_ref() == 0 {
                return Err(err(
                    max.span(),
                    "cache.offline_max_failures",
                    "must be at least 1 (set offline_days = 0 to turn offline login off)".into(),
                ));
            }
            cache.offline_max_failures = max.into_inner();
        }
        if let Some(ttl) = self.positive_ttl {
            if *ttl.get_ref() > MAX_POSITIVE_TTL_SECS {
                return Err(err(
                    ttl.span(),
                    "cache.positive_ttl",
                    format!("must be between 0 (off) and {MAX_POSITIVE_TTL_SECS} seconds"),
                ));
            }
            cache.positive_ttl = Duration::from_secs(ttl.into_inner());
        }
        for (value, key, target) in [
            (self.dir, "cache.dir", &mut cache.dir),
            (self.keys_dir, "cache.keys_dir", &mut cache.keys_dir),
        ] {
            if let Some(dir) = value {
                if !dir.get_ref().is_absolute() {
                    return Err(err(dir.span(), key, "must be an absolute path".into()));
                }
                *target = dir.into_inner();
            }
        }
        Ok(cache)
    }
}
