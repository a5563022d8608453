//! The decision of one PAM call: options → config → user → the phase → outcome, with
//! the one log line. Generic over [`PamContext`], so it runs in tests without libpam;
//! each phase is a file of its own, and what Crowd and the cache decide is the
//! [`Resolver`]'s.

mod account;
mod auth;
mod password;
mod session;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::cache::CacheError;
use crate::config::Config;
use crate::crowd::{Client, ClientSettings};
use crate::input::check_username;
use crate::options::Options;
use crate::outcome::{
    Decision, Denial, LocalFault, PamCode, Phase, Subject, Verdict, cache_problem_line, code_of,
    decision_line, printable,
};
use crate::pam_context::{Level, PamContext};
use crate::resolver::{CrowdName, Known, LazyClient, Resolver};

/// What authenticate learned, kept in PAM data so the account phase of the same
/// transaction need not ask again. Dropped with the handle at `pam_end`.
#[derive(Debug, Clone)]
struct KnownUser {
    /// The PAM user the password was checked for.
    pam_user: String,
    /// The configuration file that was used: another file may mean another Crowd.
    config_path: PathBuf,
    /// The name, as [`crate::resolver::crowd_name`] passed it under these rules for the host's own
    /// accounts: the account phase under the same rules need not look it up again.
    name: CrowdName,
    host_rules: HostRules,
    /// What authenticate learned.
    known: Known,
}

/// The rules [`crate::resolver::crowd_name`] applied: a later phase under other rules (another
/// `local_users=` argument, an edited config) checks the name again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRules {
    min_uid: u32,
    local_users: crate::host::LocalUsers,
    user_names: crate::names::UserNames,
}

impl HostRules {
    fn of(config: &Config) -> HostRules {
        HostRules {
            min_uid: config.min_uid,
            local_users: config.local_users.clone(),
            user_names: config.user_names,
        }
    }
}

/// The Crowd client of a transaction, kept in PAM data so that the account phase
/// reuses the TLS connection authenticate opened: one handshake per login.
#[derive(Clone)]
struct KeptClient {
    /// The process that opened the connection. A process forked afterwards holds a
    /// copy of the socket, and must not write into its parent's TLS stream.
    pid: u32,
    /// What the client was built from: another configuration needs another client.
    settings: ClientSettings,
    /// The client; clones share its connection.
    client: Client,
}

/// Runs one hook: decides, logs the decision, returns the PAM code.
pub fn run<P: PamContext, S: AsRef<str>>(pam: &mut P, phase: Phase, args: &[S]) -> PamCode {
    let mut subject = Subject {
        user: None,
        service: pam.service(),
        rhost: pam.rhost(),
        asked_crowd: None,
    };
    let decision = decide(pam, phase, args, &mut subject);
    let code = code_of(&decision, phase);
    let level = match &decision {
        Ok(Verdict::Granted(g)) if g.offline => Level::Notice,
        Ok(Verdict::NewPasswordRequired) => Level::Notice,
        Ok(_) => Level::Info,
        Err(_) if matches!(code, PamCode::AuthinfoUnavail | PamCode::ServiceErr) => Level::Err,
        Err(_) => Level::Notice,
    };
    // The profile puts the session phase in every login's stack: with nothing to do
    // (create_home off, no local account) it says nothing, rather than a line per login.
    let nothing_to_do = phase == Phase::Session && matches!(decision, Ok(Verdict::NotOurs(_)));
    if !nothing_to_do {
        pam.log(level, &decision_line(&subject, &decision, phase));
    }
    code
}

/// One call's inputs, read once: the user, the module's arguments, the config.
struct Call {
    user: String,
    options: Options,
    config: Config,
}

fn decide<P: PamContext, S: AsRef<str>>(
    pam: &mut P,
    phase: Phase,
    args: &[S],
    subject: &mut Subject,
) -> Decision {
    // The user first, so that even a configuration error is logged with the user.
    let user = check_username(pam.user()?)?;
    subject.user = Some(user.clone());
    let options = Options::parse(args).map_err(|e| Denial::Local(LocalFault::Arguments(e)))?;
    let mut config =
        Config::load(&options.config_path).map_err(|e| Denial::Local(LocalFault::Config(e)))?;
    if let Some(local_users) = &options.local_users {
        config.local_users = local_users.clone();
    }
    let call = Call {
        user,
        options,
        config,
    };
    match phase {
        Phase::Session => session::open(&call),
        Phase::Auth => auth::authenticate(pam, &call, subject),
        Phase::Account => account::account(pam, &call, subject),
        Phase::Password(step) => password::change(pam, &call, step, subject),
    }
}

impl Call {
    /// The resolver of this call, over the cache when `[cache]` is on, with the
    /// call's connection to Crowd ([`Call::connection`]).
    fn resolver<P: PamContext>(&self, pam: &P) -> Resolver<'_, LazyClient> {
        Resolver::for_login(&self.config, self.connection(pam))
    }

    /// The access rules of this call: `service=`'s, else the PAM service's.
    fn rules(&self, subject: &Subject) -> crate::policy::AccessRules {
        let service = self
            .options
            .rules_service
            .as_deref()
            .unwrap_or(&subject.service);
        self.config.rules_for(service)
    }

    /// What authenticate learned earlier in this transaction, for this user and file.
    fn known<P: PamContext>(&self, pam: &P) -> Option<Known> {
        self.known_user(pam).map(|k| k.known)
    }

    /// The name authenticate checked earlier in this transaction, with what it
    /// learned, when this call's rules for the host's accounts are the same.
    fn known_name<P: PamContext>(&self, pam: &P) -> Option<(CrowdName, Known)> {
        self.known_user(pam)
            .filter(|k| k.host_rules == HostRules::of(&self.config))
            .map(|k| (k.name, k.known))
    }

    fn known_user<P: PamContext>(&self, pam: &P) -> Option<KnownUser> {
        pam.data::<KnownUser>()
            .filter(|k| k.pam_user == self.user && k.config_path == self.options.config_path)
    }

    /// Remembers what authenticate learned, for this transaction only.
    fn remember<P: PamContext>(&self, pam: &mut P, name: CrowdName, known: Known) {
        pam.set_data(Some(KnownUser {
            pam_user: self.user.clone(),
            config_path: self.options.config_path.clone(),
            name,
            host_rules: HostRules::of(&self.config),
            known,
        }));
    }

    /// The Crowd client, made on first use: the one authenticate kept, with its open
    /// connection, when it can serve this call.
    fn connection<P: PamContext>(&self, pam: &P) -> LazyClient {
        let settings = ClientSettings::from(&self.config);
        let kept = pam
            .data::<KeptClient>()
            .filter(|k| k.pid == std::process::id() && k.settings == settings)
            .map(|k| k.client);
        LazyClient::new(settings, self.config.timeout, kept)
    }

    /// After Crowd's part of the call: the requests made to the debug log, the
    /// client kept for the rest of the transaction (`keep`) or let go, closing its
    /// connection, and the time Crowd took to the decision line.
    fn finish<P: PamContext>(
        &self,
        pam: &mut P,
        crowd: LazyClient,
        keep: bool,
        subject: &mut Subject,
    ) {
        subject.asked_crowd = crowd.asked_at;
        if let (true, Some(client)) = (self.options.debug, crowd.made()) {
            for line in client.trail() {
                pam.log(Level::Debug, &format!("crowd request {}", printable(&line)));
            }
        }
        let settings = crowd.settings().clone();
        let kept = match (keep, crowd.into_made()) {
            (true, Some(client)) => Some(KeptClient {
                pid: std::process::id(),
                settings,
                client,
            }),
            _ => None,
        };
        pam.set_data(kept);
    }
}

/// A cache that could not be read or written is worth a line of its own: the
/// decision stands, but the next offline login may not find what it needs.
fn log_cache_problems<P: PamContext>(pam: &P, user: &str, problems: Vec<CacheError>) {
    for problem in problems {
        pam.log(Level::Err, &cache_problem_line(user, &problem));
    }
}
