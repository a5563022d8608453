//! The `pam-crowd` command, built by cargo, against the same Crowd double: every
//! subcommand, every exit status, `--json` parsed.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

/// A host for `double` whose config is root-only, as `check` requires.
fn private_host(double: &Double, extra: &str) -> Host {
    let host = Host::for_double(double, extra);
    chmod(&host, 0o600);
    host
}

fn chmod(host: &Host, mode: u32) {
    std::fs::set_permissions(host.config_path(), std::fs::Permissions::from_mode(mode))
        .expect("chmod");
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {report}"))
}

#[test]
fn check_passes_every_step_of_a_good_setup() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = private_host(&double, RULES);
    let out = pam_crowd(&host, &["check"], "");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for line in [
        "config: ok",
        "resolve: ok",
        "connect: ok",
        "tls: ok",
        "application: ok",
        "local accounts: ok: none of the",
    ] {
        assert!(out.stdout.contains(line), "{line} missing:\n{}", out.stdout);
    }
    let report = pam_crowd(&host, &["check", "--json"], "").json();
    assert_eq!(report["ok"], true);
    assert_eq!(step(&report, "application")["ok"], true);
    // The protocol checked is the one configured.
    let (protocol, via) = if soap() {
        ("SOAP (/services/SecurityServer)", "SOAP service")
    } else {
        ("REST API", "accepted by Crowd")
    };
    let said = |name: &str| {
        step(&report, name)["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(said("config").contains(protocol), "{report}");
    assert!(said("application").contains(via), "{report}");
}

#[test]
fn check_warns_of_crowd_users_named_like_local_system_accounts() {
    let fixture = Fixture::demo().user("root", "root-crowd-pw", true).user(
        "daemon",
        "daemon-crowd-pw",
        false,
    );
    let double = Double::start(fixture, Transport::Https);
    let host = private_host(&double, RULES);
    let out = pam_crowd(&host, &["check"], "");
    assert_eq!(out.code, 0, "a warning, not a failure: {}", out.stdout);
    assert!(
        out.stdout.contains(
            "local accounts: WARNING: Crowd has users named like local accounts: \
             root (uid 0): the host's: a system account (below min_uid 1000)"
        ) && out
            .stdout
            .contains("; daemon (uid 1): the host's: a system account"),
        "{}",
        out.stdout
    );
    let report = pam_crowd(&host, &["check", "--json"], "").json();
    assert_eq!(step(&report, "local accounts")["warning"], true);
}

#[test]
fn check_names_the_failing_step_with_a_hint() {
    // Readable by others.
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = private_host(&double, RULES);
    chmod(&host, 0o644);
    let out = pam_crowd(&host, &["check", "--json"], "");
    assert_eq!(out.code, 2);
    let config = step(&out.json(), "config").clone();
    assert_eq!(config["ok"], false);
    assert!(
        config["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("chmod go-rwx"),
        "{config}"
    );

    // Wrong application password.
    let host = Host::new(&config_for(&[&double], RULES).replace(APP_PASSWORD, "stale"));
    chmod(&host, 0o600);
    let report = pam_crowd(&host, &["check", "--json"], "");
    assert_eq!(report.code, 2);
    let app = step(&report.json(), "application").clone();
    assert_eq!(app["ok"], false);
    assert!(
        app["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("application"),
        "{app}"
    );

    // Untrusted certificate.
    let untrusted = Double::start(Fixture::demo(), Transport::HttpsUntrustedCa);
    let host = private_host(&untrusted, RULES);
    let out = pam_crowd(&host, &["check"], "");
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("tls: FAILED"), "{}", out.stdout);
    assert!(out.stdout.contains("hint: set ca_file"), "{}", out.stdout);

    // Nothing listening.
    let host = Host::new(&format!(
        "url = \"https://localhost:{}/crowd\"\napplication = \"a\"\npassword = \"p\"\n",
        closed_port()
    ));
    chmod(&host, 0o600);
    let out = pam_crowd(&host, &["check"], "");
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("connect: FAILED"), "{}", out.stdout);

    // Malformed config.
    host.write_config("url = 1\n");
    let out = pam_crowd(&host, &["check"], "");
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("config: FAILED"), "{}", out.stdout);
}

#[test]
fn auth_runs_the_modules_decision() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::for_double(
        &double,
        &format!("{RULES}[service.sudo]\nallow_groups = [\"sudo-admins\"]\n"),
    );

    let out = pam_crowd(&host, &["auth", "alice"], "alice-pw\n");
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "allowed"),
        "{}",
        out.stderr
    );

    let out = pam_crowd(&host, &["auth", "alice"], "wrong\n");
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.starts_with("denied: wrong password"),
        "{}",
        out.stdout
    );

    let out = pam_crowd(&host, &["auth", "bob", "--json"], "bob-pw\n");
    assert_eq!(out.code, 1);
    let v = out.json();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["code"], "PAM_PERM_DENIED");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("linux-users"),
        "{v}"
    );

    let out = pam_crowd(
        &host,
        &["auth", "dave", "--service", "sudo", "--json"],
        "dave-pw\n",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.json()["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("contractors")
    );

    let out = pam_crowd(&host, &["auth", "alice", "--service", "sudo"], "alice-pw\n");
    assert_eq!(out.code, 0, "{}", out.stdout);

    let out = pam_crowd(&host, &["auth", "alice"], "\n");
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("empty password"), "{}", out.stdout);

    double.set_fault(Fault::Respond(Canned::new(503, "text/plain", "down")));
    let out = pam_crowd(&host, &["auth", "alice", "--json"], "alice-pw\n");
    assert_eq!(out.code, 2);
    assert_eq!(out.json()["code"], "PAM_AUTHINFO_UNAVAIL");
}

#[test]
fn account_alone() {
    let (_double, host) = https_setup(RULES);
    assert_eq!(pam_crowd(&host, &["account", "alice"], "").code, 0);
    let out = pam_crowd(&host, &["account", "carol", "--json"], "");
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["code"], "PAM_ACCT_EXPIRED");
    let out = pam_crowd(&host, &["account", "zed", "--json"], "");
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["code"], "PAM_USER_UNKNOWN");
}

#[test]
fn user_groups_and_members() {
    let (_double, host) = https_setup(RULES);
    let user = pam_crowd(&host, &["user", "alice", "--json"], "");
    assert_eq!(user.code, 0);
    let v = user.json();
    assert_eq!(
        (v["name"].as_str(), v["active"].as_bool()),
        (Some("alice"), Some(true))
    );

    let missing = pam_crowd(&host, &["user", "zed"], "");
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.is_empty() && missing.stderr.contains("USER_NOT_FOUND"),
        "{}",
        missing.stderr
    );

    let nested = pam_crowd(&host, &["groups", "alice", "--json"], "").json();
    assert_eq!(
        nested["groups"],
        serde_json::json!(["developers", "linux-users", "sudo-admins"])
    );
    let direct = pam_crowd(&host, &["groups", "alice", "--direct"], "");
    if soap() {
        // SOAP has one membership list: the server's (nested, where it nests).
        assert_eq!(direct.stdout, "developers\nlinux-users\nsudo-admins\n");
    } else {
        assert_eq!(direct.stdout, "developers\nsudo-admins\n");
    }

    let members = pam_crowd(&host, &["members", "linux-users", "--json"], "").json();
    if soap() {
        // findGroupByName lists the group's own members; alice is in it through
        // "developers".
        assert_eq!(
            members["users"],
            serde_json::json!(["carol", "dave", "erin"])
        );
    } else {
        assert_eq!(
            members["users"],
            serde_json::json!(["alice", "carol", "dave", "erin"])
        );
    }
    assert_eq!(pam_crowd(&host, &["members", "no-such-group"], "").code, 1);
}

#[test]
fn sessions_are_created_validated_and_terminated() {
    let (double, host) = https_setup(RULES);
    let created = pam_crowd(
        &host,
        &[
            "session", "create", "alice", "--remote", "10.1.1.1", "--json",
        ],
        "alice-pw\n",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let token = created.json()["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The double's tokens hold '/' and '+': they must travel as one path segment.
    assert!(token.contains('/') && token.contains('+'), "{token}");

    // The token on standard input, as documented: never in argv, where ps shows it.
    let ok = pam_crowd(
        &host,
        &["session", "validate", "--remote", "10.1.1.1"],
        &format!("{token}\n"),
    );
    assert_eq!((ok.code, ok.stdout.trim()), (0, "valid: session of alice"));
    let elsewhere = pam_crowd(
        &host,
        &["session", "validate", &token, "--remote", "10.9.9.9"],
        "",
    );
    assert_eq!(elsewhere.code, 1);

    assert_eq!(
        pam_crowd(&host, &["session", "terminate"], &format!("{token}\n")).code,
        0
    );
    let none = pam_crowd(&host, &["session", "terminate"], "");
    assert!(
        none.code == 2 && none.stderr.contains("no token"),
        "{}",
        none.stderr
    );
    assert_eq!(
        pam_crowd(&host, &["session", "validate", &token], "").code,
        1
    );
    // Crowd answers 204 to ending a session it does not know: ending twice is fine.
    assert_eq!(
        pam_crowd(&host, &["session", "terminate", &token], "").code,
        0
    );
    assert!(double.asked().iter().any(|op| op == "end-session"));

    let wrong = pam_crowd(&host, &["session", "create", "alice"], "nope\n");
    assert_eq!(wrong.code, 1);
}

#[test]
fn every_subcommand_says_when_crowd_is_unreachable_or_the_config_is_broken() {
    let host = Host::new(&format!(
        "url = \"https://localhost:{}/crowd\"\napplication = \"a\"\npassword = \"p\"\ntimeout = 2\n",
        closed_port()
    ));
    let cases: [&[&str]; 9] = [
        &["auth", "alice"],
        &["account", "alice"],
        &["user", "alice"],
        &["groups", "alice"],
        &["groups", "alice", "--direct"],
        &["members", "g"],
        &["session", "create", "alice"],
        &["session", "validate", "t"],
        &["session", "terminate", "t"],
    ];
    for args in cases {
        let out = pam_crowd(&host, args, "alice-pw\n");
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let v = pam_crowd(&host, &json_args, "alice-pw\n").json();
        assert!(v.is_object(), "{args:?}: {v}");
    }
    host.write_config("colour = 1\n");
    for args in cases {
        let out = pam_crowd(&host, args, "alice-pw\n");
        assert_eq!(out.code, 2, "{args:?}");
        assert!(
            out.stderr.contains("unknown field"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn every_subcommand_has_help() {
    let host = Host::new("");
    for sub in [
        "check", "auth", "account", "user", "groups", "members", "session",
    ] {
        let out = pam_crowd(&host, &[sub, "--help"], "");
        assert_eq!(out.code, 0, "{sub}");
        assert!(
            out.stdout.contains("Usage: pam-crowd"),
            "{sub}: {}",
            out.stdout
        );
    }
    assert_eq!(pam_crowd(&host, &["no-such-command"], "").code, 2);
}
