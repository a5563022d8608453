//! Unit tests of the entry store: trust checks, atomic replacement, locking.
use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn config(dir: &Path, application: &str) -> Config {
    Config::parse(
        Path::new("/etc/pam_crowd.toml"),
        &format!(
            "url = \"https://crowd.example\"\napplication = \"{application}\"\npassword = \"x\"\n\
             [cache]\noffline_days = 7\ndir = {:?}\n",
            dir.display().to_string()
        ),
    )
    .unwrap()
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pam_crowd_cache_{test}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path) -> Cache {
    Cache::open(&config(dir, "hosts")).unwrap().unwrap()
}

#[test]
fn a_missing_directory_is_created_private_and_entries_are_private() {
    let dir = temp_dir("create");
    let cache = open(&dir);
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    let user = "al/ice &%ü";
    cache
        .update(user, |e| *e = Some(cache.new_entry(user)))
        .unwrap();
    let entries = cache.entries().unwrap();
    assert_eq!(entries.len(), 1);
    let (path, entry) = &entries[0];
    assert_eq!(entry.as_ref().unwrap().user, user);
    assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(cache.load(user).unwrap().unwrap().user, user);
    assert!(cache.remove(user).unwrap());
    assert!(!cache.remove(user).unwrap());
    assert_eq!(cache.load(user).unwrap(), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_open_directory_is_refused() {
    let dir = temp_dir("open_mode");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Cache::open(&config(&dir, "hosts")).unwrap_err();
    assert!(e.to_string().contains("mode 0755"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn entries_anyone_else_could_have_written_are_not_trusted() {
    let dir = temp_dir("untrusted");
    let cache = open(&dir);
    cache
        .update("alice", |e| *e = Some(cache.new_entry("alice")))
        .unwrap();
    let path = cache.entries().unwrap()[0].0.clone();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        cache.load("alice"),
        Err(CacheError::Untrusted { .. })
    ));
    // A symlink in its place is not followed.
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
    assert!(cache.load("alice").is_err());
    std::fs::remove_file(&path).unwrap();
    // Garbage, and an entry moved to another user's name, are corrupt.
    std::fs::write(&path, "{not json").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        cache.load("alice"),
        Err(CacheError::Corrupt { .. })
    ));
    cache
        .update("mallory", |e| *e = Some(cache.new_entry("mallory")))
        .unwrap();
    let mallory = cache
        .entries()
        .unwrap()
        .into_iter()
        .find(|(p, _)| *p != path)
        .unwrap()
        .0;
    std::fs::rename(&mallory, &path).unwrap();
    assert!(matches!(
        cache.load("alice"),
        Err(CacheError::Corrupt { .. })
    ));
    // An update replaces what could not be used.
    cache
        .update("alice", |e| {
            assert!(e.is_none());
            *e = Some(cache.new_entry("alice"));
        })
        .unwrap();
    assert!(cache.load("alice").unwrap().is_some());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn another_configs_entries_are_separate() {
    let dir = temp_dir("configs");
    let ours = open(&dir);
    let theirs = Cache::open(&config(&dir, "test-hosts")).unwrap().unwrap();
    theirs
        .update("alice", |e| *e = Some(theirs.new_entry("alice")))
        .unwrap();
    assert_eq!(ours.load("alice").unwrap(), None);
    let entries = ours.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!ours.is_ours(entries[0].1.as_ref().unwrap()));
    assert_eq!(ours.purge_all().unwrap(), 1);
    assert_eq!(theirs.load("alice").unwrap(), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn concurrent_updates_lose_nothing() {
    let dir = temp_dir("concurrent");
    let cache = open(&dir);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    cache
                        .update("alice", |e| {
                            let entry = e.get_or_insert_with(|| cache.new_entry("alice"));
                            entry.failures += 1;
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(cache.load("alice").unwrap().unwrap().failures, 200);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn freshness_rejects_old_and_future_times() {
    let day = Duration::from_secs(86_400);
    assert!(fresh(1_000_000, 1_000_000, day));
    assert!(fresh(1_000_000 - 86_400, 1_000_000, day));
    assert!(!fresh(1_000_000 - 86_401, 1_000_000, day));
    assert!(!fresh(1_000_000 + 3_600, 1_000_000, day));
}

#[test]
fn the_keys_cache_is_never_created_here() {
    let dir = temp_dir("keys");
    let config = Config::parse(
        Path::new("/etc/pam_crowd.toml"),
        &format!(
            "url = \"https://crowd.example\"\napplication = \"hosts\"\npassword = \"x\"\n\
             [cache]\noffline_days = 7\nkeys_dir = {:?}\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    assert!(Cache::open_keys(&config).unwrap().is_none());
    assert!(
        !dir.exists(),
        "root trying the keys command must not take the directory"
    );
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Cache::open_keys(&config).unwrap().is_some());
    std::fs::remove_dir_all(dir).unwrap();
}
