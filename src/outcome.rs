//! How a PAM call ends: [`Granted`] or a [`Denial`], the PAM code each maps to (in one
//! match), and the one log line that says why.

use std::fmt;

use crate::crowd::{CrowdError, Reason};
use crate::policy::Access;

/// Which PAM hook is running: some denials map to different codes in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `pam_sm_authenticate`
    Auth,
    /// `pam_sm_acct_mgmt`
    Account,
    /// `pam_sm_chauthtok`, one of its two calls.
    Password(PasswordStep),
    /// `pam_sm_open_session`: `[session] create_home`.
    Session,
}

/// Which call of a password change this is, from libpam's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordStep {
    /// `PAM_UPDATE_AUTHTOK`: set the new password; otherwise `PAM_PRELIM_CHECK`:
    /// check the current one.
    pub update: bool,
    /// `PAM_CHANGE_EXPIRED_AUTHTOK`: change only a password known to have expired.
    pub only_expired: bool,
}

/// The PAM return codes this module gives (values from `<security/_pam_types.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum PamCode {
    Success = 0,
    ServiceErr = 3,
    SystemErr = 4,
    BufErr = 5,
    PermDenied = 6,
    AuthErr = 7,
    AuthinfoUnavail = 9,
    UserUnknown = 10,
    NewAuthtokReqd = 12,
    AcctExpired = 13,
    ConvErr = 19,
    AuthtokErr = 20,
    SessionErr = 14,
    Ignore = 25,
    Abort = 26,
}

impl PamCode {
    /// The code for a raw value libpam returned; unknown values become `SystemErr`.
    pub fn from_raw(raw: i32) -> PamCode {
        [
            PamCode::Success,
            PamCode::ServiceErr,
            PamCode::SystemErr,
            PamCode::BufErr,
            PamCode::PermDenied,
            PamCode::AuthErr,
            PamCode::AuthinfoUnavail,
            PamCode::UserUnknown,
            PamCode::NewAuthtokReqd,
            PamCode::AcctExpired,
            PamCode::ConvErr,
            PamCode::AuthtokErr,
            PamCode::SessionErr,
            PamCode::Ignore,
            PamCode::Abort,
        ]
        .into_iter()
        .find(|c| *c as i32 == raw)
        .unwrap_or(PamCode::SystemErr)
    }

    /// The macro name admins know from PAM documentation.
    pub fn name(self) -> &'static str {
        match self {
            PamCode::Success => "PAM_SUCCESS",
            PamCode::ServiceErr => "PAM_SERVICE_ERR",
            PamCode::SystemErr => "PAM_SYSTEM_ERR",
            PamCode::BufErr => "PAM_BUF_ERR",
            PamCode::PermDenied => "PAM_PERM_DENIED",
            PamCode::AuthErr => "PAM_AUTH_ERR",
            PamCode::AuthinfoUnavail => "PAM_AUTHINFO_UNAVAIL",
            PamCode::UserUnknown => "PAM_USER_UNKNOWN",
            PamCode::NewAuthtokReqd => "PAM_NEW_AUTHTOK_REQD",
            PamCode::AcctExpired => "PAM_ACCT_EXPIRED",
            PamCode::ConvErr => "PAM_CONV_ERR",
            PamCode::AuthtokErr => "PAM_AUTHTOK_ERR",
            PamCode::SessionErr => "PAM_SESSION_ERR",
            PamCode::Ignore => "PAM_IGNORE",
            PamCode::Abort => "PAM_ABORT",
        }
    }
}

/// A call that admitted the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// What was checked, for the log line.
    pub detail: String,
    /// Decided from the offline cache because Crowd could not answer: logged at a
    /// higher level than a grant Crowd gave.
    pub offline: bool,
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

/// Every way a call can refuse. Each denies; [`Denial::code`] picks the PAM code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The PAM user name cannot be a Crowd user (empty, not UTF-8, too long...).
    BadUsername(String),
    /// An empty password: refused without asking Crowd.
    EmptyPassword,
    /// A password that cannot be sent (too long, not UTF-8).
    BadPassword(String),
    /// Crowd refused, or could not answer.
    Crowd(CrowdError),
    /// Crowd knows the user only under another name (case, alias, e-mail login).
    NameMismatch {
        /// The name Crowd returned.
        canonical: String,
        /// The names differ only by case: `user_names = "lowercase"` would admit it.
        case_only: bool,
    },
    /// The account is deactivated in Crowd.
    Inactive,
    /// The group rules refuse the user.
    Access(Access),
    /// Crowd could not answer (`crowd`) and the offline cache refused instead.
    Offline {
        /// Why Crowd could not answer.
        crowd: CrowdError,
        /// What the cache said.
        refusal: OfflineRefusal,
    },
    /// The module's arguments or configuration cannot be used.
    Config(String),
    /// A libpam call failed.
    Pam {
        /// What the module was doing.
        what: &'static str,
        /// What libpam returned.
        code: PamCode,
    },
    /// A bug: the hook panicked. Caught before the FFI boundary.
    Panic,
    /// The password is right but expired in Crowd: the account phase asks for a new
    /// one (PAM_NEW_AUTHTOK_REQD), so that sshd, login or sudo run the change.
    PasswordExpired,
    /// Not a refusal: the module has no say (a password change for a user Crowd does
    /// not know is another module's), so PAM_IGNORE.
    NotOurs(String),
    /// The session phase could not make the home directory.
    Home(String),
    /// A local system account (root, or a uid below `min_uid`): the host's, never
    /// Crowd's to decide. PAM_USER_UNKNOWN (PAM_IGNORE in a password change), so the
    /// stack goes on to pam_unix; Crowd is not asked.
    HostAccount(String),
    /// A user `pam-crowd sync` wrote whom Crowd no longer knows under this name
    /// (deleted or renamed): refused, not "unknown", which stacks would skip.
    GoneFromCrowd(String),
}

impl Denial {
    /// The PAM code admins stack on. The one place denials become codes.
    pub fn code(&self, phase: Phase) -> PamCode {
        use Phase::*;
        // A password change is answered as authenticate is, except for these.
        if let Password(_) = phase {
            match self {
                Denial::Crowd(CrowdError::Refused {
                    reason: Reason::UserNotFound,
                    ..
                }) => return PamCode::Ignore,
                Denial::Crowd(CrowdError::Refused {
                    reason: Reason::InvalidCredential,
                    ..
                }) => return PamCode::AuthtokErr,
                Denial::Crowd(CrowdError::Refused { status: 403, .. }) => {
                    return PamCode::PermDenied;
                }
                // pam_unix changes the host's own passwords.
                Denial::HostAccount(_) => return PamCode::Ignore,
                _ => return self.code(Auth),
            }
        }
        match (self, phase) {
            (Denial::BadUsername(_), _) => PamCode::UserUnknown,
            (Denial::EmptyPassword | Denial::BadPassword(_), _) => PamCode::AuthErr,
            (Denial::Crowd(CrowdError::Unavailable(_)), _) => PamCode::AuthinfoUnavail,
            (Denial::Crowd(CrowdError::Setup(_)), _) => PamCode::ServiceErr,
            (Denial::Crowd(CrowdError::Refused { reason, .. }), phase) => match (reason, phase) {
                (Reason::UserNotFound, _) => PamCode::UserUnknown,
                (Reason::InactiveAccount, Account) => PamCode::AcctExpired,
                (_, Account) => PamCode::PermDenied,
                (_, _) => PamCode::AuthErr,
            },
            (Denial::NameMismatch { .. }, Account) => PamCode::UserUnknown,
            (Denial::NameMismatch { .. }, _) => PamCode::AuthErr,
            (Denial::Inactive, Account) => PamCode::AcctExpired,
            (Denial::Inactive, _) => PamCode::AuthErr,
            (Denial::Access(_), _) => PamCode::PermDenied,
            (Denial::Offline { refusal, .. }, _) => match refusal {
                // As if there were no cache: `authinfo_unavail=ignore` stacks still work.
                OfflineRefusal::NotCached(_) => PamCode::AuthinfoUnavail,
                OfflineRefusal::WrongPassword | OfflineRefusal::Locked { .. } => PamCode::AuthErr,
                OfflineRefusal::Access(_) => PamCode::PermDenied,
            },
            (Denial::Config(_), _) => PamCode::ServiceErr,
            (Denial::Pam { code, .. }, _) => *code,
            (Denial::Panic, _) => PamCode::SystemErr,
            (Denial::PasswordExpired, _) => PamCode::NewAuthtokReqd,
            (Denial::NotOurs(_), _) => PamCode::Ignore,
            (Denial::Home(_), _) => PamCode::SessionErr,
            (Denial::HostAccount(_), _) => PamCode::UserUnknown,
            (Denial::GoneFromCrowd(_), _) => PamCode::PermDenied,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::BadUsername(why) => write!(f, "unusable user name: {why}"),
            Denial::EmptyPassword => f.write_str("empty password, Crowd not asked"),
            Denial::BadPassword(why) => write!(f, "unusable password: {why}, Crowd not asked"),
            Denial::Crowd(CrowdError::Refused {
                reason, message, ..
            }) => {
                let what = match reason {
                    Reason::InvalidUserAuthentication => {
                        "wrong password or not permitted for the application"
                    }
                    Reason::UserNotFound => "unknown user",
                    Reason::InactiveAccount => "account inactive",
                    Reason::ExpiredCredential => "password expired",
                    Reason::InvalidCredential => "new password refused by the directory's policy",
                    Reason::ApplicationAccessDenied => "not permitted for the application",
                    _ => "refused",
                };
                write!(f, "{what} (Crowd: {}", reason.as_str())?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                f.write_str(")")
            }
            Denial::Crowd(e) => e.fmt(f),
            Denial::NameMismatch {
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
            Denial::Inactive => f.write_str("account inactive in Crowd"),
            Denial::Access(access) => access_refusal(f, access),
            Denial::Offline { crowd, refusal } => {
                f.write_str("offline: ")?;
                match refusal {
                    OfflineRefusal::NotCached(why) => write!(f, "cannot decide: {why}")?,
                    OfflineRefusal::WrongPassword => {
                        f.write_str("password differs from the one Crowd last accepted")?
                    }
                    OfflineRefusal::Locked { failures } => write!(
                        f,
                        "locked after {failures} wrong offline passwords, until Crowd answers"
                    )?,
                    OfflineRefusal::Access(access) => {
                        f.write_str("cached answers: ")?;
                        access_refusal(f, access)?;
                    }
                }
                write!(f, " ({crowd})")
            }
            Denial::Config(why) => write!(f, "configuration: {why}"),
            Denial::Pam { what, code } => write!(f, "{what}: libpam returned {}", code.name()),
            Denial::Panic => f.write_str("internal error (panic caught)"),
            Denial::PasswordExpired => f.write_str(
                "the Crowd password has expired: a new one is required (PAM_NEW_AUTHTOK_REQD)",
            ),
            Denial::NotOurs(why) => write!(f, "not pam_crowd's to decide: {why}"),
            Denial::Home(why) => write!(f, "home directory not made: {why}"),
            Denial::HostAccount(why) => {
                write!(f, "not a Crowd user here: {why}; Crowd not asked")
            }
            Denial::GoneFromCrowd(why) => write!(
                f,
                "synced from Crowd, but Crowd no longer knows this user: {why}"
            ),
        }
    }
}

fn access_refusal(f: &mut fmt::Formatter<'_>, access: &Access) -> fmt::Result {
    match access {
        Access::InDenyGroup(g) => write!(f, "member of deny group {g:?}"),
        Access::NotInAllowGroups(groups) => write!(f, "in none of allow_groups {groups:?}"),
        Access::NobodyAllowed => f.write_str("allow_groups is empty"),
        Access::Granted => f.write_str("granted"),
    }
}

/// Who a call was about, for the log line.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The PAM user, once known.
    pub user: Option<String>,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, when the application set it.
    pub rhost: Option<String>,
    /// When the call started asking Crowd, if it did: the log line says how long
    /// Crowd took, which the `timeout` bounds.
    pub asked_crowd: Option<std::time::Instant>,
}

/// The one syslog line for a decision. User-supplied text is quoted and escaped, so a
/// name cannot forge a second line; no password or secret is ever part of it.
pub fn decision_line(subject: &Subject, result: &Result<Granted, Denial>, phase: Phase) -> String {
    let user = subject.user.as_deref().unwrap_or("?");
    let rhost = subject.rhost.as_deref().unwrap_or("");
    let head = format!(
        "user={user:?} service={:?} rhost={rhost:?}",
        subject.service
    );
    let took = subject
        .asked_crowd
        .map(|t| format!(" [crowd {} ms]", t.elapsed().as_millis()))
        .unwrap_or_default();
    match result {
        // The detail may quote Crowd (why an offline grant was made): escaped too.
        Ok(g) => format!("granted {head}: {}{took}", printable(&g.detail)),
        // Not a refusal: another module decides.
        Err(d) if d.code(phase) == PamCode::Ignore => {
            format!("ignored {head}: {}{took}", printable(&d.to_string()))
        }
        Err(d) => format!(
            "denied {head} code={}: {}{took}",
            d.code(phase).name(),
            printable(&d.to_string())
        ),
    }
}

/// `text` with control characters escaped, so text from Crowd or the user cannot
/// break a log line in two.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(reason: &str) -> Denial {
        Denial::Crowd(CrowdError::Refused {
            status: 400,
            reason: Reason::parse(reason),
            message: String::new(),
        })
    }

    #[test]
    fn crowd_reasons_map_to_the_documented_codes() {
        use PamCode::*;
        use Phase::*;
        let cases = [
            ("INVALID_USER_AUTHENTICATION", Auth, AuthErr),
            ("EXPIRED_CREDENTIAL", Auth, AuthErr),
            ("INACTIVE_ACCOUNT", Auth, AuthErr),
            ("APPLICATION_ACCESS_DENIED", Auth, AuthErr),
            ("SOMETHING_NEW", Auth, AuthErr),
            ("USER_NOT_FOUND", Auth, UserUnknown),
            ("USER_NOT_FOUND", Account, UserUnknown),
            ("INACTIVE_ACCOUNT", Account, AcctExpired),
            ("SOMETHING_NEW", Account, PermDenied),
        ];
        for (reason, phase, want) in cases {
            assert_eq!(refused(reason).code(phase), want, "{reason} in {phase:?}");
        }
    }

    #[test]
    fn every_denial_denies() {
        let all = [
            Denial::BadUsername("x".into()),
            Denial::EmptyPassword,
            Denial::BadPassword("x".into()),
            Denial::Crowd(CrowdError::Unavailable(vec![])),
            Denial::Crowd(CrowdError::Setup("x".into())),
            refused("X"),
            Denial::NameMismatch {
                canonical: "x".into(),
                case_only: false,
            },
            Denial::Inactive,
            Denial::Access(Access::NotInAllowGroups(vec![])),
            offline(OfflineRefusal::NotCached("x".into())),
            offline(OfflineRefusal::WrongPassword),
            offline(OfflineRefusal::Locked { failures: 3 }),
            offline(OfflineRefusal::Access(Access::NobodyAllowed)),
            Denial::Config("x".into()),
            Denial::Pam {
                what: "x",
                code: PamCode::ConvErr,
            },
            Denial::Panic,
            Denial::HostAccount("x".into()),
            Denial::GoneFromCrowd("x".into()),
        ];
        let change = |update| {
            Phase::Password(PasswordStep {
                update,
                only_expired: false,
            })
        };
        for d in all {
            for phase in [Phase::Auth, Phase::Account, change(false), change(true)] {
                let code = d.code(phase);
                // The exceptions: a password change for a user Crowd does not know,
                // or for the host's own account, is another module's.
                let not_ours = matches!(phase, Phase::Password(_))
                    && d.code(phase) == PamCode::Ignore
                    && matches!(
                        &d,
                        Denial::Crowd(CrowdError::Refused {
                            reason: Reason::UserNotFound,
                            ..
                        }) | Denial::HostAccount(_)
                    );
                assert!(
                    not_ours || ![PamCode::Success, PamCode::Ignore].contains(&code),
                    "{d:?} in {phase:?}"
                );
            }
        }
    }

    fn offline(refusal: OfflineRefusal) -> Denial {
        Denial::Offline {
            crowd: CrowdError::Unavailable(vec![]),
            refusal,
        }
    }

    #[test]
    fn offline_refusals_keep_nothing_cached_apart_from_a_wrong_password() {
        use PamCode::*;
        for phase in [Phase::Auth, Phase::Account] {
            assert_eq!(
                offline(OfflineRefusal::NotCached("x".into())).code(phase),
                AuthinfoUnavail
            );
            assert_eq!(offline(OfflineRefusal::WrongPassword).code(phase), AuthErr);
            assert_eq!(
                offline(OfflineRefusal::Locked { failures: 3 }).code(phase),
                AuthErr
            );
            assert_eq!(
                offline(OfflineRefusal::Access(Access::InDenyGroup("d".into()))).code(phase),
                PermDenied
            );
        }
        let line = offline(OfflineRefusal::WrongPassword).to_string();
        assert!(line.starts_with("offline: "), "{line}");
        assert!(line.contains("Crowd unavailable"), "{line}");
    }

    #[test]
    fn phase_dependent_codes() {
        let m = Denial::NameMismatch {
            canonical: "alice".into(),
            case_only: true,
        };
        assert_eq!(m.code(Phase::Auth), PamCode::AuthErr);
        assert_eq!(m.code(Phase::Account), PamCode::UserUnknown);
        assert_eq!(Denial::Inactive.code(Phase::Account), PamCode::AcctExpired);
        assert_eq!(
            Denial::Crowd(CrowdError::Unavailable(vec![])).code(Phase::Account),
            PamCode::AuthinfoUnavail
        );
    }

    #[test]
    fn raw_codes_round_trip() {
        for code in [PamCode::Success, PamCode::ConvErr, PamCode::AuthinfoUnavail] {
            assert_eq!(PamCode::from_raw(code as i32), code);
        }
        assert_eq!(PamCode::from_raw(999), PamCode::SystemErr);
    }

    #[test]
    fn a_grant_quoting_crowd_is_one_line_too() {
        let granted = Granted {
            detail: "checked offline (Crowd: 503 down\ngranted user=\"root\")".into(),
            offline: true,
        };
        let line = decision_line(&Subject::default(), &Ok(granted), Phase::Auth);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("down\\ngranted"), "{line}");
    }

    #[test]
    fn log_line_escapes_user_supplied_text() {
        let subject = Subject {
            user: Some("eve\ngranted user=\"root\"".into()),
            service: "sshd".into(),
            rhost: Some("10.0.0.1".into()),
            asked_crowd: None,
        };
        let line = decision_line(&subject, &Err(Denial::EmptyPassword), Phase::Auth);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("denied user=\"eve\\ngranted user=\\\"root\\\"\""),
            "{line}"
        );
        assert!(
            line.contains("service=\"sshd\" rhost=\"10.0.0.1\" code=PAM_AUTH_ERR"),
            "{line}"
        );
    }
}
