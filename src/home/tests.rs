use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::*;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pam-crowd-home-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn me(home: PathBuf) -> Owner {
    // SAFETY: no preconditions, cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
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
    let fifo = std::ffi::CString::new(skel.join(".fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    skel
}

#[test]
fn a_missing_home_is_made_from_the_skeleton_with_the_umask_and_no_link_followed() {
    let scratch = Scratch::new("made");
    let skel = skeleton(&scratch.0);
    let home = scratch.0.join("home/alice");
    let owner = me(home.clone());
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o077,
    };
    assert_eq!(ensure(&owner, &session), Ok(Made::Created));
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
    assert_eq!(ensure(&owner, &session), Ok(Made::Existed));
    assert_eq!(fs::read_to_string(home.join("mine")).unwrap(), "kept");
    assert!(!fs::symlink_metadata(home.join(".fifo")).is_ok_and(|m| m.file_type().is_fifo()));
}

#[test]
fn without_a_skeleton_the_home_is_empty_and_the_default_umask_gives_0755() {
    let scratch = Scratch::new("empty");
    let home = scratch.0.join("alice");
    let session = SessionConfig {
        create_home: true,
        skel: scratch.0.join("no-skel"),
        ..SessionConfig::default()
    };
    assert_eq!(ensure(&me(home.clone()), &session), Ok(Made::Created));
    assert_eq!(fs::metadata(&home).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::read_dir(&home).unwrap().count(), 0);
    assert!(ensure(&me("relative/home".into()), &session).is_err());
}

#[test]
fn concurrent_logins_make_one_whole_home() {
    let scratch = Scratch::new("race");
    let skel = skeleton(&scratch.0);
    let home = scratch.0.join("home/alice");
    let session = SessionConfig {
        create_home: true,
        skel,
        umask: 0o022,
    };
    let results: Vec<Result<Made, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| ensure(&me(home.clone()), &session)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let created = results.iter().filter(|r| **r == Ok(Made::Created)).count();
    assert_eq!(created, 1, "{results:?}");
    assert_eq!(fs::read_to_string(home.join(".config/app")).unwrap(), "x");
    assert_eq!(
        fs::read_dir(scratch.0.join("home")).unwrap().count(),
        1,
        "no staging left"
    );
}
