//! What a real Crowd does that the module must live with (tests/crowd-double/REAL-CROWD.md
//! says where each behaviour was read): the application check its REST filter caches
//! in a Tomcat session, names it would misread, its answers' order.

use pam_crowd::crowd::prelude::*;
use pam_crowd::crowd::{BaseUrl, Client, ClientSettings, CrowdError, Deadline, Reason};

use crate::harness::*;

/// A rule naming two groups, the user in the second only: the module asks the
/// membership of each.
const TWO_GROUPS: &str = "allow_groups = [\"admins\", \"linux-users\"]\n";

#[test]
fn a_login_costs_crowd_one_application_check() {
    let (double, host) = https_setup(TWO_GROUPS);
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert!(double.requests().len() >= 2, "{:?}", double.asked());
    assert_eq!(double.app_checks(), 1, "{:?}", double.asked());
    // The account phase on its own (publickey, sudo NOPASSWD): one check too.
    double.clear_requests();
    let run = host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
    assert_eq!(double.app_checks(), 1, "{:?}", double.asked());
}

#[test]
fn a_command_and_a_sync_cost_crowd_one_application_check_each() {
    let (double, host) = https_setup(RULES);
    let groups = pam_crowd(&host, &["groups", "alice"], "");
    assert_eq!(groups.code, 0, "{}", groups.stderr);
    let account = pam_crowd(&host, &["account", "alice"], "");
    assert_eq!(account.code, 0, "{}", account.stderr);
    assert_eq!(
        double.app_checks(),
        2,
        "one per command: {:?}",
        double.asked()
    );

    let synced = host.dir.join("nss");
    host.write_config(&config_for(
        &[&double],
        &format!(
            "{RULES}[nss]\ngroups = [\"linux-users\", \"sudo-admins\"]\n\
             expose_groups = [\"developers\"]\ndir = {:?}\n",
            synced.display().to_string()
        ),
    ));
    double.clear_requests();
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    assert!(double.requests().len() >= 2, "{:?}", double.asked());
    assert_eq!(double.app_checks(), 1, "one per sync: {:?}", double.asked());
}

#[test]
fn empty_names_are_refused_by_every_client_operation_before_any_request() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let settings = ClientSettings {
        urls: vec![BaseUrl::parse(&double.url(), true).unwrap()],
        application: APP_NAME.into(),
        app_password: pam_crowd::config::Secret::new(APP_PASSWORD.into()),
        ca_file: double.ca_file().map(Into::into),
        protocol: match soap() {
            true => pam_crowd::crowd::Protocol::Soap,
            false => pam_crowd::crowd::Protocol::Rest,
        },
    };
    let client = Client::new(
        &settings,
        Deadline::after(std::time::Duration::from_secs(5)),
    )
    .expect("client");
    for empty in ["", " ", "\t "] {
        let refused = |result: Result<(), CrowdError>, what: &str| {
            assert!(
                matches!(
                    &result,
                    Err(CrowdError::Refused { status: 404, reason, message })
                        if message.contains("not sent to Crowd")
                            && matches!(reason, Reason::UserNotFound | Reason::GroupNotFound | Reason::Other(_))
                ),
                "{what}({empty:?}): {result:?}"
            );
        };
        refused(
            client.authenticate(empty, "pw", None).map(drop),
            "authenticate",
        );
        refused(client.user(empty).map(drop), "user");
        refused(client.direct_groups(empty).map(drop), "direct_groups");
        refused(client.nested_groups(empty).map(drop), "nested_groups");
        refused(
            client.nested_group_members(empty).map(drop),
            "nested_group_members",
        );
        refused(
            client.is_nested_member(empty, "linux-users").map(drop),
            "is_nested_member",
        );
        refused(
            client.is_nested_member("alice", empty).map(drop),
            "is_nested_member group",
        );
        refused(
            client.create_session(empty, "pw", None).map(drop),
            "create_session",
        );
        refused(
            client.validate_session(empty, None).map(drop),
            "validate_session",
        );
        refused(client.terminate_session(empty), "terminate_session");
        refused(client.user_attributes(empty).map(drop), "user_attributes");
        refused(
            client.store_user_attribute(empty, "a", &[]),
            "store_user_attribute",
        );
        refused(
            client.store_user_attribute("alice", empty, &[]),
            "store_user_attribute name",
        );
        refused(
            client.remove_user_attribute(empty, "a"),
            "remove_user_attribute",
        );
        refused(client.set_password(empty, "new-password-1"), "set_password");
        refused(
            client.nested_group_users(empty).map(drop),
            "nested_group_users",
        );
        refused(client.group_attributes(empty).map(drop), "group_attributes");
    }
    assert!(double.requests().is_empty(), "{:?}", double.asked());
}

#[test]
fn sync_keeps_crowd_attributes_though_member_lists_carry_none_in_few_requests() {
    if soap() {
        // SOAP has no bulk read: a sync there asks each member's attributes (the
        // README says so); this test is about REST's request count.
        return;
    }
    let mut fixture = Fixture::demo();
    for i in 0..300 {
        let name = format!("user{i:03}");
        fixture = fixture
            .user(&name, "pw", true)
            .member("linux-users", &name)
            .attribute(&name, "uidNumber", &[&(250_000 + i).to_string()])
            .attribute(&name, "loginShell", &["/bin/sh"])
            .attribute(&name, "homeDirectory", &[&format!("/home/staff/{name}")]);
    }
    let double = Double::start(fixture, Transport::Https);
    let host = Host::new("");
    let synced = host.dir.join("nss");
    host.write_config(&config_for(
        &[&double],
        &format!(
            "{RULES}[nss]\ngroups = [\"linux-users\"]\ndir = {:?}\n",
            synced.display().to_string()
        ),
    ));
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    let users = nss_crowd_files::Files::new(&synced)
        .users()
        .expect("synced");
    let user = users.iter().find(|u| u.name == "user042").expect("user042");
    assert_eq!(
        (user.uid, user.shell.as_str(), user.home.as_str()),
        (250_042, "/bin/sh", "/home/staff/user042"),
        "the attributes come from Crowd's search, not the member list"
    );
    assert_eq!(
        users.len(),
        300 + 3,
        "alice, dave, erin and the 300 (carol is inactive)"
    );
    // Crowd's event token (for the next, incremental, sync), one page of the search
    // (303 active users < 1000), one page of members, the groups nested in it.
    assert_eq!(
        double.asked(),
        [
            "events-start",
            "search-users",
            "group-members",
            "child-groups"
        ],
        "requests grow with users / 1000, never one per user"
    );
}

#[test]
fn a_locked_account_is_refused_online_and_then_offline() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::new("");
    let cache = host.dir.join("cache");
    let config = config_for(
        &[&double],
        &format!(
            "{RULES}[cache]\noffline_days = 7\ndir = {:?}\n",
            cache.display().to_string()
        ),
    );
    host.write_config(&config);
    assert_eq!(
        host.run("alice", "alice-pw", &["authenticate"]).last(),
        Code::Success
    );
    // Too many failed attempts elsewhere: Crowd now refuses even the right password.
    double.set_fixture(Fixture::demo().locked("alice"));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr, "{}", run.log);
    assert!(
        run.log
            .contains("Maximum allowed invalid password attempts"),
        "{}",
        run.log
    );
    // Crowd down: the password Crowd last refused does not work offline.
    let down = format!("https://127.0.0.1:{}/crowd", closed_port());
    host.write_config(&config.replace(&double.url(), &down));
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_ne!(run.last(), Code::Success, "{}", run.log);
}

#[test]
fn an_inactive_user_is_told_inactive_whatever_the_password() {
    let (_double, host) = https_setup(RULES);
    for password in ["carol-pw", "not-carols-pw"] {
        let run = host.run("carol", password, &["authenticate"]);
        assert_eq!(run.last(), Code::AuthErr, "{}", run.log);
        assert!(run.log.contains("INACTIVE_ACCOUNT"), "{}", run.log);
    }
}
