//! What the login logic needs from PAM, as a narrow trait: what libpam offers (items,
//! prompts, messages, the log, transaction data) and nothing of the module's own
//! state. Implemented once over the real handle (in `ffi`) and once in tests, by a
//! scripted handler. The logic never sees a raw pointer.

use zeroize::Zeroizing;

use crate::outcome::{Denial, LocalFault, PamCode};

/// Syslog priorities the module logs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err,
    Notice,
    Info,
    Debug,
}

/// A libpam call that failed: what the module was doing, and libpam's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PamError {
    /// What the module was doing ("reading the password").
    pub what: &'static str,
    /// What libpam returned.
    pub code: PamCode,
}

impl From<PamError> for Denial {
    fn from(e: PamError) -> Denial {
        Denial::Local(LocalFault::Pam {
            what: e.what,
            code: e.code,
        })
    }
}

/// The PAM handle, as the login logic uses it.
pub trait PamContext {
    /// PAM_USER, prompting for it if the application has not set it. Raw bytes:
    /// validation is the logic's job.
    fn user(&mut self) -> Result<Vec<u8>, PamError>;
    /// PAM_SERVICE.
    fn service(&self) -> String;
    /// PAM_RHOST, when set.
    fn rhost(&self) -> Option<String>;
    /// The password, through `pam_get_authtok` (so `use_first_pass` and stacking work).
    /// In a password change, the new one (libpam asks twice, or `use_authtok` takes
    /// the one an earlier module such as pam_pwquality checked).
    fn password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError>;
    /// The current password, in a password change (`PAM_OLDAUTHTOK`).
    fn old_password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError>;
    /// Tells the user something through the application's conversation (an error or
    /// an information), unless the application asked for silence.
    fn tell(&mut self, error: bool, text: &str);
    /// One line to syslog (authpriv, with the usual `pam_crowd(service:type):` prefix).
    fn log(&self, level: Level, line: &str);
    /// Keeps `value` for the rest of the transaction (`pam_set_data`), one value per
    /// type; `None` drops the one kept.
    fn set_data<T: Clone + 'static>(&mut self, value: Option<T>);
    /// The value of this type kept earlier in the transaction, if any.
    fn data<T: Clone + 'static>(&self) -> Option<T>;
}

/// The transaction-data key of a type: its full path, so one key is one type.
pub fn data_key<T: 'static>() -> String {
    format!("pam_crowd::{}", std::any::type_name::<T>())
}
