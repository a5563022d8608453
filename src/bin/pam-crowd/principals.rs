//! `pam-crowd authorized-principals USER`, for sshd's `AuthorizedPrincipalsCommand`
//! with `TrustedUserCAKeys`: USER's own name and the `[ssh_principals]` principals
//! their Crowd groups grant, for a user sshd's account rules admit; nothing
//! otherwise. It runs as `authorized-keys` does: as pam-crowd-keys, with the keys
//! application, from the keys cache when Crowd is down.

use pam_crowd::config::Config;
use pam_crowd::crowd::Client;
use pam_crowd::{Phase, Resolver, cache_problem_line, check_username, crowd_name};
use serde_json::json;

use crate::keys::log;
use crate::{Report, Status};

/// The lines on standard output. Exit 0 with them, 1 when the user is refused (and
/// nothing is printed), 2 when Crowd or the config cannot answer.
pub fn authorized_principals(config: &Config, client: &Client, user: &str) -> Report {
    let mut resolver = Resolver::for_keys(config, client);
    let result = check_username(user.as_bytes().to_vec())
        .and_then(|user| crowd_name(config, &user))
        .and_then(|user| resolver.principals(&user));
    for problem in resolver.take_problems() {
        log(
            syslog::Severity::LOG_ERR,
            &format!(
                "authorized-principals {}",
                cache_problem_line(user, &problem)
            ),
        );
    }
    let source = match resolver.went_offline() {
        Some(why) => format!("the offline cache ({why})"),
        None => "Crowd".into(),
    };
    match result {
        Ok(lines) => {
            log(
                syslog::Severity::LOG_INFO,
                &format!(
                    "authorized-principals user={user:?}: {} served from {source}",
                    lines.join(" ")
                ),
            );
            Report {
                status: Status::Ok,
                json: json!({ "user": user, "principals": lines }),
                text: lines,
                error: false,
            }
        }
        Err(denial) => {
            let code = denial.code(Phase::Account);
            log(
                syslog::Severity::LOG_NOTICE,
                &format!(
                    "authorized-principals user={user:?}: none: {denial} ({})",
                    code.name()
                ),
            );
            Report {
                status: Status::of_code(code),
                text: vec![],
                json: json!({ "user": user, "principals": [], "refused": denial.to_string() }),
                error: false,
            }
        }
    }
}
