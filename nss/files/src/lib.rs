//! The files `pam-crowd sync` writes and `libnss_crowd.so.2` reads, in
//! `/var/lib/pam_crowd`:
//!
//! - `passwd` and `group`: the entries in the formats of `/etc/passwd` and `/etc/group`
//!   (readable by admins and tools), sorted by name;
//! - `passwd.index` and `group.index`: sorted tables of (key, byte offset of a line)
//!   for lookups by name (an FNV-1a hash of it), by id, and, for groups, by member, so
//!   that a lookup reads a few records and one line whatever the number of users.
//!
//! Each file is replaced whole (write, fsync, rename). An index records the inode and
//! length of the data file it was made for; a reader that opened the two across a
//! sync's renames sees the mismatch and opens them again.
//!
//! Plain std Rust, no allocation beyond the entries asked for, no panics on any input:
//! this crate runs inside every process that looks a user up.

mod format;
mod index;
mod write;

pub use format::{Group, NameError, Passwd, check_group_name, check_text, check_user_name};
pub use index::{Error, Files};
pub use write::write;

/// Where the NSS module reads: fixed, because the module reads no configuration.
pub const DIR: &str = "/var/lib/pam_crowd";
