//! `pam-crowd`: the admin's view of what pam_crowd.so decides, and python-crowd's
//! operations from the shell. Same config, same client, same decision as the module.

mod cache;
mod check;
mod keys;
mod passwd;
mod principals;
mod sync;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pam_crowd::config::{Config, DEFAULT_PATH};
use pam_crowd::crowd::{
    AdminDirectory, Client, ClientSettings, CrowdError, Deadline, LoginDirectory, Reason,
    SyncDirectory, UserDirectory,
};
use pam_crowd::{
    Denial, LocalFault, PamCode, Phase, Verdict, cache_problem_line, code_of, printable,
};
use pam_crowd::{Resolver, crowd_name};
use pam_crowd::{check_password, check_username};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Check and use the Crowd connection of pam_crowd.
#[derive(Parser)]
#[command(name = "pam-crowd", version, about)]
struct Cli {
    /// Configuration file (the module's `config=`).
    #[arg(long, global = true, default_value = DEFAULT_PATH, value_name = "PATH")]
    config: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the config and its permissions, then reach, trust and log in to every url.
    Check,
    /// Authenticate USER and apply the account rules, as the module would.
    Auth(Decision),
    /// Apply the account rules alone (as for a publickey login or sudo NOPASSWD).
    Account(Decision),
    /// Show a Crowd user.
    User {
        /// Crowd user name.
        user: String,
    },
    /// List a user's groups (nested by default).
    Groups {
        /// Crowd user name.
        user: String,
        /// Only the groups the user is a direct member of.
        #[arg(long)]
        direct: bool,
    },
    /// List a group's members, nested groups included.
    Members {
        /// Crowd group name.
        group: String,
    },
    /// Crowd SSO sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// The offline and result cache (`[cache]`): list, show, purge. Root only.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// USER's SSH public keys from Crowd, one per line, if sshd's rules admit USER
    /// (sshd's AuthorizedKeysCommand).
    AuthorizedKeys {
        /// User name, as sshd passes it (%u).
        user: String,
    },
    /// USER's name and the SSH certificate principals their Crowd groups grant
    /// (`[ssh_principals]`), one per line, if sshd's rules admit USER (sshd's
    /// AuthorizedPrincipalsCommand).
    AuthorizedPrincipals {
        /// User name, as sshd passes it (%u).
        user: String,
    },
    /// Manage the SSH public keys Crowd holds for users (`ssh_keys_attribute`).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Set USER's Crowd password (admins): asks for the new password twice, without
    /// echo (or reads two lines of standard input).
    Passwd {
        /// Crowd user name.
        user: String,
    },
    /// Write Crowd's users and groups (`[nss]`) to the files libnss_crowd reads.
    Sync(sync::SyncArgs),
}

#[derive(Args)]
struct Decision {
    /// User name, exactly as it would be typed at the login.
    user: String,
    /// PAM service whose rules apply (`[service.NAME]`); default: the top-level rules.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Log USER in and print the SSO token.
    Create {
        user: String,
        /// The client address the session is bound to.
        #[arg(long, value_name = "ADDR")]
        remote: Option<String>,
    },
    /// Check a token (from the same address, when given). The token is read from
    /// standard input when not given: an argument is visible to every user in `ps`.
    Validate {
        token: Option<String>,
        #[arg(long, value_name = "ADDR")]
        remote: Option<String>,
    },
    /// End a session. The token is read from standard input when not given.
    Terminate { token: Option<String> },
}

/// Exit statuses: scripts branch on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Allowed, found, valid, all checks passed.
    Ok = 0,
    /// Denied, not found, invalid: Crowd answered no.
    No = 1,
    /// Crowd unavailable, or the config is broken.
    Broken = 2,
}

impl Status {
    /// A failed Crowd call: Crowd said no, or could not answer (or was not asked).
    fn of_crowd_error(e: &CrowdError) -> Status {
        match e {
            CrowdError::Refused { .. } => Status::No,
            _ => Status::Broken,
        }
    }

    /// A decision's PAM code: granted, refused, or Crowd (or the host) could not say.
    fn of_code(code: PamCode) -> Status {
        match code {
            PamCode::Success => Status::Ok,
            PamCode::AuthinfoUnavail | PamCode::ServiceErr | PamCode::SystemErr => Status::Broken,
            _ => Status::No,
        }
    }
}

/// The report of a failed Crowd call, in Crowd's words.
fn crowd_failure(e: CrowdError) -> Report {
    failure(Status::of_crowd_error(&e), e.to_string())
}

/// What a command prints: text lines for people, one JSON value for scripts.
struct Report {
    status: Status,
    text: Vec<String>,
    json: Value,
    /// An error message rather than an answer: printed on stderr.
    error: bool,
}

impl Report {
    fn new(status: Status, text: impl Into<String>, json: Value) -> Report {
        Report {
            status,
            text: vec![text.into()],
            json,
            error: false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match &cli.command {
        Command::Check => check::run(&cli.config),
        command => match load(&cli.config, command) {
            Err(report) => report,
            Ok(config) => match command {
                // The cache is local: no Crowd client needed.
                Command::Cache(c) => cache::run(c, &config),
                command => run(command, &config),
            },
        },
    };
    let for_sshd = match &cli.command {
        Command::AuthorizedKeys { user } => Some(("authorized-keys", user)),
        Command::AuthorizedPrincipals { user } => Some(("authorized-principals", user)),
        _ => None,
    };
    if let (Some((command, user)), true) = (for_sshd, report.error) {
        // sshd shows nothing of a failed AuthorizedKeysCommand or
        // AuthorizedPrincipalsCommand: say why in syslog.
        keys::to_syslog(
            syslog::Severity::LOG_ERR,
            &format!("{command} user={user:?}: {}", report.text.join("; ")),
        );
    }
    if cli.json {
        println!("{}", report.json);
    } else if report.error {
        for line in &report.text {
            eprintln!("pam-crowd: {}", printable(line));
        }
    } else {
        // Names, display names, reasons and messages come from Crowd: never raw to a
        // terminal (JSON escapes as JSON does).
        for line in &report.text {
            println!("{}", printable(line));
        }
    }
    ExitCode::from(report.status as u8)
}

/// The configuration `command` needs: `authorized-keys` and `authorized-principals` read
/// the read-only keys application's secret (`ssh_keys_application`), everything else the
/// main one. The error is the report's words.
fn load(path: &std::path::Path, command: &Command) -> Result<Config, Report> {
    let broken = |why: String| failure(Status::Broken, why);
    match command {
        Command::AuthorizedKeys { .. } | Command::AuthorizedPrincipals { .. } => {
            Config::load_for_keys(path).map_err(|e| {
                let hint = match e.io {
                    Some(std::io::ErrorKind::PermissionDenied) => {
                        " (sshd runs authorized-keys and authorized-principals as pam-crowd-keys, \
                     which may read only ssh_keys_password_file: set ssh_keys_application and \
                     ssh_keys_password_file)"
                    }
                    _ => "",
                };
                broken(format!("{e}{hint}"))
            })
        }
        _ => Config::load(path).map_err(|e| broken(e.to_string())),
    }
}

fn failure(status: Status, why: String) -> Report {
    Report {
        error: true,
        ..Report::new(status, why.clone(), json!({ "error": why }))
    }
}

fn run(command: &Command, config: &Config) -> Report {
    let client = match Client::new(
        &ClientSettings::from(config),
        Deadline::after(config.timeout),
    ) {
        Ok(c) => c,
        Err(e) => return failure(Status::Broken, e.to_string()),
    };
    let crowd_error = crowd_failure;
    match command {
        // `main` runs check before loading the config; here for completeness.
        Command::Check => check::run(&config.path),
        Command::Auth(d) => decide(config, &client, d, true),
        Command::Account(d) => decide(config, &client, d, false),
        Command::User { user } => match client.user(user) {
            Ok(u) => Report {
                status: Status::Ok,
                text: vec![
                    format!("name: {}", u.name),
                    format!("active: {}", u.active),
                    format!(
                        "display name: {}",
                        u.display_name.clone().unwrap_or_default()
                    ),
                    format!("email: {}", u.email.clone().unwrap_or_default()),
                ],
                json: json!({
                    "name": u.name, "active": u.active,
                    "display-name": u.display_name, "email": u.email,
                }),
                error: false,
            },
            Err(e) => crowd_error(e),
        },
        Command::Groups { user, direct } => {
            let groups = if *direct {
                client.direct_groups(user)
            } else {
                client.nested_groups(user)
            };
            match groups {
                Ok(groups) => list(groups, "groups"),
                Err(e) => crowd_error(e),
            }
        }
        Command::Members { group } => match client.nested_group_members(group) {
            Ok(users) => list(users, "users"),
            Err(e) => crowd_error(e),
        },
        Command::Session(s) => session(&client, s, crowd_error),
        Command::Cache(c) => cache::run(c, config),
        Command::AuthorizedKeys { user } => keys::authorized_keys(config, &client, user),
        Command::AuthorizedPrincipals { user } => {
            principals::authorized_principals(config, &client, user)
        }
        Command::Keys(k) => keys::run(k, config, &client),
        Command::Passwd { user } => passwd::run(config, &client, user),
        Command::Sync(args) => sync::run(args, config, &client),
    }
}

fn list(names: Vec<String>, key: &str) -> Report {
    Report {
        status: Status::Ok,
        text: names.clone(),
        json: json!({ key: names }),
        error: false,
    }
}

/// Exactly the module's decision, by the module's resolver: authenticate (when
/// asked), then the account phase with what authenticate learned, under the rules of
/// the chosen service; the offline cache as the module uses it.
fn decide(config: &Config, client: &Client, d: &Decision, with_password: bool) -> Report {
    let rules = match &d.service {
        Some(service) => config.rules_for(service),
        None => config.rules.clone(),
    };
    let mut resolver = Resolver::for_login(config, client);
    let mut phase = Phase::Account;
    let result = (|| {
        let user = crowd_name(config, &check_username(d.user.clone().into_bytes())?)?;
        let known = match with_password {
            true => {
                phase = Phase::Auth;
                let password = read_password().map_err(|_| {
                    Denial::Local(LocalFault::Pam {
                        what: "reading the password",
                        code: PamCode::ConvErr,
                    })
                })?;
                let password = check_password(password)?;
                let (_, known) = resolver.authenticate(&user, &password, None)?;
                phase = Phase::Account;
                Some(known)
            }
            false => None,
        };
        resolver.account(&user, known.as_ref(), &rules)
    })();
    for problem in resolver.take_problems() {
        eprintln!("pam-crowd: {}", cache_problem_line(&d.user, &problem));
    }
    let service = d
        .service
        .clone()
        .unwrap_or_else(|| "(top-level rules)".into());
    let code = code_of(&result, phase);
    let reason = match &result {
        Ok(Verdict::Granted(granted)) => granted.detail.clone(),
        Ok(Verdict::NewPasswordRequired) => {
            "the Crowd password has expired: a new one is required".into()
        }
        Ok(Verdict::NotOurs(why)) => why.clone(),
        Err(denial) => denial.to_string(),
    };
    let status = Status::of_code(code);
    Report {
        status,
        text: vec![match status {
            Status::Ok => "allowed".into(),
            _ => format!("denied: {reason}"),
        }],
        json: json!({
            "user": d.user, "service": service, "allowed": status == Status::Ok,
            "code": code.name(), "reason": reason,
        }),
        error: false,
    }
}

fn session(
    client: &Client,
    s: &SessionCommand,
    crowd_error: impl Fn(CrowdError) -> Report,
) -> Report {
    let shown = |s: pam_crowd::crowd::Session, status: Status, words: &str| Report {
        status,
        text: vec![format!("{words}{}", s.token)],
        json: json!({
            "token": s.token, "user": s.user,
            "created": s.created, "expires": s.expires,
        }),
        error: false,
    };
    match s {
        SessionCommand::Create { user, remote } => {
            let password = match read_password() {
                Ok(p) => p,
                Err(e) => return failure(Status::Broken, e.to_string()),
            };
            let password = String::from_utf8_lossy(&password).into_owned();
            let password = Zeroizing::new(password);
            match client.create_session(user, &password, remote.as_deref()) {
                Ok(session) => shown(session, Status::Ok, ""),
                Err(e) => crowd_error(e),
            }
        }
        SessionCommand::Validate { token, remote } => {
            let token = match given_or_read_token(token) {
                Ok(token) => token,
                Err(report) => return report,
            };
            match client.validate_session(&token, remote.as_deref()) {
                Ok(session) => {
                    let user = session.user.clone().unwrap_or_default();
                    let mut report = shown(session, Status::Ok, "");
                    report.text = vec![format!("valid: session of {user}")];
                    report
                }
                Err(e) if e.reason() == Some(&Reason::Other("INVALID_SSO_TOKEN".into())) => {
                    failure(Status::No, "invalid token".into())
                }
                Err(e) => crowd_error(e),
            }
        }
        SessionCommand::Terminate { token } => {
            let token = match given_or_read_token(token) {
                Ok(token) => token,
                Err(report) => return report,
            };
            match client.terminate_session(&token) {
                Ok(()) => Report::new(Status::Ok, "terminated", json!({ "terminated": true })),
                Err(e) => crowd_error(e),
            }
        }
    }
}

/// The SSO token given as an argument, else read as a password is (one line of
/// standard input, or from the terminal without echo): a token is a credential, and
/// standard input keeps it out of `ps`.
fn given_or_read_token(token: &Option<String>) -> Result<Zeroizing<String>, Report> {
    if let Some(token) = token {
        return Ok(Zeroizing::new(token.clone()));
    }
    let read =
        read_password_as("SSO token: ").map_err(|e| failure(Status::Broken, e.to_string()))?;
    match std::str::from_utf8(&read) {
        Ok(token) if !token.trim().is_empty() => Ok(Zeroizing::new(token.trim().to_owned())),
        _ => Err(failure(
            Status::Broken,
            "no token: give it on standard input (one line)".into(),
        )),
    }
}

/// The password: from the terminal without echo, or one line of stdin when it is
/// not a terminal (for scripts). Wiped when dropped.
fn read_password() -> std::io::Result<Zeroizing<Vec<u8>>> {
    read_password_as("Password: ")
}

/// As [`read_password`], with `prompt` on the terminal.
fn read_password_as(prompt: &str) -> std::io::Result<Zeroizing<Vec<u8>>> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).map(|p| Zeroizing::new(p.into_bytes()));
    }
    let mut line = Zeroizing::new(Vec::new());
    std::io::stdin().lock().read_until(b'\n', &mut line)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(line)
}
