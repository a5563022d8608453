//! The phases through a scripted PAM handle: the exact sequence of PAM calls each
//! makes, and the one decision line.

use super::call::{HostRules, KnownUser};
use super::*;
use crate::crowd::CrowdError;
use crate::outcome::PasswordStep;
use crate::pam_context::Level;
use crate::resolver::{CrowdName, Known};
use crate::testing::{Expect, ScriptedPam};

/// A config file whose Crowd URL nobody listens on: these tests must decide first, or
/// find Crowd unreachable.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(test: &str, extra: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!(
            "pam_crowd_login_{test}_{}.toml",
            std::process::id()
        ));
        std::fs::write(
            &path,
            format!(
                "url = \"https://127.0.0.1:9/crowd\"\napplication = \"a\"\npassword = \"app-secret\"\ntimeout = 1\n{extra}"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        ConfigFile(path)
    }

    fn arg(&self) -> String {
        format!("config={}", self.0.display())
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What every call starts with: the items of the log line, then the user.
fn start(user: &'static [u8]) -> Vec<Expect> {
    vec![Expect::Service, Expect::Rhost, Expect::User(user)]
}

fn with(mut calls: Vec<Expect>, more: Vec<Expect>) -> Vec<Expect> {
    calls.extend(more);
    calls
}

#[test]
fn refusals_before_crowd_make_only_the_calls_they_need() {
    let file = ConfigFile::new("refusals", "");
    let config = file.arg();
    type Case = (
        &'static [u8],
        Vec<Expect>,
        &'static [&'static str],
        PamCode,
        &'static str,
    );
    let cases: [Case; 4] = [
        (
            b"alice",
            vec![Expect::Password(b"")],
            &[],
            PamCode::AuthErr,
            "empty password",
        ),
        (
            b"",
            vec![],
            &[],
            PamCode::UserUnknown,
            "unusable user name: empty",
        ),
        (
            b"al\xffice",
            vec![],
            &[],
            PamCode::UserUnknown,
            "not valid UTF-8",
        ),
        (
            b"alice",
            vec![],
            &["debgu"],
            PamCode::ServiceErr,
            "unknown module argument",
        ),
    ];
    for (user, middle, extra, code, says) in cases {
        let args = match extra.is_empty() {
            true => vec![config.clone()],
            false => extra.iter().map(|s| s.to_string()).collect(),
        };
        let denied = Expect::Log(Level::Notice, "denied user=");
        let denied = match code {
            PamCode::ServiceErr => Expect::Log(Level::Err, "denied user="),
            _ => denied,
        };
        let mut pam = ScriptedPam::new(with(with(start(user), middle), vec![denied]));
        assert_eq!(run(&mut pam, Phase::Auth, &args), code, "{says}");
        pam.done();
        let logged = pam.logged.borrow();
        assert!(logged[0].contains(says), "{logged:?}");
        assert!(
            logged[0].contains("service=\"sshd\" rhost=\"192.0.2.1\""),
            "{logged:?}"
        );
    }
}

#[test]
fn an_unreachable_crowd_is_unavailable_at_error_level() {
    let file = ConfigFile::new("unreachable", "");
    let mut pam = ScriptedPam::new(with(
        start(b"alice"),
        vec![
            Expect::Password(b"secret-pw"),
            Expect::Data("KeptClient"),
            Expect::SetData("KeptClient"),
            Expect::Log(Level::Err, "denied user=\"alice\""),
        ],
    ));
    assert_eq!(
        run(&mut pam, Phase::Auth, &[file.arg()]),
        PamCode::AuthinfoUnavail
    );
    pam.done();
    let line = pam.logged.borrow()[0].clone();
    assert!(
        !line.contains("secret-pw") && !line.contains("app-secret"),
        "{line}"
    );
    // The account phase reuses nothing (the kept client is for this process and
    // config, and holds no connection), and never asks for a password.
    pam.then(with(
        start(b"alice"),
        vec![
            Expect::Data("KnownUser"),
            Expect::Data("KeptClient"),
            Expect::SetData("KeptClient"),
            Expect::Log(Level::Err, "denied user=\"alice\""),
        ],
    ));
    assert_eq!(
        run(&mut pam, Phase::Account, &[file.arg()]),
        PamCode::AuthinfoUnavail
    );
    pam.done();
}

#[test]
fn a_change_of_expired_passwords_only_is_not_ours_without_an_expiry() {
    let file = ConfigFile::new("only_expired", "");
    let step = PasswordStep {
        update: false,
        only_expired: true,
    };
    // Crowd (unreachable here) is not asked, and no password is read.
    let mut pam = ScriptedPam::new(with(
        start(b"alice"),
        vec![
            Expect::Data("KnownUser"),
            Expect::Log(Level::Info, "ignored user=\"alice\""),
        ],
    ));
    assert_eq!(
        run(&mut pam, Phase::Password(step), &[file.arg()]),
        PamCode::Ignore
    );
    pam.done();
}

#[test]
fn the_host_s_own_accounts_are_not_asked_for_a_crowd_password() {
    let file = ConfigFile::new("root", "");
    let mut pam = ScriptedPam::new(with(
        start(b"root"),
        vec![Expect::Log(
            Level::Notice,
            "denied user=\"root\" service=\"sshd\" rhost=\"192.0.2.1\" code=PAM_USER_UNKNOWN: not a Crowd user here",
        )],
    ));
    assert_eq!(
        run(&mut pam, Phase::Auth, &[file.arg()]),
        PamCode::UserUnknown
    );
    pam.done();
    let step = PasswordStep {
        update: false,
        only_expired: false,
    };
    pam.then(with(
        start(b"root"),
        vec![Expect::Log(Level::Info, "ignored user=\"root\"")],
    ));
    assert_eq!(
        run(&mut pam, Phase::Password(step), &[file.arg()]),
        PamCode::Ignore
    );
    pam.done();
}

#[test]
fn the_session_phase_is_silent_with_nothing_to_do() {
    let file = ConfigFile::new("session_off", "");
    let mut pam = ScriptedPam::new(start(b"alice"));
    assert_eq!(
        run(&mut pam, Phase::Session, &[file.arg()]),
        PamCode::Ignore
    );
    pam.done();
    // A broken config is still said, at every phase.
    pam.then(with(
        start(b"alice"),
        vec![Expect::Log(Level::Err, "denied user=\"alice\"")],
    ));
    assert_eq!(
        run(
            &mut pam,
            Phase::Session,
            &["config=/nonexistent/pam_crowd.toml"]
        ),
        PamCode::ServiceErr
    );
    pam.done();
    assert!(
        pam.logged.borrow()[0].contains("/nonexistent/pam_crowd.toml"),
        "the config error is kept whole, with its file: {:?}",
        pam.logged.borrow()
    );
}

#[test]
fn the_account_phase_reuses_the_name_authenticate_checked_under_the_same_rules() {
    let file = ConfigFile::new("known_name", "");
    let config = Config::load(&file.0).unwrap();
    // What authenticate leaves for "root" had it passed: never in real life, so the
    // account phase's answer shows whether it looked the name up again.
    let known = |config: &Config| KnownUser {
        pam_user: "root".into(),
        config_path: file.0.clone(),
        name: CrowdName::unchecked("root"),
        host_rules: HostRules::of(config),
        known: Known::Offline(CrowdError::Setup("test".into())),
    };
    let account = |pam: &mut ScriptedPam, left: Vec<Expect>| {
        pam.then(with(start(b"root"), left));
        let code = run(pam, Phase::Account, &[file.arg()]);
        pam.done();
        code
    };
    // Same rules: not looked up again; the remembered offline answer decides (no
    // cache: Crowd's failure stands).
    let mut pam = ScriptedPam::new(vec![Expect::SetData("KnownUser")]);
    pam.set_data(Some(known(&config)));
    let code = account(
        &mut pam,
        vec![
            Expect::Data("KnownUser"),
            Expect::Data("KeptClient"),
            Expect::SetData("KeptClient"),
            Expect::Log(Level::Err, "denied user=\"root\""),
        ],
    );
    assert_eq!(code, PamCode::ServiceErr);
    // Other rules for the host's accounts (another min_uid): looked up again, and
    // root is the host's.
    let mut other = config.clone();
    other.min_uid += 1;
    let mut pam = ScriptedPam::new(vec![Expect::SetData("KnownUser")]);
    pam.set_data(Some(known(&other)));
    let code = account(
        &mut pam,
        vec![
            Expect::Data("KnownUser"),
            Expect::Log(Level::Notice, "denied user=\"root\""),
        ],
    );
    assert_eq!(code, PamCode::UserUnknown);
}
