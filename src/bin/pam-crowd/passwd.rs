//! `pam-crowd passwd USER`: an admin sets a user's Crowd password.

use pam_crowd::cache::{self, Cache};
use pam_crowd::config::Config;
use pam_crowd::crowd::{Client, CrowdError, LoginDirectory, UserDirectory};
use pam_crowd::input::check_password;
use pam_crowd::outcome::Denial;
use pam_crowd::resolver::crowd_name;
use pam_crowd::{offline, password};
use serde_json::json;

use crate::{Report, Status, failure, read_password_as};

/// Sets USER's password in Crowd. No current password is asked: this is the
/// application's write permission in Crowd at work, for admins. The offline cache,
/// when on and this process may use it, follows.
pub fn run(config: &Config, client: &Client, user: &str) -> Report {
    // The host's own accounts change their passwords with passwd(1), never in Crowd.
    if let Err(denial) = crowd_name(config, user) {
        return failure(Status::No, format!("{denial}: nothing changed"));
    }
    let read = |prompt: &str| read_password_as(prompt).map_err(|e| e.to_string());
    let new = match (read("New password: "), read("Retype new password: ")) {
        (Ok(a), Ok(b)) if a == b => a,
        (Ok(_), Ok(_)) => {
            return failure(Status::No, "the passwords differ: nothing changed".into());
        }
        (Err(e), _) | (_, Err(e)) => return failure(Status::Broken, e),
    };
    let new = match check_password(new) {
        Ok(p) => p,
        Err(denial) => return failure(Status::No, format!("{denial}: nothing changed")),
    };
    let found = match client.user(user) {
        Ok(u) => match config.user_names.same_account(user, &u.name) {
            Ok(()) => u,
            Err(mismatch) => return failure(Status::No, mismatch.to_string()),
        },
        Err(e @ CrowdError::Refused { .. }) => return failure(Status::No, e.to_string()),
        Err(e) => return failure(Status::Broken, e.to_string()),
    };
    if let Err(e) = client.set_password(user, &new) {
        let status = match e {
            CrowdError::Refused { .. } => Status::No,
            _ => Status::Broken,
        };
        return failure(status, password::refusal_message(&e, config));
    }
    let mut text = vec![format!("password of {user} changed in Crowd")];
    if let Ok(Some(cache)) = Cache::open(config) {
        let changed: Result<_, Denial> = Ok(found);
        if let Err(problem) =
            offline::after_authenticate(&cache, &config.cache, user, &new, &changed, cache::now())
        {
            text.push(format!("cache problem: {problem}"));
        }
    }
    Report {
        status: Status::Ok,
        text,
        json: json!({ "user": user, "changed": true }),
        error: false,
    }
}
