use std::os::unix::fs::PermissionsExt;

use super::*;

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

fn local() -> Local {
    Local {
        users: ["root", "daemon", "localadmin"].map(String::from).into(),
        uids: [0, 1, 1000].into(),
        groups: ["root", "sudo", "users"].map(String::from).into(),
        gids: [0, 27, 100].into(),
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
    }
}

#[test]
fn the_plan_keeps_active_crowd_users_and_never_shadows_local_ones() {
    let nss = NssConfig::default();
    let plan = plan(&fetched(), &local(), &IdMap::default(), &nss);
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
    assert!((200_000..=299_999).contains(&alice.uid));
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
    assert!((200_000..=299_999).contains(&plan.groups[0].gid));
}

#[test]
fn ids_survive_a_resync_and_a_rename() {
    let nss = NssConfig::default();
    let first = plan(&fetched(), &local(), &IdMap::default(), &nss);
    let again = plan(&fetched(), &local(), &first.ids, &nss);
    assert_eq!(first.users, again.users);
    assert_eq!(first.groups, again.groups);
    let mut renamed = fetched();
    renamed.users[0].0.name = "alicia".into();
    let after = plan(&renamed, &local(), &first.ids, &nss);
    let alicia = after.users.iter().find(|u| u.name == "alicia").unwrap();
    assert_eq!(alicia.uid, first.users[0].uid, "same Crowd key, same uid");
    assert_eq!(after.ids.users["k-alice"].name, "alicia");
}

#[test]
fn the_diff_counts_and_the_guard_refuses_large_drops() {
    let dir = std::env::temp_dir().join(format!("pam-crowd-sync-diff-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let nss = NssConfig::default();
    let full = plan(&fetched(), &local(), &IdMap::default(), &nss);
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

    let empty = plan(&Fetched::default(), &local(), &full.ids, &nss);
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
    let plan = plan(&crowd, &local(), &IdMap::default(), &nss);
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
    let plan = plan(&fetched(), &local(), &IdMap::default(), &nss);
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.contains("user \"bob\" skipped: its uidNumber")),
        "{:?}",
        plan.skipped
    );
}
