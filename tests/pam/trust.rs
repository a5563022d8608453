//! The trust boundary: what Crowd says never makes a local system account log in,
//! and a synced user Crowd no longer knows is refused, through the real libpam and
//! the real `pam-crowd`.

use nss_crowd_files::Passwd;

use crate::harness::*;

/// The demo directory plus Crowd users named like the host's own accounts, in the
/// allowed group with passwords Crowd accepts.
fn hostile_directory() -> Fixture {
    Fixture::demo()
        .user("root", "root-crowd-pw", true)
        .member("linux-users", "root")
        .user("daemon", "daemon-crowd-pw", true)
        .member("linux-users", "daemon")
}

#[test]
fn a_crowd_user_named_like_a_system_account_never_logs_in_and_crowd_is_not_asked() {
    let double = Double::start(hostile_directory(), Transport::Https);
    // With no allow_groups any active Crowd user would do: the worst case.
    for rules in [RULES, ""] {
        let host = Host::for_double(&double, rules);
        for (user, password) in [("root", "root-crowd-pw"), ("daemon", "daemon-crowd-pw")] {
            double.clear_requests();
            let run = host.run(user, password, &["authenticate"]);
            assert_eq!(run.last(), Code::UserUnknown, "{user}: {}", run.log);
            assert!(
                run.log.contains("not a Crowd user here")
                    && run.log.contains("Crowd not asked")
                    && run
                        .log
                        .contains("service=\"crowd-test\" rhost=\"203.0.113.9\""),
                "{}",
                run.log
            );
            let run = host.run(user, "", &["acct_mgmt"]);
            assert_eq!(run.last(), Code::UserUnknown, "{user}: {}", run.log);
            assert!(double.asked().is_empty(), "{:?}", double.asked());
        }
    }
}

#[test]
fn a_password_change_for_a_system_account_is_left_to_pam_unix() {
    let double = Double::start(hostile_directory().writable(), Transport::Https);
    let host = Host::for_double(&double, RULES);
    let run = host.run_answering(
        "crowd-test",
        "root",
        &["root-crowd-pw", "new-root-pw1", "new-root-pw1"],
        &["chauthtok"],
    );
    assert!(
        run.log
            .contains("ignored user=\"root\" service=\"crowd-test\" rhost=\"203.0.113.9\": not a Crowd user here"),
        "{}",
        run.log
    );
    assert!(double.asked().is_empty(), "{:?}", double.asked());
}

#[test]
fn min_uid_moves_the_line() {
    let double = Double::start(hostile_directory(), Transport::Https);
    // daemon's uid is 1 or 2: with min_uid = 1 it is no longer a system account by
    // uid, and Crowd decides; root stays the host's whatever min_uid says.
    // daemon is in /etc/passwd: handed to Crowd by name (local_users).
    let host = Host::for_double(&double, "min_uid = 1\nlocal_users = [\"daemon\"]\n");
    let run = host.run("daemon", "daemon-crowd-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
    let run = host.run("root", "root-crowd-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::UserUnknown, "{}", run.log);
    let host = Host::for_double(&double, "min_uid = 0\n");
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::ServiceErr, "{}", run.log);
    assert!(run.log.contains("key `min_uid`"), "{}", run.log);
}

#[test]
fn pam_crowd_refuses_system_accounts_in_every_command() {
    let double = Double::start(hostile_directory().writable(), Transport::Https);
    let host = Host::for_double(
        &double,
        &format!("{RULES}ssh_keys_attribute = \"sshPublicKey\"\n"),
    );
    let auth = pam_crowd(&host, &["--json", "auth", "root"], "root-crowd-pw\n");
    assert_eq!(auth.json()["code"], "PAM_USER_UNKNOWN", "{}", auth.stdout);
    let account = pam_crowd(&host, &["--json", "account", "daemon"], "");
    assert_eq!(
        account.json()["code"],
        "PAM_USER_UNKNOWN",
        "{}",
        account.stdout
    );
    let keys = pam_crowd(&host, &["authorized-keys", "root"], "");
    assert_eq!(
        (keys.code, keys.stdout.as_str()),
        (1, ""),
        "{}",
        keys.stderr
    );
    let passwd = pam_crowd(&host, &["passwd", "root"], "new-root-pw1\nnew-root-pw1\n");
    assert_eq!(passwd.code, 1, "{}", passwd.stderr);
    assert!(
        passwd.stderr.contains("not a Crowd user here"),
        "{}",
        passwd.stderr
    );
    assert!(double.asked().is_empty(), "{:?}", double.asked());
}

#[test]
fn a_synced_user_crowd_no_longer_knows_is_refused_not_unknown() {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::new("");
    let synced = host.dir.join("nss");
    let entry = |name: &str, uid: u32| Passwd {
        name: name.into(),
        uid,
        gid: 100,
        gecos: String::new(),
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
    };
    std::fs::create_dir_all(&synced).expect("synced dir");
    // gone: deleted from Crowd since the sync; ALICE: Crowd has the name only as alice.
    nss_crowd_files::write(
        &synced,
        &[entry("gone", 200_001), entry("ALICE", 200_002)],
        &[],
    )
    .expect("synced files");
    host.write_config(&config_for(
        &[&double],
        &format!("{RULES}[nss]\ndir = {:?}\n", synced.display().to_string()),
    ));
    for user in ["gone", "ALICE"] {
        let run = host.run(user, "", &["acct_mgmt"]);
        assert_eq!(run.last(), Code::PermDenied, "{user}: {}", run.log);
        assert!(
            run.log.contains("Crowd no longer knows this user"),
            "{}",
            run.log
        );
        let cli = pam_crowd(&host, &["--json", "account", user], "");
        assert_eq!(cli.json()["code"], "PAM_PERM_DENIED", "{}", cli.stdout);
    }
    // A user in no synced file is still someone else's to decide.
    assert_eq!(
        host.run("zed", "", &["acct_mgmt"]).last(),
        Code::UserUnknown
    );
}
