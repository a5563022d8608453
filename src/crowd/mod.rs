//! A client for Atlassian Crowd, usable without PAM.
//!
//! [`Directory`] is the one interface the rest of the crate talks to; [`RestClient`]
//! implements it over Crowd's REST API (`/rest/usermanagement/1`). Every operation
//! is bounded by a [`Deadline`] and fails over across the configured base URLs.
//!
//! ```no_run
//! use pam_crowd::config::Config;
//! use pam_crowd::crowd::{ClientSettings, Deadline, Directory, RestClient};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load("/etc/pam_crowd.toml".as_ref())?;
//! let crowd = RestClient::new(&ClientSettings::from(&config), Deadline::after(config.timeout))?;
//! crowd.ping()?;
//! if crowd.is_nested_member("alice", "linux-users")? {
//!     println!("alice may log in; her groups: {:?}", crowd.nested_groups("alice")?);
//! }
//! # Ok(())
//! # }
//! ```

pub mod decode;
mod error;
mod rest;
mod transport;

use std::time::{Duration, Instant};

use serde::Deserialize;

pub use error::{CrowdError, Failure, FailureKind, Reason};
pub use rest::{ClientSettings, RestClient};

/// Crowd's operations for reading and authenticating, as python-crowd offers them.
/// Implemented by [`RestClient`]; a backend for another Crowd protocol implements the
/// same trait, and everything else in the crate is written against it.
pub trait Directory {
    /// Whether Crowd accepts the application's credentials (python-crowd: `auth_ping`).
    fn ping(&self) -> Result<(), CrowdError>;
    /// Crowd's "auth_user": checks `password` and returns the user Crowd knows.
    fn authenticate(&self, username: &str, password: &str) -> Result<User, CrowdError>;
    /// Looks a user up by name (Crowd matches names without regard to case).
    fn user(&self, username: &str) -> Result<User, CrowdError>;
    /// Whether Crowd knows `username`.
    fn user_exists(&self, username: &str) -> Result<bool, CrowdError> {
        match self.user(username) {
            Ok(_) => Ok(true),
            Err(e) if e.reason() == Some(&Reason::UserNotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// The groups `username` is a direct member of, all pages fetched.
    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError>;
    /// Every group `username` is a direct or nested member of, all pages fetched.
    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError>;
    /// Every user who is a direct or nested member of `group`, all pages fetched.
    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError>;
    /// Whether `username` is a direct or nested member of `group`. A group that does
    /// not exist has no members.
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError>;
    /// Opens an SSO session for a user, bound to the client's address when given.
    fn create_session(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError>;
    /// Checks that an SSO token is valid (for the same address when given).
    fn validate_session(
        &self,
        token: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError>;
    /// Ends an SSO session.
    fn terminate_session(&self, token: &str) -> Result<(), CrowdError>;
    /// Looks a user up with their attributes (multi-valued, by name).
    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError>;
    /// Sets the values of one of a user's attributes, replacing those it had. Needs
    /// the application's permission to change users in Crowd.
    fn store_user_attribute(
        &self,
        username: &str,
        name: &str,
        values: &[String],
    ) -> Result<(), CrowdError>;
    /// Removes one of a user's attributes.
    fn remove_user_attribute(&self, username: &str, name: &str) -> Result<(), CrowdError>;
    /// Sets a user's password (`PUT /user/password`). Crowd checks its directory's
    /// policy (400 `INVALID_CREDENTIAL`), never the old password: verify that first.
    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError>;
}

/// A user's attributes: name → values.
pub type Attributes = std::collections::BTreeMap<String, Vec<String>>;

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

/// An SSO session.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// The SSO token (a secret: whoever holds it is logged in).
    pub token: String,
    /// The session's user, when Crowd says.
    #[serde(default, deserialize_with = "user_name")]
    pub user: Option<String>,
    /// Creation time, milliseconds since the epoch.
    #[serde(rename = "created-date", default)]
    pub created: Option<i64>,
    /// Expiry time, milliseconds since the epoch.
    #[serde(rename = "expiry-date", default)]
    pub expires: Option<i64>,
}

/// Crowd nests the session's user as `{"name": ...}`.
fn user_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    Ok(Option::<Named>::deserialize(d)?.map(|n| n.name))
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
