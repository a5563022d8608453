//! Password changes through Crowd (`pam_sm_chauthtok`) and expired Crowd passwords.
//!
//! Crowd's `PUT /user/password` checks only its directory's policy, never the old
//! password, so both calls of a change verify the current one first. Crowd says
//! `EXPIRED_CREDENTIAL` only once the password matched (its API contract for
//! ExpiredCredentialException), which is what lets an expired password start the
//! change instead of locking the user out.

use crate::config::Config;
use crate::crowd::{CrowdError, Reason};
use crate::input::check_password;
use crate::outcome::{AccountState, Denial, Granted, PasswordStep, Verdict, printable};
use crate::pam_context::PamContext;
use crate::policy::AccessRules;
use crate::resolver::{Connect, CrowdName, Resolver};

/// What the user is told when Crowd says their password has expired.
pub fn expired_message(config: &Config) -> String {
    let mut text = "Your Crowd password has expired: choose a new one now.".to_string();
    if let Some(url) = &config.password_change_url {
        text.push_str(&format!(" You can also change it at {url}"));
    }
    text
}

/// One call of a password change for `user`, through the resolver that admits
/// logins ([`Resolver::password_account`]: active in Crowd, and `rules`). The
/// preliminary check verifies the current password; the update verifies it again,
/// then sets the new one. A user Crowd does not know (under exactly this name) is
/// another module's: not ours.
pub fn change<P: PamContext>(
    pam: &mut P,
    resolver: &mut Resolver<'_, impl Connect>,
    config: &Config,
    user: &CrowdName,
    rules: &AccessRules,
    step: PasswordStep,
) -> Result<Verdict, Denial> {
    // Before any prompt: a local user's `passwd` must not be asked for a Crowd password.
    let account = match resolver.password_account(user, rules) {
        Err(denial) if denial.reason() == Some(&Reason::UserNotFound) => {
            return Ok(Verdict::NotOurs("Crowd does not know this user".into()));
        }
        Err(Denial::Account(AccountState::NameMismatch { canonical, .. })) => {
            return Ok(Verdict::NotOurs(format!(
                "Crowd knows {canonical:?}, not this user"
            )));
        }
        other => other?,
    };
    let old = check_password(pam.old_password()?)?;
    resolver.current_password(user, &old, pam.rhost().as_deref())?;
    if !step.update {
        return Ok(Verdict::Granted(Granted::new(
            "current password verified by Crowd",
        )));
    }
    let new = check_password(pam.password()?)?;
    if let Err(e) = resolver.set_password(user, &account, &new)? {
        pam.tell(true, &refusal_message(&e, config));
        return Err(e.into());
    }
    Ok(Verdict::Granted(Granted::new("password changed in Crowd")))
}

/// Why Crowd did not change the password, for the user: Crowd's words made printable,
/// as log lines are, so they cannot drive the user's terminal.
pub fn refusal_message(error: &CrowdError, config: &Config) -> String {
    printable(&refusal_text(error, config))
}

fn refusal_text(error: &CrowdError, config: &Config) -> String {
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
        CrowdError::Refused {
            reason: Reason::ApplicationPermissionDenied,
            ..
        } => format!(
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
            reason: Reason::ApplicationPermissionDenied,
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

    #[test]
    fn crowds_words_reach_the_user_escaped() {
        let hostile = CrowdError::Refused {
            status: 400,
            reason: Reason::InvalidCredential,
            message: "no\u{1b}]0;OWNED\u{7}\u{1b}[2J\nFake: prompt\u{202e}".into(),
        };
        let shown = refusal_message(&hostile, &config(None));
        assert_eq!(
            shown,
            "Crowd refused the new password: no\\u{1b}]0;OWNED\\u{7}\\u{1b}[2J\\nFake: prompt\\u{202e}"
        );
    }
}
