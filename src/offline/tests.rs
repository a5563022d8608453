//! Unit tests of the offline decisions, over a real cache directory.
use super::*;
use crate::config::Config;
use crate::crowd::{Failure, FailureKind, User};
use std::path::{Path, PathBuf};

struct Setup {
    dir: PathBuf,
    cache: Cache,
    settings: CacheConfig,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(test: &str, cache_table: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("pam_crowd_offline_{test}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::parse(
        Path::new("/etc/pam_crowd.toml"),
        &format!(
            "url = \"https://crowd.example\"\napplication = \"hosts\"\npassword = \"x\"\n\
             [cache]\ndir = {:?}\n{cache_table}",
            dir.display().to_string()
        ),
    )
    .unwrap();
    Setup {
        cache: Cache::open(&config).unwrap().unwrap(),
        settings: config.cache.clone(),
        dir,
    }
}

fn down(kind: FailureKind) -> CrowdError {
    CrowdError::Unavailable(vec![Failure {
        url: "https://crowd.example".into(),
        kind,
        detail: "down".into(),
    }])
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        active: true,
        display_name: None,
        email: None,
        key: None,
    }
}

fn refused(reason: Reason) -> Denial {
    Denial::refused(reason)
}

fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
    AccessRules {
        allow_groups: Some(allow.iter().map(|s| s.to_string()).collect()),
        deny_groups: deny.iter().map(|s| s.to_string()).collect(),
    }
}

fn refusal(result: Result<Granted, Denial>) -> OfflineRefusal {
    match result {
        Err(Denial::Offline(Offline {
            cache: Some(refusal),
            ..
        })) => refusal,
        other => panic!("expected an offline refusal, got {other:?}"),
    }
}

#[test]
fn which_failures_let_the_cache_decide() {
    for kind in [
        FailureKind::Connect,
        FailureKind::Timeout,
        FailureKind::Tls,
        FailureKind::RateLimited,
        FailureKind::ServerError,
        FailureKind::NotCrowd,
        FailureKind::TooLarge,
        FailureKind::Redirect,
    ] {
        assert!(crowd_unreachable(&down(kind)), "{kind:?}");
    }
    for kind in [
        FailureKind::ApplicationRejected,
        FailureKind::AddressRejected,
    ] {
        assert!(!crowd_unreachable(&down(kind)), "{kind:?}");
    }
    // One node down and the next rejecting the application: Crowd has spoken.
    let mut mixed = vec![];
    for kind in [FailureKind::Connect, FailureKind::ApplicationRejected] {
        if let CrowdError::Unavailable(f) = down(kind) {
            mixed.extend(f);
        }
    }
    assert!(!crowd_unreachable(&CrowdError::Unavailable(mixed)));
    assert!(!crowd_unreachable(&CrowdError::Setup("x".into())));
}

#[test]
fn a_password_crowd_accepted_logs_in_offline_until_the_failure_limit() {
    let s = setup("password", "offline_days = 7\noffline_max_failures = 3\n");
    let offline = |pw: &str| {
        authenticate(
            &s.cache,
            &s.settings,
            "alice",
            pw,
            down(FailureKind::Connect),
            cache::now(),
        )
    };
    assert!(matches!(
        refusal(offline("alice-pw")),
        OfflineRefusal::NotCached(_)
    ));
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "alice-pw",
        &Ok(user("alice")),
        cache::now(),
    )
    .unwrap();
    let granted = offline("alice-pw").unwrap();
    assert!(
        granted.offline && granted.detail.contains("offline"),
        "{granted:?}"
    );
    // Two wrong, one right: the count starts again.
    assert_eq!(refusal(offline("guess1")), OfflineRefusal::WrongPassword);
    assert_eq!(refusal(offline("guess2")), OfflineRefusal::WrongPassword);
    assert!(offline("alice-pw").is_ok());
    // Three wrong in a row lock, even the right password.
    for guess in ["a", "b", "c"] {
        assert_eq!(refusal(offline(guess)), OfflineRefusal::WrongPassword);
    }
    assert_eq!(
        refusal(offline("alice-pw")),
        OfflineRefusal::Locked { failures: 3 }
    );
    assert_eq!(s.cache.load("alice").unwrap().unwrap().failures, 3);
    // Until Crowd accepts the password again.
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "alice-pw",
        &Ok(user("alice")),
        cache::now(),
    )
    .unwrap();
    assert!(offline("alice-pw").is_ok());
    // Another user is not alice.
    assert!(matches!(
        refusal(authenticate(
            &s.cache,
            &s.settings,
            "bob",
            "alice-pw",
            down(FailureKind::Timeout),
            cache::now()
        )),
        OfflineRefusal::NotCached(_)
    ));
}

#[test]
fn an_old_password_is_not_accepted_offline() {
    let s = setup("expired", "offline_days = 2\n");
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "alice-pw",
        &Ok(user("alice")),
        cache::now(),
    )
    .unwrap();
    s.cache
        .update("alice", |e| {
            if let Some(v) = e.as_mut().and_then(|e| e.password.as_mut()) {
                v.at -= 2 * 86_400 + 1;
            }
        })
        .unwrap();
    let why = refusal(authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "alice-pw",
        down(FailureKind::Connect),
        cache::now(),
    ));
    assert!(
        matches!(&why, OfflineRefusal::NotCached(w) if w.contains("offline_days = 2")),
        "{why:?}"
    );
}

#[test]
fn crowds_refusals_win_over_the_cache() {
    let s = setup("refusals", "offline_days = 7\n");
    let offline = |pw: &str| {
        authenticate(
            &s.cache,
            &s.settings,
            "alice",
            pw,
            down(FailureKind::Connect),
            cache::now(),
        )
    };
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "old-pw",
        &Ok(user("alice")),
        cache::now(),
    )
    .unwrap();
    // A wrong guess online leaves the entry alone...
    let wrong: Result<User, Denial> = Err(refused(Reason::InvalidUserAuthentication));
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "guess",
        &wrong,
        cache::now(),
    )
    .unwrap();
    assert!(offline("old-pw").is_ok());
    // ...but the cached password, refused by Crowd (changed there), stops working.
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "old-pw",
        &wrong,
        cache::now(),
    )
    .unwrap();
    assert!(matches!(
        refusal(offline("old-pw")),
        OfflineRefusal::NotCached(_)
    ));
    // An inactive or unknown user is dropped altogether.
    for gone in [
        refused(Reason::InactiveAccount),
        refused(Reason::UserNotFound),
        Denial::Account(AccountState::Inactive),
    ] {
        after_authenticate(
            &s.cache,
            &s.settings,
            "alice",
            "pw",
            &Ok(user("alice")),
            cache::now(),
        )
        .unwrap();
        after_authenticate(
            &s.cache,
            &s.settings,
            "alice",
            "pw",
            &Err::<User, _>(gone.clone()),
            cache::now(),
        )
        .unwrap();
        assert_eq!(s.cache.load("alice").unwrap(), None, "{gone:?}");
    }
}

#[test]
fn without_offline_days_no_password_is_kept() {
    let s = setup("positive_only", "positive_ttl = 60\n");
    after_authenticate(
        &s.cache,
        &s.settings,
        "alice",
        "alice-pw",
        &Ok(user("alice")),
        cache::now(),
    )
    .unwrap();
    let entry = s.cache.load("alice").unwrap().unwrap();
    assert_eq!(entry.password, None);
    assert!(entry.active_at.is_some());
}

fn recorded(memberships: &[(&str, bool)]) -> Answers {
    Answers {
        active: true,
        memberships: memberships
            .iter()
            .map(|(g, m)| (g.to_string(), *m))
            .collect(),
        all_groups: None,
    }
}

#[test]
fn the_account_phase_offline_uses_crowds_last_answers() {
    let s = setup("account", "offline_days = 7\n");
    let r = rules(&["linux-users"], &["contractors"]);
    let offline = |r: &AccessRules| {
        account(
            &s.cache,
            &s.settings,
            "alice",
            r,
            down(FailureKind::ServerError),
            cache::now(),
        )
        .map(|(granted, _)| granted)
    };
    assert!(matches!(refusal(offline(&r)), OfflineRefusal::NotCached(_)));
    let ok = Ok(Granted {
        detail: String::new(),
        offline: false,
    });
    after_account(
        &s.cache,
        "alice",
        &[],
        &recorded(&[("contractors", false), ("linux-users", true)]),
        &ok,
        cache::now(),
    )
    .unwrap();
    assert!(offline(&r).unwrap().offline);
    // A group never asked about cannot be decided.
    assert!(
        matches!(refusal(offline(&rules(&["admins"], &[]))), OfflineRefusal::NotCached(w) if w.contains("admins"))
    );
    // A membership Crowd since removed refuses.
    let denied: Result<Granted, Denial> = Err(Denial::Account(AccountState::Access(
        Access::NotInAllowGroups(vec!["linux-users".into()]),
    )));
    after_account(
        &s.cache,
        "alice",
        &[],
        &recorded(&[("contractors", false), ("linux-users", false)]),
        &denied,
        cache::now(),
    )
    .unwrap();
    assert_eq!(
        refusal(offline(&r)),
        OfflineRefusal::Access(Access::NotInAllowGroups(vec!["linux-users".into()]))
    );
    // The whole group list answers every group the config names.
    let all = Answers {
        active: true,
        memberships: vec![],
        all_groups: Some(vec!["Linux-Users".into(), "admins".into()]),
    };
    let named = [
        "admins".to_string(),
        "contractors".into(),
        "linux-users".into(),
    ];
    after_account(&s.cache, "alice", &named, &all, &ok, cache::now()).unwrap();
    assert!(offline(&r).is_ok());
    assert!(offline(&rules(&["admins"], &["contractors"])).is_ok());
    // Unknown in Crowd: gone from the cache.
    after_account(
        &s.cache,
        "alice",
        &named,
        &Answers::default(),
        &Err::<(), _>(refused(Reason::UserNotFound)),
        cache::now(),
    )
    .unwrap();
    assert_eq!(s.cache.load("alice").unwrap(), None);
}

#[test]
fn recent_answers_admit_without_crowd_but_never_refuse() {
    let s = setup("positive", "positive_ttl = 60\n");
    let r = rules(&["linux-users"], &[]);
    assert_eq!(
        account_from_recent(&s.cache, &s.settings, "alice", &r, cache::now()),
        Ok(None)
    );
    let ok = Ok(Granted {
        detail: String::new(),
        offline: false,
    });
    after_account(
        &s.cache,
        "alice",
        &[],
        &recorded(&[("linux-users", true)]),
        &ok,
        cache::now(),
    )
    .unwrap();
    let granted = account_from_recent(&s.cache, &s.settings, "alice", &r, cache::now())
        .unwrap()
        .unwrap();
    assert!(
        !granted.offline && granted.detail.contains("positive_ttl"),
        "{granted:?}"
    );
    // A refusal is never reused: Crowd is asked again.
    after_account(
        &s.cache,
        "alice",
        &[],
        &recorded(&[("linux-users", false)]),
        &ok,
        cache::now(),
    )
    .unwrap();
    assert_eq!(
        account_from_recent(&s.cache, &s.settings, "alice", &r, cache::now()),
        Ok(None)
    );
    // Answers older than the ttl are not reused.
    after_account(
        &s.cache,
        "alice",
        &[],
        &recorded(&[("linux-users", true)]),
        &ok,
        cache::now(),
    )
    .unwrap();
    s.cache
        .update("alice", |e| {
            if let Some(e) = e {
                e.active_at = e.active_at.map(|t| t - 61);
            }
        })
        .unwrap();
    assert_eq!(
        account_from_recent(&s.cache, &s.settings, "alice", &r, cache::now()),
        Ok(None)
    );
}

#[test]
fn an_attempt_counts_only_on_the_entry_that_was_loaded() {
    let s = setup("attempt", "offline_days = 7\n");
    let loaded = Verifier {
        phc: verifier::hash("pw").unwrap(),
        at: 100,
    };
    let mut entry = Some(s.cache.new_entry("alice"));
    // Replaced since the load (Crowd accepted another password meanwhile): not counted,
    // and the caller refuses rather than check against the old verifier.
    entry.as_mut().unwrap().password = Some(Verifier {
        phc: verifier::hash("other").unwrap(),
        at: 200,
    });
    assert_eq!(count_attempt(&mut entry, &loaded, 5), Attempt::Gone);
    entry.as_mut().unwrap().password = None;
    assert_eq!(count_attempt(&mut entry, &loaded, 5), Attempt::Gone);
    assert_eq!(count_attempt(&mut None, &loaded, 5), Attempt::Gone);
    // Unchanged: counted, then locked at the limit.
    entry.as_mut().unwrap().password = Some(loaded.clone());
    assert_eq!(count_attempt(&mut entry, &loaded, 1), Attempt::Counted);
    assert_eq!(count_attempt(&mut entry, &loaded, 1), Attempt::Locked(1));
    assert_eq!(entry.unwrap().failures, 1);
}

#[test]
fn a_changed_password_is_recorded_without_marking_the_user_active() {
    let s = setup("changed", "offline_days = 7\n");
    after_password_change(&s.cache, &s.settings, "carol", "new-pw", 1_000).unwrap();
    let entry = s.cache.load("carol").unwrap().unwrap();
    assert!(entry.password.is_some());
    assert_eq!(entry.active_at, None);
    let offline = account(
        &s.cache,
        &s.settings,
        "carol",
        &AccessRules::default(),
        down(FailureKind::Connect),
        1_001,
    )
    .map(|(granted, _)| granted);
    assert!(matches!(refusal(offline), OfflineRefusal::NotCached(_)));
}

#[test]
fn cached_memberships_are_trusted_for_max_age_and_without_case() {
    let day = Duration::from_secs(86_400);
    let mut e = Entry::new("c", "u");
    e.record_membership("Linux-Users", true, 1_000_000);
    assert_eq!(membership(&e, "linux-users", 1_000_010, day), Some(true));
    assert_eq!(membership(&e, "linux-users", 1_000_000 + 86_401, day), None);
    assert_eq!(membership(&e, "admins", 1_000_000, day), None);
    assert!(!active_within(&e, 1_000_000, day));
    e.active_at = Some(1_000_000);
    assert!(active_within(&e, 1_000_010, day));
    assert!(!active_within(&e, 1_000_000 + 86_401, day));
}
