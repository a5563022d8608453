//! The line between the host's own accounts and Crowd's users. Crowd's data is
//! input, not authority over the host: a Crowd user named `root`, `postgres` or
//! `deploy` must never become that local account, so the module, `pam-crowd
//! auth|account|passwd` and `authorized-keys` all ask [`system_account`] before
//! anything else, and Crowd is never asked about such a name.

use std::path::Path;

use nss_crowd_files::Files;

use crate::identity::holdings;

/// `local_users`: who speaks for an account in /etc/passwd at or above `min_uid`
/// (root and lower uids are always the host's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LocalUsers {
    /// Every local account is the host's: never authenticated, admitted or served
    /// keys through Crowd (the default).
    #[default]
    Host,
    /// Every local account is Crowd's (sites that pre-create accounts for Crowd users).
    Crowd,
    /// Only these local accounts are Crowd's.
    Only(Vec<String>),
}

impl LocalUsers {
    /// The module argument's value: `host`, `crowd`, or names separated by commas.
    pub fn parse_argument(value: &str) -> Option<LocalUsers> {
        match value {
            "" => None,
            "host" => Some(LocalUsers::Host),
            "crowd" => Some(LocalUsers::Crowd),
            names => Some(LocalUsers::Only(
                names.split(',').map(str::to_owned).collect(),
            )),
        }
    }

    /// Whether the local account `user` is handed to Crowd.
    pub fn hands_over(&self, user: &str) -> bool {
        match self {
            LocalUsers::Host => false,
            LocalUsers::Crowd => true,
            LocalUsers::Only(names) => names.iter().any(|n| n == user),
        }
    }
}

impl std::fmt::Display for LocalUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalUsers::Host => f.write_str("\"host\""),
            LocalUsers::Crowd => f.write_str("\"crowd\""),
            LocalUsers::Only(names) => write!(f, "{names:?}"),
        }
    }
}

/// Why `user`, an account in /etc/passwd, is the host's under `rule`, or `None`
/// when it is not a local account or `rule` hands it to Crowd. Read from the file
/// itself: through NSS, synced Crowd users would look local too. An unreadable file
/// makes every name the host's.
pub fn local_account(user: &str, rule: &LocalUsers) -> Option<String> {
    local_account_in(Path::new("/etc/passwd"), user, rule)
}

/// [`local_account`] with the passwd file given (for tests).
pub fn local_account_in(passwd: &Path, user: &str, rule: &LocalUsers) -> Option<String> {
    if rule.hands_over(user) {
        return None;
    }
    match holdings::accounts(passwd) {
        Ok(accounts) => accounts.iter().any(|(name, _)| name == user).then(|| {
            format!(
                "a local account in {} (local_users = {rule})",
                passwd.display()
            )
        }),
        Err(e) => Some(format!(
            "cannot tell whether it is a local account ({}: {e})",
            passwd.display()
        )),
    }
}

/// Why `user` is the host's and not Crowd's to speak for, or `None` when Crowd may
/// decide. `root` always is; so is any name the system resolves (through NSS, as
/// `getpwnam`) to a uid below `min_uid`. A name that cannot be looked up is treated
/// as the host's too: Crowd must not decide what we could not check.
pub fn system_account(user: &str, min_uid: u32) -> Option<String> {
    system_account_with(user, min_uid, crate::ffi::local_account_uid)
}

/// The one rule for the host's own accounts by their entry: `root`, or a uid below
/// `min_uid`. Never Crowd's, whatever `local_users` says.
pub fn is_system(user: &str, uid: u32, min_uid: u32) -> bool {
    user == "root" || uid < min_uid
}

/// [`system_account`] with the passwd lookup given (for tests).
pub fn system_account_with(
    user: &str,
    min_uid: u32,
    lookup: impl FnOnce(&str) -> std::io::Result<Option<u32>>,
) -> Option<String> {
    if user == "root" {
        return Some("root is always the host's own account".into());
    }
    match lookup(user) {
        Ok(Some(uid)) if is_system(user, uid, min_uid) => Some(format!(
            "a local system account (uid {uid}, below min_uid {min_uid})"
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "cannot tell whether it is a local system account (passwd lookup: {e})"
        )),
    }
}

/// Whether `pam-crowd sync` wrote `user` into the files in `dir`: then the host
/// knows them from Crowd, and a Crowd that no longer knows them is a refusal, not
/// "someone else's user". Unreadable files count as not synced.
pub fn synced_user(dir: &Path, user: &str) -> bool {
    matches!(Files::new(dir).user_by_name(user), Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_low_uids_are_the_hosts() {
        let never = |_: &str| -> std::io::Result<Option<u32>> { panic!("root is not looked up") };
        assert!(system_account_with("root", 1000, never).is_some());
        assert!(system_account_with("postgres", 1000, |_| Ok(Some(114))).is_some());
        assert!(system_account_with("toor", 1000, |_| Ok(Some(0))).is_some());
        assert!(system_account_with("deploy", 1000, |_| Ok(Some(999))).is_some());
        assert!(system_account_with("deploy", 500, |_| Ok(Some(999))).is_none());
        assert!(system_account_with("alice", 1000, |_| Ok(Some(1000))).is_none());
        assert!(system_account_with("alice", 1000, |_| Ok(None)).is_none());
        let broken = system_account_with("alice", 1000, |_| Err(std::io::Error::other("nss down")));
        assert!(broken.is_some_and(|why| why.contains("nss down")));
    }

    #[test]
    fn local_accounts_are_the_hosts_unless_handed_over() {
        // The passwd file, removed on drop even when an assertion fails.
        struct Removed(std::path::PathBuf);
        impl Drop for Removed {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let file =
            Removed(std::env::temp_dir().join(format!("pam-crowd-host-{}", std::process::id())));
        let dir = file.0.clone();
        std::fs::write(&dir, "root:x:0:0::/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\nops:x:1001:1001::/home/ops:/bin/sh\n").unwrap();
        let host = LocalUsers::Host;
        assert!(
            local_account_in(&dir, "admin", &host)
                .is_some_and(|w| w.contains("local_users = \"host\""))
        );
        assert_eq!(local_account_in(&dir, "alice", &host), None);
        assert_eq!(local_account_in(&dir, "admin", &LocalUsers::Crowd), None);
        let only = LocalUsers::parse_argument("ops,x").unwrap();
        assert_eq!(only, LocalUsers::Only(vec!["ops".into(), "x".into()]));
        assert_eq!(local_account_in(&dir, "ops", &only), None);
        assert!(local_account_in(&dir, "admin", &only).is_some());
        assert!(local_account_in(Path::new("/nonexistent/passwd"), "alice", &host).is_some());
        assert_eq!(LocalUsers::parse_argument("host"), Some(LocalUsers::Host));
        assert_eq!(LocalUsers::parse_argument("crowd"), Some(LocalUsers::Crowd));
        assert_eq!(LocalUsers::parse_argument(""), None);
        // The host's own /etc/passwd.
        assert!(local_account("root", &host).is_some());
        assert!(local_account("daemon", &host).is_some());
        assert_eq!(local_account("daemon", &LocalUsers::Crowd), None);
        assert_eq!(local_account("no-such-user-pam-crowd", &host), None);
    }

    #[test]
    fn the_real_root_and_daemon_are_the_hosts() {
        assert!(system_account("root", 1000).is_some());
        // Debian and Fedora both have daemon with uid 1 or 2.
        assert!(system_account("daemon", 1000).is_some());
        assert!(system_account("no-such-user-pam-crowd", 1000).is_none());
    }
}
