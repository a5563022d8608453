//! pam_crowd: a Linux PAM module that authenticates logins against Atlassian Crowd
//! and admits users by nested Crowd group membership.
//!
//! A login flows through: the exported hooks (`hooks.rs`) → `options` → [`config`] →
//! `login` (one file per phase) → `resolver` (Crowd, else the offline cache, then
//! record) → [`crowd`] (the client, a crate of its own) → `outcome` (PAM code and
//! log line). Only `hooks` and `ffi` touch libpam; `pam-crowd` calls the same
//! resolver, so the command and the module cannot disagree.
//!
//! The modules are private: what the admin command, the tests and the fuzzers use is
//! the list below, and three modules whose whole surface is public because the
//! command drives them ([`config`], [`cache`], [`sync`]).

pub mod cache;
pub mod config;
pub mod sync;

/// The Crowd client, a crate of its own (`crowd/`): the module depends on it, never
/// the reverse.
pub use crowd_client as crowd;

pub use host::is_system;
pub use identity::holdings::{HostFiles, accounts as local_accounts, subordinate_windows};
pub use input::{check_password, check_username};
pub use options::Options;
pub use outcome::{
    Denial, LocalFault, PamCode, Phase, Verdict, cache_problem_line, code_of, printable,
};
pub use password::refusal_message;
pub use resolver::{Resolver, crowd_name};
pub use ssh_keys::{AuthorizedKey, parse_key};

// The one file of unsafe code: libpam and libc calls, each wrapped in a safe function.
#[allow(unsafe_code)]
mod ffi;
mod home;
mod hooks;
mod host;
mod identity;
mod input;
mod login;
mod names;
mod offline;
mod options;
mod outcome;
mod pam_context;
mod password;
mod policy;
mod resolver;
mod ssh_keys;
mod ssh_principals;
#[cfg(test)]
mod testing;
