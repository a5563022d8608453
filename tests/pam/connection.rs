//! What a login costs on the wire, counted at the double (never timed): one TLS
//! connection for authenticate and account together, one request to authenticate,
//! then one membership answer whatever the rules: a test of the one group a rule
//! names, or the user's nested groups for a rule naming more.

use crate::harness::*;
use crate::inproc::*;

const TWO_GROUPS: &str = "allow_groups = [\"sudo-admins\", \"linux-users\"]\n";
const ONE_GROUP: &str = "allow_groups = [\"linux-users\"]\n";

/// The requests of one full transaction (auth + account) for `user` under `rules`, as
/// (operation, groupname) in order, and the connections it opened.
fn one_login(user: &str, password: &str, rules: &str) -> (Vec<(String, String)>, usize) {
    let (double, host) = https_setup(rules);
    let outcome = transaction(
        &host.dir.join("pam.d"),
        "crowd-test",
        user.as_bytes(),
        password.as_bytes(),
        true,
        true,
    );
    assert_eq!(
        (outcome.auth, outcome.account),
        (Some(SUCCESS), Some(SUCCESS)),
        "{user}"
    );
    let requests = double
        .requests()
        .into_iter()
        .map(|r| {
            let group = r.param("groupname").unwrap_or_default().to_owned();
            (r.op().to_owned(), group)
        })
        .collect();
    (requests, double.connections())
}

/// An authentication, then `answer` (`("is-member", group)` or `("user-groups", "")`),
/// in this run's protocol.
fn login_then(answer: (&str, &str)) -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = expected_ops(&["authenticate"])
        .into_iter()
        .map(|op| (op, String::new()))
        .collect();
    expected.push((answer.0.into(), answer.1.into()));
    expected
}

#[test]
fn a_login_is_one_connection_and_two_requests_whatever_the_rules() {
    // Two groups named: one list of erin's groups answers both.
    let (requests, connections) = one_login("erin", "erin-pw", TWO_GROUPS);
    assert_eq!(requests, login_then(("user-groups", "")));
    assert_eq!(
        connections, 1,
        "authenticate and account share one connection"
    );
    let (requests, _) = one_login("alice", "alice-pw", TWO_GROUPS);
    assert_eq!(requests, login_then(("user-groups", "")));

    // One group named: one membership test.
    let (requests, connections) = one_login("alice", "alice-pw", ONE_GROUP);
    assert_eq!(requests, login_then(("is-member", "linux-users")));
    assert_eq!(connections, 1);
}

#[test]
fn consecutive_logins_in_one_process_each_open_their_own_connection() {
    // The connection lives with the PAM transaction, never longer: pam_end (or the
    // account phase) closes it, so no login rides on another's connection.
    let (double, host) = https_setup(TWO_GROUPS);
    for n in 1..=3 {
        let outcome = transaction(
            &host.dir.join("pam.d"),
            "crowd-test",
            b"erin",
            b"erin-pw",
            true,
            true,
        );
        assert_eq!(outcome.account, Some(SUCCESS));
        assert_eq!(double.connections(), n);
    }
}
