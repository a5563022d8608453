//! The one place configuration lives: the TOML file (`/etc/pam_crowd.toml` by default),
//! parsed into a typed [`Config`] whose errors quote the file, line and key.
//!
//! Nothing here talks to Crowd or to PAM; module arguments that override file values
//! are applied by the caller (see [`crate::options`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

pub use crate::crowd::Secret;
use crate::crowd::{BaseUrl, ClientSettings, Protocol};
use crate::policy::AccessRules;

mod cache;
mod files;
mod nss;
mod top;
use cache::RawCache;
pub use cache::{CacheConfig, DEFAULT_CACHE_DIR, DEFAULT_KEYS_CACHE_DIR};
use files::read_small_file;
pub use files::{Holds, KEYS_GROUP, check_ownership};
pub use nss::{DEFAULT_NSS_DIR, LOWEST_ID, NssConfig, SessionConfig, is_normal_path};

/// Where the module looks when no `config=` argument is given.
pub const DEFAULT_PATH: &str = "/etc/pam_crowd.toml";

/// Default bound on one PAM call, in seconds: far below sshd's LoginGraceTime (120 s).
const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Upper bound for `timeout`: a longer wait would let sshd's grace timer fire first.
const MAX_TIMEOUT_SECS: u64 = 60;
/// A configuration file that could not be used, with where and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub path: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// The key concerned, when known.
    pub key: Option<String>,
    /// What is wrong, in words an admin can act on. Never contains a secret.
    pub message: String,
    /// The system's error, when a file could not be opened or read: callers decide
    /// on it (a permission problem has its own hint), never on the message's text.
    pub io: Option<std::io::ErrorKind>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, " key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from.
    pub path: PathBuf,
    /// Crowd base URLs (scheme, host, port and context path), tried in order.
    pub urls: Vec<BaseUrl>,
    /// The Crowd application name this host authenticates as.
    pub application: String,
    /// The application's password.
    pub app_password: Secret,
    /// The file the password was read from (the config itself, or `password_file`):
    /// the file whose permissions must keep it from users.
    pub secret_file: PathBuf,
    /// PEM file of trusted roots; `None` means the system trust store.
    pub ca_file: Option<PathBuf>,
    /// Crowd's REST API (the default) or, for servers before 2.1, its SOAP service.
    pub protocol: Protocol,
    /// Hard bound on one PAM call.
    pub timeout: Duration,
    /// Access rules for services without a `[service.NAME]` table.
    pub rules: AccessRules,
    /// Per-service overrides, keyed by PAM service name.
    services: BTreeMap<String, ServiceOverride>,
    /// The `[cache]` table: offline login and reuse of Crowd's answers (off by default).
    pub cache: CacheConfig,
    /// The multi-valued Crowd user attribute holding users' SSH public keys, for
    /// `pam-crowd authorized-keys`; `None`: keys are not served.
    pub ssh_keys_attribute: Option<String>,
    /// Where users change their Crowd password themselves (Crowd's or a portal's
    /// page), told to users whose password expired or could not be changed here.
    pub password_change_url: Option<String>,
    /// `[ssh_principals]`: SSH certificate principals, each granted to the nested
    /// members of its Crowd groups (`pam-crowd authorized-principals`).
    pub ssh_principals: BTreeMap<String, Vec<String>>,
    /// The `[nss]` table: what `pam-crowd sync` writes for the NSS module.
    pub nss: NssConfig,
    /// The `[session]` table: home directories.
    pub session: SessionConfig,
    /// Names the system resolves to a uid below this (and `root`) are the host's own
    /// accounts: never authenticated, admitted or served keys through Crowd.
    pub min_uid: u32,
    /// `ssh_keys_application` and its `ssh_keys_password_file`: the read-only Crowd
    /// application `authorized-keys` uses (see [`Config::load_for_keys`]).
    pub ssh_keys_app: Option<KeysApplication>,
    /// How Crowd's user names become Linux names (`user_names`).
    pub user_names: crate::names::UserNames,
    /// Which local accounts (in /etc/passwd, at or above `min_uid`) Crowd speaks for
    /// (`local_users`): none by default.
    pub local_users: crate::host::LocalUsers,
}

/// The Crowd application `pam-crowd authorized-keys` uses instead of the main one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysApplication {
    /// Its name in Crowd.
    pub application: String,
    /// The file holding its password: the one secret the `pam-crowd-keys` group may read.
    pub password_file: PathBuf,
    /// Where `ssh_keys_password_file` is in the config, for errors.
    file_line: usize,
}

/// The keys a `[service.NAME]` table may set; absent keys are inherited.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceOverride {
    allow_groups: Option<Vec<String>>,
    deny_groups: Option<Vec<String>>,
}

/// Who a configuration is loaded for: which application's secret it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The module and the admin's commands: the main application.
    Login,
    /// `pam-crowd authorized-keys`, run by sshd as `pam-crowd-keys`: the read-only
    /// `ssh_keys_application` when one is set (the main secret is not read).
    Keys,
}

impl Config {
    /// Reads and validates the file at `path`, refusing files other users could read
    /// the secret from or change (see [`check_ownership`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_for(path, Purpose::Login)
    }

    /// [`Config::load`] for `authorized-keys`: with `ssh_keys_application` set, the
    /// client is that application's, and only its password file is read.
    pub fn load_for_keys(path: &Path) -> Result<Config, ConfigError> {
        Config::load_for(path, Purpose::Keys)
    }

    fn load_for(path: &Path, purpose: Purpose) -> Result<Config, ConfigError> {
        let text = read_small_file(path, "config file")?;
        let config = Config::parse_for(path, &text, purpose)?;
        // Each file once: the config itself is the secret's file when `password` is inline.
        let inline_secret = config.secret_file == path;
        check_ownership(
            path,
            if inline_secret {
                Holds::MainSecret
            } else {
                Holds::Settings
            },
        )?;
        if !inline_secret {
            let holds = match (purpose, &config.ssh_keys_app) {
                (Purpose::Keys, Some(_)) => Holds::KeysSecret,
                _ => Holds::MainSecret,
            };
            check_ownership(&config.secret_file, holds)?;
        }
        if let Some(ca) = &config.ca_file {
            check_ownership(ca, Holds::TrustedCas)?;
        }
        Ok(config)
    }

    /// Parses config text; `path` is used for error messages and relative `password_file`s.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::parse_for(path, text, Purpose::Login)
    }

    /// [`Config::parse`] for `purpose`.
    pub fn parse_for(path: &Path, text: &str, purpose: Purpose) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ConfigError {
                path: path.to_owned(),
                line,
                key: line.and_then(|l| key_on_line(text, l)),
                message: without_values(e.message()),
                io: None,
            }
        })?;
        raw.validate(path, text, purpose)
    }

    /// The access rules that apply to PAM service `service`.
    pub fn rules_for(&self, service: &str) -> AccessRules {
        match self.services.get(service) {
            None => self.rules.clone(),
            Some(o) => AccessRules {
                allow_groups: o
                    .allow_groups
                    .clone()
                    .or_else(|| self.rules.allow_groups.clone()),
                deny_groups: o
                    .deny_groups
                    .clone()
                    .unwrap_or_else(|| self.rules.deny_groups.clone()),
            },
        }
    }

    /// Every Crowd group the file names, with the keys naming it: the access rules
    /// (top-level and per service), `[nss] groups` and `expose_groups`. A key that
    /// names groups is added here, so `pam-crowd check` asks Crowd about it.
    pub fn configured_groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut add = |groups: &[String], key: String| {
            for group in groups {
                named.entry(group.clone()).or_default().push(key.clone());
            }
        };
        add(
            self.rules.allow_groups.as_deref().unwrap_or_default(),
            "allow_groups".into(),
        );
        add(&self.rules.deny_groups, "deny_groups".into());
        for (service, o) in &self.services {
            add(
                o.allow_groups.as_deref().unwrap_or_default(),
                format!("services.{service}.allow_groups"),
            );
            add(
                o.deny_groups.as_deref().unwrap_or_default(),
                format!("services.{service}.deny_groups"),
            );
        }
        for (principal, groups) in &self.ssh_principals {
            add(groups, format!("ssh_principals.{principal}"));
        }
        add(&self.nss.groups, "nss.groups".into());
        add(&self.nss.expose_groups, "nss.expose_groups".into());
        for (local, groups) in &self.nss.local_groups {
            add(groups, format!("nss.local_groups.{local}"));
        }
        named
    }

    /// Every group any rule names, for any service: the memberships worth keeping
    /// when Crowd lists all of a user's groups at once.
    pub fn named_groups(&self) -> Vec<String> {
        let mut all: Vec<String> = self.rules.named_groups().map(str::to_owned).collect();
        for o in self.services.values() {
            all.extend(o.allow_groups.iter().flatten().cloned());
            all.extend(o.deny_groups.iter().flatten().cloned());
        }
        // Principals are granted offline from the cached answers about their groups.
        all.extend(self.ssh_principals.values().flatten().cloned());
        all.sort();
        all.dedup();
        all
    }
}

/// The file as users write it, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    url: Spanned<UrlList>,
    application: Spanned<String>,
    password: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    ca_file: Option<Spanned<PathBuf>>,
    protocol: Option<Spanned<String>>,
    timeout: Option<Spanned<u64>>,
    #[serde(default)]
    allow_http: bool,
    allow_groups: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    deny_groups: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    service: BTreeMap<String, Spanned<ServiceOverride>>,
    cache: Option<Spanned<RawCache>>,
    ssh_keys_attribute: Option<Spanned<String>>,
    password_change_url: Option<Spanned<String>>,
    #[serde(default)]
    ssh_principals: BTreeMap<String, Spanned<Vec<String>>>,
    nss: Option<Spanned<nss::RawNss>>,
    session: Option<Spanned<nss::RawSession>>,
    min_uid: Option<Spanned<u32>>,
    ssh_keys_application: Option<Spanned<String>>,
    ssh_keys_password_file: Option<Spanned<PathBuf>>,
    user_names: Option<Spanned<String>>,
    local_users: Option<Spanned<top::RawLocalUsers>>,
}

/// `url` is a string or a list of strings.
struct UrlList(Vec<String>);

impl<'de> Deserialize<'de> for UrlList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = UrlList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a URL string or a list of URL strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UrlList, E> {
                Ok(UrlList(vec![v.to_owned()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<UrlList, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(UrlList(urls))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl RawConfig {
    /// The checked configuration: each key or table by the function that knows it
    /// (`config/top.rs` for the top-level keys, `config/nss.rs` for `[nss]` and
    /// `[session]`), each error with its line and key.
    fn validate(self, path: &Path, text: &str, purpose: Purpose) -> Result<Config, ConfigError> {
        let err = |span: std::ops::Range<usize>, key: &str, message: String| ConfigError {
            path: path.to_owned(),
            line: Some(line_of(text, span.start)),
            key: Some(key.to_owned()),
            message,
            io: None,
        };
        let urls = top::urls(self.url, self.allow_http, &err)?;
        let credentials = top::Credentials {
            application: self.application,
            password: self.password,
            password_file: self.password_file,
            ssh_keys_application: self.ssh_keys_application,
            ssh_keys_password_file: self.ssh_keys_password_file,
        }
        .validate(path, text, purpose, &err)?;
        let (rules, services) =
            top::rules(self.allow_groups, self.deny_groups, self.service, &err)?;
        let cache = match self.cache {
            None => CacheConfig::default(),
            Some(c) => c.into_inner().validate(&err)?,
        };
        let mut nss = match self.nss {
            None => NssConfig::default(),
            Some(n) => n.into_inner().validate(&err)?,
        };
        let min_uid = top::min_uid(self.min_uid, nss.uids.0, &err)?;
        // Crowd's uidNumber attributes below it are the host's ids, not Crowd's.
        nss.min_uid = min_uid.max(LOWEST_ID);
        let user_names = top::user_names(self.user_names, &err)?;
        // Sync writes the Linux names.
        nss.user_names = user_names;
        let session = match self.session {
            None => SessionConfig::default(),
            Some(s) => s.into_inner().validate(&err)?,
        };
        Ok(Config {
            path: path.to_owned(),
            urls,
            application: credentials.application,
            app_password: credentials.app_password,
            secret_file: credentials.secret_file,
            ca_file: self.ca_file.map(|f| resolve_relative(path, f.get_ref())),
            protocol: top::protocol(self.protocol, &err)?,
            timeout: top::timeout(self.timeout, &err)?,
            rules,
            services,
            cache,
            ssh_keys_attribute: top::ssh_keys_attribute(self.ssh_keys_attribute, &err)?,
            ssh_principals: top::ssh_principals(self.ssh_principals, &err)?,
            password_change_url: top::password_change_url(self.password_change_url, &err)?,
            nss,
            session,
            min_uid,
            ssh_keys_app: credentials.keys_app,
            user_names,
            local_users: top::local_users(self.local_users, &err)?,
        })
    }
}

/// A list of group names, none empty; `refuse` turns the complaint into the
/// config error for its key.
fn check_groups(
    groups: Vec<String>,
    refuse: impl FnOnce(String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    if groups.iter().any(|g| g.trim().is_empty()) {
        return Err(refuse("group names must not be empty".into()));
    }
    Ok(groups)
}

/// A table of names (checked by `check_name`) each mapped to a non-empty list of
/// Crowd groups: `[ssh_principals]`, `[nss.local_groups]`. Errors name the key
/// `PREFIX.NAME`.
fn group_map(
    table: BTreeMap<String, Spanned<Vec<String>>>,
    prefix: &str,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    check_name: impl Fn(&str) -> Result<(), String>,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let mut map = BTreeMap::new();
    for (name, groups) in table {
        let span = groups.span();
        let key = format!("{prefix}.{name}");
        check_name(&name).map_err(|m| err(span.clone(), &key, m))?;
        let groups = check_groups(groups.into_inner(), |m| err(span.clone(), &key, m))?;
        if groups.is_empty() {
            return Err(err(
                span,
                &key,
                "names no Crowd group: nobody would get it (leave it out instead)".into(),
            ));
        }
        map.insert(name, groups);
    }
    Ok(map)
}

/// A relative path in the config is relative to the config file's directory.
fn resolve_relative(config_path: &Path, file: &Path) -> PathBuf {
    match config_path.parent() {
        Some(dir) if file.is_relative() => dir.join(file),
        _ => file.to_owned(),
    }
}

/// 1-based line number of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(at)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key written on `line`, if the line is `key = ...` or a `[table]` header.
/// Only the key is taken: the value may be a secret.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?.trim();
    let key = if l.starts_with('[') {
        l.trim_matches(['[', ']'])
    } else {
        l.split_once('=')?.0.trim()
    };
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c));
    plain.then(|| key.to_owned())
}

/// The parser's message without the value it quotes: serde says "invalid type:
/// integer `8675309123`, expected a string", and that value may be the secret. What
/// was expected stays (it names our types); an unknown key's name stays (a key, not
/// a value); anything else quoted is cut.
fn without_values(message: &str) -> String {
    let message = one_line(message);
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return message;
    }
    if let Some((what, expected)) = message.split_once(", expected ") {
        let what = what.split(':').next().unwrap_or("invalid value");
        return format!("{what}: expected {expected}");
    }
    // Cut every `quoted` part.
    let mut out = String::new();
    for (i, part) in message.split('`').enumerate() {
        out.push_str(if i % 2 == 0 {
            part
        } else {
            "(value not shown)"
        });
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The client settings of this configuration: the Crowd client knows nothing of the
/// file it came from.
impl From<&Config> for ClientSettings {
    fn from(c: &Config) -> Self {
        ClientSettings {
            urls: c.urls.clone(),
            application: c.application.clone(),
            app_password: c.app_password.clone(),
            ca_file: c.ca_file.clone(),
            protocol: c.protocol,
        }
    }
}

#[cfg(test)]
mod tests;
