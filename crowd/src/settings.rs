//! What a client is built from: where Crowd is, the application's credentials, the
//! trust anchors and the protocol. Its own module, so that the transport (`http`) and
//! the protocols (`rest`, `soap`) each depend on it and not on one another.

use std::path::PathBuf;

use crate::{BaseUrl, Protocol, Secret};

/// What a client needs to know: where Crowd is, and the application's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Base URLs, tried in order.
    pub urls: Vec<BaseUrl>,
    /// Crowd application name.
    pub application: String,
    /// Crowd application password.
    pub app_password: Secret,
    /// PEM file of trusted roots; `None` for the system trust store.
    pub ca_file: Option<PathBuf>,
    /// Which of Crowd's APIs to speak.
    pub protocol: Protocol,
}
