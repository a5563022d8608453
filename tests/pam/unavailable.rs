//! When Crowd cannot answer, every call is PAM_AUTHINFO_UNAVAIL, never success, and
//! never longer than `timeout` + 1 s; a second url serves when the first fails.

use std::time::Duration;

use crate::harness::*;

/// Runs authenticate and, separately, account for alice, expecting both unavailable.
fn assert_unavailable(double: &Double, host: &Host, why: &str, log_says: &str) {
    for ops in [&["authenticate"][..], &["acct_mgmt"][..]] {
        let run = host.run("alice", "alice-pw", ops);
        assert_eq!(
            run.last(),
            Code::AuthinfoUnavail,
            "{why} {ops:?}: {}",
            run.log
        );
        let d = run.decision();
        assert!(
            d.code == Code::AuthinfoUnavail && d.reason.contains(log_says),
            "{why} {ops:?}: log should say {log_says:?}:\n{}",
            run.log
        );
    }
    let _ = double;
}

fn faulty(fault: Fault) -> (Double, Host) {
    let (double, host) = https_setup(RULES);
    double.set_fault(fault);
    (double, host)
}

#[test]
fn nothing_listening() {
    let host = Host::new(&format!(
        "url = \"https://localhost:{}/crowd\"\napplication = \"a\"\npassword = \"p\"\n",
        closed_port()
    ));
    for ops in [&["authenticate"][..], &["acct_mgmt"][..]] {
        let run = host.run("alice", "alice-pw", ops);
        assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
        assert!(run.log.contains("connection failed"), "{}", run.log);
    }
}

#[test]
fn server_errors_and_rate_limits() {
    let crowd_failed = if soap() {
        "server error (RemoteException: ldap down)"
    } else {
        "server error (500 OPERATION_FAILED)"
    };
    let cases = [
        (
            crowd_refusal(500, "OPERATION_FAILED", "ldap down"),
            crowd_failed,
        ),
        (
            Canned::new(502, "text/html", "<html>Bad Gateway</html>"),
            "server error (502)",
        ),
        (
            Canned::new(503, "text/plain", "unavailable"),
            "server error (503)",
        ),
        (
            Canned::new(429, "text/plain", "slow down").header("Retry-After", "30"),
            "Retry-After: 30",
        ),
        (
            Canned::new(429, "text/plain", "slow down"),
            "rate limited (429)",
        ),
    ];
    for (canned, log_says) in cases {
        let (double, host) = faulty(Fault::Respond(canned));
        assert_unavailable(&double, &host, log_says, log_says);
    }
}

#[test]
fn answers_that_are_not_crowds() {
    let cases = [
        (
            Canned::new(200, "text/html", "<html><body>Welcome</body></html>"),
            "not Crowd's",
        ),
        (
            Canned::new(200, "application/json", "{\"name\": \"alice\", \"act"),
            "not Crowd's",
        ),
        (
            Canned::new(200, "application/json", "\u{1}\u{2}garbage\u{0}"),
            "not Crowd's",
        ),
        (
            Canned::new(200, "application/json", r#"{"users": []}"#),
            "not Crowd's",
        ),
        (
            Canned::new(404, "text/html", "<html>Not Found</html>"),
            "without Crowd's error body",
        ),
        (
            Canned::new(401, "text/plain", "Application failed to authenticate"),
            "(401)",
        ),
        (
            Canned::new(403, "text/html", "<html>Forbidden</html>"),
            "(403)",
        ),
    ];
    for (canned, log_says) in cases {
        let (double, host) = faulty(Fault::Respond(canned.clone()));
        assert_unavailable(&double, &host, &format!("{canned:?}"), log_says);
    }
}

#[test]
fn wrong_context_path_is_not_an_unknown_user() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let config = config_for(&[&double], RULES).replace("/crowd\"", "/jira\"");
    let host = Host::new(&config);
    assert_unavailable(
        &double,
        &host,
        "wrong context",
        "without Crowd's error body",
    );
}

#[test]
fn wrong_application_password_is_unavailable() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let config = config_for(&[&double], RULES).replace(APP_PASSWORD, "stale-secret");
    let host = Host::new(&config);
    assert_unavailable(
        &double,
        &host,
        "401",
        "refused the application's credentials",
    );
}

#[test]
fn redirects_are_not_followed() {
    let (double, host) = faulty(Fault::Respond(
        Canned::new(302, "text/html", "").header("Location", "https://evil.example/crowd"),
    ));
    assert_unavailable(&double, &host, "redirect", "redirect (302)");
    assert_eq!(
        double.requests().len(),
        2,
        "one request per call, none to the target"
    );
}

#[test]
fn an_answer_over_the_size_cap_is_refused() {
    let (double, host) = faulty(Fault::Huge(5 << 20));
    assert_unavailable(&double, &host, "huge", "larger than");
}

#[test]
fn tls_failures() {
    for (transport, log_says) in [
        (Transport::HttpsWrongHost, "certificate not valid for name"),
        (Transport::HttpsUntrustedCa, "UnknownIssuer"),
        (Transport::HttpsExpired, "certificate expired"),
    ] {
        let double = Double::start(Fixture::demo(), transport);
        let host = Host::for_double(&double, RULES);
        assert_unavailable(&double, &host, &format!("{transport:?}"), log_says);
        assert!(
            double.requests().is_empty(),
            "no request may pass a failed handshake"
        );
    }
}

#[test]
fn the_system_trust_store_does_not_trust_a_private_ca() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let config = config_for(&[&double], RULES);
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let host = Host::new(&config);
    assert_unavailable(&double, &host, "system roots", "UnknownIssuer");
}

#[test]
fn the_environment_cannot_choose_trust_roots_or_a_proxy() {
    // Under sudo the process environment is the invoking user's.
    let (double, mut host) = https_setup(RULES);
    let ca = double.ca_file().expect("ca").display().to_string();
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        host.env.push((var.into(), proxy.clone()));
    }
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(
        run.last(),
        Code::Success,
        "a proxy from the environment was used: {}",
        run.log
    );

    let config: String = config_for(&[&double], RULES)
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    host.write_config(&config);
    host.env = vec![
        ("SSL_CERT_FILE".into(), ca.clone()),
        (
            "SSL_CERT_DIR".into(),
            std::path::Path::new(&ca)
                .parent()
                .expect("dir")
                .display()
                .to_string(),
        ),
    ];
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(
        run.last(),
        Code::AuthinfoUnavail,
        "SSL_CERT_FILE was trusted: {}",
        run.log
    );
}

#[test]
fn a_hanging_server_is_given_up_on_within_the_timeout() {
    let (double, host) = faulty(Fault::Hang);
    host.write_config(&config_for(&[&double], RULES).replace("timeout = 5", "timeout = 2"));
    for ops in [&["authenticate"][..], &["acct_mgmt"][..]] {
        let run = host.run("alice", "alice-pw", ops);
        assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
        assert!(run.log.contains("timed out"), "{}", run.log);
        assert!(
            run.elapsed < Duration::from_secs(3),
            "took {:?}",
            run.elapsed
        );
    }
}

#[test]
fn a_server_closing_without_answer() {
    let (double, host) = faulty(Fault::Close);
    assert_unavailable(&double, &host, "close", "Crowd unavailable");
}

#[test]
fn plain_http_works_only_when_allowed() {
    let double = Double::start(Fixture::demo(), Transport::Http);
    let host = Host::for_double(&double, RULES);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    host.write_config(&config_for(&[&double], RULES).replace("allow_http = true\n", ""));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr, "{}", run.log);
    assert!(run.log.contains("allow_http"), "{}", run.log);
}

#[test]
fn the_second_url_serves_when_the_first_is_down() {
    let good = Double::start(Fixture::demo(), Transport::Https);
    let config = config_for(&[&good], RULES).replacen(
        "url = [",
        &format!("url = [\"https://localhost:{}/crowd\", ", closed_port()),
        1,
    );
    let host = Host::new(&config);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
}

#[test]
fn the_second_url_serves_within_the_timeout_when_the_first_hangs_or_fails() {
    for fault in [
        Fault::Hang,
        Fault::Respond(Canned::new(503, "text/plain", "down")),
        Fault::Respond(Canned::new(429, "text/plain", "busy")),
        // Crowd itself failing (its LDAP down): REST's 500, SOAP's RemoteException.
        Fault::Respond(crowd_refusal(500, "OPERATION_FAILED", "ldap down")),
    ] {
        let bad = Double::start(Fixture::demo(), Transport::Https);
        bad.set_fault(fault.clone());
        let good = Double::start(Fixture::demo(), Transport::Https);
        // Both doubles' CAs must be trusted: concatenate them.
        let ca = std::env::temp_dir().join(format!(
            "pam_crowd_two_ca_{}_{}",
            std::process::id(),
            good.port()
        ));
        let pems: Vec<String> = [&bad, &good]
            .iter()
            .map(|d| std::fs::read_to_string(d.ca_file().expect("ca")).expect("read ca"))
            .collect();
        std::fs::write(&ca, pems.concat()).expect("write ca");
        let config = config_for(&[&bad, &good], RULES)
            .lines()
            .map(|l| {
                if l.starts_with("ca_file") {
                    format!("ca_file = {:?}\n", ca.display().to_string())
                } else if l.starts_with("timeout") {
                    "timeout = 4\n".into()
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>();
        let host = Host::new(&config);
        let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
        std::fs::remove_file(&ca).expect("remove ca");
        assert_eq!(
            run.codes,
            vec![Code::Success, Code::Success],
            "{fault:?}: {}",
            run.log
        );
        // Each phase within its one timeout (4 s) + 1 s, by the module's own clock.
        let ms = crowd_ms(&run.log);
        assert!(
            ms <= 5000,
            "{fault:?}: a phase took {ms} ms with timeout 4 s"
        );
        assert!(
            !good.requests().is_empty(),
            "{fault:?}: the second url was never asked: {}",
            run.log
        );
    }
}

/// The module's own time for the call, from its log line.
fn crowd_ms(log: &str) -> u128 {
    log.lines()
        .filter_map(|l| {
            l.rsplit_once("[crowd ")
                .and_then(|(_, t)| t.strip_suffix(" ms]"))
        })
        .filter_map(|t| t.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no [crowd N ms] in {log}"))
}

#[test]
fn every_fault_is_unavailable_within_the_timeout_plus_one_second() {
    let timeout_ms = 2000;
    let faults = [
        (Fault::Hang, "timed out"),
        (Fault::Close, "connection failed"),
        (Fault::ResetMidBody, "reading the answer"),
        (Fault::Trickle(Duration::from_millis(40)), "timed out"),
        (Fault::Huge(100 << 20), "larger than"),
        (
            Fault::Respond(Canned::new(500, "text/plain", "oops")),
            "server error (500)",
        ),
        (
            Fault::Respond(Canned::new(502, "text/html", "<html>")),
            "server error (502)",
        ),
        (
            Fault::Respond(Canned::new(503, "text/plain", "down")),
            "server error (503)",
        ),
        (
            Fault::Respond(Canned::new(429, "text/plain", "").header("Retry-After", "60")),
            "Retry-After: 60",
        ),
        (
            Fault::Respond(Canned::new(429, "text/plain", "")),
            "rate limited (429)",
        ),
        (
            Fault::Respond(Canned::new(200, "text/html", "<html>hi</html>")),
            "not Crowd's",
        ),
        (
            Fault::Respond(Canned::new(200, "application/json", "{\"name\": \"ali")),
            "not Crowd's",
        ),
        (
            Fault::Respond(Canned::new(200, "application/json", "[1, 2, 3]")),
            "not Crowd's",
        ),
        (
            Fault::Respond(Canned::new(301, "text/html", "").header("Location", "http://x/")),
            "redirect (301)",
        ),
    ];
    for (fault, says) in faults {
        let (double, host) = faulty(fault.clone());
        host.write_config(&config_for(&[&double], RULES).replace("timeout = 5", "timeout = 2"));
        for ops in [&["authenticate"][..], &["acct_mgmt"][..]] {
            let run = host.run("alice", "alice-pw", ops);
            assert_eq!(
                run.last(),
                Code::AuthinfoUnavail,
                "{fault:?} {ops:?}: {}",
                run.log
            );
            assert!(
                run.log.contains(says),
                "{fault:?} {ops:?}: log should say {says:?}: {}",
                run.log
            );
            let ms = crowd_ms(&run.log);
            assert!(
                ms <= timeout_ms + 1000,
                "{fault:?} {ops:?}: {ms} ms with timeout 2 s"
            );
        }
    }
}
