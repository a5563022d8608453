//! The files a configuration reads: who may own and read them, and reading them
//! without leaving copies of a secret behind.

use std::path::Path;

use zeroize::Zeroizing;

use super::ConfigError;

/// A config or secret file larger than this is not a config file.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The system group `pam-crowd authorized-keys` runs as (sshd's
/// AuthorizedKeysCommandUser): it may read `ssh_keys_password_file` (mode 0640, this
/// group), the read-only keys application's password, and no other secret.
pub const KEYS_GROUP: &str = "pam-crowd-keys";

/// What a file holds, which decides who else may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Settings: nobody else may change them (they could point `url` at their own server).
    Settings,
    /// The CAs trusted for Crowd: whoever can change them can impersonate Crowd.
    TrustedCas,
    /// The main application's password: root's alone (0600), like sssd's secrets.
    MainSecret,
    /// The keys application's password: also readable by [`KEYS_GROUP`] (0640).
    KeysSecret,
}

/// Refuses a file that others could change (owned by another user than root or this
/// process's, or writable by group or others), or, when it holds a secret, read: only
/// the keys application's password may be read by the [`KEYS_GROUP`].
pub fn check_ownership(path: &Path, holds: Holds) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let what = match holds {
        Holds::Settings => "config file",
        Holds::TrustedCas => "ca_file",
        Holds::MainSecret => "password file",
        Holds::KeysSecret => "ssh_keys_password_file",
    };
    let fail = |message: String| ConfigError {
        path: path.to_owned(),
        message,
        ..ConfigError::default()
    };
    let unreadable = |message: String, e: std::io::Error| ConfigError {
        io: Some(e.kind()),
        ..fail(message)
    };
    let meta =
        std::fs::metadata(path).map_err(|e| unreadable(format!("cannot open {what}: {e}"), e))?;
    let mode = meta.mode() & 0o7777;
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(fail(format!(
            "{what} owned by uid {}, who could change it: run chown root {}",
            meta.uid(),
            path.display()
        )));
    }
    let (forbidden, why, fix) = match holds {
        Holds::Settings | Holds::TrustedCas => (0o022, "writable by group or others", "go-w"),
        Holds::MainSecret => (
            0o077,
            "readable or writable by group or others, and it holds the application password \
             (root's alone; sshd's pam-crowd-keys reads ssh_keys_password_file instead)",
            "go-rwx",
        ),
        Holds::KeysSecret => (
            0o077,
            "readable or writable by group or others, and it holds the keys application's \
             password (only the group pam-crowd-keys may read it, with mode 0640)",
            "go-rwx",
        ),
    };
    let keys_group_reads = holds == Holds::KeysSecret
        && only_keys_group_reads(mode, meta.gid(), || group_id(KEYS_GROUP));
    if mode & forbidden != 0 && !keys_group_reads {
        return Err(fail(format!(
            "{what} mode {mode:04o}: {why}: run chmod {fix} {}",
            path.display()
        )));
    }
    Ok(())
}

/// Whether a file of `mode` and group `file_gid` is readable, beyond its owner, by the
/// [`KEYS_GROUP`] alone: group read only, nothing for others, and that group. The
/// group is looked up only for such a mode.
pub(super) fn only_keys_group_reads(
    mode: u32,
    file_gid: u32,
    keys_gid: impl FnOnce() -> Option<u32>,
) -> bool {
    mode & 0o077 == 0o040 && keys_gid() == Some(file_gid)
}

/// The id of group `name`, if the system has it (an unreadable group database counts
/// as none: the keys group then reads nothing).
pub(super) fn group_id(name: &str) -> Option<u32> {
    crate::ffi::local_group_gid(name).ok().flatten()
}

/// The file's text, in a buffer sized once (no reallocation leaves a copy of a secret
/// in freed memory) and wiped when dropped.
pub(super) fn read_small_file(path: &Path, what: &str) -> Result<Zeroizing<String>, ConfigError> {
    use std::io::Read;
    let fail = |message: String| ConfigError {
        path: path.to_owned(),
        message,
        ..ConfigError::default()
    };
    let unreadable = |message: String, e: std::io::Error| ConfigError {
        io: Some(e.kind()),
        ..fail(message)
    };
    let file =
        std::fs::File::open(path).map_err(|e| unreadable(format!("cannot open {what}: {e}"), e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "{what} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(size as usize + 1));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(format!("cannot read {what}: {e}"), e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "{what} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    // The buffer moves into the String, no copy; refused bytes are wiped too.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(fail(format!("{what} is not valid UTF-8")))
        }
    }
}
