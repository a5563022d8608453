//! The test harness, by concern: building what runs ([`build`]), hosts and pamtester
//! runs through the real libpam ([`hosts`]), the Crowd double as the tests use it
//! ([`double`]), the `pam-crowd` command ([`cli`]), NSS in a namespace ([`nss`]), and
//! bounded child processes ([`process`]).

mod build;
mod cli;
mod double;
mod hosts;
mod nss;
mod process;

use std::time::Duration;

pub use build::*;
pub use cli::*;
pub use crowd_double::{
    APP_NAME, APP_PASSWORD, Canned, Change, Dialect, Double, EventMode, EventStore, EventStyle,
    Fault, Fixture, KEYS_APP_NAME, KEYS_APP_PASSWORD, Transport,
};
pub use double::*;
pub use hosts::*;
pub use nss::*;
pub use process::*;

/// No child process may take longer than this; the module's own bound is far lower.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);
