//! The user name and password as they arrive (from libpam or a command line), checked
//! before anything is sent to Crowd.

use zeroize::Zeroizing;

use crate::outcome::{BadInput, Denial};

/// Longest user name sent to Crowd.
const MAX_USERNAME_BYTES: usize = 255;
/// Longest password sent to Crowd; a longer one is refused unasked.
const MAX_PASSWORD_BYTES: usize = 4096;

/// The user name as a name Crowd can be asked about.
pub fn check_username(raw: Vec<u8>) -> Result<String, Denial> {
    let bad = |why: &str| Denial::Input(BadInput::Username(why.into()));
    let name = String::from_utf8(raw).map_err(|_| bad("not valid UTF-8"))?;
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > MAX_USERNAME_BYTES {
        return Err(bad(&format!("longer than {MAX_USERNAME_BYTES} bytes")));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    Ok(name)
}

/// The password as one that can be sent to Crowd; empty ones never are.
pub fn check_password(raw: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, Denial> {
    let bad = |why: String| Denial::Input(BadInput::Password(why));
    if raw.is_empty() {
        return Err(Denial::Input(BadInput::EmptyPassword));
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(bad(format!("longer than {MAX_PASSWORD_BYTES} bytes")));
    }
    match std::str::from_utf8(&raw) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(bad("not valid UTF-8".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_checked_before_crowd() {
        assert!(check_username(b"alice".to_vec()).is_ok());
        assert!(check_username("al ice&/%ü".as_bytes().to_vec()).is_ok());
        assert!(check_username(vec![]).is_err());
        assert!(check_username(vec![0xff, 0xfe]).is_err());
        assert!(check_username(b"a\nb".to_vec()).is_err());
        assert!(check_username(vec![b'a'; 256]).is_err());
    }

    #[test]
    fn passwords_are_checked_before_crowd() {
        assert_eq!(
            check_password(Zeroizing::new(vec![])),
            Err(Denial::Input(BadInput::EmptyPassword))
        );
        assert!(check_password(Zeroizing::new(vec![b'x'; 4097])).is_err());
        assert!(check_password(Zeroizing::new(vec![0xc3])).is_err());
        assert_eq!(
            check_password(Zeroizing::new(b" p&%\"\\".to_vec()))
                .unwrap()
                .as_str(),
            " p&%\"\\"
        );
    }
}
