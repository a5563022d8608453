//! Rows N1 and N2: a lookup through libnss_crowd.so.2 on a 10,000-user cache (glibc's
//! getpwnam, in a mount namespace where nsswitch.conf says `passwd: files crowd`), and
//! `pam-crowd sync` of 10,000 users against the double.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crowd_double::{APP_NAME, APP_PASSWORD, Change, Double, Fixture, Transport};
use nss_crowd_files::Passwd;

use crate::measure::{Row, Stats, spawn_timed};

pub const USERS: usize = 10_000;

fn name(i: usize) -> String {
    format!("user{i:05}")
}

/// N1: `lookups` getpwnam calls, timed one by one inside the helper.
pub fn lookup_row(bin: &Path, dir: &Path, lookups: usize) -> Row {
    let what = "getpwnam through libnss_crowd.so.2 (glibc), 10,000-user cache";
    let cache = dir.join("nss-cache");
    let lib = dir.join("nss-lib");
    std::fs::create_dir_all(&cache).expect("cache dir");
    std::fs::create_dir_all(&lib).expect("lib dir");
    let users: Vec<Passwd> = (0..USERS)
        .map(|i| Passwd {
            name: name(i),
            uid: 200_000 + i as u32,
            gid: 100,
            gecos: format!("User {i}"),
            home: format!("/home/{}", name(i)),
            shell: "/bin/bash".into(),
        })
        .collect();
    nss_crowd_files::write(&cache, &users, &[]).expect("write the cache");
    std::fs::copy(bin.join("libnss_crowd.so"), lib.join("libnss_crowd.so.2")).expect("module");
    std::fs::write(
        dir.join("nsswitch.conf"),
        "passwd: files crowd\ngroup: files crowd\n",
    )
    .expect("nsswitch.conf");
    let script = format!(
        "set -e; mount --bind {dir}/nsswitch.conf /etc/nsswitch.conf; mount -t tmpfs tmpfs /var/lib; \
         mkdir /var/lib/pam_crowd; mount --bind {cache} /var/lib/pam_crowd; exec {helper} {lookups} {USERS}",
        dir = dir.display(),
        cache = cache.display(),
        helper = bin.join("nss-lookup").display(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("LD_LIBRARY_PATH", &lib);
    let run = spawn_timed(&mut cmd, b"");
    if run.status != 0 {
        return Row::skipped(
            "N1",
            what,
            &format!("needs root and unshare: {}", run.stderr.trim()),
        );
    }
    let samples: Vec<Duration> = run
        .stdout
        .lines()
        .filter_map(|l| l.parse().ok())
        .map(Duration::from_nanos)
        .collect();
    assert_eq!(samples.len(), lookups, "nss-lookup: {}", run.stderr);
    Row::new("N1", what, Stats::from_samples(samples))
}

/// N2 to N5: `pam-crowd sync` of 10,000 users, a fresh process each run: a full
/// sync (`--full`), a quiet incremental one (nothing changed: Crowd's events since
/// the last), an incremental one after five user-level changes each, and one whose
/// attribute refresh is due (`[nss] attributes_minutes` passed: the state's clock
/// moved back, no sleeping).
pub fn sync_rows(bin: &Path, dir: &Path, runs: usize) -> Vec<Row> {
    let double = sync_crowd();
    let config = sync_config(&double, dir);
    let sync = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("pam-crowd"));
        cmd.arg("--config").arg(&config).arg("sync").args(args);
        let run = spawn_timed(&mut cmd, b"");
        run.expect_success();
        assert!(run.stdout.contains(" users, "), "{}", run.stdout);
        run.elapsed
    };
    sync(&[]); // the first sync allocates the ids
    let mut changed = 0;
    let series = |before: &mut dyn FnMut(), args: &[&str]| {
        let (requests, checks) = (double.request_count(), double.app_checks());
        let samples: Vec<Duration> = (0..runs)
            .map(|_| {
                before();
                sync(args)
            })
            .collect();
        let mut stats = Stats::from_samples(samples);
        stats.requests = (double.request_count() - requests) as f64 / runs.max(1) as f64;
        stats.app_checks = (double.app_checks() - checks) as f64 / runs.max(1) as f64;
        stats.connections = 0.0;
        stats
    };
    let full = series(&mut || {}, &["--full"]);
    let quiet = series(&mut || {}, &[]);
    let few = series(
        &mut || {
            changed += 1;
            five_changes(&double, changed);
        },
        &[],
    );
    let state = dir.join("sync-out").join("sync-state.json");
    let attributes = series(
        &mut || {
            let mut json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
            json["attributes_at"] = serde_json::Value::from(0);
            std::fs::write(&state, json.to_string()).expect("write state");
        },
        &[],
    );
    vec![
        Row::new(
            "N2",
            "pam-crowd sync --full, 10,000 users (fresh process, REST, user search + member list, paged)",
            full,
        ),
        Row::new(
            "N3",
            "pam-crowd sync, 10,000 users, nothing changed (Crowd's events since the last sync)",
            quiet,
        ),
        Row::new(
            "N4",
            "pam-crowd sync, 10,000 users, after 5 changes (a user created and added; 3 attributes set, no event in Crowd's listener store)",
            few,
        ),
        Row::new(
            "N5",
            "pam-crowd sync, 10,000 users, attribute refresh due (attributes_minutes: the events, then the paged user search)",
            attributes,
        ),
    ]
}

/// A Crowd of USERS active users, all in linux-users.
fn sync_crowd() -> Double {
    let mut fixture = Fixture::default();
    for i in 0..USERS {
        fixture = fixture
            .user(&name(i), "pw", true)
            .member("linux-users", &name(i));
    }
    Double::start(fixture, Transport::Https)
}

/// The sync's configuration file (mode 0600, as pam-crowd requires).
fn sync_config(double: &Double, dir: &Path) -> std::path::PathBuf {
    let config = dir.join("sync.toml");
    std::fs::write(
        &config,
        format!(
            "url = {:?}\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\nca_file = {:?}\n\
             timeout = 30\n[nss]\ngroups = [\"linux-users\"]\ndir = {:?}\n",
            double.ip_url(),
            double.ca_file().expect("CA").display().to_string(),
            dir.join("sync-out").display().to_string(),
        ),
    )
    .expect("config");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    config
}

/// A user created and added to linux-users, and three users' shells set: five
/// user-level changes, the `round`th time.
fn five_changes(double: &Double, round: usize) {
    let new = format!("new{round:05}");
    double.change(Change::CreateUser {
        user: new.clone(),
        active: true,
    });
    double.change(Change::Join {
        user: new,
        group: "linux-users".into(),
    });
    for i in 0..3 {
        double.change(Change::SetAttribute {
            user: name(round * 3 + i),
            name: "loginShell".into(),
            values: vec![format!("/bin/sh{round}")],
        });
    }
}
