//! Where a [`Resolver`](super::Resolver) gets its Crowd client: made on first use, so
//! a decision the cache makes connects nowhere, or kept from earlier in the
//! transaction with its open connection.

use std::time::{Duration, Instant};

use crate::crowd::{Client, ClientSettings, Deadline, LoginDirectory};
use crate::outcome::Denial;

/// Where the resolver gets its Crowd client, when it needs one.
pub trait Connect {
    /// The client.
    type Crowd: LoginDirectory;
    /// The client, made (and its deadline started) on the first call.
    fn crowd(&mut self) -> Result<&Self::Crowd, Denial>;
}

/// A directory that is already there (tests, scripts) needs no connecting.
impl<D: LoginDirectory> Connect for &D {
    type Crowd = D;
    fn crowd(&mut self) -> Result<&D, Denial> {
        Ok(*self)
    }
}

/// The module's and the command's [`Connect`]: a [`Client`] made on first use (or a
/// client kept from earlier in the transaction, its deadline restarted).
pub struct LazyClient {
    settings: ClientSettings,
    timeout: Duration,
    kept: Option<Client>,
    client: Option<Client>,
    /// When the client was first asked for: the log line says how long Crowd took.
    pub asked_at: Option<Instant>,
}

impl LazyClient {
    /// A client for `settings`, each call bounded by `timeout`, reusing `kept` (with
    /// its open connection) if given.
    pub fn new(settings: ClientSettings, timeout: Duration, kept: Option<Client>) -> LazyClient {
        LazyClient {
            settings,
            timeout,
            kept,
            client: None,
            asked_at: None,
        }
    }

    /// The settings the client is made from.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The client, if one was made.
    pub fn made(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// The client, if one was made, to keep for later in the transaction.
    pub fn into_made(self) -> Option<Client> {
        self.client
    }
}

impl Connect for LazyClient {
    type Crowd = Client;
    fn crowd(&mut self) -> Result<&Client, Denial> {
        let client = match self.client.take() {
            Some(client) => client,
            None => {
                self.asked_at = Some(Instant::now());
                let deadline = Deadline::after(self.timeout);
                match self.kept.take() {
                    Some(kept) => {
                        kept.begin(deadline);
                        kept
                    }
                    None => Client::new(&self.settings, deadline)?,
                }
            }
        };
        Ok(self.client.insert(client))
    }
}
