use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::*;

use std::fs;
use std::os::unix::fs::PermissionsExt;

/// A scratch directory standing in for `/`: homes are made below it. Mode 0755 and
/// ours, as `/` is root's; /tmp above it is not walked.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pam-crowd-home-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }

    /// Makes `owner.home` (a path as below `/`) below the scratch root.
    fn ensure(&self, owner: &Owner, session: &SessionConfig) -> Result<Made, HomeError> {
        ensure_below(
            &self.0,
            owner,
            session,
            &PolicyLabels::default(),
            &mut |_| {},
        )
    }

    /// Where `home` (a path as below `/`) is on disk.
    fn at(&self, home: &str) -> PathBuf {
        self.0.join(home.trim_start_matches('/'))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn me(home: PathBuf) -> Owner {
    let (uid, gid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    Owner {
        name: "alice".into(),
        uid,
        gid,
        home,
    }
}

/// A skeleton: a file, a directory with a file, a symlink to a secret, a fifo.
fn skeleton(root: &Path) -> PathBuf {
    let skel = root.join("skel");
    fs::create_dir_all(skel.join(".config")).unwrap();
    fs::write(skel.join(".bashrc"), "# hello\n").unwrap();
    fs::set_permissions(skel.join(".bashrc"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(skel.join(".config/app"), "x").unwrap();
    fs::write(root.join("secret"), "do not copy").unwrap();
    std::os::unix::fs::symlink(root.join("secret"), skel.join(".link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        skel.join(".fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    skel
}

#[test]
fn a_missing_home_is_made_from_the_skeleton_with_the_umask_and_no_link_followed() {
    let scratch = Scratch::new("made");
    let skel = skeleton(&scratch.0);
    let owner = me("/home/alice".into());
    let home = scratch.at("/home/alice");
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o077,
    };
    assert_eq!(scratch.ensure(&owner, &session).unwrap(), Made::Created);
    let meta = fs::metadata(&home).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (owner.uid, owner.gid, 0o700)
    );
    let bashrc = fs::metadata(home.join(".bashrc")).unwrap();
    assert_eq!(
        bashrc.mode() & 0o7777,
        0o700,
        "setuid dropped, umask applied"
    );
    assert_eq!(fs::read_to_string(home.join(".config/app")).unwrap(), "x");
    assert_eq!(
        fs::metadata(home.join(".config")).unwrap().mode() & 0o777,
        0o700
    );
    let link = fs::symlink_metadata(home.join(".link")).unwrap();
    assert!(link.file_type().is_symlink(), "a link stays a link");
    assert!(
        fs::symlink_metadata(home.join(".fifo")).is_err(),
        "no fifo copied"
    );
    let leftovers: Vec<_> = fs::read_dir(scratch.0.join("home")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no staging directory left");
    // Already there: not touched.
    fs::write(home.join("mine"), "kept").unwrap();
    assert_eq!(scratch.ensure(&owner, &session).unwrap(), Made::Existed);
    assert_eq!(fs::read_to_string(home.join("mine")).unwrap(), "kept");
    assert!(!fs::symlink_metadata(home.join(".fifo")).is_ok_and(|m| m.file_type().is_fifo()));
}

#[test]
fn without_a_skeleton_the_home_is_empty_and_the_default_umask_gives_0755() {
    let scratch = Scratch::new("empty");
    let home = scratch.at("/alice");
    let session = SessionConfig {
        create_home: true,
        skel: scratch.0.join("no-skel"),
        ..SessionConfig::default()
    };
    assert_eq!(
        scratch.ensure(&me("/alice".into()), &session).unwrap(),
        Made::Created
    );
    assert_eq!(fs::metadata(&home).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::read_dir(&home).unwrap().count(), 0);
    for bad in ["relative/home", "/home/../etc", "/home//alice", "/"] {
        assert!(scratch.ensure(&me(bad.into()), &session).is_err(), "{bad}");
    }
}

#[test]
fn concurrent_logins_make_one_whole_home() {
    let scratch = Scratch::new("race");
    let skel = skeleton(&scratch.0);
    let home = scratch.at("/home/alice");
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o022,
    };
    let results: Vec<Result<Made, HomeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| scratch.ensure(&me("/home/alice".into()), &session)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(Made::Created)))
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert_eq!(fs::read_to_string(home.join(".config/app")).unwrap(), "x");
    assert_eq!(
        fs::read_dir(scratch.0.join("home")).unwrap().count(),
        1,
        "no staging left"
    );
}

#[test]
fn a_base_others_may_write_or_a_link_on_the_way_is_refused() {
    let scratch = Scratch::new("untrusted");
    let session = SessionConfig {
        create_home: true,
        ..SessionConfig::default()
    };
    // A /tmp-like base: world-writable (sticky or not).
    fs::create_dir(scratch.at("/tmp")).unwrap();
    fs::set_permissions(scratch.at("/tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let refused = scratch.ensure(&me("/tmp/alice".into()), &session);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| matches!(e, HomeError::Untrusted { uid: 0, .. })),
        "{refused:?}"
    );
    assert!(!scratch.at("/tmp/alice").exists());
    // A link on the way, even to a good directory.
    fs::create_dir(scratch.at("/real")).unwrap();
    std::os::unix::fs::symlink(scratch.at("/real"), scratch.at("/home")).unwrap();
    let refused = scratch.ensure(&me("/home/alice".into()), &session);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| matches!(e, HomeError::NotADirectory { .. })),
        "{refused:?}"
    );
    assert_eq!(fs::read_dir(scratch.at("/real")).unwrap().count(), 0);
}

#[test]
fn a_staging_directory_swapped_for_a_link_changes_nothing_outside_the_home() {
    let scratch = Scratch::new("swap");
    let skel = skeleton(&scratch.0);
    // What the attacker wants chowned to them and filled: a directory of root's.
    let victim = scratch.at("/etc");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("shadow"), "root:!:1::::::\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o751)).unwrap();
    let before = fs::metadata(&victim).unwrap();
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o022,
    };
    let aside = scratch.at("/aside");
    let mut swapped = false;
    let result = ensure_below(
        &scratch.0,
        &me("/home/alice".into()),
        &session,
        &PolicyLabels::default(),
        &mut |staging| {
            // While the home is being made: the staging directory moved away and a
            // link to the victim put in its place.
            fs::rename(staging, &aside).unwrap();
            std::os::unix::fs::symlink(&victim, staging).unwrap();
            swapped = true;
        },
    );
    assert!(swapped);
    assert!(
        result
            .as_ref()
            .is_err_and(|e| matches!(e, HomeError::Replaced { .. })),
        "{result:?}"
    );
    let after = fs::metadata(&victim).unwrap();
    assert_eq!(
        (after.uid(), after.gid(), after.mode()),
        (before.uid(), before.gid(), before.mode()),
        "the victim's owner and mode are untouched"
    );
    let mut names: Vec<_> = fs::read_dir(&victim)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["shadow"], "nothing copied into the victim");
    assert!(
        fs::symlink_metadata(scratch.at("/home/alice")).is_err(),
        "no home, and no link to the victim as a home"
    );
    assert_eq!(
        fs::read_dir(scratch.at("/home")).unwrap().count(),
        0,
        "the planted link is cleaned away too"
    );
}

/// Labels as a policy's file contexts name them, recorded instead of set (setting
/// needs an SELinux kernel): the context each created path was prepared with, and
/// how many preparations were reset.
struct Recorded {
    contexts: crate::ffi::selinux::FileContexts,
    prepared: std::cell::RefCell<Vec<(PathBuf, Option<String>)>>,
    resets: std::cell::Cell<usize>,
}

impl Labels for Recorded {
    fn prepare(&self, path: &Path, kind: FileType) -> Result<(), Errno> {
        let context = self.contexts.lookup(path, kind.as_raw_mode()).unwrap();
        self.prepared
            .borrow_mut()
            .push((path.to_owned(), context.map(|c| c.into_string().unwrap())));
        Ok(())
    }

    fn reset(&self) {
        self.resets.set(self.resets.get() + 1);
    }
}

/// Entries in the reference policy's form (its `file_contexts.homedirs` for a home
/// base of /srv/home), with a link excluded as `<<none>>` entries do.
const FILE_CONTEXTS: &str = "\
/srv/home\t-d\tsystem_u:object_r:home_root_t:s0
/srv/home/[^/]+\t-d\tunconfined_u:object_r:user_home_dir_t:s0
/srv/home/[^/]+/.+\tunconfined_u:object_r:user_home_t:s0
/srv/home/[^/]+/\\.ssh(/.*)?\tunconfined_u:object_r:ssh_home_t:s0
/srv/home/[^/]+/\\.cache\t-l\t<<none>>
";

#[test]
fn everything_made_is_created_with_the_context_of_its_final_place() {
    let scratch = Scratch::new("label");
    let contexts_file = scratch.0.join("file_contexts");
    fs::write(&contexts_file, FILE_CONTEXTS).unwrap();
    let skel = scratch.0.join("skel");
    fs::create_dir_all(skel.join(".ssh")).unwrap();
    fs::write(skel.join(".bashrc"), "# hello\n").unwrap();
    fs::write(skel.join(".ssh/authorized_keys"), "").unwrap();
    std::os::unix::fs::symlink("/var/cache", skel.join(".cache")).unwrap();
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o022,
    };
    let labels = Recorded {
        contexts: crate::ffi::selinux::FileContexts::from_file(&contexts_file).unwrap(),
        prepared: Default::default(),
        resets: Default::default(),
    };
    let owner = me("/srv/home/alice".into());
    let made = ensure_below(&scratch.0, &owner, &session, &labels, &mut |_| {}).unwrap();
    assert_eq!(made, Made::Created);

    let mut prepared = labels.prepared.take();
    prepared.sort();
    let context = |t: &str| Some(format!("unconfined_u:object_r:{t}:s0"));
    let expected: Vec<(PathBuf, Option<String>)> = vec![
        // The home base, made as it was missing; /srv has no entry here.
        ("/srv".into(), None),
        (
            "/srv/home".into(),
            Some("system_u:object_r:home_root_t:s0".into()),
        ),
        // Labelled by its final name, not the staging directory's.
        ("/srv/home/alice".into(), context("user_home_dir_t")),
        ("/srv/home/alice/.bashrc".into(), context("user_home_t")),
        // <<none>>: the policy's default.
        ("/srv/home/alice/.cache".into(), None),
        ("/srv/home/alice/.ssh".into(), context("ssh_home_t")),
        (
            "/srv/home/alice/.ssh/authorized_keys".into(),
            context("ssh_home_t"),
        ),
    ];
    assert_eq!(prepared, expected);
    // Every context set was reset: the thread's next file is not the home's.
    assert_eq!(labels.resets.get(), expected.len());
    assert!(scratch.at("/srv/home/alice/.ssh/authorized_keys").is_file());
}

#[test]
fn a_missing_file_contexts_file_is_an_error() {
    let scratch = Scratch::new("label-missing");
    assert!(crate::ffi::selinux::FileContexts::from_file(&scratch.0.join("none")).is_err());
}

#[test]
fn without_selinux_a_home_is_made_as_before() {
    // This host runs without SELinux (the tests could not create files otherwise
    // than as the policy default, and setfscreatecon would fail).
    assert!(!crate::ffi::selinux::enabled());
    let scratch = Scratch::new("label-off");
    let made = scratch
        .ensure(&me("/home/alice".into()), &SessionConfig::default())
        .unwrap();
    assert_eq!(made, Made::Created);
}

#[test]
fn an_existing_home_that_is_not_the_users_is_refused_and_left_alone() {
    let scratch = Scratch::new("not-owned");
    let session = SessionConfig {
        create_home: true,
        skel: scratch.0.join("no-skel"),
        ..SessionConfig::default()
    };
    fs::create_dir_all(scratch.at("/home")).unwrap();
    // Made by the first user to log in with this path: ours here.
    let first = me(PathBuf::from("/home/alice"));
    assert_eq!(scratch.ensure(&first, &session).unwrap(), Made::Created);
    fs::write(scratch.at("/home/alice/.profile"), "planted").unwrap();
    // The second user whose passwd entry names the same home.
    let second = Owner {
        name: "bob".into(),
        uid: first.uid + 1,
        ..first.clone()
    };
    let refused = scratch.ensure(&second, &session).unwrap_err();
    assert!(
        matches!(
            refused,
            HomeError::NotOwned {
                directory: true,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("not the user's"), "{refused}");
    let meta = fs::metadata(scratch.at("/home/alice")).unwrap();
    assert_eq!(meta.uid(), first.uid, "nothing changed");
    assert_eq!(
        fs::read_to_string(scratch.at("/home/alice/.profile")).unwrap(),
        "planted"
    );
    // A file where the home should be is refused too.
    fs::write(scratch.at("/home/carol"), "x").unwrap();
    let file = scratch
        .ensure(&me(PathBuf::from("/home/carol")), &session)
        .unwrap_err();
    assert!(
        matches!(
            file,
            HomeError::NotOwned {
                directory: false,
                ..
            }
        ),
        "{file:?}"
    );
}
