//! How Crowd's user names become Linux names (`user_names`): the one rule the module,
//! `pam-crowd`, `authorized-keys` and sync all apply, so they never disagree.
//!
//! Crowd compares names without regard to case and answers with the directory's
//! spelling (AD-backed directories: `JSmith`); Linux names are case-sensitive and,
//! by Debian's `adduser`, lower case. `exact` (the default) admits a PAM name only
//! equal to Crowd's; `lowercase` makes the Linux name the lower-case form of Crowd's,
//! one-to-one because Crowd's names are unique without regard to case.

use std::fmt;

use crate::crowd::User;
use crate::outcome::{AccountState, BadInput, Denial};

/// Why a name cannot be a user on this host ([`check_host_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostNameRefused {
    /// Empty.
    Empty,
    /// A character outside ASCII letters, digits, `.`, `_`, `-` and `@`.
    Character(char),
    /// All digits: `chown 1000 f` would mean this user, not uid 1000.
    AllDigits,
    /// Starts with `-` (an option to every command) or `.` (hidden, `.`, `..`).
    Leading(char),
}

impl fmt::Display for HostNameRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostNameRefused::Empty => f.write_str("an empty name"),
            HostNameRefused::Character(c) => write!(
                f,
                "character {:?} is not one a host shows unambiguously \
                 (ASCII letters, digits, '.', '_', '-' and '@' only)",
                c.escape_default().to_string()
            ),
            HostNameRefused::AllDigits => {
                f.write_str("all digits, which commands read as a uid (chown 0 f)")
            }
            HostNameRefused::Leading(c) => write!(f, "starts with {c:?}"),
        }
    }
}

impl std::error::Error for HostNameRefused {}

/// The one rule for a name a host may hold for a Crowd user, applied by sync before
/// it writes one and by the module (and `pam-crowd`) before Crowd is asked: ASCII
/// letters, digits, `.`, `_`, `-` and `@` (Crowd names are often e-mail addresses),
/// not all digits, not starting with `-` or `.`. Anything else can be shown as
/// another name (`root\u{200b}` looks like `root` in ls, ps and logs), read as a uid
/// (`0`) or as an option, so it is no user here.
pub fn check_host_name(name: &str) -> Result<(), HostNameRefused> {
    let first = name.chars().next().ok_or(HostNameRefused::Empty)?;
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(HostNameRefused::Character(c));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostNameRefused::AllDigits);
    }
    if matches!(first, '-' | '.') {
        return Err(HostNameRefused::Leading(first));
    }
    Ok(())
}

/// The `user_names` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserNames {
    /// The Linux name is Crowd's canonical name, exactly.
    #[default]
    Exact,
    /// The Linux name is the lower-case form of Crowd's canonical name.
    Lowercase,
}

impl UserNames {
    /// The key's value, as written in the config.
    pub fn parse(value: &str) -> Option<UserNames> {
        match value {
            "exact" => Some(UserNames::Exact),
            "lowercase" => Some(UserNames::Lowercase),
            _ => None,
        }
    }

    /// The Linux name of the Crowd user whose canonical name is `canonical`.
    pub fn linux_name(self, canonical: &str) -> String {
        match self {
            UserNames::Exact => canonical.to_owned(),
            UserNames::Lowercase => canonical.to_lowercase(),
        }
    }

    /// Refuses, before Crowd is asked, a PAM name no Crowd user has here: one the
    /// host's name rule ([`check_host_name`]) refuses, or one with upper case letters
    /// under `lowercase` (`JSmith` is not `jsmith`'s account).
    pub fn check_pam_name(self, user: &str) -> Result<(), Denial> {
        if let Err(why) = check_host_name(user) {
            return Err(Denial::Input(BadInput::Username(format!(
                "{why}: no Crowd user has this name here"
            ))));
        }
        match self {
            UserNames::Lowercase if user.to_lowercase() != user => Err(Denial::Input(BadInput::Username(
                "upper case letters, and user_names = \"lowercase\" gives Crowd users lower-case names"
                    .into(),
            ))),
            _ => Ok(()),
        }
    }

    /// Whether Crowd's user `canonical` is the account of Linux name `user`.
    pub fn same_account(self, user: &str, canonical: &str) -> Result<(), Denial> {
        match self.linux_name(canonical) == user {
            true => Ok(()),
            false => Err(Denial::Account(AccountState::NameMismatch {
                canonical: canonical.to_owned(),
                case_only: canonical.to_lowercase() == user.to_lowercase(),
            })),
        }
    }

    /// The one check every path applies to a user Crowd returned before it counts as
    /// the PAM user's account: the name under this rule, and active.
    pub fn admit(self, user: &str, found: &User) -> Result<CrowdAccount, Denial> {
        self.same_account(user, &found.name)?;
        if !found.active {
            return Err(Denial::Account(AccountState::Inactive));
        }
        Ok(CrowdAccount {
            name: found.name.clone(),
        })
    }
}

/// A Crowd user accepted as the PAM user's account: the name matched under
/// `user_names`, and Crowd said active. Made only by [`UserNames::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrowdAccount {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_admits_only_crowds_spelling() {
        let exact = UserNames::Exact;
        assert!(exact.same_account("JSmith", "JSmith").is_ok());
        assert_eq!(
            exact.same_account("jsmith", "JSmith"),
            Err(Denial::Account(AccountState::NameMismatch {
                canonical: "JSmith".into(),
                case_only: true
            }))
        );
        assert_eq!(
            exact.same_account("john", "jsmith"),
            Err(Denial::Account(AccountState::NameMismatch {
                canonical: "jsmith".into(),
                case_only: false
            }))
        );
        assert!(exact.check_pam_name("JSmith").is_ok());
    }

    #[test]
    fn the_host_name_rule() {
        for good in [
            "alice",
            "j.smith",
            "j_smith",
            "a-b",
            "jane@example.com",
            "0x",
            "a1",
            "A",
        ] {
            assert_eq!(check_host_name(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", HostNameRefused::Empty),
            ("0", HostNameRefused::AllDigits),
            ("1000", HostNameRefused::AllDigits),
            ("-rf", HostNameRefused::Leading('-')),
            (".hidden", HostNameRefused::Leading('.')),
            ("..", HostNameRefused::Leading('.')),
            ("root\u{200b}", HostNameRefused::Character('\u{200b}')),
            ("x\u{1b}]0;OWNED", HostNameRefused::Character('\u{1b}')),
            ("al ice", HostNameRefused::Character(' ')),
            ("a/b", HostNameRefused::Character('/')),
            ("a:b", HostNameRefused::Character(':')),
            ("a,b", HostNameRefused::Character(',')),
            ("jürgen", HostNameRefused::Character('ü')),
            ("a+b", HostNameRefused::Character('+')),
        ] {
            assert_eq!(check_host_name(bad), Err(why), "{bad:?}");
        }
        assert!(UserNames::Exact.check_pam_name("0").is_err());
        assert!(UserNames::Lowercase.check_pam_name("root\u{200b}").is_err());
    }

    #[test]
    fn exact_parses_as_the_default_says() {
        assert_eq!(UserNames::parse("exact"), Some(UserNames::Exact));
        assert_eq!(UserNames::parse("exact"), Some(UserNames::default()));
    }

    #[test]
    fn lowercase_maps_crowds_names_to_lower_case_one_to_one() {
        let lower = UserNames::Lowercase;
        assert_eq!(lower.linux_name("JSmith"), "jsmith");
        assert!(lower.same_account("jsmith", "JSmith").is_ok());
        assert!(lower.same_account("jsmith", "jsmith").is_ok());
        assert!(lower.same_account("jsmith", "JSmithers").is_err());
        assert!(lower.check_pam_name("JSmith").is_err());
        assert!(lower.check_pam_name("jsmith").is_ok());
        assert_eq!(UserNames::parse("lowercase"), Some(lower));
        assert_eq!(UserNames::parse("Lowercase"), None);
    }
}
