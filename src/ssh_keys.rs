//! SSH public keys kept in a multi-valued Crowd user attribute (`ssh_keys_attribute`),
//! for sshd's `AuthorizedKeysCommand`: each value checked as one OpenSSH public key
//! (by the `ssh-key` parser), and printed back in canonical form, so nothing but a key
//! (no `authorized_keys` options, no second line) ever reaches sshd.

use ssh_key::{Algorithm, HashAlg, PublicKey};

use crate::cache::{Cache, CacheError};
use crate::outcome::Denial;

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

/// Why an attribute value is not served as a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Nothing but blanks.
    Empty,
    /// Longer than any public key.
    TooLong,
    /// A control character: a newline would make a second authorized_keys line.
    ControlCharacters,
    /// Not one OpenSSH public key (options, a private key, garbage).
    NotAKey(ssh_key::Error),
    /// A DSA key, which OpenSSH no longer accepts.
    Dsa,
    /// The parsed key could not be written back.
    Encode(ssh_key::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Empty => f.write_str("empty"),
            KeyError::TooLong => write!(f, "longer than {MAX_KEY_BYTES} bytes"),
            KeyError::ControlCharacters => {
                f.write_str("contains control characters (a second line?)")
            }
            KeyError::NotAKey(e) => write!(
                f,
                "not an OpenSSH public key ({e}); authorized_keys options are not accepted"
            ),
            KeyError::Dsa => {
                f.write_str("ssh-dss (DSA) keys are refused: OpenSSH no longer accepts them")
            }
            KeyError::Encode(e) => write!(f, "cannot re-encode the key: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks one attribute value as an OpenSSH public key line.
pub fn parse_key(value: &str) -> Result<AuthorizedKey, KeyError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(KeyError::Empty);
    }
    if value.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    // A newline would make a second authorized_keys line, with options of its own.
    if value.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacters);
    }
    let key = PublicKey::from_openssh(value).map_err(KeyError::NotAKey)?;
    if key.algorithm() == Algorithm::Dsa {
        return Err(KeyError::Dsa);
    }
    let line = key.to_openssh().map_err(KeyError::Encode)?;
    Ok(AuthorizedKey {
        line,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

/// The valid keys among `values` (each once, in order), and why each other was
/// skipped (value index, reason).
pub fn valid_keys(values: &[String]) -> (Vec<AuthorizedKey>, Vec<(usize, KeyError)>) {
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
    pub skipped: Vec<(usize, KeyError)>,
    /// Every value of the attribute, for the cache (checked again when served).
    pub values: Vec<String>,
}

impl UserKeys {
    /// The keys among an attribute's values.
    pub fn of(values: Vec<String>) -> UserKeys {
        let (keys, skipped) = valid_keys(&values);
        UserKeys {
            keys,
            skipped,
            values,
        }
    }
}

/// Records the key values Crowd gave in the keys cache (`[cache] keys_dir`), beside
/// the account answers the resolver records; checked again when served from it.
pub fn record(
    cache: &Cache,
    user: &str,
    result: &Result<UserKeys, Denial>,
) -> Result<(), CacheError> {
    if let Ok(found) = result {
        cache.update(user, |entry| {
            let entry = entry.get_or_insert_with(|| cache.new_entry(user));
            entry.ssh_keys = Some(found.values.clone());
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
