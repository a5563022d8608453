//! Password changes through Crowd (`pam_sm_chauthtok`) and expired Crowd passwords.
//!
//! Crowd's `PUT /user/password` checks only its directory's policy, never the old
//! password, so both calls of a change verify the current one first. Crowd says
//! `EXPIRED_CREDENTIAL` only once the password matched (its API contract for
//! ExpiredCredentialException), which is what lets an expired password start the
//! change instead of locking the user out.

use crate::cache::Cache;
use crate::config::Config;
use crate::crowd::{CrowdError, Directory, Reason, User};
use crate::login::check_password;
use crate::offline;
use crate::outcome::{Denial, Granted, PasswordStep, printable};
use crate::pam_context::{Level, PamContext};

/// Whether Crowd's refusal means: the password was right, but has expired.
pub fn is_expired(error: &CrowdError) -> bool {
    error.reason() == Some(&Reason::ExpiredCredential)
}

/// What the user is told when Crowd says their password has expired.
pub fn expired_message(config: &Config) -> String {
    let mut text = "Your Crowd password has expired: choose a new one now.".to_string();
    if let Some(url) = &config.password_change_url {
        text.push_str(&format!(" You can also change it at {url}"));
    }
    text
}

/// After Crowd said `EXPIRED_CREDENTIAL` (so the password matched): the user it
/// belongs to, held to the same rules as an accepted login (exactly this name, active).
pub fn expired_user(
    crowd: &impl Directory,
    names: crate::names::UserNames,
    user: &str,
) -> Result<User, Denial> {
    let found = crowd.user(user).map_err(Denial::Crowd)?;
    names.same_account(user, &found.name)?;
    if !found.active {
        return Err(Denial::Inactive);
    }
    Ok(found)
}

/// One call of a password change for `user`. The preliminary check verifies the
/// current password; the update verifies it again, then sets the new one. A user
/// Crowd does not know (under exactly this name) is another module's: not ours.
pub fn change<P: PamContext>(
    pam: &mut P,
    crowd: &impl Directory,
    config: &Config,
    cache: Option<&Cache>,
    user: &str,
    step: PasswordStep,
) -> Result<Granted, Denial> {
    // Before any prompt: a local user's `passwd` must not be asked for a Crowd password.
    let found = match crowd.user(user) {
        Err(CrowdError::Refused {
            reason: Reason::UserNotFound,
            ..
        }) => return Err(Denial::NotOurs("Crowd does not know this user".into())),
        other => other.map_err(Denial::Crowd)?,
    };
    if config.user_names.same_account(user, &found.name).is_err() {
        return Err(Denial::NotOurs(format!(
            "Crowd knows {:?}, not this user",
            found.name
        )));
    }
    if !found.active {
        return Err(Denial::Inactive);
    }
    let old = check_password(pam.old_password()?)?;
    match crowd.authenticate(user, &old, pam.rhost().as_deref()) {
        Ok(_) => {}
        Err(e) if is_expired(&e) => {}
        Err(e) => return Err(Denial::Crowd(e)),
    }
    if !step.update {
        return Ok(Granted {
            detail: "current password verified by Crowd".into(),
            offline: false,
        });
    }
    let new = check_password(pam.password()?)?;
    if let Err(e) = crowd.set_password(user, &new) {
        pam.tell(true, &refusal_message(&e, config));
        return Err(Denial::Crowd(e));
    }
    // The offline cache follows: the old password must not work offline any more.
    if let Some(cache) = cache {
        if let Err(problem) =
            offline::after_authenticate(cache, &config.cache, user, &new, &Ok(found))
        {
            pam.log(
                Level::Err,
                &format!(
                    "cache problem user={user:?}: {}",
                    printable(&problem.to_string())
                ),
            );
        }
    }
    Ok(Granted {
        detail: "password changed in Crowd".into(),
        offline: false,
    })
}

/// Why Crowd did not change the password, for the user.
pub fn refusal_message(error: &CrowdError, config: &Config) -> String {
    let elsewhere = config
        .password_change_url
        .as_ref()
        .map(|url| format!(" Change it at {url}"))
        .unwrap_or_default();
    match error {
        CrowdError::Refused {
            reason: Reason::InvalidCredential,
            message,
            ..
        } => format!("Crowd refused the new password: {message}"),
        CrowdError::Refused { status: 403, .. } => format!(
            "Crowd does not let this host change passwords: the password was not changed.{elsewhere}"
        ),
        CrowdError::Refused { .. } => format!(
            "Crowd refused the change ({}): the password was not changed.{elsewhere}",
            error.reason().map(Reason::as_str).unwrap_or_default()
        ),
        _ => format!("Crowd cannot be reached: the password was not changed.{elsewhere}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: Option<&str>) -> Config {
        let extra = url
            .map(|u| format!("password_change_url = {u:?}\n"))
            .unwrap_or_default();
        Config::parse(
            std::path::Path::new("/etc/pam_crowd.toml"),
            &format!(
                "url = \"https://crowd.example\"\napplication = \"a\"\npassword = \"x\"\n{extra}"
            ),
        )
        .unwrap()
    }

    #[test]
    fn users_learn_why_a_change_failed() {
        let policy = CrowdError::Refused {
            status: 400,
            reason: Reason::InvalidCredential,
            message: "at least 8 characters".into(),
        };
        assert_eq!(
            refusal_message(&policy, &config(None)),
            "Crowd refused the new password: at least 8 characters"
        );
        let forbidden = CrowdError::Refused {
            status: 403,
            reason: Reason::Other("APPLICATION_PERMISSION_DENIED".into()),
            message: String::new(),
        };
        let with_url = refusal_message(&forbidden, &config(Some("https://id.example/pw")));
        assert!(with_url.contains("does not let this host"), "{with_url}");
        assert!(
            with_url.ends_with("Change it at https://id.example/pw"),
            "{with_url}"
        );
        assert!(
            refusal_message(&CrowdError::Unavailable(vec![]), &config(None))
                .starts_with("Crowd cannot be reached")
        );
        assert!(
            expired_message(&config(Some("https://id.example/pw")))
                .contains("https://id.example/pw")
        );
    }
}
