//! Every shape a real Crowd publishes, read: the answers Atlassian published or real
//! servers gave (`published/`, with their sources), Crowd 2.3's and 6.0.1's dialects
//! through `pam-crowd sync` and a login, XML where JSON was asked for, and groups
//! the config names that Crowd does not have.

use pam_crowd::crowd::events::EventStart;
use pam_crowd::crowd::prelude::*;
use pam_crowd::crowd::{BaseUrl, Client, ClientSettings, CrowdError, Deadline};

use crate::harness::*;

/// A REST client of `double`, as the module builds one.
fn client(double: &Double) -> Client {
    let settings = ClientSettings {
        urls: vec![BaseUrl::parse(&double.url(), true).unwrap()],
        application: APP_NAME.into(),
        app_password: pam_crowd::config::Secret::new(APP_PASSWORD.into()),
        ca_file: double.ca_file().map(Into::into),
        protocol: pam_crowd::crowd::Protocol::Rest,
    };
    Client::new(
        &settings,
        Deadline::after(std::time::Duration::from_secs(5)),
    )
    .expect("client")
}

/// `double` answering every request with this published body.
fn serving(double: &Double, status: u16, content_type: &str, body: &str) -> Client {
    double.set_fault(Fault::Respond(Canned::new(status, content_type, body)));
    client(double)
}

#[test]
fn published_json_answers_are_read_as_published() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let json = "application/json";
    let (user, attributes) = serving(
        &double,
        200,
        json,
        include_str!("published/crowd-2.8.7-user.json"),
    )
    .user_attributes("admin")
    .expect("Crowd 2.8.7's user");
    assert_eq!((user.name.as_str(), user.active), ("admin", true));
    assert_eq!(user.key.as_deref(), Some("1:{0000-0000}"));
    assert_eq!(user.display_name.as_deref(), Some("bob the builder"));
    assert!(attributes.is_empty());

    let group = serving(
        &double,
        200,
        json,
        include_str!("published/crowd-2.8.7-group.json"),
    );
    assert_eq!(
        group
            .group_attributes("crowd-administrators")
            .map(|a| a.len()),
        Ok(0)
    );
    assert_eq!(group.group_exists("crowd-administrators"), Ok(true));

    let cookie = serving(
        &double,
        200,
        json,
        include_str!("published/crowd-2.8.7-config-cookie.json"),
    );
    assert_eq!(cookie.ping(), Ok(()));

    let members = include_str!("published/crowd-6.0.1-nested-members.json");
    let singular = serving(&double, 200, json, members);
    assert_eq!(
        singular.nested_group_members("g"),
        Ok(vec!["sampleuser".into()])
    );
    let everyone = singular
        .active_users_with_attributes()
        .expect("search")
        .expect("attributes");
    assert_eq!(
        everyone[0].0.key.as_deref(),
        Some("557057:927441f1-cc92-4030-b633-8a2bbdf7136e")
    );
    assert_eq!(everyone[0].1["requiresPasswordChange"], ["false"]);

    let groups = include_str!("published/crowd-6.0.1-search-groups.json");
    assert_eq!(
        serving(&double, 200, json, groups).nested_groups("sampleuser"),
        Ok(vec!["crowd-administrators".into()])
    );
}

#[test]
fn published_xml_answers_are_read_as_published() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let xml = "application/xml";
    for (file, why) in [
        (
            include_str!("published/jira-5.1.1-events-no-flag.xml"),
            "not guarantee",
        ),
        (
            include_str!("published/jira-5.1.1-events-flag-false.xml"),
            "false",
        ),
    ] {
        let start = serving(&double, 200, xml, file).event_start();
        assert!(
            matches!(&start, Ok(EventStart::Unavailable(w)) if w.contains(why)),
            "{start:?}"
        );
    }

    let refused = serving(
        &double,
        400,
        xml,
        include_str!("published/crowd-2.6.0-error.xml"),
    )
    .authenticate("alice", "wrong", None);
    assert!(
        matches!(&refused, Err(CrowdError::Refused { status: 400, reason, message })
            if reason.as_str() == "INVALID_USER_AUTHENTICATION" && message.contains("password was invalid")),
        "{refused:?}"
    );
}

#[test]
fn xml_where_json_was_asked_for_is_said_so() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><user name=\"alice\"><active>true</active></user>";
    for status in [200, 404] {
        let error = serving(&double, status, "application/xml", xml)
            .user("alice")
            .expect_err("XML is not the JSON asked for")
            .to_string();
        assert!(
            error.contains("XML where JSON was asked for"),
            "{status}: {error}"
        );
        assert!(!error.contains("context path"), "{status}: {error}");
    }
}

/// A host syncing `linux-users` (exposing `sudo-admins`) from `double`.
fn syncing_host(double: &Double) -> Host {
    let host = Host::for_double(double, RULES);
    host.write_config(&format!(
        "{}[nss]\ngroups = [\"linux-users\"]\nexpose_groups = [\"sudo-admins\"]\ndir = {:?}\n",
        config_for(&[double], RULES),
        host.dir.join("nss").display().to_string()
    ));
    host
}

fn sync(host: &Host) -> serde_json::Value {
    let out = pam_crowd(host, &["sync", "--json"], "");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    out.json()
}

fn passwd(host: &Host) -> String {
    std::fs::read_to_string(host.dir.join("nss/passwd")).expect("passwd")
}

/// A double speaking `dialect`, serving the demo directory with alice's attributes
/// a sync must keep, and a host syncing from it.
fn speaking(dialect: Dialect) -> (Double, Host) {
    let fixture = Fixture::demo()
        .attribute("alice", "uidNumber", &["70001"])
        .attribute("alice", "loginShell", &["/bin/sh"]);
    let double = Double::start(fixture, Transport::Https);
    double.dialect(dialect);
    let host = syncing_host(&double);
    (double, host)
}

#[test]
fn crowd_2_3_syncs_in_full_and_keeps_every_attribute() {
    if soap() {
        return;
    }
    let (double, host) = speaking(Dialect::Crowd23);
    for _ in 0..2 {
        let report = sync(&host);
        assert_eq!(report["kind"], "full", "{report}");
        let why = report["why"].as_str().unwrap_or_default();
        assert!(why.contains("does not guarantee"), "{why}");
        assert!(
            passwd(&host).contains("alice:*:70001:100:alice Test:/home/alice:/bin/sh\n"),
            "{}",
            passwd(&host)
        );
    }
    // The search ignored the expansion: the members were read one by one instead.
    let asked = double.asked();
    assert!(asked.iter().any(|op| op == "user"), "{asked:?}");
}

#[test]
fn crowd_6_singular_lists_sync_incrementally_and_log_in() {
    if soap() {
        return;
    }
    let (double, host) = speaking(Dialect::Singular);
    assert_eq!(sync(&host)["kind"], "full");
    assert!(passwd(&host).contains("alice:*:70001:100:alice Test:/home/alice:/bin/sh\n"));
    double.change(Change::Join {
        user: "bob".into(),
        group: "sudo-admins".into(),
    });
    double.change(Change::Join {
        user: "bob".into(),
        group: "linux-users".into(),
    });
    let report = sync(&host);
    assert_eq!(report["kind"], "incremental", "{report}");
    assert!(passwd(&host).contains("\nbob:"), "{}", passwd(&host));
    let group = std::fs::read_to_string(host.dir.join("nss/group")).expect("group");
    assert!(
        group.contains("alice,bob") || group.contains("bob,alice"),
        "{group}"
    );
    let run = host.run("alice", "alice-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
}

#[test]
fn a_group_crowd_does_not_have_writes_nothing_and_is_named() {
    for dialect in [Dialect::Crowd5, Dialect::Crowd23] {
        let double = Double::start(Fixture::demo(), Transport::Https);
        double.dialect(dialect);
        let host = Host::for_double(&double, RULES);
        host.write_config(&format!(
            "{}[nss]\ngroups = [\"linux-users\", \"linux-userz\"]\ndir = {:?}\n",
            config_for(
                &[&double],
                "allow_groups = [\"linux-users\"]\ndeny_groups = [\"contractorz\"]\n"
            ),
            host.dir.join("nss").display().to_string()
        ));
        let out = pam_crowd(&host, &["sync"], "");
        assert_eq!(out.code, 2, "{dialect:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("\"linux-userz\""),
            "{dialect:?}: {}",
            out.stderr
        );
        assert!(!host.dir.join("nss/passwd").exists(), "{dialect:?}");

        let check = pam_crowd(&host, &["check"], "");
        assert_ne!(check.code, 0, "{dialect:?}: {}", check.stdout);
        for named in [
            "\"linux-userz\" (nss.groups)",
            "\"contractorz\" (deny_groups)",
        ] {
            assert!(
                check.stdout.contains(named),
                "{dialect:?}: {}",
                check.stdout
            );
        }
        assert!(
            !check.stdout.contains("\"linux-users\" ("),
            "{}",
            check.stdout
        );
    }
}
