//! Password changes through Crowd (`pam_chauthtok` through libpam, as `passwd` runs
//! it) and expired Crowd passwords.

use crate::harness::*;

const CHANGE: &[&str] = &["chauthtok"];

/// A host whose Crowd lets the application change passwords (or not).
fn setup(fixture: Fixture) -> (Double, Host) {
    let double = Double::start(fixture, Transport::Https);
    let host = Host::for_double(
        &double,
        &format!("password_change_url = \"https://id.example.com/password\"\n{RULES}"),
    );
    (double, host)
}

fn changed_in_crowd(double: &Double) -> bool {
    double.asked().iter().any(|op| op == "set-password")
}

/// `chauthtok` for `user`: current password, then the new one twice.
fn change(host: &Host, user: &str, old: &str, new: &str) -> Run {
    host.run_answering("crowd-test", user, &[old, new, new], CHANGE)
}

#[test]
fn a_change_sets_the_new_password_in_crowd() {
    let (double, host) = setup(Fixture::demo().writable());
    let run = change(&host, "alice", "alice-pw", "new-alice-pw");
    assert_eq!(run.codes, vec![Code::Success], "{}\n{}", run.log, run.shown);
    assert!(run.log.contains("password changed in Crowd"), "{}", run.log);
    assert!(changed_in_crowd(&double));
    let login = host.run("alice", "new-alice-pw", &["authenticate"]);
    assert_eq!(login.last(), Code::Success, "{}", login.log);
    let old = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(old.last(), Code::AuthErr, "{}", old.log);
}

#[test]
fn a_wrong_current_password_changes_nothing() {
    let (double, host) = setup(Fixture::demo().writable());
    let run = change(&host, "alice", "not-alice-pw", "new-alice-pw");
    assert_eq!(run.last(), Code::AuthErr, "{}", run.log);
    assert!(
        run.log.contains("INVALID_USER_AUTHENTICATION"),
        "{}",
        run.log
    );
    assert!(!changed_in_crowd(&double));
}

#[test]
fn crowds_policy_message_reaches_the_user() {
    let (_double, host) = setup(Fixture::demo().writable());
    let run = change(&host, "alice", "alice-pw", "short");
    assert_eq!(run.last(), Code::AuthtokErr, "{}", run.log);
    assert!(
        run.shown
            .contains("Crowd refused the new password: The new password does not meet"),
        "the user should see Crowd's message:\n{}",
        run.shown
    );
    assert_eq!(
        host.run("alice", "alice-pw", &["authenticate"]).last(),
        Code::Success
    );
}

#[test]
fn an_application_without_permission_is_explained() {
    let (_double, host) = setup(Fixture::demo());
    let run = change(&host, "alice", "alice-pw", "new-alice-pw");
    assert_eq!(run.last(), Code::PermDenied, "{}", run.log);
    assert!(
        run.shown
            .contains("Crowd does not let this host change passwords")
            && run.shown.contains("https://id.example.com/password"),
        "{}",
        run.shown
    );
}

#[test]
fn a_user_crowd_does_not_know_is_left_to_the_next_module() {
    let (double, host) = setup(Fixture::demo().writable());
    host.service(
        "passwd",
        "password [success=done ignore=ignore default=die] {module} config={config}\n\
         password required pam_permit.so\n",
    );
    // No current-password prompt is answered: the module must not ask.
    let run = host.run_answering("passwd", "localadmin", &[], CHANGE);
    assert_eq!(run.codes, vec![Code::Success], "{}\n{}", run.log, run.shown);
    let d = run.decision();
    assert_eq!(
        (d.code, d.user.as_str()),
        (Code::Ignore, "localadmin"),
        "{d:?}"
    );
    assert!(
        d.reason.starts_with("Crowd does not know this user"),
        "{d:?}"
    );
    assert!(!changed_in_crowd(&double));
}

#[test]
fn an_expired_password_logs_in_only_to_be_changed() {
    let (double, host) = setup(Fixture::demo().writable().expired("alice"));
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(
        run.codes,
        vec![Code::Success, Code::NewAuthtokReqd],
        "{}\n{}",
        run.log,
        run.shown
    );
    assert!(
        run.shown.contains("Your Crowd password has expired")
            && run.shown.contains("https://id.example.com/password"),
        "{}",
        run.shown
    );
    assert_eq!(run.decision().code, Code::NewAuthtokReqd, "{}", run.log);
    // A wrong password is still wrong: Crowd says "expired" only for the right one.
    assert_eq!(
        host.run("alice", "guess", &["authenticate"]).last(),
        Code::AuthErr
    );
    // The expired password is accepted as the current one for the change.
    let changed = change(&host, "alice", "alice-pw", "fresh-alice-pw");
    assert_eq!(changed.codes, vec![Code::Success], "{}", changed.log);
    assert!(changed_in_crowd(&double));
    let login = host.run("alice", "fresh-alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(
        login.codes,
        vec![Code::Success, Code::Success],
        "{}",
        login.log
    );
}

#[test]
fn the_command_says_what_the_module_says_of_an_expired_password() {
    let (_double, host) = setup(Fixture::demo().expired("alice"));
    let module = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(module.last(), Code::NewAuthtokReqd, "{}", module.log);
    let out = pam_crowd(&host, &["auth", "alice", "--json"], "alice-pw\n");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let json = out.json();
    assert_eq!(json["code"], "PAM_NEW_AUTHTOK_REQD", "{json}");
    assert_eq!(json["allowed"], false, "{json}");
    assert!(
        json["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{json}"
    );
}

#[test]
fn admins_set_a_password_with_pam_crowd_passwd() {
    let (_double, host) = setup(Fixture::demo().writable());
    let differ = pam_crowd(&host, &["passwd", "alice"], "first-pw-1\nsecond-pw-2\n");
    assert_eq!(differ.code, 1, "{}", differ.stderr);
    assert!(differ.stderr.contains("differ"), "{}", differ.stderr);
    let short = pam_crowd(&host, &["passwd", "alice"], "short\nshort\n");
    assert_eq!(short.code, 1, "{}", short.stderr);
    assert!(
        short.stderr.contains("Crowd refused the new password"),
        "{}",
        short.stderr
    );
    assert_eq!(
        host.run("alice", "alice-pw", &["authenticate"]).last(),
        Code::Success,
        "a refused password changes nothing"
    );
    let set = pam_crowd(&host, &["passwd", "alice"], "admin-set-pw\nadmin-set-pw\n");
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert_eq!(
        host.run("alice", "admin-set-pw", &["authenticate"]).last(),
        Code::Success
    );
    let (_double, locked) = setup(Fixture::demo());
    let refused = pam_crowd(
        &locked,
        &["passwd", "alice"],
        "admin-set-pw\nadmin-set-pw\n",
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("does not let this host change passwords"),
        "{}",
        refused.stderr
    );
}
