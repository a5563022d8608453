//! `pam-crowd sync` against the double, and `libnss_crowd.so.2` through glibc for
//! real (getent, id) in a private mount namespace.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nss_crowd_files::{Files, Passwd};

use crate::harness::*;
use crowd_double::Change;

/// The demo directory, plus a Crowd user named like a local one (`daemon`), an id
/// attribute on erin and on sudo-admins. Over SOAP, a group's members are the ones
/// the server lists (`findGroupByName`: direct, where old servers do not nest), so
/// alice, a nested member over REST, is a direct one there.
fn directory() -> Fixture {
    let fixture = if soap() {
        Fixture::demo().member("linux-users", "alice")
    } else {
        Fixture::demo()
    };
    fixture
        .user("daemon", "daemon-pw", true)
        .member("linux-users", "daemon")
        .attribute("erin", "uidNumber", &["250000"])
        .attribute("erin", "loginShell", &["/bin/sh"])
        .group_attribute("sudo-admins", "gidNumber", &["260000"])
}

struct Site {
    double: Double,
    host: Host,
}

impl Site {
    fn new(nss_extra: &str) -> Site {
        let double = Double::start(directory(), Transport::Https);
        let host = Host::for_double(&double, RULES);
        let site = Site { double, host };
        let config = config_for(&[&site.double], RULES);
        site.host.write_config(&format!(
            "{config}[nss]\ngroups = [\"linux-users\"]\n\
             expose_groups = [\"developers\", \"sudo-admins\"]\ndir = {:?}\n{nss_extra}",
            site.dir().display().to_string()
        ));
        site
    }

    fn dir(&self) -> PathBuf {
        self.host.dir.join("nss")
    }

    fn sync(&self, args: &[&str]) -> Out {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        pam_crowd(&self.host, &all, "")
    }

    fn users(&self) -> Vec<Passwd> {
        Files::new(self.dir()).users().expect("synced files")
    }

    fn uid_of(&self, name: &str) -> Option<u32> {
        self.users().iter().find(|u| u.name == name).map(|u| u.uid)
    }
}

#[test]
fn sync_writes_active_members_and_never_shadows_a_local_name() {
    let site = Site::new("");
    let out = site.sync(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("3 users, 2 groups"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("user \"daemon\" skipped: a local user has this name"),
        "{}",
        out.stderr
    );
    let users = site.users();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "dave", "erin"],
        "bob is in no group, carol inactive"
    );
    let alice = &users[0];
    assert!((65_536..=99_999).contains(&alice.uid));
    assert_eq!((alice.gid, alice.home.as_str()), (100, "/home/alice"));
    assert_eq!(
        (users[2].uid, users[2].shell.as_str()),
        (250_000, "/bin/sh")
    );
    let groups = Files::new(site.dir()).groups().expect("groups");
    let sudo = groups
        .iter()
        .find(|g| g.name == "sudo-admins")
        .expect("exposed");
    assert_eq!(
        (sudo.gid, sudo.members.clone()),
        (260_000, vec!["alice".to_string()])
    );
    for (file, mode) in [("passwd", 0o644), ("group", 0o644), ("idmap.json", 0o600)] {
        let meta = std::fs::metadata(site.dir().join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    // Ids are remembered by Crowd's key; SOAP has none, so by name there.
    let map = std::fs::read_to_string(site.dir().join("idmap.json")).expect("id map");
    let remembered_by = if soap() { "\"alice\": {" } else { "\"32769:" };
    assert!(map.contains(remembered_by), "{map}");
    // Same answer, same files.
    let before = std::fs::read(site.dir().join("passwd")).expect("passwd");
    assert_eq!(site.sync(&[]).code, 0);
    assert_eq!(
        std::fs::read(site.dir().join("passwd")).expect("passwd"),
        before
    );
}

#[test]
fn a_renamed_user_keeps_the_uid_and_the_drop_guard_holds_back_a_shrinking_answer() {
    let site = Site::new("");
    assert_eq!(site.sync(&[]).code, 0);
    let uid = site.uid_of("alice").expect("alice synced");

    // Renamed in Crowd (same key): one user gone, one new, 1/3 > max_drop 0.2. Over
    // SOAP there is no key: the new name is a new user, with a new uid.
    let renamed_uid = |found: Option<u32>| {
        if soap() {
            found.is_some() && found != Some(uid)
        } else {
            found == Some(uid)
        }
    };
    site.double
        .set_fixture(directory().rename("alice", "alicia"));
    let before = std::fs::read(site.dir().join("passwd")).expect("passwd");
    let dry = site.sync(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("- user alice:*:"), "{}", dry.stdout);
    let added = dry
        .stdout
        .lines()
        .find(|l| l.starts_with("+ user alicia:*:"));
    let proposed = added
        .and_then(|l| l.split(':').nth(2))
        .and_then(|u| u.parse().ok());
    assert!(renamed_uid(proposed), "{}", dry.stdout);
    assert!(
        dry.stdout.contains("dry run, nothing written"),
        "{}",
        dry.stdout
    );
    let refused = site.sync(&[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("sync refused: it would remove 1 of the 3 users"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read(site.dir().join("passwd")).expect("passwd"),
        before
    );
    let forced = site.sync(&["--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(renamed_uid(site.uid_of("alicia")));
    assert_eq!(site.uid_of("alice"), None);

    // Crowd answering an empty group: everyone would go.
    site.double.set_fixture(
        directory()
            .leave("developers", "alicia")
            .leave("linux-users", "dave")
            .leave("linux-users", "erin")
            .leave("linux-users", "daemon"),
    );
    let empty = site.sync(&[]);
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert_eq!(site.users().len(), 3);
    // And a renamed-back user gets the same uid again, never a new one.
    site.double.set_fixture(directory());
    assert_eq!(site.sync(&["--force"]).code, 0);
    assert_eq!(site.uid_of("alice"), Some(uid));
}

#[test]
fn colliding_proposals_get_distinct_ids_until_the_range_is_full() {
    let site = Site::new("uid_min = 200000\nuid_max = 200001\n");
    let out = site.sync(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let users = site.users();
    // erin brings her own uid; alice and dave share a two-id range.
    let mut uids: Vec<u32> = users
        .iter()
        .filter(|u| u.name != "erin")
        .map(|u| u.uid)
        .collect();
    uids.sort();
    assert_eq!(uids, [200_000, 200_001]);
    site.double.set_fixture(
        directory()
            .user("frank", "frank-pw", true)
            .member("linux-users", "frank"),
    );
    let full = site.sync(&[]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert!(
        full.stderr
            .contains("user \"frank\" skipped: no free uid left in 200000..200001"),
        "{}",
        full.stderr
    );
}

#[test]
fn sync_without_groups_or_with_crowd_down_writes_nothing() {
    let (double, host) = https_setup(RULES);
    let out = pam_crowd(&host, &["sync"], "");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("[nss] groups is not set"),
        "{}",
        out.stderr
    );
    drop(double);
    let site = Site::new("");
    site.double.set_fault(Fault::Respond(Canned::new(
        503,
        "text/html",
        "<html>busy</html>",
    )));
    let out = site.sync(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("sync failed, nothing written"),
        "{}",
        out.stderr
    );
    assert!(!site.dir().exists());
}

#[test]
fn a_user_synced_then_removed_from_the_group_is_refused_before_the_next_sync() {
    let site = Site::new("");
    assert_eq!(site.sync(&[]).code, 0);
    assert!(site.uid_of("erin").is_some());
    site.double
        .set_fixture(directory().leave("linux-users", "erin"));
    let run = site
        .host
        .run("erin", "erin-pw", &["authenticate", "acct_mgmt"]);
    assert_eq!(
        run.codes,
        vec![Code::Success, Code::PermDenied],
        "{}",
        run.log
    );
}

#[test]
fn glibc_answers_getent_and_id_from_the_synced_files() {
    if !root_or_skip("glibc_answers_getent_and_id_from_the_synced_files") {
        return;
    }
    let site = Site::new("");
    assert_eq!(site.sync(&[]).code, 0);
    let alice = site.uid_of("alice").expect("alice");
    let groups = Files::new(site.dir()).groups().expect("groups");
    let developers = groups
        .iter()
        .find(|g| g.name == "developers")
        .expect("developers")
        .gid;
    let done = with_nss(
        &site.dir(),
        &format!(
            "echo '# passwd alice'; getent passwd alice\n\
             echo '# passwd uid'; getent passwd {alice}\n\
             echo '# passwd root'; getent passwd root\n\
             echo '# group'; getent group sudo-admins\n\
             echo '# group gid'; getent group {developers}\n\
             echo '# id'; id alice\n\
             echo '# initgroups'; getent initgroups alice\n\
             echo '# all'; getent passwd | tail -n 3\n\
             echo '# all groups'; getent group | tail -n 2\n\
             echo '# missing'; getent passwd nosuchuser; echo \"exit $?\"\n\
             echo '# missing uid'; getent passwd 299999; echo \"exit $?\"\n"
        ),
    );
    let out = done.stdout;
    assert!(done.status.success(), "{out}{}", done.stderr);
    let section = |name: &str| section(&out, name);
    let alice_line = format!("alice:*:{alice}:100:alice Test:/home/alice:/bin/bash");
    assert_eq!(section("passwd alice"), alice_line, "{out}");
    assert_eq!(section("passwd uid"), alice_line, "{out}");
    assert!(
        section("passwd root").starts_with("root:x:0:0:"),
        "files still answer first: {out}"
    );
    assert_eq!(section("group"), "sudo-admins:x:260000:alice", "{out}");
    assert_eq!(
        section("group gid"),
        format!("developers:x:{developers}:alice"),
        "{out}"
    );
    let id = section("id");
    assert!(
        id.starts_with(&format!("uid={alice}(alice) gid=100(users)")),
        "{out}"
    );
    assert!(
        id.contains(&format!("{developers}(developers)")) && id.contains("260000(sudo-admins)"),
        "{out}"
    );
    let initgroups = section("initgroups");
    assert!(
        initgroups.starts_with("alice") && initgroups.contains("260000"),
        "{out}"
    );
    assert!(
        section("all")
            .lines()
            .any(|l| l.starts_with("erin:*:250000:")),
        "enumeration: {out}"
    );
    assert!(
        section("all groups")
            .lines()
            .any(|l| l == "sudo-admins:x:260000:alice"),
        "group enumeration: {out}"
    );
    assert_eq!(section("missing"), "exit 2", "not found: {out}");
    assert_eq!(section("missing uid"), "exit 2", "{out}");
}

#[test]
fn glibc_without_synced_files_finds_no_crowd_user_and_local_ones_still() {
    if !root_or_skip("glibc_without_synced_files_finds_no_crowd_user_and_local_ones_still") {
        return;
    }
    let host = Host::new("");
    let empty = host.dir.join("nss");
    std::fs::create_dir_all(&empty).expect("dir");
    let done = with_nss(
        &empty,
        "getent passwd alice; echo \"exit $?\"; getent passwd root >/dev/null; echo \"root $?\"",
    );
    assert_eq!(done.stdout, "exit 2\nroot 0\n", "{}", done.stderr);
}

#[test]
fn the_session_phase_makes_the_home_of_a_synced_user() {
    if !root_or_skip("the_session_phase_makes_the_home_of_a_synced_user") {
        return;
    }
    let scratch = Host::new("");
    let skel = scratch.dir.join("skel");
    std::fs::create_dir_all(&skel).expect("skel");
    std::fs::write(skel.join(".profile"), "# from skel\n").expect("skel file");
    // Homes are made only below root-owned directories nobody else may write: not
    // below /tmp, so /home here is a tmpfs of the namespace's own.
    let site = Site::new(&format!(
        "home = \"/home/{{name}}\"\n[session]\ncreate_home = true\nskel = {:?}\numask = \"0077\"\n",
        skel.display().to_string()
    ));
    assert_eq!(site.sync(&[]).code, 0);
    site.host.service(
        "crowd-session",
        "session required {module} config={config} debug\n",
    );
    let open = format!(
        "PAM_WRAPPER=1 PAM_WRAPPER_DEBUGLEVEL=2 PAM_WRAPPER_SERVICE_DIR={} LD_PRELOAD=libpam_wrapper.so \
         pamtester -v crowd-session alice open_session 2>&1; echo \"exit $?\"",
        site.host.dir.join("pam.d").display()
    );
    let done = with_nss(
        &site.dir(),
        &format!(
            "mount -t tmpfs -o mode=755 tmpfs /home\n{open}\necho \"--- stat\"\n\
             stat -c '%u %g %a' /home/alice /home/alice/.profile\necho \"--- again\"\n{open}"
        ),
    );
    let out = &done.stdout;
    let (first, rest) = out.split_once("--- stat\n").expect(out);
    let (stat, again) = rest.split_once("--- again\n").expect(out);
    assert!(first.contains("exit 0"), "{out}{}", done.stderr);
    assert!(first.contains("home /home/alice created"), "{out}");
    let alice = site.uid_of("alice").expect("alice");
    assert_eq!(
        stat,
        format!("{alice} 100 700\n{alice} 100 600\n"),
        "the home and its skeleton file are alice's: {out}"
    );
    assert!(
        again.contains("exit 0") && again.contains("exists"),
        "{out}"
    );
}

#[test]
fn the_module_answers_nss_status_and_errno_as_glibc_expects() {
    if !root_or_skip("the_module_answers_nss_status_and_errno_as_glibc_expects") {
        return;
    }
    let site = Site::new("");
    assert_eq!(site.sync(&[]).code, 0);
    let alice = site.uid_of("alice").expect("alice");
    let mut probe = NssProbe::start(&site.dir());
    // NSS_STATUS_SUCCESS = 1, NOTFOUND = 0 with ENOENT (2), TRYAGAIN = -2 with ERANGE (34).
    assert_eq!(
        probe.ask("getpwnam alice 1024"),
        format!("status=1 errno=0 name=alice uid={alice}")
    );
    assert_eq!(
        probe.ask(&format!("getpwuid {alice} 1024")),
        "status=1 errno=0 name=alice"
    );
    assert_eq!(probe.ask("getpwnam nosuchuser 1024"), "status=0 errno=2");
    assert_eq!(
        probe.ask("getpwnam alice 8"),
        "status=-2 errno=34",
        "buffer too small"
    );
    assert_eq!(
        probe.ask("getgrnam sudo-admins 1024"),
        "status=1 errno=0 name=sudo-admins gid=260000"
    );
    assert_eq!(probe.ask("getgrnam sudo-admins 16"), "status=-2 errno=34");
    assert!(
        probe
            .ask("initgroups alice")
            .starts_with("status=1 errno=0 gids=")
    );
    assert_eq!(
        probe.ask("initgroups dave"),
        "status=0 errno=2 gids=",
        "in no exposed group"
    );
    // Enumeration: a too-small buffer does not lose the entry.
    assert_eq!(probe.ask("setpwent"), "status=1");
    assert_eq!(probe.ask("getpwent 8"), "status=-2 errno=34");
    assert_eq!(probe.ask("getpwent 1024"), "status=1 errno=0 name=alice");
    assert_eq!(probe.ask("getpwent 1024"), "status=1 errno=0 name=dave");
    assert_eq!(probe.ask("getpwent 1024"), "status=1 errno=0 name=erin");
    assert_eq!(probe.ask("getpwent 1024"), "status=0 errno=2");

    // A new sync is seen by the same process, without a restart.
    site.double
        .set_fixture(directory().leave("linux-users", "dave"));
    assert_eq!(site.sync(&["--force"]).code, 0);
    assert_eq!(probe.ask("getpwnam dave 1024"), "status=0 errno=2");
    assert_eq!(
        probe.ask("getpwnam alice 1024"),
        format!("status=1 errno=0 name=alice uid={alice}")
    );
    // Files gone (or never synced): unavailable, NSS_STATUS_UNAVAIL = -1.
    for file in ["passwd", "passwd.index"] {
        std::fs::remove_file(site.dir().join(file)).expect("remove");
    }
    assert_eq!(probe.ask("getpwnam alice 1024"), "status=-1 errno=2");
}

/// The lines a script printed after its `# NAME` marker, up to the next marker.
fn section(out: &str, name: &str) -> String {
    out.split(&format!("# {name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("\n# ").next())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A group this host has (staff on Debian, else the first after root), and its gid.
fn host_group() -> (String, u32) {
    let groups = std::fs::read_to_string("/etc/group").expect("/etc/group");
    let entries: Vec<(String, u32)> = groups
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            Some((fields.first()?.to_string(), fields.get(2)?.parse().ok()?))
        })
        .collect();
    entries
        .iter()
        .find(|(name, _)| name == "staff")
        .or_else(|| entries.iter().find(|(_, gid)| *gid != 0))
        .cloned()
        .expect("a local group")
}

#[test]
fn a_local_group_is_granted_by_crowd_membership_and_taken_away_with_it() {
    if !root_or_skip("a_local_group_is_granted_by_crowd_membership_and_taken_away_with_it") {
        return;
    }
    let (local, gid) = host_group();
    let site = Site::new(&format!(
        "[nss.local_groups]\n{local} = [\"docker-users\"]\n"
    ));
    // alice is synced (linux-users, through developers); bob is in no synced group.
    site.double.set_fixture(
        directory()
            .member("docker-users", "alice")
            .member("docker-users", "bob"),
    );
    let out = site.sync(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let entry = |site: &Site| {
        Files::new(site.dir())
            .groups()
            .expect("groups")
            .into_iter()
            .find(|g| g.name == local)
            .map(|g| (g.gid, g.members))
    };
    assert_eq!(entry(&site), Some((gid, vec!["alice".to_owned()])));
    // glibc: initgroups gives alice the local group; getent group merges only where
    // nsswitch.conf says so, and the local entry keeps its gid either way.
    let merged = site
        .dir()
        .parent()
        .expect("parent")
        .join("nsswitch-merge.conf");
    std::fs::write(
        &merged,
        "passwd: files crowd\ngroup: files [SUCCESS=merge] crowd\n",
    )
    .expect("nsswitch");
    let done = with_nss(
        &site.dir(),
        &format!(
            "echo '# id'; id alice\n\
             echo '# plain'; getent group {local}\n\
             mount --bind {merged} /etc/nsswitch.conf\n\
             echo '# merged'; getent group {local}\n",
            merged = merged.display()
        ),
    );
    let out = done.stdout;
    let section = |name: &str| section(&out, name);
    assert!(
        section("id").contains(&format!("{gid}({local})")),
        "{out}{}",
        done.stderr
    );
    assert!(
        section("plain").starts_with(&format!("{local}:x:{gid}:")),
        "{out}"
    );
    assert!(!section("plain").contains("alice"), "{out}");
    let merged_line = section("merged");
    assert!(
        merged_line.starts_with(&format!("{local}:x:{gid}:")) && merged_line.contains("alice"),
        "{out}"
    );
    // Leaving the Crowd group takes the local group away at the next sync (over REST
    // an incremental one, from Crowd's event).
    site.double.change(Change::Leave {
        user: "alice".into(),
        group: "docker-users".into(),
    });
    let out = site.sync(&[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(entry(&site), Some((gid, vec![])), "{}", out.stdout);
    let done = with_nss(&site.dir(), "id alice\n");
    assert!(
        !done.stdout.contains(&format!("({local})")),
        "{}",
        done.stdout
    );
}

#[test]
fn mapping_a_group_the_host_does_not_have_is_a_config_error() {
    let site = Site::new("[nss.local_groups]\nno-such-local-group = [\"sudo-admins\"]\n");
    let out = site.sync(&[]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("names \"no-such-local-group\", which is no local group"),
        "{}",
        out.stderr
    );
    assert!(!site.dir().join("group").exists(), "nothing written");
    let check = pam_crowd(&site.host, &["check"], "");
    assert_ne!(check.code, 0);
    assert!(
        check.stdout.contains("which the host has no group of"),
        "{}",
        check.stdout
    );
}
