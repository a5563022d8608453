use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::identity::holdings::SubRange;
use crate::identity::home_below_bases;

fn crowd_user(
    name: &str,
    key: &str,
    active: bool,
    attributes: &[(&str, &str)],
) -> (User, Attributes) {
    let user = User {
        name: name.into(),
        active,
        display_name: Some(format!("{name} Test")),
        email: None,
        key: Some(key.into()),
    };
    let attributes = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect();
    (user, attributes)
}

fn local() -> Holdings {
    Holdings {
        users: ["root", "daemon", "localadmin"].map(String::from).into(),
        uids: [0, 1, 1000].into(),
        homes: vec![
            ("root".into(), "/root".into()),
            ("daemon".into(), "/usr/sbin".into()),
            ("localadmin".into(), "/home/localadmin".into()),
        ],
        groups: ["root", "sudo", "users", "adm"].map(String::from).into(),
        gids: [0, 4, 27, 100, 1000].into(),
        group_gids: [("root", 0), ("adm", 4), ("sudo", 27), ("users", 100)]
            .map(|(name, gid)| (name.to_owned(), gid))
            .into(),
        shells: ["/bin/sh", "/bin/bash", "/bin/zsh"]
            .map(String::from)
            .into(),
        ..Holdings::default()
    }
}

fn fetched() -> Fetched {
    Fetched {
        users: vec![
            crowd_user("alice", "k-alice", true, &[]),
            crowd_user(
                "bob",
                "k-bob",
                true,
                &[("uidNumber", "5001"), ("loginShell", "/bin/zsh")],
            ),
            crowd_user("carol", "k-carol", false, &[]),
            crowd_user("daemon", "k-daemon", true, &[]),
            crowd_user("eve", "k-eve", true, &[("uidNumber", "0")]),
            crowd_user("a:b", "k-ab", true, &[]),
        ],
        groups: vec![
            FetchedGroup {
                name: "devs".into(),
                attributes: Attributes::new(),
                members: vec![
                    "bob".into(),
                    "alice".into(),
                    "carol".into(),
                    "daemon".into(),
                ],
            },
            FetchedGroup {
                name: "sudo".into(),
                attributes: Attributes::new(),
                members: vec!["alice".into()],
            },
        ],
        mapped: BTreeMap::new(),
    }
}

#[test]
fn the_plan_keeps_active_crowd_users_and_never_shadows_local_ones() {
    let nss = NssConfig::default();
    let plan = plan(&fetched(), &local(), &IdMap::default(), &nss).unwrap();
    let names: Vec<&str> = plan.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob"],
        "carol is inactive; daemon, eve and a:b are skipped"
    );
    let skipped = plan.skipped.join("\n");
    assert!(
        skipped.contains("user \"daemon\" skipped: a local user has this name"),
        "{skipped}"
    );
    assert!(
        skipped.contains("user \"eve\" skipped: its uidNumber"),
        "{skipped}"
    );
    assert!(skipped.contains("user \"a:b\" skipped"), "{skipped}");
    assert!(
        skipped.contains("group \"sudo\" skipped: a local group"),
        "{skipped}"
    );
    let alice = &plan.users[0];
    assert!((65_536..=99_999).contains(&alice.uid));
    assert_eq!(
        (alice.gid, alice.home.as_str(), alice.shell.as_str()),
        (100, "/home/alice", "/bin/bash")
    );
    assert_eq!(alice.gecos, "alice Test");
    let bob = &plan.users[1];
    assert_eq!((bob.uid, bob.shell.as_str()), (5001, "/bin/zsh"));
    assert_eq!(plan.groups.len(), 1);
    assert_eq!(
        plan.groups[0].members,
        ["alice", "bob"],
        "only synced users, sorted"
    );
    assert!((65_536..=99_999).contains(&plan.groups[0].gid));
}

#[test]
fn ids_survive_a_resync_and_a_rename() {
    let nss = NssConfig::default();
    let first = plan(&fetched(), &local(), &IdMap::default(), &nss).unwrap();
    let again = plan(&fetched(), &local(), &first.ids, &nss).unwrap();
    assert_eq!(first.users, again.users);
    assert_eq!(first.groups, again.groups);
    let mut renamed = fetched();
    renamed.users[0].0.name = "alicia".into();
    let after = plan(&renamed, &local(), &first.ids, &nss).unwrap();
    let alicia = after.users.iter().find(|u| u.name == "alicia").unwrap();
    assert_eq!(alicia.uid, first.users[0].uid, "same Crowd key, same uid");
    assert_eq!(after.ids.users["k-alice"].name, "alicia");
}

#[test]
fn the_diff_counts_and_the_guard_refuses_large_drops() {
    let dir = std::env::temp_dir().join(format!("pam-crowd-sync-diff-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let nss = NssConfig::default();
    let full = plan(&fetched(), &local(), &IdMap::default(), &nss).unwrap();
    let first = full.diff(&dir).unwrap();
    assert_eq!((first.users_before, first.users_added), (0, 2));
    assert!(
        !Plan::drops_too_many(&first, 0.2),
        "a first sync drops nobody"
    );
    full.write(&dir).unwrap();
    let mode = fs::metadata(dir.join(ID_MAP)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(read_ids(&dir).unwrap(), full.ids);

    let empty = plan(&Fetched::default(), &local(), &full.ids, &nss).unwrap();
    let drop = empty.diff(&dir).unwrap();
    assert_eq!((drop.users_before, drop.users_removed), (2, 2));
    assert!(Plan::drops_too_many(&drop, 0.2));
    assert!(!Plan::drops_too_many(&drop, 1.0));
    let mut one_less = fetched();
    one_less.users.remove(1);
    one_less.users[0]
        .1
        .insert("loginShell".into(), vec!["/bin/sh".into()]);
    let d = plan(&one_less, &local(), &full.ids, &nss)
        .unwrap()
        .diff(&dir)
        .unwrap();
    assert_eq!((d.users_removed, d.users_changed), (1, 1));
    assert!(Plan::drops_too_many(&d, 0.2) && !Plan::drops_too_many(&d, 0.5));
    assert!(d.to_string().contains("- user bob:*:5001:"), "{d}");
    assert!(d.to_string().contains("~ user alice:"), "{d}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crowd_homes_are_taken_only_below_the_home_bases() {
    let nss = NssConfig::default();
    let bases = &nss.home_bases;
    assert_eq!(bases, &[PathBuf::from("/home")]);
    assert!(home_below_bases("/home/alice", bases).is_ok());
    assert!(home_below_bases("/home/staff/alice", bases).is_ok());
    for bad in [
        "/home/../etc/sudoers.d",
        "/home/./alice",
        "/home//alice",
        "/home/alice/",
        "/home",
        "/homeless/alice",
        "/etc",
        "home/alice",
        "/home/al\nice",
        "/home/a:b",
    ] {
        assert!(home_below_bases(bad, bases).is_err(), "{bad:?}");
    }
    let mut crowd = fetched();
    crowd.users[0]
        .1
        .insert("homeDirectory".into(), vec!["/home/../etc".into()]);
    crowd.users[1]
        .1
        .insert("homeDirectory".into(), vec!["/home/staff/bob".into()]);
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    assert_eq!(plan.users[0].home, "/home/alice", "the template instead");
    assert_eq!(plan.users[1].home, "/home/staff/bob");
    let notes = plan.skipped.join("\n");
    assert!(
        notes.contains("user \"alice\": homeDirectory \"/home/../etc\" refused"),
        "{notes}"
    );
}

#[test]
fn crowd_ids_below_min_uid_are_refused() {
    let nss = NssConfig {
        min_uid: 6000,
        ..NssConfig::default()
    };
    let plan = plan(&fetched(), &local(), &IdMap::default(), &nss).unwrap();
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.contains("user \"bob\" skipped: its uidNumber")),
        "{:?}",
        plan.skipped
    );
}

/// `fetched()` plus attributes on alice and bob, and the devs group exposed.
fn with_attributes(alice: &[(&str, &str)], bob: &[(&str, &str)]) -> Fetched {
    let mut crowd = fetched();
    for (i, attributes) in [(0, alice), (1, bob)] {
        for (k, v) in attributes {
            crowd.users[i].1.insert(k.to_string(), vec![v.to_string()]);
        }
    }
    crowd
}

fn user<'a>(plan: &'a Plan, name: &str) -> Option<&'a Passwd> {
    plan.users.iter().find(|u| u.name == name)
}

#[test]
fn a_primary_gid_from_crowd_is_primary_gid_or_an_exposed_group_the_user_is_in() {
    let nss = NssConfig::default();
    let first = plan(&fetched(), &local(), &IdMap::default(), &nss).unwrap();
    let devs = first.groups[0].gid;
    let mut crowd = with_attributes(
        &[("gidNumber", "1000")],
        &[("gidNumber", &devs.to_string())],
    );
    // carol (inactive) and eve are not synced; a third user outside devs asks for it.
    crowd.users.push(crowd_user(
        "frank",
        "k-frank",
        true,
        &[("gidNumber", &devs.to_string())],
    ));
    crowd
        .users
        .push(crowd_user("gina", "k-gina", true, &[("gidNumber", "100")]));
    crowd.users.push(crowd_user(
        "hank",
        "k-hank",
        true,
        &[("gidNumber", "424242")],
    ));
    let plan = plan(&crowd, &local(), &first.ids, &nss).unwrap();
    let gid = |name| user(&plan, name).map(|u| u.gid);
    assert_eq!(gid("alice"), Some(100), "a local group's gid falls back");
    assert_eq!(gid("bob"), Some(devs), "bob is a Crowd member of devs");
    assert_eq!(gid("frank"), Some(100), "frank is not");
    assert_eq!(gid("gina"), Some(100));
    assert_eq!(gid("hank"), Some(100), "no group has it");
    let notes = plan.skipped.join("\n");
    for expected in [
        "user \"alice\": gidNumber refused (1000 is a local group's); primary_gid 100 used",
        &format!(
            "user \"frank\": gidNumber refused ({devs} is exposed group \"devs\"'s, and the user is not its member)"
        ),
        "user \"hank\": gidNumber refused (424242 is no exposed group's)",
    ] {
        assert!(notes.contains(expected), "{expected}\n{notes}");
    }
    assert!(!notes.contains("\"gina\""), "{notes}");
}

#[test]
fn one_home_per_user() {
    let nss = NssConfig::default();
    let mut crowd = with_attributes(&[], &[("homeDirectory", "/home/alice")]);
    crowd.users.push(crowd_user(
        "mallory",
        "k-m",
        true,
        &[("homeDirectory", "/home/alice/x")],
    ));
    crowd.users.push(crowd_user(
        "oscar",
        "k-o",
        true,
        &[("homeDirectory", "/home/localadmin")],
    ));
    crowd.users.push(crowd_user(
        "peggy",
        "k-p",
        true,
        &[("homeDirectory", "/home/staff/peggy")],
    ));
    crowd.users.push(crowd_user(
        "quinn",
        "k-q",
        true,
        &[("homeDirectory", "/home/staff")],
    ));
    crowd.users.push(crowd_user(
        "rita",
        "k-r",
        true,
        &[("homeDirectory", "/home/staff/peggy/r")],
    ));
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    let home = |name| user(&plan, name).map(|u| u.home.clone());
    assert_eq!(home("alice").as_deref(), Some("/home/alice"));
    assert_eq!(
        home("bob").as_deref(),
        Some("/home/bob"),
        "alice's path is alice's"
    );
    assert_eq!(
        home("mallory").as_deref(),
        Some("/home/mallory"),
        "inside alice's"
    );
    assert_eq!(
        home("oscar").as_deref(),
        Some("/home/oscar"),
        "a local home"
    );
    assert_eq!(home("peggy").as_deref(), Some("/home/staff/peggy"));
    assert_eq!(
        home("quinn").as_deref(),
        Some("/home/quinn"),
        "above peggy's"
    );
    assert_eq!(
        home("rita").as_deref(),
        Some("/home/rita"),
        "inside peggy's"
    );
    let notes = plan.skipped.join("\n");
    assert!(
        notes.contains("user \"bob\": homeDirectory \"/home/alice\" refused (it is, is inside or holds \"/home/alice\", the home template's path for \"alice\")"),
        "{notes}"
    );
    assert!(
        notes.contains("local account \"localadmin\"'s home"),
        "{notes}"
    );
}

#[test]
fn a_user_whose_template_path_is_taken_is_skipped() {
    // A user whose template path is a local account's home too is skipped.
    let nss = NssConfig {
        home: "/home/shared".into(),
        ..NssConfig::default()
    };
    let mut crowd = fetched();
    crowd.users.truncate(2);
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    assert!(plan.users.is_empty(), "{:?}", plan.users);
    assert!(
        plan.skipped
            .join("\n")
            .contains("skipped: no home is free for it"),
        "{:?}",
        plan.skipped
    );
    let paths: BTreeSet<&str> = plan.users.iter().map(|u| u.home.as_str()).collect();
    assert_eq!(paths.len(), plan.users.len());
}

#[test]
fn shells_only_from_etc_shells() {
    let nss = NssConfig::default();
    let mut crowd = with_attributes(
        &[("loginShell", "/tmp/evilshell")],
        &[("loginShell", "bash")],
    );
    crowd.users.push(crowd_user(
        "frank",
        "k-f",
        true,
        &[("loginShell", "/bin/sh:x")],
    ));
    crowd.users.push(crowd_user(
        "gina",
        "k-g",
        true,
        &[("loginShell", "/bin/zsh")],
    ));
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    for (name, shell) in [
        ("alice", "/bin/bash"),
        ("bob", "/bin/bash"),
        ("frank", "/bin/bash"),
        ("gina", "/bin/zsh"),
    ] {
        assert_eq!(
            user(&plan, name).map(|u| u.shell.as_str()),
            Some(shell),
            "{name}"
        );
    }
    assert!(plan.skipped.join("\n").contains(
        "user \"alice\": loginShell [\"/tmp/evilshell\"] refused (not a shell /etc/shells lists); \"/bin/bash\" used"
    ));
}

#[test]
fn names_a_host_cannot_show_are_skipped() {
    let nss = NssConfig::default();
    let mut crowd = fetched();
    for (name, key) in [
        ("0", "k0"),
        ("root\u{200b}", "kz"),
        ("x\u{1b}]0;OWNED\u{7}", "ke"),
        ("jane@example.com", "kj"),
    ] {
        crowd.users.push(crowd_user(name, key, true, &[]));
    }
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    let names: Vec<&str> = plan.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "jane@example.com"]);
    let notes = plan.skipped.join("\n");
    assert!(
        notes.contains("user \"0\" skipped: its name is no user name here: all digits"),
        "{notes}"
    );
    assert!(notes.contains("user \"root\\u{200b}\" skipped"), "{notes}");
    assert!(!notes.contains('\u{1b}'), "escaped: {notes}");
}

#[test]
fn subordinate_ranges_are_never_synced_ids() {
    let mut held = local();
    held.subuids = vec![SubRange {
        owner: "admin".into(),
        first: 100_000,
        last: 165_535,
    }];
    held.subgids = held.subuids.clone();
    let nss = NssConfig {
        uids: (100_000, 100_009),
        gids: (100_000, 100_009),
        ..NssConfig::default()
    };
    let refused = plan(&fetched(), &held, &IdMap::default(), &nss).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("lies wholly inside subordinate ranges of /etc/subuid"),
        "{refused}"
    );
    // Partly inside: allocation skips the range, attributes naming it are refused.
    let nss = NssConfig {
        uids: (165_530, 165_545),
        gids: (165_530, 165_545),
        ..NssConfig::default()
    };
    let crowd = with_attributes(&[], &[("uidNumber", "120000")]);
    let plan = plan(&crowd, &held, &IdMap::default(), &nss).unwrap();
    let alice = user(&plan, "alice").unwrap();
    assert!((165_536..=165_545).contains(&alice.uid), "{}", alice.uid);
    assert!((165_536..=165_545).contains(&plan.groups[0].gid));
    assert!(user(&plan, "bob").is_none());
    assert!(
        plan.skipped
            .join("\n")
            .contains("uid 120000 lies in the subordinate range of \"admin\""),
        "{:?}",
        plan.skipped
    );
    held.subid_service = Some("sss".into());
    assert!(matches!(
        super::plan(&fetched(), &held, &IdMap::default(), &nss),
        Err(SyncError::Ranges(_))
    ));
}

#[test]
fn the_id_upper_bound_holds() {
    let nss = NssConfig::default();
    for (id, ok) in [
        ("4294967293", true),
        ("4294967294", false),
        ("4294967295", false),
        ("65534", false),
    ] {
        let crowd = with_attributes(&[], &[("uidNumber", id)]);
        let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
        assert_eq!(user(&plan, "bob").is_some(), ok, "{id}");
    }
}

#[test]
fn a_local_group_gets_the_synced_members_of_its_crowd_groups_and_keeps_its_gid() {
    let mut nss = NssConfig {
        groups: vec!["devs".into()],
        local_groups: [
            ("sudo".to_owned(), vec!["crowd-admins".to_owned()]),
            (
                "adm".to_owned(),
                vec!["auditors".to_owned(), "Crowd-Admins".to_owned()],
            ),
        ]
        .into(),
        ..NssConfig::default()
    };
    let mut crowd = fetched();
    // bob and carol (inactive: not synced) and a stranger in no synced group.
    crowd.mapped = [
        (
            "crowd-admins".to_owned(),
            vec!["bob".to_owned(), "carol".to_owned()],
        ),
        (
            "auditors".to_owned(),
            vec!["alice".to_owned(), "stranger".to_owned()],
        ),
        ("Crowd-Admins".to_owned(), vec!["bob".to_owned()]),
    ]
    .into();
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss).unwrap();
    let local_sudo: Vec<&Group> = plan.groups.iter().filter(|g| g.name == "sudo").collect();
    // The exposed Crowd group named sudo is skipped (a local name); the mapped one is
    // the local group, with its own gid.
    assert_eq!(local_sudo.len(), 1, "{:?}", plan.groups);
    assert_eq!(
        (local_sudo[0].gid, local_sudo[0].members.clone()),
        (27, vec!["bob".to_owned()])
    );
    let adm = plan.groups.iter().find(|g| g.name == "adm").unwrap();
    assert_eq!(
        (adm.gid, adm.members.clone()),
        (4, vec!["alice".to_owned(), "bob".to_owned()])
    );
    // A name the host has no group of is a configuration error: nothing is planned.
    nss.local_groups
        .insert("docker".into(), vec!["docker-users".into()]);
    assert!(matches!(
        super::plan(&crowd, &local(), &IdMap::default(), &nss),
        Err(SyncError::NoLocalGroup(name)) if name == "docker"
    ));
}
