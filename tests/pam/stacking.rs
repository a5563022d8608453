//! The stack admins should use: Crowd first, a local account (here pam_matrix, a
//! password-file module shipped with pam_wrapper) when Crowd cannot answer.

use crate::harness::*;

fn pam_matrix() -> String {
    let found = std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("pam_wrapper/pam_matrix.so"))
        .find(|p| p.exists());
    found
        .expect("pam_matrix.so from libpam-wrapper")
        .display()
        .to_string()
}

/// pam_matrix prompts again rather than reuse PAM_AUTHTOK (pam_unix would not), so
/// local logins below answer two prompts.
///
/// The recommended stack (README): Crowd decides users it knows; when it cannot
/// answer or does not know the user, the local stack decides.
const STACK: &str = "\
auth    [success=done authinfo_unavail=ignore user_unknown=ignore default=die] {module} config={config}
auth    required {matrix} passdb={passdb}
account [success=ok authinfo_unavail=ignore user_unknown=ignore default=bad] {module} config={config}
account required pam_permit.so
";

fn stacked_host(double: &Double) -> Host {
    let host = Host::new(&config_for(&[double], RULES).replace("timeout = 5", "timeout = 2"));
    let passdb = host.dir.join("passdb");
    std::fs::write(&passdb, "localadmin:local-pw:crowd-test\n").expect("passdb");
    host.service(
        "crowd-test",
        &STACK
            .replace("{matrix}", &pam_matrix())
            .replace("{passdb}", &passdb.display().to_string()),
    );
    host
}

/// The local administrator logs in (two prompts: see above).
fn local_login(host: &Host) -> Run {
    host.run_answering(
        "crowd-test",
        "localadmin",
        &["local-pw", "local-pw"],
        &["authenticate", "acct_mgmt"],
    )
}

#[test]
fn local_account_still_logs_in_when_crowd_is_down() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = stacked_host(&double);
    double.set_fault(Fault::Respond(Canned::new(
        503,
        "text/plain",
        "maintenance",
    )));
    let run = local_login(&host);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert_eq!(run.decision().code, Code::AuthinfoUnavail, "{}", run.log);
    // A Crowd user without a local password gets nothing while Crowd is down.
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_ne!(run.last(), Code::Success, "{}", run.log);
}

#[test]
fn crowd_decides_for_users_it_knows() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = stacked_host(&double);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    // A wrong Crowd password is final: the local module is not asked.
    assert_eq!(
        host.run("alice", "wrong-pw", &["authenticate"]).last(),
        Code::AuthErr
    );
    // An account-phase denial is not thrown away by the stack.
    let run = host.run("bob", "bob-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(
        run.codes,
        vec![Code::Success, Code::PermDenied],
        "{}",
        run.log
    );
    // A user Crowd does not know falls through to the local account.
    let run = local_login(&host);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
}
