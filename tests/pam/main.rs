//! Integration tests: the real `pam_crowd.so` through the real libpam, and the
//! `pam-crowd` command, against a Crowd double that is a real HTTP(S) server on
//! 127.0.0.1.

// A test harness: helpers unwrap and panic, since a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod authenticate;
mod cli;
mod config;
mod connection;
mod crowd_versions;
mod docs;
mod harness;
mod hostile;
mod identity;
mod incremental;
mod inproc;
mod keys;
mod load;
mod memory;
mod names;
mod nss;
mod offline;
mod password;
mod principals;
mod real_crowd;
mod soap;
mod stacking;
mod trust;
mod unavailable;
