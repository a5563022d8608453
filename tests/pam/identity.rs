//! Identities the host can trust: what a Crowd directory admin (or an LDAP directory
//! behind Crowd) sets on users must only select among what the host allows. Each test
//! runs the real `pam-crowd sync`, glibc through `libnss_crowd.so.2`, sudo, the module
//! through libpam, and `pam-crowd`, in a private mount namespace with /etc files of its
//! own (local users and groups, /etc/subuid, /etc/shells, sudoers) and its own /home.

use std::os::unix::fs::MetadataExt;

use nss_crowd_files::Files;

use crate::harness::*;

/// The real /etc/passwd (root, daemon...) plus `extra` lines.
fn etc_with(file: &str, extra: &str) -> String {
    let real = std::fs::read_to_string(format!("/etc/{file}")).expect("real /etc file");
    format!("{real}{extra}")
}

/// The demo directory. Over SOAP a group's members are those the server lists
/// (direct), so alice, a nested member of linux-users over REST, is a direct one there.
fn demo() -> Fixture {
    match soap() {
        true => Fixture::demo().member("linux-users", "alice"),
        false => Fixture::demo(),
    }
}

/// A host synced from `fixture`: `[nss]` syncs linux-users and exposes developers and
/// sudo-admins, `[session]` makes homes, with `extra` config lines and /etc files.
fn site(fixture: Fixture, extra: &str, etc: &[(&str, &str)]) -> (Double, Host) {
    let double = Double::start(fixture, Transport::Https);
    let mut host = Host::new("");
    let synced = host.dir.join("nss");
    host.write_config(&config_for(
        &[&double],
        &format!(
            "{RULES}{extra}[nss]\ngroups = [\"linux-users\"]\n\
             expose_groups = [\"developers\", \"sudo-admins\"]\ndir = {:?}\n\
             [session]\ncreate_home = true\nskel = \"/nonexistent\"\n",
            synced.display().to_string()
        ),
    ));
    host.service(
        "crowd-session",
        "session required {module} config={config} debug\n",
    );
    host.own_etc(etc);
    (double, host)
}

/// Runs `script` (sh) in the host's namespace.
fn shell(host: &Host, script: &str) -> Finished {
    let mut command = host.command("sh");
    command.args(["-c", script]);
    run_bounded(&mut command, "")
}

/// The synced entry of `name`, if any.
fn synced(host: &Host, name: &str) -> Option<nss_crowd_files::Passwd> {
    Files::new(host.dir.join("nss"))
        .users()
        .ok()?
        .into_iter()
        .find(|u| u.name == name)
}

#[test]
fn a_crowd_gid_never_makes_a_user_a_member_of_a_local_or_unjoined_group() {
    if !root_or_skip("identity::primary_gid") {
        return;
    }
    // dave asks for the local admin group, erin for sudo-admins (she is not in it),
    // alice for sudo-admins (she is).
    let fixture = demo()
        .group_attribute("sudo-admins", "gidNumber", &["260000"])
        .attribute("dave", "gidNumber", &["1000"])
        .attribute("erin", "gidNumber", &["260000"])
        .attribute("alice", "gidNumber", &["260000"]);
    let group = etc_with("group", "localadmins:x:1000:\n");
    let sudoers = "Defaults !lecture, !fqdn\nroot ALL=(ALL) ALL\n%sudo-admins ALL=(ALL:ALL) ALL\n%localadmins ALL=(ALL:ALL) ALL\n";
    let (_double, host) = site(fixture, "", &[("group", &group), ("sudoers", sudoers)]);
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}{}", sync.stdout, sync.stderr);
    for expected in [
        "user \"dave\": gidNumber refused (1000 is a local group's); primary_gid 100 used",
        "user \"erin\": gidNumber refused (260000 is exposed group \"sudo-admins\"'s, and the user is not its member); primary_gid 100 used",
    ] {
        assert!(
            sync.stderr.contains(expected),
            "{expected}\n{}",
            sync.stderr
        );
    }
    let out = shell(
        &host,
        "for u in alice dave erin; do echo \"$u $(id -g $u)\"; done\n\
         for u in alice dave erin; do sudo -n -l -U $u >/dev/null 2>&1; echo \"sudo $u $?\"; \
         sudo -l -U $u | grep -c 'ALL) ALL'; done",
    );
    assert!(
        out.stdout.contains("alice 260000\ndave 100\nerin 100\n"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    // sudo counts the primary gid as membership: only alice may run anything.
    let may = |u: &str| {
        let marker = format!("sudo {u} ");
        let at = out.stdout.find(&marker).expect("sudo line");
        let rest = &out.stdout[at..];
        rest.lines().nth(1).map(str::trim) != Some("0")
    };
    assert!(may("alice"), "{}", out.stdout);
    assert!(!may("dave") && !may("erin"), "{}", out.stdout);
}

#[test]
fn one_home_per_user_and_a_session_never_opens_on_someone_elses_home() {
    if !root_or_skip("identity::homes") {
        return;
    }
    // mallory's directory admin points her home at alice's, and below it.
    let fixture = demo()
        .user("mallory", "mallory-pw", true)
        .member("linux-users", "mallory")
        .attribute("mallory", "homeDirectory", &["/home/alice"])
        .user("trudy", "trudy-pw", true)
        .member("linux-users", "trudy")
        .attribute("trudy", "homeDirectory", &["/home/alice/x"]);
    let (double, host) = site(fixture, "", &[]);
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    assert!(
        sync.stderr.contains("user \"mallory\": homeDirectory \"/home/alice\" refused (it is, is inside or holds \"/home/alice\", the home template's path for \"alice\"); \"/home/mallory\" used"),
        "{}",
        sync.stderr
    );
    assert_eq!(
        synced(&host, "mallory").expect("mallory").home,
        "/home/mallory"
    );
    assert_eq!(synced(&host, "trudy").expect("trudy").home, "/home/trudy");
    let dry = pam_crowd(&host, &["sync", "--dry-run"], "");
    assert!(
        dry.stdout.contains("! user \"trudy\": homeDirectory"),
        "{}",
        dry.stdout
    );

    // A home another user made there first (under an older release, or by hand) is
    // never used: the session is refused and nothing changes.
    let home = host.dir.join("home").join("alice");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(home.join(".profile"), "planted\n").expect("planted");
    let mallory_uid = synced(&host, "mallory").expect("mallory").uid;
    rustix::fs::chown(&home, Some(rustix::fs::Uid::from_raw(mallory_uid)), None).expect("chown");
    let run = host.run_service("crowd-session", "alice", "", &["open_session"]);
    assert_eq!(run.last(), Code::SessionErr, "{}", run.log);
    assert!(run.log.contains("not the user's"), "{}", run.log);
    assert_eq!(std::fs::metadata(&home).expect("home").uid(), mallory_uid);
    assert_eq!(
        std::fs::read_to_string(home.join(".profile")).expect("profile"),
        "planted\n"
    );
    // mallory's own home is made, and is hers.
    let run = host.run_service("crowd-session", "mallory", "", &["open_session"]);
    assert_eq!(run.last(), Code::Success, "{}", run.log);
    let made = std::fs::metadata(host.dir.join("home").join("mallory")).expect("made");
    assert_eq!(made.uid(), mallory_uid);
    drop(double);
}

#[test]
fn no_synced_id_lies_in_a_subordinate_range() {
    if !root_or_skip("identity::subordinate") {
        return;
    }
    // A local user's subordinate ranges cover most of the default range.
    let sub = "builder:65536:30000\n";
    let fixture = demo().attribute("erin", "uidNumber", &["70000"]);
    let (_double, host) = site(fixture, "", &[("subuid", sub), ("subgid", sub)]);
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    assert!(
        sync.stderr.contains(
            "user \"erin\" skipped: uid 70000 lies in the subordinate range of \"builder\" (/etc/subuid)"
        ),
        "{}",
        sync.stderr
    );
    let users = Files::new(host.dir.join("nss")).users().expect("users");
    assert!(!users.is_empty());
    for user in &users {
        assert!((95_536..=99_999).contains(&user.uid), "{user:?}");
    }
    for group in Files::new(host.dir.join("nss")).groups().expect("groups") {
        assert!((95_536..=99_999).contains(&group.gid), "{group:?}");
    }
    // Ranges wholly inside: refused, nothing written.
    let (_double, inside) = site(
        demo(),
        "",
        &[("subuid", "builder:65536:34464\n"), ("subgid", sub)],
    );
    let refused = pam_crowd(&inside, &["sync"], "");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("lies wholly inside subordinate ranges of /etc/subuid"),
        "{}",
        refused.stderr
    );
    assert!(!inside.dir.join("nss").join("passwd").exists());
    // The old default range overlaps useradd's window for new subordinate ranges.
    let (_double, old) = site(demo(), "", &[]);
    let config = std::fs::read_to_string(old.config_path()).expect("config");
    old.write_config(&config.replace("[nss]\n", "[nss]\nuid_min = 200000\nuid_max = 299999\n"));
    let check = pam_crowd(&old, &["check"], "");
    assert!(
        check.stdout.contains(
            "id ranges: WARNING: [nss] uid_min..uid_max 200000..299999 overlaps SUB_UID_MIN..SUB_UID_MAX 100000..600100000"
        ),
        "{}",
        check.stdout
    );
    let check = pam_crowd(&host, &["check"], "");
    assert!(
        check.stdout.contains("id ranges: ok: uids 65536..99999"),
        "{}",
        check.stdout
    );
}

#[test]
fn a_local_account_is_the_hosts_unless_handed_to_crowd() {
    if !root_or_skip("identity::local_users") {
        return;
    }
    // The installer made alice (uid 1000, an admin); Crowd has an alice too.
    let passwd = etc_with(
        "passwd",
        "alice:x:1000:1000:Local Admin:/home/alice:/bin/sh\n",
    );
    let scratch = Host::new("");
    let key = ssh_public_key(&scratch.dir, "alice");
    let fixture = demo().attribute("alice", "sshPublicKey", &[&key]);
    let (double, host) = site(
        fixture,
        "ssh_keys_attribute = \"sshPublicKey\"\n",
        &[("passwd", &passwd)],
    );
    double.clear_requests();
    let run = host.run("alice", "alice-pw", &["authenticate"]);
    assert_eq!(run.last(), Code::UserUnknown, "{}", run.log);
    assert!(
        run.log.contains("not a Crowd user here: a local account in /etc/passwd (local_users = \"host\"); Crowd not asked"),
        "{}",
        run.log
    );
    assert_eq!(
        host.run("alice", "", &["acct_mgmt"]).last(),
        Code::UserUnknown
    );
    let keys = pam_crowd(&host, &["authorized-keys", "alice"], "");
    assert!(keys.stdout.trim().is_empty(), "{}", keys.stdout);
    assert!(double.asked().is_empty(), "{:?}", double.asked());
    let check = pam_crowd(&host, &["check"], "");
    assert!(
        check
            .stdout
            .contains("alice (uid 1000): the host's: local_users = \"host\", Crowd not asked"),
        "{}",
        check.stdout
    );
    // Handed over on purpose: in the config, or on the PAM line.
    let config = std::fs::read_to_string(host.config_path()).expect("config");
    host.write_config(&config.replace("[nss]", "local_users = [\"alice\"]\n[nss]"));
    assert_eq!(
        host.run("alice", "alice-pw", &["authenticate"]).last(),
        Code::Success
    );
    let keys = pam_crowd(&host, &["authorized-keys", "alice"], "");
    assert!(keys.stdout.contains(&key), "{}", keys.stdout);
    host.write_config(&config);
    host.service(
        "crowd-test",
        "auth required {module} config={config} local_users=crowd\n",
    );
    assert_eq!(
        host.run("alice", "alice-pw", &["authenticate"]).last(),
        Code::Success
    );
}

#[test]
fn names_shells_and_escapes_from_crowd_are_the_hosts_to_allow() {
    if !root_or_skip("identity::names") {
        return;
    }
    // XML cannot carry ESC or BEL (Crowd's SOAP answers neither): there, the C1 CSI
    // (an 8-bit terminal's escape) and a right-to-left override, which XML can.
    let (escape, escaped) = match soap() {
        false => (
            "x\u{1b}]0;OWNED\u{7}\u{1b}[2J",
            "x\\u{1b}]0;OWNED\\u{7}\\u{1b}[2J",
        ),
        true => ("x\u{9b}2J\u{202e}", "x\\u{9b}2J\\u{202e}"),
    };
    let fixture = demo()
        .user("0", "zero-pw", true)
        .member("linux-users", "0")
        .user("root\u{200b}", "zw-pw", true)
        .member("linux-users", "root\u{200b}")
        .user(escape, "esc-pw", true)
        .member("linux-users", escape)
        .attribute("erin", "loginShell", &["/tmp/evilshell"])
        .attribute("dave", "loginShell", &["/usr/bin/zsh"]);
    let shells = "/bin/sh\n/bin/bash\n/usr/bin/zsh\n";
    let (_double, host) = site(fixture, "", &[("shells", shells)]);
    let sync = pam_crowd(&host, &["sync"], "");
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    for expected in [
        "user \"0\" skipped: its name is no user name here: all digits",
        "user \"root\\u{200b}\" skipped: its name is no user name here",
        &format!("user \"{escaped}\" skipped"),
        "user \"erin\": loginShell [\"/tmp/evilshell\"] refused (not a shell /etc/shells lists); \"/bin/bash\" used",
    ] {
        assert!(
            sync.stderr.contains(expected),
            "{expected}\n{}",
            sync.stderr
        );
    }
    assert!(!sync.stderr.contains(escape), "{}", sync.stderr);
    assert!(
        !sync
            .stderr
            .contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'])
    );
    let out = shell(&host, "getent passwd erin dave");
    assert!(
        out.stdout.contains(":/home/erin:/bin/bash\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(":/home/dave:/usr/bin/zsh\n"),
        "{}",
        out.stdout
    );
    let users = Files::new(host.dir.join("nss")).users().expect("users");
    assert!(
        users
            .iter()
            .all(|u| u.name.bytes().all(|b| b.is_ascii_graphic())),
        "{users:?}"
    );
    assert!(synced(&host, "0").is_none());
    // What pam-crowd prints of Crowd's names is escaped as log lines are.
    let members = pam_crowd(&host, &["members", "linux-users"], "");
    assert_eq!(members.code, 0, "{}", members.stderr);
    assert!(
        !members
            .stdout
            .contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'])
    );
    assert!(members.stdout.contains(escaped), "{}", members.stdout);
    assert!(
        members.stdout.contains("root\\u{200b}"),
        "{}",
        members.stdout
    );
}

#[test]
fn pam_crowd_passwd_admits_as_a_login_does_and_never_marks_a_user_active() {
    let double = Double::start(demo().writable(), Transport::Https);
    let host = Host::new("");
    let cache = host.dir.join("cache");
    let write = |double: &Double| {
        // The CA kept beside the config: it outlives the double.
        let ca = host.dir.join("ca.pem");
        std::fs::copy(double.ca_file().expect("https"), &ca).expect("copy CA");
        host.write_config(&format!(
            "url = {:?}\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\n\
             ca_file = {:?}\ntimeout = 5\ndeny_groups = [\"contractors\"]\n\
             [cache]\ndir = {:?}\noffline_days = 7\n",
            double.ip_url(),
            ca.display().to_string(),
            cache.display().to_string()
        ));
    };
    write(&double);
    // carol is inactive in Crowd: the module's chauthtok refuses her, so does passwd.
    let refused = pam_crowd(
        &host,
        &["passwd", "carol"],
        "carol-new-pw1\ncarol-new-pw1\n",
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("account inactive in Crowd: nothing changed"),
        "{}",
        refused.stderr
    );
    assert!(
        !double.asked().iter().any(|op| op == "set-password"),
        "{:?}",
        double.asked()
    );
    // dave is denied by deny_groups (contractors), as at a login.
    let denied = pam_crowd(&host, &["passwd", "dave"], "dave-new-pw1\ndave-new-pw1\n");
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    // alice's password is set, and her cache entry follows without marking her active:
    // with Crowd gone (and no allow_groups), the new password alone does not log her
    // in offline; the account phase wants Crowd's word that she is active.
    let set = pam_crowd(
        &host,
        &["passwd", "alice"],
        "alice-new-pw1\nalice-new-pw1\n",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    let port = double.port();
    drop(double);
    let run = host.run("alice", "alice-new-pw1", &["authenticate", "acct_mgmt"]);
    assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
    assert!(
        run.log
            .contains("Crowd has not confirmed the account active recently enough"),
        "{}",
        run.log
    );
    // A cache it cannot use is reported, not ignored.
    let double = Double::start_on(demo().writable(), Transport::Https, port);
    std::fs::remove_dir_all(&cache).expect("cache dir");
    std::fs::write(&cache, "not a directory").expect("file");
    write(&double);
    let set = pam_crowd(
        &host,
        &["passwd", "alice"],
        "alice-new-pw2\nalice-new-pw2\n",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(set.stdout.contains("cache problem"), "{}", set.stdout);
}
