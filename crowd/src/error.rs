//! What can go wrong talking to Crowd, keeping Crowd's own reason.

use std::fmt;

/// Crowd's reason codes that the module acts on; any other is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Wrong password, or the user may not use this application.
    InvalidUserAuthentication,
    /// No such user.
    UserNotFound,
    /// The account is deactivated.
    InactiveAccount,
    /// The password has expired. Crowd says so only once the password matched.
    ExpiredCredential,
    /// A new password breaks the directory's password policy.
    InvalidCredential,
    /// The user may not use this application (some Crowd versions).
    ApplicationAccessDenied,
    /// The application may not do this (a write without the directory permission):
    /// REST's 403, SOAP's ApplicationPermissionException.
    ApplicationPermissionDenied,
    /// An event token Crowd can no longer answer for (restart, evicted events, too
    /// many changes, configuration changed): synchronise in full.
    EventTokenExpired,
    /// Crowd offers this application no events.
    IncrementalSyncNotAvailable,
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
            "INVALID_CREDENTIAL" => Reason::InvalidCredential,
            "APPLICATION_ACCESS_DENIED" => Reason::ApplicationAccessDenied,
            "APPLICATION_PERMISSION_DENIED" => Reason::ApplicationPermissionDenied,
            "EVENT_TOKEN_EXPIRED" => Reason::EventTokenExpired,
            "INCREMENTAL_SYNC_NOT_AVAILABLE" => Reason::IncrementalSyncNotAvailable,
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
            Reason::InvalidCredential => "INVALID_CREDENTIAL",
            Reason::ApplicationAccessDenied => "APPLICATION_ACCESS_DENIED",
            Reason::ApplicationPermissionDenied => "APPLICATION_PERMISSION_DENIED",
            Reason::EventTokenExpired => "EVENT_TOKEN_EXPIRED",
            Reason::IncrementalSyncNotAvailable => "INCREMENTAL_SYNC_NOT_AVAILABLE",
            Reason::MembershipNotFound => "MEMBERSHIP_NOT_FOUND",
            Reason::GroupNotFound => "GROUP_NOT_FOUND",
            Reason::Other(s) => s,
        }
    }
}

/// Why one URL gave no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Name resolution or TCP connection failed.
    Connect,
    /// No answer within the time left.
    Timeout,
    /// The TLS handshake failed (certificate untrusted, expired, for another name).
    Tls,
    /// A redirect, which is never followed.
    Redirect,
    /// 429: Crowd is rate-limiting.
    RateLimited,
    /// 5xx: Crowd or its directory failed.
    ServerError,
    /// 401: Crowd refused the application's name or password.
    ApplicationRejected,
    /// 403 without Crowd's error body: the application may not connect from here.
    AddressRejected,
    /// An answer that is not Crowd's (HTML, malformed JSON, wrong shape, wrong path).
    NotCrowd,
    /// An answer over the size cap.
    TooLarge,
}

impl FailureKind {
    /// Whether another URL may do better: not when Crowd itself rejected the
    /// application, as every node of a cluster would.
    pub fn try_next(self) -> bool {
        !matches!(
            self,
            FailureKind::ApplicationRejected | FailureKind::AddressRejected
        )
    }
}

/// What happened at one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The base URL tried.
    pub url: String,
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The details, for the log.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.detail)
    }
}

/// A Crowd operation that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrowdError {
    /// Crowd answered and said no, with its reason.
    Refused {
        /// HTTP status of the answer (over SOAP, the one REST gives for the same
        /// refusal), for the log: decisions read the reason, never the status.
        status: u16,
        /// Crowd's reason code.
        reason: Reason,
        /// Crowd's human-readable message.
        message: String,
    },
    /// No usable answer: what happened at each URL tried, in order.
    Unavailable(Vec<Failure>),
    /// The client could not be set up (unreadable `ca_file`, no trust roots).
    Setup(String),
}

impl CrowdError {
    /// Crowd's reason, when Crowd answered with one.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            CrowdError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for CrowdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrowdError::Refused {
                status,
                reason,
                message,
            } => write!(f, "Crowd refused ({status} {}): {message}", reason.as_str()),
            CrowdError::Unavailable(failures) => {
                f.write_str("Crowd unavailable: ")?;
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    failure.fmt(f)?;
                }
                Ok(())
            }
            CrowdError::Setup(why) => write!(f, "client setup failed: {why}"),
        }
    }
}

impl std::error::Error for CrowdError {}
