//! What the login logic needs from PAM, as a trait: implemented once over the real
//! handle (in `ffi`) and once in tests. The logic never sees a raw pointer.

use zeroize::Zeroizing;

use crate::crowd::{Client, ClientSettings, CrowdError};
use crate::outcome::Denial;

/// Syslog priorities the module logs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err,
    Notice,
    Info,
    Debug,
}

/// What an authenticate call learned, kept in PAM data so the account phase of the
/// same transaction need not ask again. Dropped with the handle at `pam_end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    /// The PAM user the password was checked for.
    pub pam_user: String,
    /// The configuration file that was used: another file may mean another Crowd.
    pub config_path: std::path::PathBuf,
    /// Crowd's canonical name (equal to `pam_user`, or authenticate would have failed).
    pub canonical: String,
    /// Whether Crowd reported the account active.
    pub active: bool,
    /// Crowd accepted the password but said it has expired: the account phase asks
    /// for a new one.
    pub password_expired: bool,
    /// Set when Crowd could not answer (this is why) and the offline cache
    /// authenticated the user: the account phase then decides from the cache too,
    /// rather than wait for an unreachable Crowd a second time.
    pub offline: Option<CrowdError>,
}

/// The Crowd client of a transaction, kept in PAM data so that the account phase
/// reuses the TLS connection authenticate opened: one handshake per login.
#[derive(Clone)]
pub struct KeptClient {
    /// The process that opened the connection. A process forked afterwards holds a
    /// copy of the socket, and must not write into its parent's TLS stream.
    pub pid: u32,
    /// What the client was built from: another configuration needs another client.
    pub settings: ClientSettings,
    /// The client; clones share its connection.
    pub client: Client,
}

impl KeptClient {
    /// The kept client, if it may serve `settings` in this process.
    pub fn usable_for(self, settings: &ClientSettings) -> Option<Client> {
        (self.pid == std::process::id() && self.settings == *settings).then_some(self.client)
    }
}

/// The PAM handle, as the login logic uses it.
pub trait PamContext {
    /// PAM_USER, prompting for it if the application has not set it. Raw bytes:
    /// validation is the logic's job.
    fn user(&mut self) -> Result<Vec<u8>, Denial>;
    /// PAM_SERVICE.
    fn service(&self) -> String;
    /// PAM_RHOST, when set.
    fn rhost(&self) -> Option<String>;
    /// The password, through `pam_get_authtok` (so `use_first_pass` and stacking work).
    /// In a password change, the new one (libpam asks twice, or `use_authtok` takes
    /// the one an earlier module such as pam_pwquality checked).
    fn password(&mut self) -> Result<Zeroizing<Vec<u8>>, Denial>;
    /// The current password, in a password change (`PAM_OLDAUTHTOK`).
    fn old_password(&mut self) -> Result<Zeroizing<Vec<u8>>, Denial>;
    /// Tells the user something through the application's conversation (an error or
    /// an information), unless the application asked for silence.
    fn tell(&mut self, error: bool, text: &str);
    /// One line to syslog (authpriv, with the usual `pam_crowd(service:type):` prefix).
    fn log(&self, level: Level, line: &str);
    /// Remembers what authenticate learned, for this transaction only.
    fn remember(&mut self, user: KnownUser);
    /// What authenticate learned earlier in this transaction, if anything.
    fn recall(&self) -> Option<KnownUser>;
    /// Keeps the Crowd client for the rest of the transaction; `None` lets it go,
    /// closing its connection.
    fn keep_client(&mut self, client: Option<KeptClient>);
    /// The client kept earlier in this transaction, if any.
    fn kept_client(&self) -> Option<KeptClient>;
}
