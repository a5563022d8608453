//! SSH public keys from Crowd: `pam-crowd authorized-keys USER` (sshd's
//! AuthorizedKeysCommand) and `pam-crowd keys add|remove|list` for admins.

use std::io::Read;
use std::path::Path;

use clap::Subcommand;
use pam_crowd::check_username;
use pam_crowd::config::Config;
use pam_crowd::crowd::{AdminDirectory, Client, CrowdError, Reason, UserDirectory};
use pam_crowd::{AuthorizedKey, parse_key};
use pam_crowd::{Denial, Phase, cache_problem_line, printable};
use pam_crowd::{Resolver, crowd_name};
use serde_json::json;

use crate::{Report, Status, crowd_failure, failure};

/// A key file larger than this is not a list of public keys.
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The keys Crowd holds for USER, with fingerprints; values that are not keys too.
    List { user: String },
    /// Add the public keys in FILE (`-`: standard input), one per line, to USER.
    Add {
        user: String,
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Remove USER's key with this fingerprint (`SHA256:...`, as `ssh-keygen -l` shows).
    Remove { user: String, fingerprint: String },
}

/// One line to standard error and to the authpriv syslog as `pam-crowd`.
pub(crate) fn log(severity: syslog::Severity, line: &str) {
    eprintln!("pam-crowd: {}", printable(line));
    to_syslog(severity, line);
}

/// One line to the authpriv syslog as `pam-crowd`: an AuthorizedKeysCommand's
/// standard error reaches only sshd's own (often nowhere), so this is the line admins
/// see. A logging failure changes nothing.
pub fn to_syslog(severity: syslog::Severity, line: &str) {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "pam-crowd".into(),
        pid: std::process::id(),
    };
    if let Ok(mut logger) = syslog::unix(formatter) {
        let line = printable(line);
        let _ = match severity {
            syslog::Severity::LOG_ERR => logger.err(&line),
            syslog::Severity::LOG_NOTICE => logger.notice(&line),
            _ => logger.info(&line),
        };
    }
}

/// `authorized-keys USER`: the keys on standard output, one per line, for an active
/// user admitted by sshd's rules; nothing otherwise. Exit 0 with the keys (or none),
/// 1 when the user is refused, 2 when Crowd or the config cannot answer.
pub fn authorized_keys(config: &Config, client: &Client, user: &str) -> Report {
    let Some(attribute) = &config.ssh_keys_attribute else {
        return failure(
            Status::Broken,
            "ssh_keys_attribute is not set in the config: no keys are served".into(),
        );
    };
    let mut resolver = Resolver::for_keys(config, client);
    let result = check_username(user.as_bytes().to_vec())
        .and_then(|user| crowd_name(config, &user))
        .and_then(|user| resolver.keys(&user, attribute));
    for problem in resolver.take_problems() {
        log(
            syslog::Severity::LOG_ERR,
            &format!("authorized-keys {}", cache_problem_line(user, &problem)),
        );
    }
    let source = match resolver.went_offline() {
        Some(why) => format!("the offline cache ({why})"),
        None => "Crowd".into(),
    };
    match result {
        Ok(found) => {
            for (index, why) in &found.skipped {
                log(
                    syslog::Severity::LOG_NOTICE,
                    &format!(
                        "authorized-keys user={user:?}: value {} of attribute {attribute:?} skipped: {why}",
                        index + 1
                    ),
                );
            }
            log(
                syslog::Severity::LOG_INFO,
                &format!(
                    "authorized-keys user={user:?}: {} key(s) served from {source}",
                    found.keys.len()
                ),
            );
            keys_report(Status::Ok, user, &found.keys, found.skipped.len())
        }
        Err(denial) => refused(user, denial),
    }
}

/// No keys: the denial logged, nothing printed; 1 when the user is refused, 2 when
/// Crowd (or the cache) could not decide.
fn refused(user: &str, denial: Denial) -> Report {
    let code = denial.code(Phase::Account);
    log(
        syslog::Severity::LOG_NOTICE,
        &format!(
            "authorized-keys user={user:?}: no keys: {denial} ({})",
            code.name()
        ),
    );
    Report {
        status: Status::of_code(code),
        text: vec![],
        json: json!({ "user": user, "keys": [], "refused": denial.to_string() }),
        error: false,
    }
}

fn keys_report(status: Status, user: &str, keys: &[AuthorizedKey], skipped: usize) -> Report {
    Report {
        status,
        text: keys.iter().map(|k| k.line.clone()).collect(),
        json: json!({
            "user": user,
            "keys": keys.iter().map(|k| json!({"key": k.line, "fingerprint": k.fingerprint})).collect::<Vec<_>>(),
            "skipped": skipped,
        }),
        error: false,
    }
}

/// `keys list|add|remove USER`: the key values Crowd holds for USER, changed as asked.
pub fn run(command: &KeysCommand, config: &Config, client: &Client) -> Report {
    let Some(attribute) = &config.ssh_keys_attribute else {
        return failure(
            Status::Broken,
            "ssh_keys_attribute is not set in the config".into(),
        );
    };
    let user = match command {
        KeysCommand::List { user }
        | KeysCommand::Add { user, .. }
        | KeysCommand::Remove { user, .. } => user,
    };
    let values = match client.user_attributes(user) {
        Ok((found, attributes)) => match config.user_names.same_account(user, &found.name) {
            Ok(()) => attributes.get(attribute).cloned().unwrap_or_default(),
            Err(mismatch) => return failure(Status::No, mismatch.to_string()),
        },
        Err(e) => return crowd_error(e),
    };
    let keys = UserAttribute {
        client,
        user,
        attribute,
        values,
    };
    let done = match command {
        KeysCommand::List { .. } => Ok(keys.list()),
        KeysCommand::Add { file, .. } => keys.add(file),
        KeysCommand::Remove { fingerprint, .. } => keys.remove(fingerprint),
    };
    done.unwrap_or_else(|report| report)
}

/// Crowd's refusal of a keys command, with what to do about a missing permission.
fn crowd_error(e: CrowdError) -> Report {
    match &e {
        CrowdError::Refused {
            reason: Reason::ApplicationPermissionDenied,
            ..
        } => failure(
            Status::Broken,
            format!(
                "{e}: the Crowd application may not change users; give it permission to \
                 update user attributes in its directory (Crowd: Applications, Permissions)"
            ),
        ),
        _ => crowd_failure(e),
    }
}

/// One user's key attribute, as Crowd holds it.
struct UserAttribute<'a> {
    client: &'a Client,
    user: &'a str,
    attribute: &'a str,
    values: Vec<String>,
}

impl UserAttribute<'_> {
    /// Every value, with its fingerprint, or why it is not a key.
    fn list(&self) -> Report {
        let mut text = Vec::new();
        let mut listed = Vec::new();
        for value in &self.values {
            match parse_key(value) {
                Ok(key) => {
                    text.push(format!("{} {}", key.fingerprint, key.line));
                    listed.push(json!({"fingerprint": key.fingerprint, "key": key.line}));
                }
                Err(why) => {
                    text.push(format!("(not a key: {why}) {}", printable(value)));
                    listed.push(json!({"invalid": why.to_string(), "value": value}));
                }
            }
        }
        Report {
            status: Status::Ok,
            text,
            json: json!({ "user": self.user, "attribute": self.attribute, "values": listed }),
            error: false,
        }
    }

    /// The keys in `file` not there yet, added.
    fn add(&self, file: &str) -> Result<Report, Report> {
        let new = read_keys(file)?;
        let known: Vec<String> = self
            .values
            .iter()
            .filter_map(|v| parse_key(v).ok())
            .map(|k| k.fingerprint)
            .collect();
        let mut all = self.values.clone();
        let mut added = 0;
        for key in &new {
            if !known.contains(&key.fingerprint) && !all.contains(&key.line) {
                all.push(key.line.clone());
                added += 1;
            }
        }
        if added > 0 {
            self.client
                .store_user_attribute(self.user, self.attribute, &all)
                .map_err(crowd_error)?;
        }
        let user = self.user;
        Ok(Report::new(
            Status::Ok,
            format!(
                "added {added} key(s) to {user}; {} already there",
                new.len() - added
            ),
            json!({ "user": user, "added": added, "already": new.len() - added }),
        ))
    }

    /// The key with this fingerprint removed (the attribute too, with the last key).
    fn remove(&self, fingerprint: &str) -> Result<Report, Report> {
        let user = self.user;
        let kept: Vec<String> = self
            .values
            .iter()
            .filter(|v| parse_key(v).map(|k| k.fingerprint).as_deref() != Ok(fingerprint))
            .cloned()
            .collect();
        if kept.len() == self.values.len() {
            return Err(failure(
                Status::No,
                format!("{user} has no key with fingerprint {fingerprint}"),
            ));
        }
        match kept.is_empty() {
            true => self.client.remove_user_attribute(user, self.attribute),
            false => self
                .client
                .store_user_attribute(user, self.attribute, &kept),
        }
        .map_err(crowd_error)?;
        Ok(Report::new(
            Status::Ok,
            format!("removed {fingerprint} from {user}"),
            json!({ "user": user, "removed": fingerprint }),
        ))
    }
}

/// The keys in `file` (`-`: standard input): every non-empty line that is not a `#`
/// comment must be a valid key, or nothing is added. The error is the report.
fn read_keys(file: &str) -> Result<Vec<AuthorizedKey>, Report> {
    let broken = |why: String| failure(Status::Broken, why);
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin()
            .take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(Path::new(file))
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text))
    };
    read.map_err(|e| broken(format!("cannot read {file}: {e}")))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_key(line)
            .map_err(|why| broken(format!("{file} line {}: {why}; nothing added", n + 1)))?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(broken(format!("{file} holds no public key")));
    }
    Ok(keys)
}
