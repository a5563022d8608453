//! The top-level keys of the configuration, one function per concern: where Crowd
//! is, the application's credentials, the group rules, and the single-value keys.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::{
    ConfigError, DEFAULT_TIMEOUT_SECS, KeysApplication, LOWEST_ID, MAX_TIMEOUT_SECS, Purpose,
    Secret, ServiceOverride, UrlList, check_groups, group_map, line_of, read_small_file,
    resolve_relative,
};
use crate::crowd::{BaseUrl, Protocol};
use crate::names::UserNames;
use crate::policy::AccessRules;

/// Makes a [`ConfigError`] for the key at a place in the file.
type Err<'a> = &'a dyn Fn(Range<usize>, &str, String) -> ConfigError;

/// `url`: one or more base URLs, each checked and normalised.
pub(super) fn urls(
    url: Spanned<UrlList>,
    allow_http: bool,
    err: Err,
) -> Result<Vec<BaseUrl>, ConfigError> {
    let span = url.span();
    let urls = url.into_inner().0;
    if urls.is_empty() {
        return Err(err(span, "url", "needs at least one URL".into()));
    }
    let many = urls.len() > 1;
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            BaseUrl::parse(url, allow_http).map_err(|m| {
                let which = if many {
                    format!("entry {}: ", i + 1)
                } else {
                    String::new()
                };
                err(span.clone(), "url", format!("{which}{m}"))
            })
        })
        .collect()
}

/// The keys naming the application and its secret, as written.
pub(super) struct Credentials {
    pub application: Spanned<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub ssh_keys_application: Option<Spanned<String>>,
    pub ssh_keys_password_file: Option<Spanned<PathBuf>>,
}

/// The application a process logs in to Crowd as, with its secret read.
pub(super) struct Checked {
    pub application: String,
    pub app_password: Secret,
    /// The file the secret was read from (the config itself, or a password file).
    pub secret_file: PathBuf,
    pub keys_app: Option<KeysApplication>,
}

impl Credentials {
    /// The application and its secret for `purpose`: `authorized-keys` with its own
    /// application never reads the main secret.
    pub(super) fn validate(
        self,
        path: &Path,
        text: &str,
        purpose: Purpose,
        err: Err,
    ) -> Result<Checked, ConfigError> {
        let application = self.application.get_ref().trim().to_owned();
        if application.is_empty() {
            return Err(err(
                self.application.span(),
                "application",
                "must not be empty".into(),
            ));
        }
        let keys_app = keys_application(
            self.ssh_keys_application,
            self.ssh_keys_password_file,
            path,
            text,
            err,
        )?;
        let mut checked = Checked {
            application,
            app_password: Secret::new(String::new()),
            secret_file: path.to_owned(),
            keys_app: None,
        };
        let for_keys = match (purpose, &keys_app) {
            (Purpose::Keys, Some(keys)) => Some(keys),
            _ => None,
        };
        checked.app_password = match (for_keys, self.password, self.password_file) {
            (_, Some(p), Some(_)) => {
                return Err(err(
                    p.span(),
                    "password",
                    "set either `password` or `password_file`, not both".into(),
                ));
            }
            (_, None, None) => {
                return Err(unkeyed(path, "missing: set `password` or `password_file`"));
            }
            // authorized-keys with its own application: the main secret is not read
            // (an inline one is taken out of the parser's value and wiped).
            (Some(keys), inline, _) => {
                drop(inline.map(|p| Secret::new(p.into_inner())));
                checked.secret_file = keys.password_file.clone();
                checked.application = keys.application.clone();
                read_secret(
                    &keys.password_file,
                    keys.file_line,
                    "ssh_keys_password_file",
                )?
            }
            // Moved out of the parser's value: no copy is left behind.
            (None, Some(p), None) => Secret::new(p.into_inner()),
            (None, None, Some(f)) => {
                let file = resolve_relative(path, f.get_ref());
                checked.secret_file = file.clone();
                read_secret(&file, line_of(text, f.span().start), "password_file")?
            }
        };
        if checked.app_password.expose().is_empty() {
            return Err(unkeyed(path, "the application password is empty"));
        }
        checked.keys_app = keys_app;
        Ok(checked)
    }
}

/// A problem with the `password` key that has no one place in the file.
fn unkeyed(path: &Path, message: &str) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        line: None,
        key: Some("password".into()),
        message: message.into(),
        io: None,
    }
}

/// A secret read from its own file; a trailing newline is an editor's, not the
/// secret's.
fn read_secret(file: &Path, line: usize, key: &str) -> Result<Secret, ConfigError> {
    let text = read_small_file(file, key).map_err(|mut e| {
        e.line = Some(line);
        e.key = Some(key.into());
        e
    })?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned()))
}

/// `ssh_keys_application` and `ssh_keys_password_file`: both or neither.
fn keys_application(
    application: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    path: &Path,
    text: &str,
    err: Err,
) -> Result<Option<KeysApplication>, ConfigError> {
    match (application, password_file) {
        (None, None) => Ok(None),
        (Some(a), Some(f)) if !a.get_ref().trim().is_empty() => Ok(Some(KeysApplication {
            application: a.get_ref().trim().to_owned(),
            password_file: resolve_relative(path, f.get_ref()),
            file_line: line_of(text, f.span().start),
        })),
        (Some(a), Some(_)) => Err(err(
            a.span(),
            "ssh_keys_application",
            "must not be empty".into(),
        )),
        (Some(a), None) => Err(err(
            a.span(),
            "ssh_keys_password_file",
            "missing: set it with ssh_keys_application".into(),
        )),
        (None, Some(f)) => Err(err(
            f.span(),
            "ssh_keys_application",
            "missing: set it with ssh_keys_password_file".into(),
        )),
    }
}

/// `allow_groups`, `deny_groups` and the `[service.NAME]` tables.
pub(super) fn rules(
    allow: Option<Spanned<Vec<String>>>,
    deny: Option<Spanned<Vec<String>>>,
    service: BTreeMap<String, Spanned<ServiceOverride>>,
    err: Err,
) -> Result<(AccessRules, BTreeMap<String, ServiceOverride>), ConfigError> {
    let groups = |list: Option<Spanned<Vec<String>>>, key: &str| match list {
        None => Ok(None),
        Some(l) => {
            let span = l.span();
            check_groups(l.into_inner(), |m| err(span, key, m)).map(Some)
        }
    };
    let rules = AccessRules {
        allow_groups: groups(allow, "allow_groups")?,
        deny_groups: groups(deny, "deny_groups")?.unwrap_or_default(),
    };
    let mut services = BTreeMap::new();
    for (name, table) in service {
        let span = table.span();
        let mut o = table.into_inner();
        let key = format!("service.{name}");
        if let Some(l) = o.allow_groups.take() {
            o.allow_groups = Some(check_groups(l, |m| err(span.clone(), &key, m))?);
        }
        if let Some(l) = o.deny_groups.take() {
            o.deny_groups = Some(check_groups(l, |m| err(span.clone(), &key, m))?);
        }
        services.insert(name, o);
    }
    Ok((rules, services))
}

/// `timeout`: seconds, bounded.
pub(super) fn timeout(timeout: Option<Spanned<u64>>, err: Err) -> Result<Duration, ConfigError> {
    let Some(t) = timeout else {
        return Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    };
    let secs = *t.get_ref();
    if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(err(
            t.span(),
            "timeout",
            format!("must be between 1 and {MAX_TIMEOUT_SECS} seconds, got {secs}"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// `ssh_keys_attribute`: a name, or absent to serve no keys.
pub(super) fn ssh_keys_attribute(
    attribute: Option<Spanned<String>>,
    err: Err,
) -> Result<Option<String>, ConfigError> {
    match attribute {
        None => Ok(None),
        Some(a) if a.get_ref().trim().is_empty() => Err(err(
            a.span(),
            "ssh_keys_attribute",
            "must not be empty (leave it out to serve no keys)".into(),
        )),
        Some(a) => Ok(Some(a.into_inner().trim().to_owned())),
    }
}

/// `[ssh_principals]`: principal names (printed one per line for sshd, so one plain
/// word each) mapped to non-empty lists of Crowd group names.
pub(super) fn ssh_principals(
    table: BTreeMap<String, Spanned<Vec<String>>>,
    err: Err,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    group_map(table, "ssh_principals", err, |principal| {
        let plain = !principal.is_empty()
            && principal
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ',' | '"' | '#'));
        match plain {
            true => Ok(()),
            false => Err(
                "a principal is one word of printable characters, without commas or quotes".into(),
            ),
        }
    })
}

/// `password_change_url`: a web address on one line, shown to users.
pub(super) fn password_change_url(
    url: Option<Spanned<String>>,
    err: Err,
) -> Result<Option<String>, ConfigError> {
    let Some(u) = url else {
        return Ok(None);
    };
    let url = u.get_ref().trim();
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !web || url.chars().any(char::is_control) {
        return Err(err(
            u.span(),
            "password_change_url",
            "must be an http(s):// address on one line".into(),
        ));
    }
    Ok(Some(url.to_owned()))
}

/// `protocol`: `rest` or `soap`.
pub(super) fn protocol(
    protocol: Option<Spanned<String>>,
    err: Err,
) -> Result<Protocol, ConfigError> {
    match protocol {
        None => Ok(Protocol::Rest),
        Some(p) => match p.get_ref().as_str() {
            "rest" => Ok(Protocol::Rest),
            "soap" => Ok(Protocol::Soap),
            _ => Err(err(
                p.span(),
                "protocol",
                "expected \"rest\" (the default) or \"soap\"".into(),
            )),
        },
    }
}

/// `min_uid`: at least 1, and no higher than `[nss] uid_min`.
pub(super) fn min_uid(
    min_uid: Option<Spanned<u32>>,
    uid_min: u32,
    err: Err,
) -> Result<u32, ConfigError> {
    match min_uid {
        None => Ok(LOWEST_ID),
        Some(m) if *m.get_ref() == 0 || *m.get_ref() > uid_min => Err(err(
            m.span(),
            "min_uid",
            format!(
                "must be between 1 and [nss] uid_min ({uid_min}): synced users must stay above it"
            ),
        )),
        Some(m) => Ok(m.into_inner()),
    }
}

/// `user_names`: `exact` or `lowercase`.
pub(super) fn user_names(
    value: Option<Spanned<String>>,
    err: Err,
) -> Result<UserNames, ConfigError> {
    match value {
        None => Ok(UserNames::default()),
        Some(u) => UserNames::parse(u.get_ref()).ok_or_else(|| {
            err(
                u.span(),
                "user_names",
                "expected \"exact\" (the default) or \"lowercase\"".into(),
            )
        }),
    }
}

/// `local_users` as written: `"host"`, `"crowd"` or a list of names.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(super) enum RawLocalUsers {
    One(String),
    Names(Vec<String>),
}

/// `local_users`: `"host"` (the default), `"crowd"`, or the local accounts Crowd
/// speaks for.
pub(super) fn local_users(
    value: Option<Spanned<RawLocalUsers>>,
    err: Err,
) -> Result<crate::host::LocalUsers, ConfigError> {
    use crate::host::LocalUsers;
    let Some(value) = value else {
        return Ok(LocalUsers::Host);
    };
    let span = value.span();
    match value.into_inner() {
        RawLocalUsers::One(word) if word == "host" => Ok(LocalUsers::Host),
        RawLocalUsers::One(word) if word == "crowd" => Ok(LocalUsers::Crowd),
        RawLocalUsers::Names(names)
            if names
                .iter()
                .all(|n| crate::names::check_host_name(n).is_ok() && n != "root") =>
        {
            Ok(LocalUsers::Only(names))
        }
        _ => Err(err(
            span,
            "local_users",
            "expected \"host\" (the default), \"crowd\", or a list of local user names \
             (never root)"
                .into(),
        )),
    }
}
