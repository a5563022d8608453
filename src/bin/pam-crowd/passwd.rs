//! `pam-crowd passwd USER`: an admin sets a user's Crowd password.

use pam_crowd::config::Config;
use pam_crowd::crowd::Client;
use pam_crowd::{
    Denial, Resolver, cache_problem_line, check_password, crowd_name, refusal_message,
};
use serde_json::json;

use crate::{Report, Status, failure, read_password_as};

/// Sets USER's password in Crowd. No current password is asked: this is the
/// application's write permission in Crowd at work, for admins. The user is admitted
/// as the module's chauthtok admits them (the resolver's one entry point: active in
/// Crowd, the top-level allow and deny groups), and the offline cache, when on and
/// this process may use it, follows; a cache that cannot be used is reported.
pub fn run(config: &Config, client: &Client, user: &str) -> Report {
    // The host's own accounts change their passwords with passwd(1), never in Crowd.
    let name = match crowd_name(config, user) {
        Ok(name) => name,
        Err(denial) => return failure(Status::No, format!("{denial}: nothing changed")),
    };
    let mut resolver = Resolver::for_login(config, client);
    let account = match resolver.password_account(&name, &config.rules) {
        Ok(account) => account,
        Err(denial @ Denial::Offline(_)) => {
            return failure(Status::Broken, format!("{denial}: nothing changed"));
        }
        Err(denial) => return failure(Status::No, format!("{denial}: nothing changed")),
    };
    let new = match read_new_password() {
        Ok(new) => new,
        Err(report) => return report,
    };
    match resolver.set_password(&name, &account, &new) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return failure(Status::of_crowd_error(&e), refusal_message(&e, config)),
        Err(denial) => return failure(Status::Broken, format!("{denial}: nothing changed")),
    }
    let mut text = vec![format!("password of {user} changed in Crowd")];
    let problems = resolver.take_problems();
    text.extend(problems.iter().map(|p| cache_problem_line(user, p)));
    Report {
        status: Status::Ok,
        text,
        json: json!({ "user": user, "changed": true, "cache_problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>() }),
        error: false,
    }
}

/// The new password, typed twice (or two lines of standard input), checked as the
/// module checks one.
fn read_new_password() -> Result<zeroize::Zeroizing<String>, Report> {
    let read = |prompt: &str| read_password_as(prompt).map_err(|e| e.to_string());
    let new = match (read("New password: "), read("Retype new password: ")) {
        (Ok(a), Ok(b)) if a == b => a,
        (Ok(_), Ok(_)) => {
            return Err(failure(
                Status::No,
                "the passwords differ: nothing changed".into(),
            ));
        }
        (Err(e), _) | (_, Err(e)) => return Err(failure(Status::Broken, e)),
    };
    check_password(new).map_err(|denial| failure(Status::No, format!("{denial}: nothing changed")))
}
