//! Every way a call refuses, in five families, and the PAM code each maps to (in one
//! match per family).

use std::fmt;

use crate::config::ConfigError;
use crate::crowd::{CrowdError, Reason};
use crate::home::HomeError;
use crate::options::UnknownArgument;
use crate::policy::Access;

use super::{PamCode, Phase};

/// A refusal. Every one denies: none maps to `PAM_SUCCESS` or `PAM_IGNORE` (what the
/// module has no say in is a [`super::Verdict::NotOurs`], not a denial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// What the user or the application gave cannot go to Crowd: refused unasked.
    Input(BadInput),
    /// Crowd answered no, with its reason.
    Refused(Refusal),
    /// The account may not log in here, whatever the password.
    Account(AccountState),
    /// Crowd could not answer; the offline cache, when it was asked, refused too.
    Offline(Offline),
    /// Something on this host failed: configuration, libpam, the home, a bug.
    Local(LocalFault),
}

/// Input refused before Crowd is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadInput {
    /// The PAM user name cannot be a Crowd user (empty, not UTF-8, too long...).
    Username(String),
    /// An empty password.
    EmptyPassword,
    /// A password that cannot be sent (too long, not UTF-8).
    Password(String),
}

/// Crowd's "no", with its reason code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Crowd's reason code; "no permission" is
    /// [`Reason::ApplicationPermissionDenied`], whatever the protocol.
    pub reason: Reason,
    /// Crowd's message, for the log.
    pub message: String,
}

/// Why an account may not log in, as Crowd's data or the host say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountState {
    /// The account is deactivated in Crowd.
    Inactive,
    /// Crowd knows the user only under another name (case, alias, e-mail login).
    NameMismatch {
        /// The name Crowd returned.
        canonical: String,
        /// The names differ only by case: `user_names = "lowercase"` would admit it.
        case_only: bool,
    },
    /// The group rules refuse the user.
    Access(Access),
    /// A local system account (root, or a uid below `min_uid`): the host's, never
    /// Crowd's to decide. PAM_USER_UNKNOWN, so the stack goes on to pam_unix; Crowd
    /// is not asked.
    HostAccount(String),
    /// A user `pam-crowd sync` wrote whom Crowd no longer knows under this name
    /// (deleted or renamed): refused, not "unknown", which stacks would skip.
    GoneFromCrowd(String),
}

/// Crowd could not answer (`crowd` says why), and what the offline cache said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offline {
    /// Why Crowd could not answer: every URL tried, or the application rejected.
    pub crowd: CrowdError,
    /// The cache's refusal, when the cache was asked.
    pub cache: Option<OfflineRefusal>,
}

/// Why the offline cache refused a user Crowd could not be asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineRefusal {
    /// Nothing usable is cached: never seen, too old, or the cache is unusable.
    NotCached(String),
    /// The password does not match the one Crowd last accepted.
    WrongPassword,
    /// Too many wrong offline passwords in a row; Crowd must answer again first.
    Locked {
        /// The wrong attempts counted.
        failures: u32,
    },
    /// The cached group answers refuse the user.
    Access(Access),
}

/// A failure on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalFault {
    /// The configuration file cannot be used: where and why, kept whole.
    Config(ConfigError),
    /// The module's arguments in the PAM stack cannot be used.
    Arguments(UnknownArgument),
    /// The Crowd client could not be set up (an unreadable `ca_file`, no roots).
    Client(String),
    /// A libpam call failed.
    Pam {
        /// What the module was doing.
        what: &'static str,
        /// What libpam returned.
        code: PamCode,
    },
    /// The session phase could not make the home directory.
    Home(HomeError),
    /// A bug: the hook panicked. Caught before the FFI boundary.
    Panic,
}

impl From<CrowdError> for Denial {
    /// Crowd's failures sorted into the families: a refusal, no answer, or a client
    /// that could not be set up.
    fn from(error: CrowdError) -> Denial {
        match error {
            CrowdError::Refused {
                reason, message, ..
            } => Denial::Refused(Refusal { reason, message }),
            CrowdError::Setup(why) => Denial::Local(LocalFault::Client(why)),
            // Crowd did not answer (or failed in a way this version does not know:
            // no answer either, never a grant).
            unavailable => Denial::Offline(Offline {
                crowd: unavailable,
                cache: None,
            }),
        }
    }
}

impl Denial {
    /// A refusal for a reason Crowd gives, as Crowd would give it (tests, the cache).
    pub fn refused(reason: Reason) -> Denial {
        Denial::Refused(Refusal {
            reason,
            message: String::new(),
        })
    }

    /// Crowd's reason, when this is Crowd's refusal.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Denial::Refused(r) => Some(&r.reason),
            _ => None,
        }
    }

    /// Why Crowd could not answer, when it could not and the cache was not asked.
    pub fn unanswered(&self) -> Option<&CrowdError> {
        match self {
            Denial::Offline(Offline { crowd, cache: None }) => Some(crowd),
            _ => None,
        }
    }

    /// The PAM code admins stack on. The one place denials become codes.
    pub fn code(&self, phase: Phase) -> PamCode {
        match self {
            Denial::Input(BadInput::Username(_)) => PamCode::UserUnknown,
            Denial::Input(_) => PamCode::AuthErr,
            Denial::Refused(refusal) => refusal.code(phase),
            Denial::Account(state) => state.code(phase),
            Denial::Offline(Offline { cache, .. }) => match cache {
                // As if there were no cache: `authinfo_unavail=ignore` stacks still work.
                None | Some(OfflineRefusal::NotCached(_)) => PamCode::AuthinfoUnavail,
                Some(OfflineRefusal::WrongPassword | OfflineRefusal::Locked { .. }) => {
                    PamCode::AuthErr
                }
                Some(OfflineRefusal::Access(_)) => PamCode::PermDenied,
            },
            Denial::Local(fault) => match fault {
                LocalFault::Config(_) | LocalFault::Arguments(_) | LocalFault::Client(_) => {
                    PamCode::ServiceErr
                }
                LocalFault::Pam { code, .. } => *code,
                LocalFault::Home(_) => PamCode::SessionErr,
                LocalFault::Panic => PamCode::SystemErr,
            },
        }
    }
}

impl Refusal {
    fn code(&self, phase: Phase) -> PamCode {
        match (&self.reason, phase) {
            (Reason::UserNotFound, _) => PamCode::UserUnknown,
            (Reason::InvalidCredential, Phase::Password(_)) => PamCode::AuthtokErr,
            (Reason::ApplicationPermissionDenied, Phase::Password(_)) => PamCode::PermDenied,
            (Reason::InactiveAccount, Phase::Account) => PamCode::AcctExpired,
            (_, Phase::Account) => PamCode::PermDenied,
            (_, _) => PamCode::AuthErr,
        }
    }
}

impl AccountState {
    fn code(&self, phase: Phase) -> PamCode {
        match (self, phase) {
            (AccountState::NameMismatch { .. }, Phase::Account) => PamCode::UserUnknown,
            (AccountState::Inactive, Phase::Account) => PamCode::AcctExpired,
            (AccountState::NameMismatch { .. } | AccountState::Inactive, _) => PamCode::AuthErr,
            (AccountState::Access(_) | AccountState::GoneFromCrowd(_), _) => PamCode::PermDenied,
            (AccountState::HostAccount(_), _) => PamCode::UserUnknown,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Input(input) => input.fmt(f),
            Denial::Refused(refusal) => refusal.fmt(f),
            Denial::Account(state) => state.fmt(f),
            Denial::Offline(Offline { crowd, cache: None }) => crowd.fmt(f),
            Denial::Offline(Offline {
                crowd,
                cache: Some(refusal),
            }) => write!(f, "offline: {refusal} ({crowd})"),
            Denial::Local(fault) => fault.fmt(f),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadInput::Username(why) => write!(f, "unusable user name: {why}"),
            BadInput::EmptyPassword => f.write_str("empty password, Crowd not asked"),
            BadInput::Password(why) => write!(f, "unusable password: {why}, Crowd not asked"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            Reason::InvalidUserAuthentication => {
                "wrong password or not permitted for the application"
            }
            Reason::UserNotFound => "unknown user",
            Reason::InactiveAccount => "account inactive",
            Reason::ExpiredCredential => "password expired",
            Reason::InvalidCredential => "new password refused by the directory's policy",
            Reason::ApplicationAccessDenied => "not permitted for the application",
            Reason::ApplicationPermissionDenied => "the application may not do this",
            _ => "refused",
        };
        write!(f, "{what} (Crowd: {}", self.reason.as_str())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountState::Inactive => f.write_str("account inactive in Crowd"),
            AccountState::NameMismatch {
                canonical,
                case_only,
            } => {
                write!(
                    f,
                    "Crowd knows this user as {canonical:?}; a different name is not the same account"
                )?;
                if *case_only {
                    f.write_str(
                        " (only the case differs: user_names = \"lowercase\" would admit it)",
                    )?;
                }
                Ok(())
            }
            AccountState::Access(access) => access.fmt(f),
            AccountState::HostAccount(why) => {
                write!(f, "not a Crowd user here: {why}; Crowd not asked")
            }
            AccountState::GoneFromCrowd(why) => write!(
                f,
                "synced from Crowd, but Crowd no longer knows this user: {why}"
            ),
        }
    }
}

impl fmt::Display for OfflineRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfflineRefusal::NotCached(why) => write!(f, "cannot decide: {why}"),
            OfflineRefusal::WrongPassword => {
                f.write_str("password differs from the one Crowd last accepted")
            }
            OfflineRefusal::Locked { failures } => write!(
                f,
                "locked after {failures} wrong offline passwords, until Crowd answers"
            ),
            OfflineRefusal::Access(access) => write!(f, "cached answers: {access}"),
        }
    }
}

impl fmt::Display for LocalFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalFault::Config(e) => write!(f, "configuration: {e}"),
            LocalFault::Arguments(e) => write!(f, "configuration: {e}"),
            LocalFault::Client(why) => write!(f, "client setup failed: {why}"),
            LocalFault::Pam { what, code } => {
                write!(f, "{what}: libpam returned {}", code.name())
            }
            LocalFault::Home(why) => write!(f, "home directory not made: {why}"),
            LocalFault::Panic => f.write_str("internal error (panic caught)"),
        }
    }
}
