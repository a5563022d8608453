use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;
use crate::index::{Error, Files};

/// A fresh directory under the target dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nss-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn user(name: &str, uid: u32) -> Passwd {
    Passwd {
        name: name.into(),
        uid,
        gid: 100,
        gecos: format!("{name} (Crowd)"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
    }
}

fn group(name: &str, gid: u32, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        gid,
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

#[test]
fn every_lookup_finds_what_was_written_and_nothing_else() {
    let dir = TempDir::new("lookups");
    let users = [
        user("bob", 200_002),
        user("alice", 200_001),
        user("jürgen", 7),
    ];
    let groups = [
        group("devs", 300_001, &["alice", "jürgen"]),
        group("ops", 300_002, &["alice"]),
        group("empty", 300_003, &[]),
    ];
    write(&dir.0, &users, &groups).unwrap();
    let files = Files::new(&dir.0);
    assert_eq!(files.user_by_name("alice").unwrap(), Some(users[1].clone()));
    assert_eq!(
        files.user_by_name("jürgen").unwrap(),
        Some(users[2].clone())
    );
    assert_eq!(
        files.user_by_name("Alice").unwrap(),
        None,
        "names are exact"
    );
    assert_eq!(files.user_by_name("").unwrap(), None);
    assert_eq!(files.user_by_uid(200_002).unwrap(), Some(users[0].clone()));
    assert_eq!(files.user_by_uid(0).unwrap(), None);
    assert_eq!(files.group_by_name("ops").unwrap(), Some(groups[1].clone()));
    assert_eq!(
        files.group_by_gid(300_003).unwrap(),
        Some(groups[2].clone())
    );
    assert_eq!(files.group_by_gid(1).unwrap(), None);
    assert_eq!(files.gids_of_member("alice").unwrap(), [300_001, 300_002]);
    assert_eq!(files.gids_of_member("bob").unwrap(), Vec::<u32>::new());
    let names: Vec<String> = files.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["alice", "bob", "jürgen"]);
    assert_eq!(files.groups().unwrap().len(), 3);
    let passwd = fs::read_to_string(dir.0.join("passwd")).unwrap();
    assert!(passwd.starts_with("alice:*:200001:100:alice (Crowd):/home/alice:/bin/bash\n"));
    for name in ["passwd", "group", "passwd.index", "group.index"] {
        let mode = fs::metadata(dir.0.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{name}");
    }
    assert_eq!(
        fs::read_dir(&dir.0).unwrap().count(),
        4,
        "no staged file left"
    );
}

#[test]
fn ten_thousand_users_are_found_through_the_index() {
    let dir = TempDir::new("many");
    let users: Vec<Passwd> = (0..10_000)
        .map(|i| user(&format!("user{i:05}"), 200_000 + i))
        .collect();
    let members: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    write(&dir.0, &users, &[group("all", 300_000, &members)]).unwrap();
    let files = Files::new(&dir.0);
    for i in [0, 1, 4_999, 9_999] {
        let found = files.user_by_name(&format!("user{i:05}")).unwrap().unwrap();
        assert_eq!(found.uid, 200_000 + i);
        assert_eq!(files.user_by_uid(200_000 + i).unwrap(), Some(found));
        assert_eq!(
            files.gids_of_member(&format!("user{i:05}")).unwrap(),
            [300_000]
        );
    }
    assert_eq!(files.user_by_name("user10000").unwrap(), None);
}

#[test]
fn unusable_entries_are_refused_before_anything_is_written() {
    let dir = TempDir::new("refused");
    let twice = [user("alice", 1), user("alice", 2)];
    let colon = [Passwd {
        gecos: "a:b".into(),
        ..user("alice", 1)
    }];
    let comma = [group("g", 1, &["a,b"])];
    for (users, groups) in [
        (&twice[..], &[][..]),
        (&colon[..], &[][..]),
        (&[][..], &comma[..]),
    ] {
        let e = write(&dir.0, users, groups).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn missing_files_are_unavailable_and_broken_ones_corrupt() {
    let dir = TempDir::new("broken");
    let files = Files::new(&dir.0);
    assert!(matches!(
        files.user_by_name("alice"),
        Err(Error::Unavailable(_))
    ));
    write(&dir.0, &[user("alice", 1)], &[]).unwrap();
    // An index from another sync: a data file of another length.
    fs::write(dir.0.join("passwd"), "alice:x:1:100:a:/h:/bin/sh\n").unwrap();
    assert!(matches!(
        files.user_by_name("alice"),
        Err(Error::Corrupt(_))
    ));
    write(&dir.0, &[user("alice", 1)], &[]).unwrap();
    fs::write(dir.0.join("passwd.index"), b"garbage").unwrap();
    assert!(matches!(
        files.user_by_name("alice"),
        Err(Error::Corrupt(_))
    ));
    let mut truncated = Vec::from(&b"PCNSIDX1"[..]);
    truncated.resize(64 + 8, 0);
    fs::write(dir.0.join("passwd.index"), truncated).unwrap();
    assert!(matches!(files.user_by_uid(1), Err(Error::Corrupt(_))));
    // A new write repairs everything.
    write(&dir.0, &[user("alice", 1)], &[]).unwrap();
    assert!(files.user_by_name("alice").unwrap().is_some());
}

#[test]
fn a_rewrite_is_seen_by_the_next_lookup() {
    let dir = TempDir::new("rewrite");
    let files = Files::new(&dir.0);
    write(&dir.0, &[user("alice", 1)], &[]).unwrap();
    assert!(files.user_by_name("bob").unwrap().is_none());
    write(&dir.0, &[user("bob", 2)], &[]).unwrap();
    assert!(files.user_by_name("bob").unwrap().is_some());
    assert!(files.user_by_name("alice").unwrap().is_none());
}
