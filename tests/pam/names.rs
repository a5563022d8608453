//! `user_names`: Crowd's `JSmith` (an AD-backed directory's spelling) is Linux's
//! `jsmith` under `"lowercase"`, for the module, authorized-keys, sync and NSS, passwd
//! and the offline cache alike; `"exact"` (the default) is unchanged and says which
//! key would admit a case-only difference.

use nss_crowd_files::Files;

use crate::harness::*;

/// The demo directory plus `JSmith`, as an AD-backed directory spells him, allowed to
/// log in, with an SSH key.
fn directory(key: &str) -> Fixture {
    Fixture::demo()
        .user("JSmith", "jsmith-pw", true)
        .member("linux-users", "JSmith")
        .member("developers", "JSmith")
        .attribute("JSmith", "sshPublicKey", &[key])
        .writable()
}

struct Site {
    double: Double,
    host: Host,
    key: String,
}

impl Site {
    fn new(extra: &str) -> Site {
        let scratch = Host::new("");
        let key = ssh_public_key(&scratch.dir, "jsmith");
        let double = Double::start(directory(&key), Transport::Https);
        let host = Host::new("");
        let site = Site { double, host, key };
        site.configure(extra);
        site
    }

    fn configure(&self, extra: &str) {
        let synced = self.host.dir.join("nss");
        self.host.write_config(&config_for(
            &[&self.double],
            &format!(
                "{RULES}ssh_keys_attribute = \"sshPublicKey\"\n{extra}\
                 [nss]\ngroups = [\"linux-users\"]\nexpose_groups = [\"developers\"]\ndir = {:?}\n",
                synced.display().to_string()
            ),
        ));
    }
}

#[test]
fn exact_names_are_unchanged_and_a_case_only_refusal_names_the_key() {
    let site = Site::new("");
    let run = site
        .host
        .run("JSmith", "jsmith-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    let run = site.host.run("jsmith", "jsmith-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::AuthErr, "{}", run.log);
    assert!(
        run.log.contains("Crowd knows this user as \"JSmith\"")
            && run
                .log
                .contains("user_names = \"lowercase\" would admit it"),
        "{}",
        run.log
    );
}

#[test]
fn lowercase_names_log_in_get_keys_and_are_refused_in_crowds_spelling() {
    let site = Site::new("user_names = \"lowercase\"\n");
    let run = site
        .host
        .run("jsmith", "jsmith-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert!(run.log.contains("granted user=\"jsmith\""), "{}", run.log);
    site.double.clear_requests();
    let run = site.host.run("JSmith", "jsmith-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::UserUnknown, "{}", run.log);
    assert!(run.log.contains("upper case letters"), "{}", run.log);
    assert!(
        site.double.requests().is_empty(),
        "refused before Crowd is asked"
    );

    let keys = pam_crowd(&site.host, &["authorized-keys", "jsmith"], "");
    assert_eq!(
        (keys.code, keys.stdout.trim()),
        (0, site.key.as_str()),
        "{}",
        keys.stderr
    );
    let cli = pam_crowd(&site.host, &["--json", "auth", "jsmith"], "jsmith-pw\n");
    assert_eq!(cli.json()["code"], "PAM_SUCCESS", "{}", cli.stdout);
}

#[test]
fn lowercase_names_are_what_sync_writes_and_passwd_changes() {
    let site = Site::new("user_names = \"lowercase\"\n");
    let sync = pam_crowd(&site.host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    let files = Files::new(site.host.dir.join("nss"));
    assert!(files.user_by_name("jsmith").expect("files").is_some());
    assert!(files.user_by_name("JSmith").expect("files").is_none());
    let developers = files
        .group_by_name("developers")
        .expect("files")
        .expect("group");
    assert!(
        developers.members.contains(&"jsmith".to_string()),
        "{developers:?}"
    );
    // Through glibc and libnss_crowd.so.2: jsmith exists, JSmith does not.
    if root_or_skip("lowercase_names_are_what_sync_writes_and_passwd_changes") {
        let done = with_nss(
            &site.host.dir.join("nss"),
            "getent passwd jsmith | cut -d: -f1; getent passwd JSmith; echo \"JSmith $?\"",
        );
        assert_eq!(done.stdout, "jsmith\nJSmith 2\n", "{}", done.stderr);
    }
    // The admin sets jsmith's password: Crowd's JSmith changes.
    let passwd = pam_crowd(
        &site.host,
        &["passwd", "jsmith"],
        "new-jsmith-pw1\nnew-jsmith-pw1\n",
    );
    assert_eq!(passwd.code, 0, "{}", passwd.stderr);
    let run = site.host.run("jsmith", "new-jsmith-pw1", &["authenticate"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
}

#[test]
fn lowercase_names_work_offline() {
    let site = Site::new("user_names = \"lowercase\"\n");
    let cache = site.host.dir.join("cache");
    site.configure(&format!(
        "user_names = \"lowercase\"\n[cache]\noffline_days = 7\ndir = {:?}\n",
        cache.display().to_string()
    ));
    let run = site
        .host
        .run("jsmith", "jsmith-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    site.double.set_fault(Fault::Respond(Canned::new(
        503,
        "text/html",
        "<html>down</html>",
    )));
    let run = site
        .host
        .run("jsmith", "jsmith-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert!(run.log.contains("offline"), "{}", run.log);
}
