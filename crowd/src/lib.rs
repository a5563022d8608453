//! A client for Atlassian Crowd, usable without PAM: it depends on nothing of the
//! module (configuration files, cache, PAM), which depends on it.
//!
//! Crowd's operations are traits by role: [`LoginDirectory`] (what a login asks),
//! [`SyncDirectory`] (what a sync reads), [`AdminDirectory`] (the admin commands),
//! all over [`UserDirectory`]. The REST client implements them over Crowd's REST API
//! (`/rest/usermanagement/1`), the SOAP client over the service of servers before
//! 2.1 (`/services/SecurityServer`), and [`Client`] is whichever
//! [`ClientSettings::protocol`] names. Every operation is bounded by a [`Deadline`]
//! and fails over across the configured base URLs.
//!
//! ```no_run
//! use std::time::Duration;
//! use crowd_client::prelude::*;
//! use crowd_client::{BaseUrl, Client, ClientSettings, Deadline, Protocol, Secret};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ClientSettings {
//!     urls: vec![BaseUrl::parse("https://crowd.example.com/crowd", false)?],
//!     application: "linux-hosts".into(),
//!     app_password: Secret::new(std::fs::read_to_string("/etc/pam_crowd.secret")?),
//!     ca_file: None,
//!     protocol: Protocol::Rest,
//! };
//! let crowd = Client::new(&settings, Deadline::after(Duration::from_secs(10)))?;
//! crowd.ping()?;
//! if crowd.is_nested_member("alice", "linux-users")? {
//!     println!("alice may log in; her groups: {:?}", crowd.nested_groups("alice")?);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cookies;
pub mod decode;
mod error;
pub mod events;
mod http;
mod rest;
mod secret;
mod settings;
mod soap;
mod tls_provider;
mod transport;
mod url;

use std::time::{Duration, Instant};

use serde::Deserialize;

pub use error::{CrowdError, Failure, FailureKind, Reason};
pub use secret::Secret;
pub use settings::ClientSettings;
pub use url::{BaseUrl, UrlError};
// The protocols' clients are reached through [`Client`] alone, which refuses what
// must never be sent before either sees it.
pub(crate) use rest::RestClient;
pub(crate) use soap::SoapClient;

/// Which of Crowd's APIs a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// The REST API, Crowd 2.1 and later.
    #[default]
    Rest,
    /// The SecurityServer SOAP service, Crowd 1.x to 4.x (removed in 5.0).
    Soap,
}

/// Crowd's operations, as python-crowd offers them, in one trait per role: what a
/// login needs ([`LoginDirectory`]), what sync reads ([`SyncDirectory`]), what the
/// admin commands do ([`AdminDirectory`]); each implemented once per protocol.
/// [`Directory`] is all of them.
pub trait Directory: LoginDirectory + SyncDirectory + AdminDirectory {}

impl<D: LoginDirectory + SyncDirectory + AdminDirectory> Directory for D {}

/// Every role's trait, for `use crowd_client::prelude::*` where a caller uses them all.
pub mod prelude {
    pub use super::{AdminDirectory, Directory, LoginDirectory, SyncDirectory, UserDirectory};
}

/// Looking users up: what every role below needs.
pub trait UserDirectory {
    /// Looks a user up by name (Crowd matches names without regard to case).
    fn user(&self, username: &str) -> Result<User, CrowdError>;
    /// Looks a user up with their attributes (multi-valued, by name).
    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError>;
}

/// What a login asks: the password, the user, the group rules, a password change.
pub trait LoginDirectory: UserDirectory {
    /// Crowd's "auth_user": checks `password` and returns the user Crowd knows. The
    /// client's address is a validation factor where the protocol sends one (SOAP).
    fn authenticate(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<User, CrowdError>;
    /// Every group `username` is a direct or nested member of, all pages fetched.
    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError>;
    /// Whether `username` is a direct or nested member of `group`. A group that does
    /// not exist has no members.
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError>;
    /// Sets a user's password (`PUT /user/password`). Crowd checks its directory's
    /// policy (400 `INVALID_CREDENTIAL`), never the old password: verify that first.
    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError>;
}

/// What `pam-crowd sync` reads: the members of groups, with their attributes.
pub trait SyncDirectory: UserDirectory {
    /// Every user who is a direct or nested member of `group`, all pages fetched.
    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError>;
    /// Every active user with their attributes, all pages fetched, where the protocol
    /// reads them in bulk (REST's search: about one request per thousand users);
    /// `None` where it cannot (SOAP).
    fn active_users_with_attributes(&self) -> Result<Option<Vec<(User, Attributes)>>, CrowdError> {
        Ok(None)
    }
    /// Every user who is a direct or nested member of `group`, with their attributes,
    /// all pages fetched. This default asks for each member's attributes in turn;
    /// REST reads them in bulk.
    fn nested_group_users(&self, group: &str) -> Result<Vec<(User, Attributes)>, CrowdError> {
        self.nested_group_members(group)?
            .iter()
            .map(|name| self.user_attributes(name))
            .collect()
    }
    /// The users named, as Crowd has them (active or not), with their attributes;
    /// names Crowd does not know are left out. This default reads each in turn; REST
    /// searches for many at once.
    fn users_with_attributes(
        &self,
        names: &[String],
    ) -> Result<Vec<(User, Attributes)>, CrowdError> {
        each_user_with_attributes(self, names)
    }
    /// A group's attributes (a `gidNumber`, say).
    fn group_attributes(&self, group: &str) -> Result<Attributes, CrowdError>;
    /// Whether Crowd has `group`. An empty member list is no proof that a group
    /// emptied: Crowd 2.x lists an unknown group's members as none, and nested
    /// queries over a failing directory can come back empty.
    fn group_exists(&self, group: &str) -> Result<bool, CrowdError> {
        match self.group_attributes(group) {
            Ok(_) => Ok(true),
            Err(CrowdError::Refused {
                reason: Reason::GroupNotFound,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Every group nested in `group`, at any depth, all pages fetched. Only what
    /// incremental sync needs: protocols without events answer none.
    fn nested_child_groups(&self, _group: &str) -> Result<Vec<String>, CrowdError> {
        Ok(Vec::new())
    }
    /// The start of incremental synchronisation (`GET /event`): the token of now, or
    /// `Unavailable` where the server or the protocol (SOAP) offers no events.
    fn event_start(&self) -> Result<events::EventStart, CrowdError> {
        Ok(events::EventStart::Unavailable(
            "this protocol has no events".into(),
        ))
    }
    /// The events since `token`. A token Crowd can no longer use is a refusal with
    /// [`Reason::EventTokenExpired`]: synchronise in full, and start again.
    fn events_since(&self, _token: &str) -> Result<events::EventBatch, CrowdError> {
        Err(CrowdError::Refused {
            status: 410,
            reason: Reason::EventTokenExpired,
            message: "no events over this protocol".into(),
        })
    }
}

/// What the admin commands do besides: the connection check, SSO sessions,
/// attributes written.
pub trait AdminDirectory: UserDirectory {
    /// Whether Crowd accepts the application's credentials (python-crowd: `auth_ping`).
    fn ping(&self) -> Result<(), CrowdError>;
    /// The groups `username` is a direct member of, all pages fetched.
    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError>;
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
}

/// A client for the protocol the settings name: the type the rest of the crate keeps.
#[derive(Clone)]
pub enum Client {
    /// Crowd's REST API.
    Rest(RestClient),
    /// The SOAP service of servers before 2.1.
    Soap(SoapClient),
}

impl Client {
    /// Builds a client whose every operation must finish by `deadline`.
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<Client, CrowdError> {
        Ok(match settings.protocol {
            Protocol::Rest => Client::Rest(RestClient::new(settings, deadline)?),
            Protocol::Soap => Client::Soap(SoapClient::new(settings, deadline)?),
        })
    }

    fn directory(&self) -> &dyn Directory {
        match self {
            Client::Rest(c) => c,
            Client::Soap(c) => c,
        }
    }

    /// Starts another call on this client and its open connection: a new deadline,
    /// an empty trail.
    pub fn begin(&self, deadline: Deadline) {
        match self {
            Client::Rest(c) => c.begin(deadline),
            Client::Soap(c) => c.begin(deadline),
        }
    }

    /// What each request did (URL, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        match self {
            Client::Rest(c) => c.trail(),
            Client::Soap(c) => c.trail(),
        }
    }
}

impl UserDirectory for Client {
    fn user(&self, username: &str) -> Result<User, CrowdError> {
        user_named(username)?;
        self.directory().user(username)
    }
    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError> {
        user_named(username)?;
        self.directory().user_attributes(username)
    }
}

impl LoginDirectory for Client {
    fn authenticate(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<User, CrowdError> {
        user_named(username)?;
        self.directory()
            .authenticate(username, password, remote_address)
    }
    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        user_named(username)?;
        self.directory().nested_groups(username)
    }
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
        user_named(username)?;
        group_named(group)?;
        self.directory().is_nested_member(username, group)
    }
    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError> {
        user_named(username)?;
        self.directory().set_password(username, new_password)
    }
}

impl SyncDirectory for Client {
    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        group_named(group)?;
        self.directory().nested_group_members(group)
    }
    fn nested_group_users(&self, group: &str) -> Result<Vec<(User, Attributes)>, CrowdError> {
        group_named(group)?;
        self.directory().nested_group_users(group)
    }
    fn active_users_with_attributes(&self) -> Result<Option<Vec<(User, Attributes)>>, CrowdError> {
        self.directory().active_users_with_attributes()
    }
    fn users_with_attributes(
        &self,
        names: &[String],
    ) -> Result<Vec<(User, Attributes)>, CrowdError> {
        // An empty name is no name to Crowd: it is not asked about.
        let named: Vec<String> = names
            .iter()
            .filter(|n| user_named(n).is_ok())
            .cloned()
            .collect();
        self.directory().users_with_attributes(&named)
    }
    fn group_attributes(&self, group: &str) -> Result<Attributes, CrowdError> {
        group_named(group)?;
        self.directory().group_attributes(group)
    }
    fn group_exists(&self, group: &str) -> Result<bool, CrowdError> {
        group_named(group)?;
        self.directory().group_exists(group)
    }
    fn nested_child_groups(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        group_named(group)?;
        self.directory().nested_child_groups(group)
    }
    fn event_start(&self) -> Result<events::EventStart, CrowdError> {
        self.directory().event_start()
    }
    fn events_since(&self, token: &str) -> Result<events::EventBatch, CrowdError> {
        // An empty token would be `GET /event/`: another resource.
        named(token, "event token", Reason::EventTokenExpired)?;
        self.directory().events_since(token)
    }
}

impl AdminDirectory for Client {
    fn ping(&self) -> Result<(), CrowdError> {
        self.directory().ping()
    }
    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        user_named(username)?;
        self.directory().direct_groups(username)
    }
    fn create_session(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        user_named(username)?;
        self.directory()
            .create_session(username, password, remote_address)
    }
    fn validate_session(
        &self,
        token: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        token_given(token)?;
        self.directory().validate_session(token, remote_address)
    }
    fn terminate_session(&self, token: &str) -> Result<(), CrowdError> {
        token_given(token)?;
        self.directory().terminate_session(token)
    }
    fn store_user_attribute(
        &self,
        username: &str,
        name: &str,
        values: &[String],
    ) -> Result<(), CrowdError> {
        user_named(username)?;
        attribute_named(name)?;
        self.directory()
            .store_user_attribute(username, name, values)
    }
    fn remove_user_attribute(&self, username: &str, name: &str) -> Result<(), CrowdError> {
        user_named(username)?;
        attribute_named(name)?;
        self.directory().remove_user_attribute(username, name)
    }
}

/// Each named user's attributes in turn; one Crowd does not know is left out.
pub fn each_user_with_attributes(
    directory: &(impl UserDirectory + ?Sized),
    names: &[String],
) -> Result<Vec<(User, Attributes)>, CrowdError> {
    let mut found = Vec::new();
    for name in names {
        match directory.user_attributes(name) {
            Ok(entry) => found.push(entry),
            Err(CrowdError::Refused {
                reason: Reason::UserNotFound,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// Refuses, before any request, a name Crowd would not answer about: an empty one,
/// or one it trims to empty. Crowd does not say "no such user" to those: asked
/// whether "" is a member of a group it serves the group's member list, 200
/// (Atlassian's CWD-2474), which a client reads as "yes".
fn named(name: &str, what: &str, reason: Reason) -> Result<(), CrowdError> {
    match name.trim().is_empty() {
        true => Err(CrowdError::Refused {
            status: 404,
            reason,
            message: format!("empty {what}: not sent to Crowd"),
        }),
        false => Ok(()),
    }
}

fn user_named(name: &str) -> Result<(), CrowdError> {
    named(name, "user name", Reason::UserNotFound)
}

fn group_named(name: &str) -> Result<(), CrowdError> {
    named(name, "group name", Reason::GroupNotFound)
}

fn attribute_named(name: &str) -> Result<(), CrowdError> {
    named(
        name,
        "attribute name",
        Reason::Other("INVALID_ATTRIBUTE".into()),
    )
}

fn token_given(token: &str) -> Result<(), CrowdError> {
    named(
        token,
        "SSO token",
        Reason::Other("INVALID_SSO_TOKEN".into()),
    )
}

/// Crowd's users with their attributes, found by name without regard to case, as
/// Crowd compares names: member lists (names only) matched against one bulk read.
pub struct UserIndex(std::collections::HashMap<String, (User, Attributes)>);

impl UserIndex {
    /// Indexes `all` by lower-case name.
    pub fn new(all: Vec<(User, Attributes)>) -> UserIndex {
        UserIndex(
            all.into_iter()
                .map(|entry| (entry.0.name.to_lowercase(), entry))
                .collect(),
        )
    }

    /// The entries of the users named in `members` that are indexed, in that order.
    pub fn members(&self, members: &[String]) -> Vec<(User, Attributes)> {
        members
            .iter()
            .filter_map(|m| self.0.get(&m.to_lowercase()).cloned())
            .collect()
    }
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
    /// Crowd's stable identifier of the user (directory id and external id), kept
    /// across renames; REST only, and not on every server.
    #[serde(default)]
    pub key: Option<String>,
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
