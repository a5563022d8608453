//! SSH public keys kept in a multi-valued Crowd user attribute (`ssh_keys_attribute`),
//! for sshd's `AuthorizedKeysCommand`: each value checked as one OpenSSH public key
//! (by the `ssh-key` parser), and printed back in canonical form, so nothing but a key
//! (no `authorized_keys` options, no second line) ever reaches sshd.

use ssh_key::{Algorithm, HashAlg, PublicKey};

use crate::cache::{Cache, CacheError};
use crate::config::{CacheConfig, Config};
use crate::crowd::{CrowdError, Directory};
use crate::login;
use crate::offline::{self, Answers};
use crate::outcome::{Denial, Granted, OfflineRefusal};
use crate::pam_context::KnownUser;
use crate::policy::AccessRules;

/// The PAM service whose account rules decide who gets keys: the keys are sshd's.
pub const KEYS_SERVICE: &str = "sshd";
/// A value longer than this is not a public key (an 16384-bit RSA key is ~2.8 KB).
const MAX_KEY_BYTES: usize = 8 * 1024;

/// One valid public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// `ALGORITHM BASE64 [COMMENT]`, as the parser re-encodes it.
    pub line: String,
    /// `SHA256:...`, as `ssh-keygen -l` shows it.
    pub fingerprint: String,
}

/// Checks one attribute value as an OpenSSH public key line.
pub fn parse_key(value: &str) -> Result<AuthorizedKey, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("empty".into());
    }
    if value.len() > MAX_KEY_BYTES {
        return Err(format!("longer than {MAX_KEY_BYTES} bytes"));
    }
    // A newline would make a second authorized_keys line, with options of its own.
    if value.chars().any(char::is_control) {
        return Err("contains control characters (a second line?)".into());
    }
    let key = PublicKey::from_openssh(value).map_err(|e| {
        format!("not an OpenSSH public key ({e}); authorized_keys options are not accepted")
    })?;
    if key.algorithm() == Algorithm::Dsa {
        return Err("ssh-dss (DSA) keys are refused: OpenSSH no longer accepts them".into());
    }
    let line = key
        .to_openssh()
        .map_err(|e| format!("cannot re-encode the key: {e}"))?;
    Ok(AuthorizedKey {
        line,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// The valid keys among `values` (each once, in order), and why each other was
/// skipped (value index, reason).
pub fn valid_keys(values: &[String]) -> (Vec<AuthorizedKey>, Vec<(usize, String)>) {
    let mut keys: Vec<AuthorizedKey> = Vec::new();
    let mut skipped = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match parse_key(value) {
            Ok(key) if keys.iter().any(|k| k.fingerprint == key.fingerprint) => {}
            Ok(key) => keys.push(key),
            Err(why) => skipped.push((i, why)),
        }
    }
    (keys, skipped)
}

/// What `authorized-keys` prints for a user, and what it skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeys {
    pub keys: Vec<AuthorizedKey>,
    /// Values that are not keys: (value index, why).
    pub skipped: Vec<(usize, String)>,
    /// Every value of the attribute, for the cache (checked again when served).
    pub values: Vec<String>,
}

impl UserKeys {
    fn of(values: Vec<String>) -> UserKeys {
        let (keys, skipped) = valid_keys(&values);
        UserKeys {
            keys,
            skipped,
            values,
        }
    }
}

/// What serving one user's keys came to.
#[derive(Debug)]
pub struct Served {
    /// The keys, or why there are none.
    pub result: Result<UserKeys, Denial>,
    /// Set when Crowd could not answer (why) and the keys cache decided.
    pub offline: Option<CrowdError>,
    /// Cache reads or writes that failed: the decision stands, each is worth a log line.
    pub cache_problems: Vec<CacheError>,
}

/// `pam-crowd authorized-keys USER`: Crowd's answer under sshd's rules, recorded in
/// the keys cache (`[cache] keys_dir`, when offline use is on and this process owns
/// it); the cached answer when Crowd cannot be reached or fails.
pub fn serve(config: &Config, crowd: &impl Directory, user: &str, attribute: &str) -> Served {
    let mut served = Served {
        result: Err(Denial::Inactive),
        offline: None,
        cache_problems: Vec::new(),
    };
    let checked = login::check_username(user.as_bytes().to_vec())
        .and_then(|user| login::refuse_unasked(config, &user).map(|()| user));
    let user = match checked {
        Ok(user) => user,
        Err(denial) => {
            served.result = Err(denial);
            return served;
        }
    };
    let rules = config.rules_for(KEYS_SERVICE);
    let cache = Cache::open_keys(config).unwrap_or_else(|problem| {
        served.cache_problems.push(problem);
        None
    });
    let mut answers = Answers::default();
    let result = authorized_keys(
        crowd,
        config.user_names,
        &user,
        &rules,
        attribute,
        &mut answers,
    );
    served.result = match (result, &cache) {
        (Err(Denial::Crowd(e)), Some(cache)) if offline::crowd_unreachable(&e) => {
            served.offline = Some(e.clone());
            authorized_keys_offline(cache, &config.cache, &user, &rules, e)
        }
        (result, Some(cache)) => {
            if let Err(problem) = record(cache, &user, &config.named_groups(), &answers, &result) {
                served.cache_problems.push(problem);
            }
            result
        }
        (result, None) => result,
    };
    served
}

/// The keys sshd may accept for `user`: only for a user Crowd knows under exactly
/// that name, active, and admitted by `rules` (the account phase of service sshd);
/// from Crowd's `attribute`. One user lookup, then the rules' membership tests, whose
/// answers go to `answers` (for the cache).
pub fn authorized_keys(
    crowd: &impl Directory,
    names: crate::names::UserNames,
    user: &str,
    rules: &AccessRules,
    attribute: &str,
    answers: &mut Answers,
) -> Result<UserKeys, Denial> {
    let (found, attributes) = crowd.user_attributes(user).map_err(Denial::Crowd)?;
    let known = KnownUser {
        pam_user: user.to_owned(),
        config_path: Default::default(),
        canonical: found.name,
        active: found.active,
        offline: None,
        password_expired: false,
    };
    login::account(crowd, names, user, Some(&known), rules, answers)?;
    Ok(UserKeys::of(
        attributes.get(attribute).cloned().unwrap_or_default(),
    ))
}

/// Records Crowd's answer in the keys cache: as the account phase records its own
/// (a user Crowd refuses is dropped, group answers kept), plus the key values.
pub fn record(
    cache: &Cache,
    user: &str,
    named_groups: &[String],
    answers: &Answers,
    result: &Result<UserKeys, Denial>,
) -> Result<(), CacheError> {
    let as_account = match result {
        Ok(_) => Ok(Granted {
            detail: String::new(),
            offline: false,
        }),
        Err(denial) => Err(denial.clone()),
    };
    offline::after_account(cache, user, named_groups, answers, &as_account)?;
    if let Ok(found) = result {
        cache.update(user, |entry| {
            let entry = entry.get_or_insert_with(|| cache.new_entry(user));
            entry.ssh_keys = Some(found.values.clone());
        })?;
    }
    Ok(())
}

/// The keys from the cache when Crowd could not answer (`crowd`): only if the cached
/// answers still admit the user under `rules`, within `offline_days`.
pub fn authorized_keys_offline(
    cache: &Cache,
    settings: &CacheConfig,
    user: &str,
    rules: &AccessRules,
    crowd: CrowdError,
) -> Result<UserKeys, Denial> {
    offline::account(cache, settings, user, rules, crowd.clone())?;
    let values = cache
        .load(user)
        .ok()
        .flatten()
        .and_then(|e| e.ssh_keys)
        .ok_or_else(|| Denial::Offline {
            crowd,
            refusal: OfflineRefusal::NotCached("no keys cached for this user".into()),
        })?;
    Ok(UserKeys::of(values))
}

#[cfg(test)]
mod tests;
