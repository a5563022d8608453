//! How a PAM call ends: a [`Verdict`] (granted, not ours, a new password required) or
//! a [`Denial`], the PAM code each maps to, and the one log line that says why.

mod code;
mod denial;
mod line;
// Reading a decision line back: test code, not built into the module.
#[cfg(test)]
pub(crate) mod read_back;

pub use code::PamCode;
pub use denial::{AccountState, BadInput, Denial, LocalFault, Offline, OfflineRefusal};
pub use line::{Subject, cache_problem_line, decision_line, printable};

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

/// What a call decided when it did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted: PAM_SUCCESS.
    Granted(Granted),
    /// The module has no say (a password change for a user Crowd does not know, the
    /// host's own account, a session with nothing to do): PAM_IGNORE, so the stack
    /// decides without it. Says why.
    NotOurs(String),
    /// Admitted once the expired Crowd password is replaced: PAM_NEW_AUTHTOK_REQD,
    /// so that sshd, login or sudo run the change.
    NewPasswordRequired,
}

/// What one call came to.
pub type Decision = Result<Verdict, Denial>;

impl Verdict {
    /// The PAM code of this verdict.
    pub fn code(&self) -> PamCode {
        match self {
            Verdict::Granted(_) => PamCode::Success,
            Verdict::NotOurs(_) => PamCode::Ignore,
            Verdict::NewPasswordRequired => PamCode::NewAuthtokReqd,
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

impl Granted {
    /// A grant decided now (not from the offline cache), saying what was checked.
    pub fn new(detail: impl Into<String>) -> Granted {
        Granted {
            detail: detail.into(),
            offline: false,
        }
    }
}

/// The PAM code of a decision in `phase`.
pub fn code_of(decision: &Decision, phase: Phase) -> PamCode {
    match decision {
        Ok(verdict) => verdict.code(),
        Err(denial) => denial.code(phase),
    }
}

#[cfg(test)]
mod tests;
