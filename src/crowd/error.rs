//! What can go wrong talking to Crowd, keeping Crowd's own reason.

use std::fmt;

/// Crowd's reason codes that the module acts on; any other is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Wrong password, or the user may not use this application.
    InvalidUserAuthentication,
    /// No such user.
    UserNotFound,
    /// The account is deactivated.
    InactiveAccount,
    /// The password has expired.
    ExpiredCredential,
    /// The user may not use this application (some Crowd versions).
    ApplicationAccessDenied,
    /// The user is not a member of the group.
    MembershipNotFound,
    /// No such group.
    GroupNotFound,
    /// A reason this crate does not know; treated as a refusal.
    Other(String),
}

impl Reason {
    /// Parses Crowd's `reason` field.
    pub fn parse(s: &str) -> Reason {
        match s {
            "INVALID_USER_AUTHENTICATION" => Reason::InvalidUserAuthentication,
            "USER_NOT_FOUND" => Reason::UserNotFound,
            "INACTIVE_ACCOUNT" => Reason::InactiveAccount,
            "EXPIRED_CREDENTIAL" => Reason::ExpiredCredential,
            "APPLICATION_ACCESS_DENIED" => Reason::ApplicationAccessDenied,
            "MEMBERSHIP_NOT_FOUND" => Reason::MembershipNotFound,
            "GROUP_NOT_FOUND" => Reason::GroupNotFound,
            other => Reason::Other(other.to_owned()),
        }
    }

    /// The code as Crowd spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::InvalidUserAuthentication => "INVALID_USER_AUTHENTICATION",
            Reason::UserNotFound => "USER_NOT_FOUND",
            Reason::InactiveAccount => "INACTIVE_ACCOUNT",
            Reason::ExpiredCredential => "EXPIRED_CREDENTIAL",
            Reason::ApplicationAccessDenied => "APPLICATION_ACCESS_DENIED",
            Reason::MembershipNotFound => "MEMBERSHIP_NOT_FOUND",
            Reason::GroupNotFound => "GROUP_NOT_FOUND",
            Reason::Other(s) => s,
        }
    }
}

/// A Crowd operation that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrowdError {
    /// Crowd answered and said no, with its reason.
    Refused {
        /// HTTP status of the answer.
        status: u16,
        /// Crowd's reason code.
        reason: Reason,
        /// Crowd's human-readable message.
        message: String,
    },
    /// No usable answer: every URL failed, timed out, or answered something that is
    /// not Crowd's (the text says what happened at each URL).
    Unavailable(String),
    /// The client could not be set up (unreadable `ca_file`, no trust roots).
    Setup(String),
}

impl fmt::Display for CrowdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrowdError::Refused {
                status,
                reason,
                message,
            } => write!(f, "Crowd refused ({status} {}): {message}", reason.as_str()),
            CrowdError::Unavailable(why) => write!(f, "Crowd unavailable: {why}"),
            CrowdError::Setup(why) => write!(f, "client setup failed: {why}"),
        }
    }
}

impl std::error::Error for CrowdError {}
