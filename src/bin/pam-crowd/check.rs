//! `pam-crowd check`: every step between this host and a working Crowd login, one
//! line each, with a hint where a step fails.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Instant;

use pam_crowd::cache::Cache;
use pam_crowd::config::Config;
use pam_crowd::crowd::{
    AdminDirectory, BaseUrl, Client, ClientSettings, CrowdError, Deadline, FailureKind, Protocol,
    SyncDirectory,
};
use pam_crowd::sync::incremental;
use serde_json::json;

use crate::{Report, Status};

mod accounts;
use accounts::{check_id_ranges, check_local_accounts, check_local_groups};

/// One step's result.
struct Step {
    url: Option<String>,
    step: &'static str,
    ok: bool,
    /// Passed, with something the admin should know.
    warning: bool,
    detail: String,
    hint: Option<&'static str>,
}

impl Step {
    fn ok(url: Option<&str>, step: &'static str, detail: String) -> Step {
        Step {
            url: url.map(str::to_owned),
            step,
            ok: true,
            warning: false,
            detail,
            hint: None,
        }
    }

    fn warning(step: &'static str, detail: String, hint: &'static str) -> Step {
        Step {
            warning: true,
            hint: Some(hint),
            ..Step::ok(None, step, detail)
        }
    }

    fn failed(url: Option<&str>, step: &'static str, detail: String, hint: &'static str) -> Step {
        Step {
            url: url.map(str::to_owned),
            step,
            ok: false,
            warning: false,
            detail,
            hint: Some(hint),
        }
    }
}

/// Runs every check; a failed step ends the checks of its url.
pub fn run(path: &Path) -> Report {
    let mut steps = Vec::new();
    match Config::load(path) {
        Err(e) => steps.push(Step::failed(
            None,
            "config",
            e.to_string(),
            "fix the file: see pam_crowd.toml(5) or conf/pam_crowd.toml",
        )),
        Ok(config) => {
            // Loading refused a secret others could read (config::check_ownership).
            steps.push(Step::ok(
                None,
                "config",
                format!(
                    "{} ({} url(s), {}, application {:?}, timeout {} s; secret in {}, private)",
                    path.display(),
                    config.urls.len(),
                    match config.protocol {
                        Protocol::Rest => "REST API",
                        Protocol::Soap => "SOAP (/services/SecurityServer)",
                    },
                    config.application,
                    config.timeout.as_secs(),
                    config.secret_file.display()
                ),
            ));
            if config.cache.enabled() {
                steps.push(check_cache(&config));
            }
            steps.extend(check_id_ranges(&config));
            steps.extend(check_local_groups(&config));
            for url in &config.urls {
                check_url(&config, url, &mut steps);
            }
            if steps.iter().any(|s| s.step == "application" && s.ok) {
                steps.push(check_keys_application(&config, path));
                steps.push(check_local_accounts(&config));
                steps.push(check_groups(&config));
            }
            steps.extend(check_sync_state(&config));
        }
    }
    report(steps)
}

/// Every group the config names, asked of Crowd: a typo in `allow_groups` or
/// `deny_groups` matches nobody without a word (Crowd answers "not a member" for a
/// group it does not have), and one in `[nss] groups` syncs nobody.
fn check_groups(config: &Config) -> Step {
    let named = config.configured_groups();
    let client = match Client::new(
        &ClientSettings::from(config),
        Deadline::after(config.timeout),
    ) {
        Ok(client) => client,
        Err(e) => return Step::failed(None, "groups", e.to_string(), "see the steps above"),
    };
    let mut unknown = Vec::new();
    for (group, keys) in &named {
        match client.group_exists(group) {
            Ok(true) => {}
            Ok(false) => unknown.push(format!("{group:?} ({})", keys.join(", "))),
            Err(e) => {
                return Step::failed(
                    None,
                    "groups",
                    format!("asking Crowd about {group:?}: {e}"),
                    "see the steps above",
                );
            }
        }
    }
    match unknown.is_empty() {
        true => Step::ok(
            None,
            "groups",
            format!(
                "the {} group(s) the config names exist in Crowd",
                named.len()
            ),
        ),
        false => Step::failed(
            None,
            "groups",
            format!("not in Crowd: {}", unknown.join("; ")),
            "fix the group names (Crowd's names, as its Groups page shows them), or create the groups",
        ),
    }
}

/// What the last sync left to say (`[nss] dir`'s state; root's alone to read).
fn check_sync_state(config: &Config) -> Option<Step> {
    let state = incremental::read_state(&config.nss.dir).ok()??;
    Some(match incremental::fallback_note(&state) {
        Some(note) => Step::warning(
            "incremental sync",
            note,
            "see docs/sync-and-nss.md, \"How long a change takes to reach a host\"",
        ),
        None => Step::ok(
            None,
            "incremental sync",
            format!(
                "taken up from Crowd's event token (full sync at most every {} h)",
                config.nss.full_sync_hours
            ),
        ),
    })
}

/// The read-only application `authorized-keys` uses: its password file's owner and
/// mode, and Crowd accepting it. Without one, serving keys as `pam-crowd-keys` cannot
/// work (the main secret is root's alone).
fn check_keys_application(config: &Config, path: &Path) -> Step {
    let Some(keys) = &config.ssh_keys_app else {
        return match config.ssh_keys_attribute {
            Some(_) => Step::warning(
                "keys application",
                "ssh_keys_attribute is set but ssh_keys_application is not: authorized-keys \
                 run as pam-crowd-keys cannot read the main application's password"
                    .into(),
                "create a read-only application in Crowd, set ssh_keys_application and ssh_keys_password_file",
            ),
            None => Step::ok(None, "keys application", "none (no keys served)".into()),
        };
    };
    let pinged = Config::load_for_keys(path)
        .map_err(|e| e.to_string())
        .and_then(|keys_config| {
            Client::new(
                &ClientSettings::from(&keys_config),
                Deadline::after(config.timeout),
            )
            .and_then(|c| c.ping())
            .map_err(|e| e.to_string())
        });
    match pinged {
        Ok(()) => Step::ok(
            None,
            "keys application",
            format!(
                "{:?} accepted by Crowd (password in {}, readable by root and pam-crowd-keys only)",
                keys.application,
                keys.password_file.display()
            ),
        ),
        Err(why) => Step::failed(
            None,
            "keys application",
            why,
            "check ssh_keys_application and its password file against Crowd's Applications page",
        ),
    }
}

/// The `[cache]` directory, as the module will find it when run as root.
fn check_cache(config: &Config) -> Step {
    let dir = config.cache.dir.display();
    match Cache::open(config) {
        Ok(Some(cache)) => {
            let entries = cache.entries().map(|e| e.len()).unwrap_or(0);
            Step::ok(
                None,
                "cache",
                format!(
                    "{dir}: private, {entries} entries (offline_days {}, positive_ttl {} s)",
                    config.cache.offline_days,
                    config.cache.positive_ttl.as_secs()
                ),
            )
        }
        Ok(None) => Step::failed(
            None,
            "cache",
            format!("{dir}: belongs to another user, so this process would run without a cache"),
            "run pam-crowd check as root, as sshd and sudo run the module",
        ),
        Err(e) => Step::failed(
            None,
            "cache",
            e.to_string(),
            "the module treats the cache as off until this is fixed",
        ),
    }
}

fn check_url(config: &Config, base: &BaseUrl, steps: &mut Vec<Step>) {
    let url = base.as_str();
    let u = Some(url);
    let (host, port) = (base.host(), base.port());
    let addrs: Vec<_> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            steps.push(Step::failed(
                u,
                "resolve",
                format!("{host}: {e}"),
                "check the host name and /etc/resolv.conf",
            ));
            return;
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    steps.push(Step::ok(
        u,
        "resolve",
        format!("{host}: {}", shown.join(", ")),
    ));

    let started = Instant::now();
    let connected = addrs.iter().find_map(|a| {
        TcpStream::connect_timeout(a, config.timeout)
            .ok()
            .map(|_| *a)
    });
    match connected {
        Some(addr) => steps.push(Step::ok(
            u,
            "connect",
            format!("{addr} in {} ms", started.elapsed().as_millis()),
        )),
        None => {
            steps.push(Step::failed(
                u,
                "connect",
                format!("no answer on port {port} of {}", shown.join(", ")),
                "is Crowd running, and does a firewall let this host reach it?",
            ));
            return;
        }
    }

    check_application(config, base, steps);
}

/// The TLS and application steps of one url: a ping with the application's
/// credentials, its failure explained.
fn check_application(config: &Config, base: &BaseUrl, steps: &mut Vec<Step>) {
    let (u, https) = (Some(base.as_str()), base.is_https());
    let settings = ClientSettings {
        urls: vec![base.clone()],
        ..ClientSettings::from(config)
    };
    let pinged = Client::new(&settings, Deadline::after(config.timeout)).and_then(|c| c.ping());
    let tls_hint = "set ca_file to the CA that signed Crowd's certificate, and use the host name the certificate names";
    let failure = match pinged {
        Ok(()) => {
            if https {
                steps.push(Step::ok(u, "tls", "certificate trusted".into()));
            }
            let how = match config.protocol {
                Protocol::Rest => "accepted by Crowd",
                Protocol::Soap => "accepted by Crowd's SOAP service (authenticateApplication)",
            };
            steps.push(Step::ok(
                u,
                "application",
                format!("{:?} {how}", config.application),
            ));
            return;
        }
        Err(CrowdError::Setup(why)) => {
            steps.push(Step::failed(u, "tls", why, tls_hint));
            return;
        }
        Err(CrowdError::Refused {
            status,
            reason,
            message,
        }) => (
            FailureKind::NotCrowd,
            format!("{status} {}: {message}", reason.as_str()),
        ),
        Err(CrowdError::Unavailable(failures)) => match failures.into_iter().next() {
            Some(f) => (f.kind, f.detail),
            None => (FailureKind::Connect, "no answer".into()),
        },
        Err(other) => (FailureKind::NotCrowd, other.to_string()),
    };
    let (kind, detail) = failure;
    if kind == FailureKind::Tls {
        steps.push(Step::failed(u, "tls", detail, tls_hint));
        return;
    }
    if https {
        steps.push(Step::ok(u, "tls", "certificate trusted".into()));
    }
    let hint = match kind {
        FailureKind::ApplicationRejected => {
            "check `application` and the password against Crowd's Applications page"
        }
        FailureKind::AddressRejected => {
            "add this host's address to the application's remote addresses in Crowd"
        }
        FailureKind::NotCrowd | FailureKind::Redirect if config.protocol == Protocol::Soap => {
            "check the url's scheme and context path (often /crowd), and that this Crowd offers SOAP (before 5.0)"
        }
        FailureKind::NotCrowd | FailureKind::Redirect => {
            "check the url's scheme and context path (often /crowd)"
        }
        FailureKind::RateLimited | FailureKind::ServerError => {
            "Crowd is failing or overloaded: see its logs"
        }
        FailureKind::Timeout => "Crowd is too slow to answer: see its logs, or raise `timeout`",
        _ => "is this Crowd?",
    };
    steps.push(Step::failed(u, "application", detail, hint));
}

fn report(steps: Vec<Step>) -> Report {
    let all_ok = steps.iter().all(|s| s.ok);
    let text = steps
        .iter()
        .map(|s| {
            let place = s
                .url
                .as_deref()
                .map(|u| format!("{u} "))
                .unwrap_or_default();
            match (s.ok, s.hint) {
                (true, Some(hint)) if s.warning => {
                    format!("{place}{}: WARNING: {} (hint: {hint})", s.step, s.detail)
                }
                (true, _) => format!("{place}{}: ok: {}", s.step, s.detail),
                (false, Some(hint)) => {
                    format!("{place}{}: FAILED: {} (hint: {hint})", s.step, s.detail)
                }
                (false, None) => format!("{place}{}: FAILED: {}", s.step, s.detail),
            }
        })
        .collect();
    let json = json!({
        "ok": all_ok,
        "steps": steps.iter().map(|s| json!({
            "url": s.url, "step": s.step, "ok": s.ok, "warning": s.warning,
            "detail": s.detail, "hint": s.hint,
        })).collect::<Vec<_>>(),
    });
    Report {
        status: if all_ok { Status::Ok } else { Status::Broken },
        text,
        json,
        error: false,
    }
}
