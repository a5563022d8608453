//! Incremental `pam-crowd sync` against the double's event API, in each of Crowd's
//! event stores (REAL-CROWD.md): what a quiet run costs, what a few changes cost,
//! every fallback to a full sync, repeated events, membership sets, attribute changes
//! that are no event, and, over random sequences of changes, the incremental result
//! equal to a full sync's.

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
        Site::with_store(EventStore::Listener)
    }

    fn with_store(store: EventStore) -> Site {
        let double = Double::start(directory(), Transport::Https);
        double.event_store(store);
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

    /// Crowd restarted on the same port, with the same directory and `store`.
    fn restart(&mut self, store: EventStore) {
        let port = self.double.port();
        drop(std::mem::replace(
            &mut self.double,
            Double::start(Fixture::default(), Transport::Https),
        ));
        self.double = Double::start_on(directory(), Transport::Https, port);
        self.double.event_store(store);
        // A new CA: the hosts are configured for it.
        self.configure(&self.inc);
        self.configure(&self.full);
    }

    /// Moves `host`'s sync clock: its last attribute read `minutes` earlier.
    fn age_attributes(&self, host: &Host, minutes: u64) {
        let file = dir(host).join("sync-state.json");
        let mut state: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("state")).expect("json");
        let at = state["attributes_at"].as_u64().expect("attributes_at");
        state["attributes_at"] = Value::from(at - minutes * 60);
        std::fs::write(&file, state.to_string()).expect("write state");
    }

    /// `host`'s passwd file.
    fn passwd(&self, host: &Host) -> String {
        std::fs::read_to_string(dir(host).join("passwd")).expect("passwd")
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

/// A new user, in `group`, with a shell of their own.
fn new_member(user: &str, group: &str) -> [Change; 3] {
    [
        Change::CreateUser {
            user: user.into(),
            active: true,
        },
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

fn set_shell(user: &str, shell: &str) -> Change {
    Change::SetAttribute {
        user: user.into(),
        name: "loginShell".into(),
        values: vec![shell.into()],
    }
}

/// What the double was asked since `clear_requests`, up to the next sync's start.
fn asked_by_one_sync(double: &Double) -> Vec<String> {
    double
        .asked()
        .into_iter()
        .take_while(|op| op != "events-start")
        .collect()
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
    for change in new_member("gina", "linux-users") {
        site.double.change(change);
    }
    site.double.change(Change::Activate {
        user: "bob".into(),
        active: false,
    });
    let report = site.both_agree("four user-level changes");
    assert_eq!(kind(&report), "incremental");
    // The events, then gina's attributes (a new member) in one search: no listing.
    assert_eq!(asked_by_one_sync(&site.double), ["events", "search-users"]);
}

#[test]
fn each_fallback_is_a_full_sync_with_a_new_token() {
    if soap() {
        return;
    }
    let mut site = Site::new();
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    // A restarted Crowd: the listener store's token is unknown (410).
    site.restart(EventStore::Listener);
    let after_restart = site.sync(&site.inc, &[]);
    assert_eq!(kind(&after_restart), "full", "{after_restart}");
    assert!(
        after_restart["why"]
            .as_str()
            .is_some_and(|w| w.contains("EVENT_TOKEN_EXPIRED")),
        "{after_restart}"
    );
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
    // Crowd 2.3 over an uncached directory: 400 INCREMENTAL_SYNC_NOT_AVAILABLE.
    site.double.event_mode(EventMode::NotAvailable);
    let refused = site.sync(&site.inc, &[]);
    assert_eq!(kind(&refused), "full");
    assert!(
        refused["why"]
            .as_str()
            .is_some_and(|w| w.contains("INCREMENTAL_SYNC_NOT_AVAILABLE")),
        "{refused}"
    );
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
fn the_timestamp_stores_tokens_survive_a_restart() {
    if soap() {
        return;
    }
    let mut site = Site::with_store(EventStore::Timestamp);
    assert_eq!(kind(&site.sync(&site.inc, &[])), "full");
    site.restart(EventStore::Timestamp);
    let after_restart = site.sync(&site.inc, &[]);
    assert_eq!(kind(&after_restart), "incremental", "{after_restart}");
}

#[test]
fn events_given_twice_change_nothing() {
    if soap() {
        return;
    }
    for store in [EventStore::Listener, EventStore::Timestamp] {
        let site = Site::with_store(store);
        site.sync(&site.inc, &[]);
        for change in new_member("gina", "developers") {
            site.double.change(change);
        }
        site.double.change(Change::Leave {
            user: "dave".into(),
            group: "linux-users".into(),
        });
        site.both_agree("changes");
        let before = site.passwd(&site.inc);
        // The listener store of a cluster rewinds; the timestamp store gives the
        // last five minutes again on every call by itself.
        site.double.rewind_events(3);
        for _ in 0..2 {
            let again = site.sync(&site.inc, &[]);
            assert_eq!(kind(&again), "incremental");
            assert_eq!(
                again["changes"].as_array().map(Vec::len),
                Some(0),
                "{store:?}: {again}"
            );
        }
        assert_eq!(site.passwd(&site.inc), before, "{store:?}");
    }
}

#[test]
fn a_membership_update_is_the_complete_set_of_direct_groups() {
    if soap() {
        return;
    }
    for style in [EventStyle::Bare, EventStyle::Xml] {
        let site = Site::new();
        site.double.event_style(style);
        site.sync(&site.inc, &[]);
        assert!(site.passwd(&site.inc).contains("\ndave:"), "{style:?}");
        // dave's direct groups are now contractors alone: out of linux-users, by an
        // UPDATED event that never names it.
        site.double.change(Change::Regroup {
            user: "dave".into(),
            groups: vec!["contractors".into()],
        });
        // bob's are developers (nested in linux-users) and unrelated: in.
        site.double.change(Change::Regroup {
            user: "bob".into(),
            groups: vec!["developers".into(), "unrelated".into()],
        });
        let report = site.both_agree("membership updates");
        assert_eq!(kind(&report), "incremental", "{style:?}: {report}");
        let passwd = site.passwd(&site.inc);
        assert!(!passwd.contains("\ndave:"), "{style:?}: {passwd}");
        assert!(passwd.contains("\nbob:"), "{style:?}: {passwd}");
    }
}

#[test]
fn attribute_changes_without_events_arrive_within_attributes_minutes() {
    if soap() {
        return;
    }
    let site = Site::new();
    site.sync(&site.inc, &[]);
    // The listener store keeps no event for a loginShell change.
    site.double.change(set_shell("alice", "/bin/sh"));
    let quiet = site.sync(&site.inc, &[]);
    assert_eq!(
        quiet["changes"].as_array().map(Vec::len),
        Some(0),
        "{quiet}"
    );
    // 59 minutes on: not yet.
    site.age_attributes(&site.inc, 59);
    let early = site.sync(&site.inc, &[]);
    assert_eq!(early["attributes_read"], false, "{early}");
    // 60 (attributes_minutes' default): the paged user search, no member list.
    site.age_attributes(&site.inc, 1);
    site.double.clear_requests();
    let due = site.both_agree("a loginShell change, attributes due");
    assert_eq!(kind(&due), "incremental", "{due}");
    assert_eq!(due["attributes_read"], true, "{due}");
    assert_eq!(asked_by_one_sync(&site.double), ["events", "search-users"]);
    assert!(site.passwd(&site.inc).contains(":/home/alice:/bin/sh\n"));
}

#[test]
fn the_timestamp_stores_changed_users_are_read_again_in_one_search() {
    if soap() {
        return;
    }
    let site = Site::with_store(EventStore::Timestamp);
    site.sync(&site.inc, &[]);
    site.double.clear_requests();
    // A user UPDATED event without attributes for each: read again, together.
    for user in ["alice", "bob", "dave"] {
        site.double.change(set_shell(user, "/bin/sh"));
    }
    let report = site.both_agree("three loginShell changes");
    assert_eq!(kind(&report), "incremental", "{report}");
    assert_eq!(asked_by_one_sync(&site.double), ["events", "search-users"]);
    assert_eq!(site.passwd(&site.inc).matches(":/bin/sh\n").count(), 3);
}

#[test]
fn access_based_filtering_is_named_once_it_keeps_forcing_full_syncs() {
    if soap() {
        return;
    }
    let site = Site::new();
    site.double.event_mode(EventMode::AccessFiltered);
    site.sync(&site.inc, &[]);
    // Nothing changed: an empty batch is still served.
    assert_eq!(kind(&site.sync(&site.inc, &[])), "incremental");
    let mut last = Value::Null;
    for round in 0..3 {
        site.double
            .change(set_shell("alice", ["/bin/sh", "/bin/bash"][round % 2]));
        site.double.change(Change::Activate {
            user: "bob".into(),
            active: round % 2 == 1,
        });
        last = site.sync(&site.inc, &[]);
        assert_eq!(kind(&last), "full", "{last}");
        let notes = last["notes"].as_array().map(Vec::len).unwrap_or_default();
        assert_eq!(notes, usize::from(round == 2), "round {round}: {last}");
    }
    let note = last["notes"][0].as_str().unwrap_or_default();
    assert!(note.contains("access-based"), "{note}");
    let check = pam_crowd(&site.inc, &["check"], "");
    assert!(check.stdout.contains("access-based"), "{}", check.stdout);
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
        8 if rng.below(2) == 0 => Change::Regroup {
            user,
            groups: vec![group, rng.pick(GROUPS).to_owned()],
        },
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
    for (seed, style, store) in [
        (0x5eed_0001_u64, EventStyle::Bare, EventStore::Listener),
        (0x5eed_0002, EventStyle::Wrapped, EventStore::Timestamp),
        (0x5eed_0003, EventStyle::Xml, EventStore::Listener),
        (0x5eed_0004, EventStyle::Xml, EventStore::Timestamp),
    ] {
        let site = Site::with_store(store);
        site.double.event_style(style);
        // Replays: a rewinding cluster's listener store; the timestamp store gives
        // the last five minutes again by itself.
        site.double.rewind_events(2);
        site.both_agree("the first sync");
        let mut rng = Rng(seed);
        for round in 0..12 {
            let changes: Vec<Change> = (0..1 + rng.below(4))
                .map(|_| random_change(&mut rng))
                .collect();
            for change in &changes {
                site.double.change(change.clone());
            }
            // The listener store has no event for these: they arrive with the
            // attribute refresh, due here.
            let attribute_changed = changes.iter().any(|c| {
                matches!(
                    c,
                    Change::SetAttribute { .. } | Change::RemoveAttribute { .. }
                )
            });
            if store == EventStore::Listener && attribute_changed {
                site.age_attributes(&site.inc, 60);
            }
            let what = format!("{style:?} {store:?} round {round}: {changes:?}");
            let report = site.both_agree(&what);
            assert_eq!(kind(&report), "incremental", "{what}: {report}");
        }
    }
}
