//! How Crowd's user names become Linux names (`user_names`): the one rule the module,
//! `pam-crowd`, `authorized-keys` and sync all apply, so they never disagree.
//!
//! Crowd compares names without regard to case and answers with the directory's
//! spelling (AD-backed directories: `JSmith`); Linux names are case-sensitive and,
//! by Debian's `adduser`, lower case. `exact` (the default) admits a PAM name only
//! equal to Crowd's; `lowercase` makes the Linux name the lower-case form of Crowd's,
//! one-to-one because Crowd's names are unique without regard to case.

use crate::crowd::User;
use crate::outcome::{AccountState, BadInput, Denial};

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

    /// Refuses, before Crowd is asked, a PAM name this rule can never give: one with
    /// upper case letters under `lowercase` (`JSmith` is not `jsmith`'s account).
    pub fn check_pam_name(self, user: &str) -> Result<(), Denial> {
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

impl CrowdAccount {
    /// Crowd's canonical name of the account.
    pub fn name(&self) -> &str {
        &self.name
    }
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
