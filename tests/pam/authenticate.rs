//! pam_sm_authenticate: Crowd's auth_user and what each answer becomes.

use crate::harness::*;

#[test]
fn right_password_of_an_active_user_succeeds_over_https() {
    let (double, host) = https_setup(RULES);
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.codes, vec![Code::Success], "{}", run.log);
    let decision = run.decision();
    assert_eq!(
        (decision.verdict.as_str(), decision.user.as_str()),
        ("granted", "alice")
    );
    assert_eq!(double.asked(), expected_ops(&["authenticate"]));
    let auth = double
        .requests()
        .into_iter()
        .find(|r| r.op() == "authenticate")
        .expect("an authentication");
    assert_eq!(auth.method, "POST");
    assert_eq!(auth.param("username"), Some("alice"));
    assert_eq!(auth.password().as_deref(), Some("alice-pw"));
    if !soap() {
        assert_eq!(auth.path, "/authentication");
        assert_eq!(auth.body, r#"{"value":"alice-pw"}"#);
    } else {
        assert!(
            auth.body.contains("<value>203.0.113.9</value>"),
            "SOAP sends the client's address as a validation factor: {}",
            auth.body
        );
    }
}

#[test]
fn wrong_password_is_auth_err_with_crowds_reason_logged() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("alice", "not-her-password", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr);
    let d = run.decision();
    assert_eq!(
        (
            d.verdict.as_str(),
            d.user.as_str(),
            d.service.as_str(),
            d.rhost.as_str()
        ),
        ("denied", "alice", "crowd-test", "203.0.113.9")
    );
    assert_eq!(d.code, Code::AuthErr);
    assert!(d.reason.contains("INVALID_USER_AUTHENTICATION"), "{d:?}");
}

#[test]
fn inactive_user_is_auth_err() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("carol", "carol-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr);
    assert!(run.log.contains("INACTIVE_ACCOUNT"), "{}", run.log);
}

#[test]
fn expired_or_not_permitted_is_auth_err() {
    for reason in [
        "EXPIRED_CREDENTIAL",
        "APPLICATION_ACCESS_DENIED",
        "A_REASON_FROM_THE_FUTURE",
    ] {
        let (double, host) = https_setup(RULES);
        let status = if reason == "APPLICATION_ACCESS_DENIED" {
            403
        } else {
            400
        };
        double.set_user_fault("alice", Fault::Respond(crowd_refusal(status, reason, "no")));
        let run = host.run("alice", "alice-pw", &["authenticate"]);
        assert_eq!(run.last(), Code::AuthErr, "{reason}: {}", run.log);
        assert!(run.log.contains(reason), "{}", run.log);
    }
}

#[test]
fn unknown_user_is_user_unknown() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("zed", "whatever", &["authenticate"]);
    assert_eq!(run.last(), Code::UserUnknown);
    assert!(run.log.contains("USER_NOT_FOUND"), "{}", run.log);
}

#[test]
fn a_different_canonical_name_is_refused() {
    // Crowd matches "Alice" to "alice" and accepts alice's password: the module must
    // not let local user "Alice" in on it.
    let (double, host) = https_setup(RULES);
    let run = host.run("Alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr);
    assert!(
        run.log.contains("Crowd knows this user as \"alice\""),
        "{}",
        run.log
    );
    assert_eq!(double.asked(), expected_ops(&["authenticate"]));
}

#[test]
fn empty_password_is_refused_without_asking_crowd() {
    let (double, host) = https_setup(RULES);
    let run = host.run("alice", "", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr);
    assert!(run.log.contains("empty password"), "{}", run.log);
    assert!(double.requests().is_empty(), "{:?}", double.requests());
}

#[test]
fn odd_usernames_and_passwords_reach_crowd_exactly() {
    // Every character the host's name rule admits, in names Crowd sites use (e-mail
    // style), with a password of URL metacharacters.
    let names = ["jane.doe@example.com", "o_neil-2", "A.B@c-d_e", "x@y"];
    let password = "p &%+\"\\/ü=?#'";
    let fixture = names.iter().fold(Fixture::default(), |f, n| {
        f.user(n, password, true).member("linux-users", n)
    });
    let double = Double::start(fixture, Transport::Https);
    let host = Host::for_double(&double, RULES);
    for name in names {
        double.clear_requests();
        let run = host.run(name, password, &["authenticate", "acct_mgmt"]);
        assert_eq!(
            run.codes,
            vec![Code::Success, Code::Success],
            "{name}: {}",
            run.log
        );
        for req in double.requests() {
            if !matches!(req.op(), "app-auth" | "end-session") {
                assert_eq!(req.param("username"), Some(name), "{req:?}");
            }
        }
        let auth = double
            .requests()
            .into_iter()
            .find(|r| r.op() == "authenticate")
            .expect("an authentication");
        assert_eq!(auth.password().as_deref(), Some(password));
    }
}

#[test]
fn names_a_host_cannot_show_unambiguously_are_unknown_and_crowd_is_not_asked() {
    let names = [
        "a&b=c",
        "x/y",
        "100%",
        "sp ace",
        "ü-ñ-日本",
        "a+b",
        "quo\"te",
        "back\\slash",
        "semi;colon",
        "q?x#y",
        "o'neil",
        "0",
        "1000",
        "root\u{200b}",
        "-rf",
        ".profile",
    ];
    let fixture = names.iter().fold(Fixture::default(), |f, n| {
        f.user(n, "pw-of-odd-user", true).member("linux-users", n)
    });
    let double = Double::start(fixture, Transport::Https);
    let host = Host::for_double(&double, RULES);
    for name in names {
        double.clear_requests();
        let run = host.run(name, "pw-of-odd-user", &["authenticate"]);
        assert_eq!(run.codes, vec![Code::UserUnknown], "{name}: {}", run.log);
        assert!(
            run.log.contains("no Crowd user has this name here"),
            "{name}: {}",
            run.log
        );
        let run = host.run(name, "", &["acct_mgmt"]);
        assert_eq!(run.codes, vec![Code::UserUnknown], "{name}: {}", run.log);
        assert!(
            double.requests().is_empty(),
            "{name}: {:?}",
            double.requests()
        );
    }
}

#[test]
fn use_first_pass_takes_the_password_of_an_earlier_module() {
    let (double, host) = https_setup(RULES);
    // The first line prompts and stores PAM_AUTHTOK; the second must not prompt again
    // (pamtester has one line of input) and must use the same password.
    host.service(
        "crowd-test",
        "auth optional {module} config={config}\n\
         auth required {module} config={config} use_first_pass\n",
    );
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.codes, vec![Code::Success], "{}", run.log);
    let auths: Vec<_> = double
        .requests()
        .into_iter()
        .filter(|r| r.op() == "authenticate")
        .collect();
    assert_eq!(auths.len(), 2);
    assert!(
        auths
            .iter()
            .all(|r| r.password().as_deref() == Some("alice-pw"))
    );

    // Alone, use_first_pass has no password to use and must not prompt.
    host.service(
        "crowd-test",
        "auth required {module} config={config} use_first_pass\n",
    );
    double.clear_requests();
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_ne!(run.last(), Code::Success, "{}", run.log);
    assert!(double.requests().is_empty());
}
