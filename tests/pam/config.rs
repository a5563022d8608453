//! A missing, unreadable or malformed configuration denies with a clear log line.

use crate::harness::*;

#[test]
fn missing_config_file() {
    let host = Host::new("");
    std::fs::remove_file(host.config_path()).expect("remove");
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(run.log.contains("cannot open config file"), "{}", run.log);
    let run = host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::ServiceErr);
}

#[test]
fn malformed_config_names_line_and_key() {
    let (double, host) = https_setup(RULES);
    host.write_config(&config_for(&[&double], "colour = \"blue\"\n"));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(
        run.log.contains("line 6 key `colour`: unknown field"),
        "{}",
        run.log
    );

    host.write_config(&config_for(&[&double], "timeout = \"soon\"\n").replace("timeout = 5\n", ""));
    let run = host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(run.log.contains("key `timeout`"), "{}", run.log);

    host.write_config("url = \"https://x\"\napplication = \"a\"\npassword = \"never-log-me\n");
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(run.log.contains("line 3"), "{}", run.log);
    assert!(!run.log.contains("never-log-me"), "{}", run.log);
    assert!(double.requests().is_empty());
}

#[test]
fn unknown_module_argument() {
    let (double, host) = https_setup(RULES);
    host.service(
        "crowd-test",
        "auth required {module} config={config} use_frist_pass\n",
    );
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(
        run.log
            .contains("unknown module argument \"use_frist_pass\""),
        "{}",
        run.log
    );
    assert!(double.requests().is_empty());
}

#[test]
fn unreadable_ca_file() {
    let (double, host) = https_setup(RULES);
    let config = config_for(&[&double], RULES);
    let ca = double.ca_file().expect("ca").display().to_string();
    host.write_config(&config.replace(&ca, "/nonexistent/ca.pem"));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr);
    assert!(
        run.log.contains("/nonexistent/ca.pem: cannot open ca_file"),
        "{}",
        run.log
    );
}

#[test]
fn a_ca_file_others_may_change_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (double, _) = https_setup(RULES);
    let host = Host::new("");
    // A copy of the double's CA, writable by everyone: whoever edits it can make any
    // server Crowd, and approve any login.
    let ca = host.dir.join("ca.pem");
    std::fs::copy(double.ca_file().expect("ca"), &ca).expect("copy CA");
    let config = config_for(&[&double], RULES).replace(
        &double.ca_file().expect("ca").display().to_string(),
        &ca.display().to_string(),
    );
    host.write_config(&config);
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr, "{}", run.log);
    assert!(run.log.contains("ca_file mode 0666"), "{}", run.log);
    assert!(double.requests().is_empty());
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
}

#[test]
fn debug_logs_requests_but_never_secrets() {
    let (_double, host) = https_setup(RULES);
    // The harness asserts on every run that neither secret is in the log; here the
    // requests are logged too, so there is something to leak.
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert!(run.log.contains("crowd request POST"), "{}", run.log);
    let membership = if soap() {
        "findGroupMemberships"
    } else {
        "/user/group/nested username=\"alice\""
    };
    assert!(run.log.contains(membership), "{}", run.log);
    let run = host.run("alice", "wrong-password", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr);
}
