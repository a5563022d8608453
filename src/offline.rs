//! The cache around Crowd's answers: what to record when Crowd answered, and the
//! decision when Crowd could not answer (offline login) or need not be asked again
//! (`positive_ttl`). Crowd's answer always wins over the cache: a wrong password, an
//! unknown or inactive user, a removed membership update or drop the entry.

use std::time::Duration;

use crate::cache::{self, Cache, CacheError, Entry, Verifier, verifier};
use crate::config::CacheConfig;
use crate::crowd::{CrowdError, Reason};
use crate::outcome::{AccountState, Denial, Granted, Offline, OfflineRefusal};
use crate::policy::{Access, AccessRules, same_group};

/// Whether a failure lets the offline cache decide: Crowd could not be reached or
/// failed (connection, timeout, TLS, 5xx, 429, an answer that is not Crowd's). Never
/// when Crowd refused the application itself (401/403): an admin who disables this
/// host's application in Crowd cuts the host off, cache or not.
pub fn crowd_unreachable(error: &CrowdError) -> bool {
    match error {
        CrowdError::Unavailable(failures) => failures.iter().all(|f| f.kind.try_next()),
        // A refusal, a client that could not be set up, or a kind this version does
        // not know: the cache does not decide.
        _ => false,
    }
}

/// What the account phase learned from Crowd, for the cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Answers {
    /// Crowd confirmed, in this transaction, that the user exists and is active
    /// under exactly the PAM name.
    pub active: bool,
    /// Membership answers, group by group.
    pub memberships: Vec<(String, bool)>,
    /// Every group of the user, when Crowd was asked for the whole list.
    pub all_groups: Option<Vec<String>>,
}

/// Records Crowd's answer to authenticate. Accepted: the verifier (when offline
/// login is on), active now, failures reset. Refused: a password Crowd refused stops
/// working offline; an unknown, inactive or renamed user is dropped.
pub fn after_authenticate<T>(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    password: &str,
    result: &Result<T, Denial>,
    now: u64,
) -> Result<(), CacheError> {
    match result {
        Ok(_) => record_password(cache, settings, user, password, now, true),
        Err(denial) if user_is_gone(denial) => cache.remove(user).map(drop),
        Err(Denial::Refused(_)) => {
            let Some(Verifier { phc, .. }) = cache.load(user)?.and_then(|e| e.password) else {
                return Ok(());
            };
            // Only when the refused password is the cached one (the password changed
            // in Crowd): an attacker's wrong guesses must not erase a user's entry.
            if verifier::verify(&phc, password) == Ok(true) {
                cache.update(user, |entry| {
                    if let Some(entry) = entry {
                        entry.password = None;
                    }
                })?;
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// After Crowd set a user's new password: the offline verifier follows (the old
/// password must not work offline any more). It never marks the user active: only
/// Crowd's answer to a login does, so a password an admin set for an inactive user
/// cannot open an offline login.
pub fn after_password_change(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    new: &str,
    now: u64,
) -> Result<(), CacheError> {
    record_password(cache, settings, user, new, now, false)
}

/// Keeps `password`'s verifier (when offline use is on) as the one Crowd accepted,
/// clearing the failures; `active` also records Crowd's word that the user is active.
fn record_password(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    password: &str,
    now: u64,
    active: bool,
) -> Result<(), CacheError> {
    // Hashed before the lock: it is the slow part.
    let phc = match settings.offline() {
        true => Some(verifier::hash(password).map_err(CacheError::Hash)?),
        false => None,
    };
    cache.update(user, |entry| {
        let entry = entry.get_or_insert_with(|| cache.new_entry(user));
        entry.password = phc.map(|phc| Verifier { phc, at: now });
        entry.failures = 0;
        if active {
            entry.active_at = Some(now);
        }
    })
}

/// What counting one offline attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// Counted as a failure until the password proves right.
    Counted,
    /// Too many failures already.
    Locked(u32),
    /// The entry is not the one loaded (its verifier was replaced or cleared since):
    /// the password must not be checked against a verifier that is no longer there.
    Gone,
}

/// Counts an offline attempt on `entry` (under the cache's lock), if it still holds
/// `loaded`, the verifier the check is about to use.
fn count_attempt(entry: &mut Option<Entry>, loaded: &Verifier, max_failures: u32) -> Attempt {
    match entry {
        Some(e) if e.password.as_ref() == Some(loaded) => {
            if e.failures >= max_failures {
                Attempt::Locked(e.failures)
            } else {
                e.failures += 1;
                Attempt::Counted
            }
        }
        _ => Attempt::Gone,
    }
}

/// Authenticates against the verifier Crowd last accepted, when Crowd could not
/// answer (`crowd`). A wrong attempt is counted before the password is checked, so
/// parallel guesses cannot exceed `offline_max_failures`.
pub fn authenticate(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    password: &str,
    crowd: CrowdError,
    now: u64,
) -> Result<Granted, Denial> {
    let refuse = |refusal| {
        Denial::Offline(Offline {
            crowd: crowd.clone(),
            cache: Some(refusal),
        })
    };
    let not_cached = |why: String| refuse(OfflineRefusal::NotCached(why));
    let entry = cache
        .load(user)
        .map_err(|e| not_cached(e.to_string()))?
        .ok_or_else(|| not_cached("this user has no cached password".into()))?;
    let Some(verifier) = entry.password else {
        return Err(not_cached("this user has no cached password".into()));
    };
    if !cache::fresh(verifier.at, now, settings.offline_window()) {
        return Err(not_cached(format!(
            "the cached password is older than offline_days = {}",
            settings.offline_days
        )));
    }

    let attempt = cache
        .update(user, |entry| {
            count_attempt(entry, &verifier, settings.offline_max_failures)
        })
        .map_err(|e| not_cached(e.to_string()))?;
    match attempt {
        Attempt::Counted => {}
        Attempt::Locked(failures) => return Err(refuse(OfflineRefusal::Locked { failures })),
        Attempt::Gone => return Err(not_cached("the entry changed during the check".into())),
    }

    match verifier::verify(&verifier.phc, password) {
        Ok(true) => {
            cache
                .update(user, |entry| {
                    if let Some(e) = entry {
                        e.failures = 0;
                    }
                })
                .map_err(|e| not_cached(e.to_string()))?;
            Ok(Granted {
                detail: format!(
                    "password matches the one Crowd accepted {} ago, checked offline ({crowd})",
                    cache::age(verifier.at, now)
                ),
                offline: true,
            })
        }
        Ok(false) => Err(refuse(OfflineRefusal::WrongPassword)),
        Err(why) => Err(not_cached(why.to_string())),
    }
}

/// The account phase from Crowd's recent answers (`positive_ttl`), when they cover
/// every question the rules ask and admit the user. Anything else asks Crowd.
pub fn account_from_recent(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    rules: &AccessRules,
    now: u64,
) -> Result<Option<Granted>, CacheError> {
    if settings.positive_ttl.is_zero() {
        return Ok(None);
    }
    let Some(entry) = cache.load(user)? else {
        return Ok(None);
    };
    Ok(match decide(&entry, rules, now, settings.positive_ttl) {
        Ok(Access::Granted) => Some(Granted {
            detail: format!(
                "active and admitted by Crowd's answers of the last {} s (positive_ttl)",
                settings.positive_ttl.as_secs()
            ),
            offline: false,
        }),
        _ => None,
    })
}

/// The account phase from cached answers, when Crowd could not answer (`crowd`):
/// granted, with the entry that admitted the user (its cached keys, for
/// `authorized-keys`, read once).
pub fn account(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    rules: &AccessRules,
    crowd: CrowdError,
    now: u64,
) -> Result<(Granted, Entry), Denial> {
    let refuse = |refusal| {
        Denial::Offline(Offline {
            crowd: crowd.clone(),
            cache: Some(refusal),
        })
    };
    let not_cached = |why: String| refuse(OfflineRefusal::NotCached(why));
    let entry = cache
        .load(user)
        .map_err(|e| not_cached(e.to_string()))?
        .ok_or_else(|| not_cached("nothing cached for this user".into()))?;
    match decide(&entry, rules, now, settings.offline_window()) {
        Err(why) => Err(not_cached(why.to_string())),
        Ok(Access::Granted) => Ok((
            Granted {
                detail: format!(
                    "active and admitted by Crowd's cached answers, checked offline ({crowd})"
                ),
                offline: true,
            },
            entry,
        )),
        Ok(denied) => Err(refuse(OfflineRefusal::Access(denied))),
    }
}

/// Records what the account phase learned. Crowd's refusals of the user drop the
/// entry; group answers, including "not a member", replace the cached ones.
pub fn after_account<T>(
    cache: &Cache,
    user: &str,
    named_groups: &[String],
    answers: &Answers,
    result: &Result<T, Denial>,
    now: u64,
) -> Result<(), CacheError> {
    if let Err(denial) = result {
        if user_is_gone(denial) {
            return cache.remove(user).map(drop);
        }
    }
    if !answers.active && answers.memberships.is_empty() {
        return Ok(());
    }
    cache.update(user, |entry| {
        let entry = entry.get_or_insert_with(|| cache.new_entry(user));
        if answers.active {
            entry.active_at = Some(now);
        }
        if let Some(all) = &answers.all_groups {
            for group in named_groups {
                let member = all.iter().any(|g| same_group(g, group));
                entry.record_membership(group, member, now);
            }
        }
        for (group, member) in &answers.memberships {
            entry.record_membership(group, *member, now);
        }
    })
}

/// The rules applied to cached answers no older than `max_age`; `Err` says which
/// answer is missing or too old.
fn decide(
    entry: &Entry,
    rules: &AccessRules,
    now: u64,
    max_age: Duration,
) -> Result<Access, Unconfirmed> {
    if !active_within(entry, now, max_age) {
        return Err(Unconfirmed::Active);
    }
    rules.check(|group| {
        membership(entry, group, now, max_age).ok_or_else(|| Unconfirmed::Group(group.to_owned()))
    })
}

/// Which cached answer is missing, or too old to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unconfirmed {
    /// Whether the account is active.
    Active,
    /// Membership of this group.
    Group(String),
}

impl std::fmt::Display for Unconfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unconfirmed::Active => {
                f.write_str("Crowd has not confirmed the account active recently enough")
            }
            Unconfirmed::Group(group) => {
                write!(f, "no recent enough answer about group {group:?} is cached")
            }
        }
    }
}

/// The principals of `table` the cached answers grant: a group whose answer is
/// missing or older than the offline window grants nothing.
pub fn principals<'t>(
    entry: &Entry,
    settings: &CacheConfig,
    table: &'t std::collections::BTreeMap<String, Vec<String>>,
    now: u64,
) -> Vec<&'t str> {
    crate::ssh_principals::granted(table, |group| {
        membership(entry, group, now, settings.offline_window()) == Some(true)
    })
}

/// Crowd's cached answer about `group` (compared without case, as Crowd does), if
/// given at most `max_age` before `now`.
fn membership(entry: &Entry, group: &str, now: u64, max_age: Duration) -> Option<bool> {
    entry
        .groups
        .get(&group.to_lowercase())
        .filter(|m| cache::fresh(m.at, now, max_age))
        .map(|m| m.member)
}

/// Whether Crowd confirmed the user active at most `max_age` before `now`.
fn active_within(entry: &Entry, now: u64, max_age: Duration) -> bool {
    entry
        .active_at
        .is_some_and(|at| cache::fresh(at, now, max_age))
}

/// Crowd's refusals that mean the cached user is no more: unknown, inactive, not
/// allowed to use the application, or known under another name.
fn user_is_gone(denial: &Denial) -> bool {
    match denial {
        Denial::Refused(refusal) => matches!(
            refusal.reason,
            Reason::UserNotFound | Reason::InactiveAccount | Reason::ApplicationAccessDenied
        ),
        Denial::Account(AccountState::Inactive | AccountState::NameMismatch { .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
