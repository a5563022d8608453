//! A client for Atlassian Crowd, usable without PAM.
//!
//! [`Directory`] is the one interface the rest of the crate talks to; [`RestClient`]
//! implements it over Crowd's REST API (`/rest/usermanagement/1`). Every operation
//! is bounded by a [`Deadline`] and fails over across the configured base URLs.

mod error;
mod rest;

use std::time::{Duration, Instant};

use serde::Deserialize;

pub use error::{CrowdError, Reason};
pub use rest::{ClientSettings, RestClient};

/// What the rest of the crate needs from Crowd. Implemented by [`RestClient`]; a
/// backend for other Crowd protocols implements the same trait.
pub trait Directory {
    /// Crowd's "auth_user": checks `password` and returns the user Crowd knows.
    fn authenticate(&self, username: &str, password: &str) -> Result<User, CrowdError>;
    /// Looks a user up by name (Crowd matches names without regard to case).
    fn user(&self, username: &str) -> Result<User, CrowdError>;
    /// Whether `username` is a direct or nested member of `group`. A group that does
    /// not exist has no members.
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError>;
    /// Every group `username` is a direct or nested member of, all pages fetched.
    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError>;
}

/// A Crowd user, as Crowd returns it. Only `name` and `active` are always present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// The canonical name: may differ from the name asked for (case, aliases).
    pub name: String,
    /// Whether the account is active.
    pub active: bool,
    /// Display name, when Crowd sends one.
    #[serde(rename = "display-name", default)]
    pub display_name: Option<String>,
    /// E-mail address, when Crowd sends one.
    #[serde(default)]
    pub email: Option<String>,
}

/// The instant by which an operation must be over, shared by all requests of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// Time left; zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}
