//! The Crowd double as this run's tests use it: the protocol, configs pointed at it,
//! refusals and request counts in the protocol's words.

use std::sync::OnceLock;

use super::{APP_NAME, APP_PASSWORD, Canned, Double, Fixture, Host, Transport};

/// The protocol the module speaks to the double in this run: `rest`, or `soap` when
/// `PAM_CROWD_TEST_PROTOCOL=soap` (the README's test command runs the suite both ways).
pub fn protocol() -> &'static str {
    static PROTOCOL: OnceLock<String> = OnceLock::new();
    PROTOCOL
        .get_or_init(|| std::env::var("PAM_CROWD_TEST_PROTOCOL").unwrap_or_else(|_| "rest".into()))
}

/// Whether this run speaks SOAP.
pub fn soap() -> bool {
    protocol() == "soap"
}

/// `config` with `protocol = ...` among its top-level keys (before the first table,
/// so the line numbers of earlier keys stay), unless it names one or is no config.
pub(super) fn with_protocol(config: &str) -> String {
    if protocol() == "rest" || !config.contains("url = ") || config.contains("protocol = ") {
        return config.to_owned();
    }
    let line = format!("protocol = {:?}\n", protocol());
    let mut out = String::new();
    let mut placed = false;
    for l in config.split_inclusive('\n') {
        if !placed && l.trim_start().starts_with('[') {
            out.push_str(&line);
            placed = true;
        }
        out.push_str(l);
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

/// Crowd's refusal with `reason`, as this run's protocol words it: REST's JSON error
/// body with `status`, or the SOAP fault Crowd throws for it.
pub fn crowd_refusal(status: u16, reason: &str, message: &str) -> Canned {
    if soap() {
        return crowd_double::soap_fault_for(reason, message);
    }
    Canned::new(
        status,
        "application/json",
        serde_json::json!({ "reason": reason, "message": message }).to_string(),
    )
}

/// What a transaction asking `ops` (in [`crowd_double::Request::op`] words, one per
/// REST request) costs in this run's protocol. SOAP first authenticates the
/// application, and checks a password in three calls: authenticate, look the user
/// up for the canonical name, end the principal token Crowd opened.
pub fn expected_ops(ops: &[&str]) -> Vec<String> {
    if !soap() {
        return ops.iter().map(|o| o.to_string()).collect();
    }
    let mut out = vec!["app-auth".to_string()];
    for op in ops {
        match *op {
            "authenticate" => out.extend(["authenticate", "user", "end-session"].map(String::from)),
            other => out.push(other.to_string()),
        }
    }
    out
}

/// Config text for `doubles` (tried in order) with `extra` lines appended.
pub fn config_for(doubles: &[&Double], extra: &str) -> String {
    let urls: Vec<String> = doubles.iter().map(|d| format!("{:?}", d.url())).collect();
    let ca = doubles
        .iter()
        .find_map(|d| d.ca_file())
        .map(|ca| format!("ca_file = {:?}\n", ca.display().to_string()))
        .unwrap_or_default();
    let http = if doubles.iter().any(|d| d.url().starts_with("http://")) {
        "allow_http = true\n"
    } else {
        ""
    };
    format!(
        "url = [{}]\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\n{ca}{http}timeout = 5\n{extra}",
        urls.join(", ")
    )
}

/// The usual rules of the tests: linux-users may log in, contractors may not.
pub const RULES: &str = "allow_groups = [\"linux-users\"]\ndeny_groups = [\"contractors\"]\n";

/// An HTTPS double with the demo directory and a host configured for it.
pub fn https_setup(extra: &str) -> (Double, Host) {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::for_double(&double, extra);
    (double, host)
}

/// A loopback port with nothing listening.
///
/// A privileged port: one bound and released from the ephemeral range could be given
/// at once to a double another test starts, which would then answer.
pub fn closed_port() -> u16 {
    [9, 1, 7, 13, 19, 37]
        .into_iter()
        .find(|port| {
            std::net::TcpStream::connect(("127.0.0.1", *port))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
        .expect("a closed privileged port on 127.0.0.1")
}
