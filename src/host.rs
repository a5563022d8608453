//! The line between the host's own accounts and Crowd's users. Crowd's data is
//! input, not authority over the host: a Crowd user named `root`, `postgres` or
//! `deploy` must never become that local account, so the module, `pam-crowd
//! auth|account|passwd` and `authorized-keys` all ask [`system_account`] before
//! anything else, and Crowd is never asked about such a name.

use std::path::Path;

use nss_crowd_files::Files;

/// Why `user` is the host's and not Crowd's to speak for, or `None` when Crowd may
/// decide. `root` always is; so is any name the system resolves (through NSS, as
/// `getpwnam`) to a uid below `min_uid`. A name that cannot be looked up is treated
/// as the host's too: Crowd must not decide what we could not check.
pub fn system_account(user: &str, min_uid: u32) -> Option<String> {
    system_account_with(user, min_uid, crate::ffi::local_account_uid)
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
        Ok(Some(uid)) if uid < min_uid => Some(format!(
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
    fn the_real_root_and_daemon_are_the_hosts() {
        assert!(system_account("root", 1000).is_some());
        // Debian and Fedora both have daemon with uid 1 or 2.
        assert!(system_account("daemon", 1000).is_some());
        assert!(system_account("no-such-user-pam-crowd", 1000).is_none());
    }
}
