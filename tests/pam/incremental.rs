//! Incremental `pam-crowd sync` against the double's event API: what a quiet run
//! costs, what a few changes cost, every fallback to a full sync, repeated events,
//! and, over random sequences of changes, the incremental result equal to a full
//! sync's.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::*;

/// Users and groups to change: synced through `linux-users` (and `developers`
/// nested in it), exposed `sudo-admins`, and groups that are nobody's concern.
fn directory() -> Fixture {
    Fixture::demo()
        .member("linux-users", "bob")
        .member("unrelated", "erin")
        .attribute("erin", "loginShell", &["/bin/zsh"])
        .group_attribute("sudo-admins", "gidNumber", &["260000"])
}

/// A double and two hosts syncing from it: `inc` syncs as the timer does, `full`
/// with `--full` into its own directory, for comparing.
struct Site {
    double: Double,
    inc: Host,
    full: Host,
}

impl Site {
    fn new() -> Site {
        let double = Double::start(directory(), Transport::Https);
        let site = Site {
            inc: Host::for_double(&double, RULES),
            full: Host::for_double(&double, RULES),
            double,
        };
        for host in [&site.inc, &site.full] {
            site.configure(host);
        }
        site
    }

    fn configure(&self, host: &Host) {
        let config = config_for(&[&self.double], RULES);
        host.write_config(&format!(
            "{config}[nss]\ngroups = [\"linux-users\"]\n\
             expose_groups = [\"developers\", \"sudo-admins\"]\nmax_drop = 1.0\ndir = {:?}\n",
            dir(host).display().to_string()
        ));
    }

    /// `pam-crowd sync --json ARGS` on `host`: its report.
    fn sync(&self, host: &Host, args: &[&str]) -> Value {
        let mut all = vec!["sync", "--json"];
        all.extend_from_slice(args);
        let out = pam_crowd(host, &all, "");
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        out.json()
    }

    /// Both hosts synced, the incremental one as the timer does; their files compared.
    fn both_agree(&self, what: &str) -> Value {
        let report = self.sync(&self.inc, &[]);
        self.sync(&self.full, &["--full"]);
        for file in ["passwd", "group"] {
            let read = |host: &Host| std::fs::read_to_string(dir(host).join(file)).expect(file);
            assert_eq!(read(&self.inc), read(&self.full), "{file} after {what}");
        }
        report
    }
}

fn dir(host: &Host) -> PathBuf {
    host.dir.join("nss")
}

fn kind(report: &Value) -> &str {
    report["kind"].as_str().unwrap_or_default()
}

fn change_user(user: &str, group: &str) -> [Change; 2] {
    [
        Change::Join {
            user: user.into(),
            group: group.into(),
        },
        Change::SetAttribute {
            user: user.into(),
            name: "loginShell".into(),
            values: vec!["/bin/sh".into()],
        },
    ]
}

#[test]
fn a_quiet_sync_is_one_request_and_a_few_changes_a_handful() {
    let site = Site::new();
    let first = site.sync(&site.inc, &[]);
    if soap() {
        // SOAP has no events: every sync is a full one.
        assert_eq!(kind(&first), "full");
        assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
        return;
    }
    assert_eq!(kind(&first), "full", "{first}");
    site.double.clear_requests();
    let quiet = site.sync(&site.inc, &[]);
    assert_eq!(kind(&quiet), "incremental", "{quiet}");
    assert_eq!(
        site.double.asked(),
        ["events"],
        "a sync with nothing changed"
    );

    site.double.clear_requests();
    site.double.change(Change::CreateUser {
        user: "gina".into(),
        active: true,
    });
    for change in change_user("gina", "linux-users") {
        site.double.change(change);
    }
    site.double.change(Change::Activate {
        user: "bob".into(),
        active: false,
    });
    let report = site.both_agree("four user-level changes");
    assert_eq!(kind(&report), "incremental");
    let asked: Vec<String> = site
        .double
        .asked()
        .into_iter()
        .take_while(|op| op != "events-start")
        .collect();
    // The events, then gina's attributes (a new member): no listing.
    assert_eq!(asked, ["events", "user"], "{asked:?}");
}

#[test]
fn each_fallback_is_a_full_sync_with_a_new_token() {
    if soap() {
        return;
    }
    let mut site = Site::new();
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    // A restarted Crowd: the token is unknown (410).
    let port = site.double.port();
    drop(std::mem::replace(
        &mut site.double,
        Double::start(Fixture::default(), Transport::Https),
    ));
    site.double = Double::start_on(directory(), Transport::Https, port);
    site.configure(&site.inc);
    site.configure(&site.full);
    let after_restart = site.sync(&site.inc, &[]);
    assert_eq!(kind(&after_restart), "full", "{after_restart}");
    assert_eq!(kind(&site.sync(&site.inc, &[])), "incremental");
    // Evicted events: 410 too.
    site.double.evict_events();
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    // --full.
    assert_eq!(kind(&site.sync(&site.inc, &["--full"])), "full");
    // The daily backstop: a state whose full sync is older than full_sync_hours.
    let state_file = dir(&site.inc).join("sync-state.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("state")).expect("json");
    state["full_at"] = Value::from(0);
    std::fs::write(&state_file, state.to_string()).expect("write state");
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    // A Crowd that offers no events (an uncached directory), or predates them (404):
    // full syncs, and no state kept.
    for mode in [EventMode::Unavailable, EventMode::Absent] {
        site.double.event_mode(mode);
        assert_eq!(kind(&site.sync(&site.inc, &[])), "full", "{mode:?}");
        assert_eq!(kind(&site.sync(&site.inc, &[])), "full", "{mode:?}");
        assert!(!state_file.exists(), "{mode:?}");
    }
    site.double.event_mode(EventMode::Available);
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    assert_eq!(kind(&site.sync(&site.inc, &[])), "incremental");
}

#[test]
fn events_given_twice_change_nothing() {
    if soap() {
        return;
    }
    let site = Site::new();
    site.sync(&site.inc, &[]);
    for change in change_user("erin", "linux-users") {
        site.double.change(change);
    }
    site.double.change(Change::Leave {
        user: "dave".into(),
        group: "linux-users".into(),
    });
    site.both_agree("changes");
    let before = std::fs::read(dir(&site.inc).join("passwd")).expect("passwd");
    // A cluster's event store rewinds: the same events again, twice.
    site.double.rewind_events(3);
    for _ in 0..2 {
        let again = site.sync(&site.inc, &[]);
        assert_eq!(kind(&again), "incremental");
        assert_eq!(
            again["changes"].as_array().map(Vec::len),
            Some(0),
            "{again}"
        );
    }
    assert_eq!(
        std::fs::read(dir(&site.inc).join("passwd")).expect("passwd"),
        before
    );
}

/// A small deterministic generator (xorshift): the same sequences on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "gina"];
const GROUPS: &[&str] = &[
    "linux-users",
    "developers",
    "sudo-admins",
    "unrelated",
    "ops",
];

fn random_change(rng: &mut Rng) -> Change {
    let user = rng.pick(USERS).to_owned();
    let group = rng.pick(GROUPS).to_owned();
    match rng.below(9) {
        0 | 1 => Change::Join { user, group },
        2 | 3 => Change::Leave { user, group },
        4 => Change::Activate {
            user,
            active: rng.below(2) == 0,
        },
        5 => Change::SetAttribute {
            user,
            name: ["loginShell", "uidNumber", "homeDirectory"][rng.below(3)].into(),
            values: vec![["/bin/sh", "270001", "/home/elsewhere"][rng.below(3)].into()],
        },
        6 => Change::RemoveAttribute {
            user,
            name: "loginShell".into(),
        },
        7 => {
            // Nest or unnest among the groups below the synced ones.
            let (parent, child) = (
                rng.pick(&["developers", "ops"]),
                rng.pick(&["ops", "unrelated"]),
            );
            match (parent == child, rng.below(2)) {
                (true, _) => Change::Unnest {
                    parent: "linux-users".into(),
                    child: "ops".into(),
                },
                (false, 0) => Change::Nest {
                    parent: parent.into(),
                    child: child.into(),
                },
                (false, _) => Change::Unnest {
                    parent: parent.into(),
                    child: child.into(),
                },
            }
        }
        _ => match rng.below(3) {
            0 => Change::CreateUser {
                user: rng.pick(&["frank", "gina"]).into(),
                active: true,
            },
            1 => Change::DeleteUser {
                user: rng.pick(&["frank", "gina", "carol"]).into(),
            },
            _ => Change::SetGroupAttribute {
                group: "sudo-admins".into(),
                name: "gidNumber".into(),
                values: vec![["260000", "260001"][rng.below(2)].into()],
            },
        },
    }
}

#[test]
fn after_any_sequence_of_changes_incremental_equals_full() {
    if soap() {
        return;
    }
    for (seed, style) in [
        (0x5eed_0001_u64, EventStyle::Bare),
        (0x5eed_0002, EventStyle::Wrapped),
        (0x5eed_0003, EventStyle::Xml),
    ] {
        let site = Site::new();
        site.double.event_style(style);
        site.both_agree("the first sync");
        let mut rng = Rng(seed);
        for round in 0..12 {
            let changes: Vec<Change> = (0..1 + rng.below(4))
                .map(|_| random_change(&mut rng))
                .collect();
            for change in &changes {
                site.double.change(change.clone());
            }
            let report = site.both_agree(&format!("{style:?} round {round}: {changes:?}"));
            assert_eq!(kind(&report), "incremental", "{report}");
        }
    }
}
