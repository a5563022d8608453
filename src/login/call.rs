//! One PAM call's inputs and what a phase needs of them: the resolver over the call's
//! connection, the service's rules, what authenticate left in the transaction, and
//! the end of Crowd's part. The phases (`auth.rs`, `account.rs`, `password.rs`,
//! `session.rs`) call down into this file; `mod.rs` only dispatches.

use std::path::PathBuf;

use crate::cache::CacheError;
use crate::config::Config;
use crate::crowd::{Client, ClientSettings};
use crate::options::Options;
use crate::outcome::{Subject, cache_problem_line, printable};
use crate::pam_context::{Level, PamContext};
use crate::resolver::{CrowdName, Known, LazyClient, Resolver};

/// One call's inputs, read once: the user, the module's arguments, the config.
pub(super) struct Call {
    pub(super) user: String,
    pub(super) options: Options,
    pub(super) config: Config,
}

/// What authenticate learned, kept in PAM data so the account phase of the same
/// transaction need not ask again. Dropped with the handle at `pam_end`.
#[derive(Debug, Clone)]
pub(super) struct KnownUser {
    /// The PAM user the password was checked for.
    pub(super) pam_user: String,
    /// The configuration file that was used: another file may mean another Crowd.
    pub(super) config_path: PathBuf,
    /// The name, as [`crate::resolver::crowd_name`] passed it under these rules for the host's own
    /// accounts: the account phase under the same rules need not look it up again.
    pub(super) name: CrowdName,
    pub(super) host_rules: HostRules,
    /// What authenticate learned.
    pub(super) known: Known,
}

/// The rules [`crate::resolver::crowd_name`] applied: a later phase under other rules (another
/// `local_users=` argument, an edited config) checks the name again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostRules {
    min_uid: u32,
    local_users: crate::host::LocalUsers,
    user_names: crate::names::UserNames,
}

impl HostRules {
    pub(super) fn of(config: &Config) -> HostRules {
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

impl Call {
    /// The resolver of this call, over the cache when `[cache]` is on, with the
    /// call's connection to Crowd ([`Call::connection`]).
    pub(super) fn resolver<P: PamContext>(&self, pam: &P) -> Resolver<'_, LazyClient> {
        Resolver::for_login(&self.config, self.connection(pam))
    }

    /// The access rules of this call: `service=`'s, else the PAM service's.
    pub(super) fn rules(&self, subject: &Subject) -> crate::policy::AccessRules {
        let service = self
            .options
            .rules_service
            .as_deref()
            .unwrap_or(&subject.service);
        self.config.rules_for(service)
    }

    /// What authenticate learned earlier in this transaction, for this user and file.
    pub(super) fn known<P: PamContext>(&self, pam: &P) -> Option<Known> {
        self.known_user(pam).map(|k| k.known)
    }

    /// The name authenticate checked earlier in this transaction, with what it
    /// learned, when this call's rules for the host's accounts are the same.
    pub(super) fn known_name<P: PamContext>(&self, pam: &P) -> Option<(CrowdName, Known)> {
        self.known_user(pam)
            .filter(|k| k.host_rules == HostRules::of(&self.config))
            .map(|k| (k.name, k.known))
    }

    pub(super) fn known_user<P: PamContext>(&self, pam: &P) -> Option<KnownUser> {
        pam.data::<KnownUser>()
            .filter(|k| k.pam_user == self.user && k.config_path == self.options.config_path)
    }

    /// Remembers what authenticate learned, for this transaction only.
    pub(super) fn remember<P: PamContext>(&self, pam: &mut P, name: CrowdName, known: Known) {
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
    pub(super) fn connection<P: PamContext>(&self, pam: &P) -> LazyClient {
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
    pub(super) fn finish<P: PamContext>(
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
pub(super) fn log_cache_problems<P: PamContext>(pam: &P, user: &str, problems: Vec<CacheError>) {
    for problem in problems {
        pam.log(Level::Err, &cache_problem_line(user, &problem));
    }
}
