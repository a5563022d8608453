//! What only SOAP has: the application token, kept for the transaction and renewed
//! once; the client's address as a validation factor; a server that no longer offers
//! SOAP. Everything else runs over SOAP too when `tests/run` runs this suite again
//! with `PAM_CROWD_TEST_PROTOCOL=soap`.

use crate::harness::*;

/// A host speaking SOAP to `double`, whatever protocol this run speaks.
fn soap_host(double: &Double, extra: &str) -> Host {
    Host::new(&format!(
        "protocol = \"soap\"\n{}",
        config_for(&[double], extra)
    ))
}

fn count(asked: &[String], op: &str) -> usize {
    asked.iter().filter(|o| *o == op).count()
}

#[test]
fn one_application_token_serves_the_whole_transaction() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = soap_host(&double, "allow_groups = [\"linux-users\"]\n");
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert_eq!(
        double.asked(),
        [
            "app-auth",
            "authenticate",
            "user",
            "end-session",
            "is-member"
        ],
        "{}",
        run.log
    );
    let auth = double
        .requests()
        .into_iter()
        .find(|r| r.op() == "authenticate")
        .expect("authenticatePrincipal");
    assert!(
        auth.body.contains(
            "<ValidationFactor><name>remote_address</name><value>203.0.113.9</value></ValidationFactor>"
        ),
        "PAM_RHOST goes to Crowd as the remote_address factor: {}",
        auth.body
    );
    assert!(
        run.log.contains("authenticatePrincipal") && run.log.contains("isGroupMember"),
        "the debug trail names the operations: {}",
        run.log
    );
}

#[test]
fn an_expired_application_token_is_renewed_and_the_call_repeated() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = soap_host(&double, RULES);
    // Each token is good for two calls: a login needs four, so one renewal.
    double.limit_app_tokens(2);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    let asked = double.asked();
    assert_eq!(count(&asked, "app-auth"), 2, "{asked:?}");
    assert_eq!(count(&asked, "authenticate"), 1, "{asked:?}");
}

#[test]
fn a_fresh_token_refused_again_is_the_application_refused_not_a_loop() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = soap_host(&double, RULES);
    double.limit_app_tokens(0);
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
    assert!(
        run.log.contains("refused a fresh application token"),
        "{}",
        run.log
    );
    assert_eq!(
        double.asked(),
        ["app-auth", "authenticate", "app-auth", "authenticate"]
    );
}

#[test]
fn a_wrong_application_password_is_never_retried_elsewhere() {
    let first = Double::start(Fixture::demo(), Transport::Https);
    let second = Double::start(Fixture::demo(), Transport::Https);
    let config = format!(
        "protocol = \"soap\"\n{}",
        config_for(&[&first, &second], RULES).replace(APP_PASSWORD, "stale-secret")
    );
    let host = Host::new(&config);
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
    assert!(
        run.log
            .contains("refused the application's credentials (InvalidAuthenticationException"),
        "{}",
        run.log
    );
    assert_eq!(first.asked(), ["app-auth"]);
    assert!(second.asked().is_empty(), "every node would refuse it too");
}

#[test]
fn a_crowd_without_soap_is_named_in_the_log() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = soap_host(&double, RULES);
    double.set_fault(Fault::Respond(Canned::new(
        404,
        "text/html",
        "<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>",
    )));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
    assert!(
        run.log
            .contains("does this Crowd offer SOAP (removed in Crowd 5.0)?"),
        "{}",
        run.log
    );
}

#[test]
fn an_unknown_protocol_is_a_config_error() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::new(&config_for(&[&double], "protocol = \"ftp\"\n"));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr, "{}", run.log);
    assert!(
        run.log.contains("key `protocol`")
            && run
                .log
                .contains("expected \"rest\" (the default) or \"soap\"")
            && !run.log.contains("ftp"),
        "{}",
        run.log
    );
    assert!(double.requests().is_empty());
}
