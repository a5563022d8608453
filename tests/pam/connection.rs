//! What a login costs on the wire, counted at the double (never timed): one TLS
//! connection for authenticate and account together, one request to authenticate,
//! then one membership test per group the rule names until one matches.

use crate::harness::*;
use crate::inproc::*;

const TWO_GROUPS: &str = "allow_groups = [\"sudo-admins\", \"linux-users\"]\n";

/// The requests of one full transaction (auth + account) for `user`, as
/// (operation, groupname) in order, and the connections it opened.
fn one_login(user: &str, password: &str) -> (Vec<(String, String)>, usize) {
    let (double, host) = https_setup(TWO_GROUPS);
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

/// An authentication, then membership tests of `groups`, in this run's protocol.
fn login_then_groups(groups: &[&str]) -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = expected_ops(&["authenticate"])
        .into_iter()
        .map(|op| (op, String::new()))
        .collect();
    expected.extend(groups.iter().map(|g| ("is-member".into(), g.to_string())));
    expected
}

#[test]
fn a_login_is_one_connection_and_stops_at_the_first_matching_group() {
    // erin is in the second group only: both are asked.
    let (requests, connections) = one_login("erin", "erin-pw");
    assert_eq!(requests, login_then_groups(&["sudo-admins", "linux-users"]));
    assert_eq!(
        connections, 1,
        "authenticate and account share one connection"
    );

    // alice is in the first: the second is never asked.
    let (requests, connections) = one_login("alice", "alice-pw");
    assert_eq!(requests, login_then_groups(&["sudo-admins"]));
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
