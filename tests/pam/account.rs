//! pam_sm_acct_mgmt: existence, activity and nested group rules, with and without a
//! preceding authenticate.

use crate::harness::*;

#[test]
fn nested_member_of_an_allow_group_is_admitted_without_authenticate() {
    let (double, host) = https_setup(RULES);
    // alice is in linux-users only through the nested group "developers".
    let run = host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success], "{}", run.log);
    assert_eq!(double.asked(), expected_ops(&["user", "user-groups"]));
}

#[test]
fn user_in_no_allowed_group_is_perm_denied() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("bob", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::PermDenied);
    assert!(run.log.contains("in none of allow_groups"), "{}", run.log);
}

#[test]
fn member_of_a_deny_group_is_perm_denied_even_when_allowed() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("dave", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::PermDenied);
    assert!(
        run.log.contains("deny group \"contractors\""),
        "{}",
        run.log
    );
}

#[test]
fn inactive_user_is_acct_expired() {
    let (_double, host) = https_setup(RULES);
    let run = host.run("carol", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::AcctExpired);
}

#[test]
fn unknown_user_or_other_canonical_name_is_user_unknown() {
    let (_double, host) = https_setup(RULES);
    assert_eq!(
        host.run("zed", "", &["acct_mgmt"]).last(),
        Code::UserUnknown
    );
    let run = host.run("ALICE", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::UserUnknown);
    assert!(
        run.log.contains("Crowd knows this user as \"alice\""),
        "{}",
        run.log
    );
}

#[test]
fn no_allow_groups_admits_any_active_user_and_empty_admits_nobody() {
    let (_double, host) = https_setup("");
    assert_eq!(host.run("bob", "", &["acct_mgmt"]).last(), Code::Success);
    let (_double, host) = https_setup("allow_groups = []\n");
    let run = host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::PermDenied);
    assert!(run.log.contains("allow_groups is empty"), "{}", run.log);
}

#[test]
fn service_table_replaces_the_keys_it_sets_for_that_service() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::for_double(
        &double,
        &format!("{RULES}[service.sudo]\nallow_groups = [\"sudo-admins\"]\n"),
    );
    host.service("sudo", "account required {module} config={config}\n");
    // erin may log in (linux-users) but not sudo; alice may do both.
    assert_eq!(host.run("erin", "", &["acct_mgmt"]).last(), Code::Success);
    assert_eq!(
        host.run_service("sudo", "erin", "", &["acct_mgmt"]).last(),
        Code::PermDenied
    );
    assert_eq!(
        host.run_service("sudo", "alice", "", &["acct_mgmt"]).last(),
        Code::Success
    );
    // The inherited deny list still applies to sudo.
    let dave = host.run_service("sudo", "dave", "", &["acct_mgmt"]);
    assert_eq!(dave.last(), Code::PermDenied);
    assert!(dave.log.contains("contractors"), "{}", dave.log);
    // service=NAME picks another table than PAM_SERVICE's.
    host.service(
        "screenlock",
        "account required {module} config={config} service=sudo\n",
    );
    assert_eq!(
        host.run_service("screenlock", "erin", "", &["acct_mgmt"])
            .last(),
        Code::PermDenied
    );
}

#[test]
fn account_reuses_authenticate_within_a_transaction_but_not_across() {
    let (double, host) = https_setup(RULES);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert_eq!(
        double.asked(),
        expected_ops(&["authenticate", "user-groups"]),
        "{}",
        run.log
    );

    double.clear_requests();
    assert_eq!(host.run("alice", "", &["acct_mgmt"]).last(), Code::Success);
    assert_eq!(
        double.asked(),
        expected_ops(&["user", "user-groups"]),
        "a new transaction asks Crowd again"
    );
}

/// A user directly in `n` groups named g0000, g0001, ...
fn user_in_groups(n: usize) -> Fixture {
    (0..n).fold(Fixture::default().user("many", "many-pw", true), |f, i| {
        f.member(&format!("g{i:04}"), "many")
    })
}

#[test]
fn thousands_of_groups_are_paged_when_rules_name_many_groups() {
    let double = Double::start(user_in_groups(2500), Transport::Https);
    let host = Host::for_double(
        &double,
        "allow_groups = [\"x1\", \"x2\", \"x3\", \"G2400\"]\n",
    );
    let run = host.run("many", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
    if soap() {
        // SOAP's findGroupMemberships has no pages: one answer with every group.
        assert_eq!(double.asked(), expected_ops(&["user", "user-groups"]));
    } else {
        let pages: Vec<Option<String>> = double
            .requests()
            .iter()
            .filter(|r| r.path == "/user/group/nested")
            .map(|r| r.param("start-index").map(str::to_owned))
            .collect();
        assert_eq!(
            pages,
            vec![Some("0".into()), Some("1000".into()), Some("2000".into())]
        );
    }

    host.write_config(&config_for(
        &[&double],
        "allow_groups = [\"x1\", \"x2\", \"x3\", \"x4\"]\n",
    ));
    assert_eq!(
        host.run("many", "", &["acct_mgmt"]).last(),
        Code::PermDenied
    );
}

#[test]
fn thousands_of_groups_cost_one_request_per_named_group() {
    let double = Double::start(user_in_groups(5000), Transport::Https);
    let host = Host::for_double(&double, "allow_groups = [\"g4999\"]\n");
    assert_eq!(host.run("many", "", &["acct_mgmt"]).last(), Code::Success);
    assert_eq!(double.asked(), expected_ops(&["user", "is-member"]));
}
