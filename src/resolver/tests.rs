//! The resolver against a scripted Crowd, with and without a real cache directory.

use super::*;
use crate::testing::Script;
use std::path::{Path, PathBuf};

/// A config (and its cache directory, removed on drop) for one test.
struct Setup {
    config: Config,
    dir: PathBuf,
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup(test: &str, cache_table: &str, extra: &str) -> Setup {
    let dir =
        std::env::temp_dir().join(format!("pam_crowd_resolver_{test}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::parse(
        Path::new("/etc/pam_crowd.toml"),
        &format!(
            "url = \"https://crowd.example\"\napplication = \"hosts\"\npassword = \"x\"\n{extra}\
             [cache]\ndir = {:?}\n{cache_table}",
            dir.display().to_string()
        ),
    )
    .unwrap();
    Setup { config, dir }
}

fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
    AccessRules {
        allow_groups: Some(allow.iter().map(|s| s.to_string()).collect()),
        deny_groups: deny.iter().map(|s| s.to_string()).collect(),
    }
}

/// A name as [`crowd_name`] would pass it.
fn n(user: &str) -> CrowdName {
    CrowdName(user.to_owned())
}

/// The Crowd a test's resolver asks, chosen before each call ([`Resolver::over`]):
/// tests take Crowd down and up again under one resolver (one cache, one clock).
struct Crowds<'s>(Option<&'s Script>);

impl Connect for Crowds<'_> {
    type Crowd = Script;
    fn crowd(&mut self) -> Result<&Script, Denial> {
        Ok(self.0.expect("a test chooses its Crowd with over() first"))
    }
}

impl<'s> Resolver<'_, Crowds<'s>> {
    /// This resolver, asking `crowd` from now on.
    fn over(&mut self, crowd: &'s Script) -> &mut Self {
        self.crowd = Crowds(Some(crowd));
        self
    }
}

/// A resolver without a cache, now.
fn no_cache(s: &Setup) -> Resolver<'_, Crowds<'_>> {
    Resolver::new(&s.config, Crowds(None), Ok(None), cache::now())
}

fn known(crowd: &Script, config: &Config, user: &str) -> Known {
    let mut r = Resolver::new(config, crowd, Ok(None), cache::now());
    r.authenticate(&n(user), "pw", None).unwrap().1
}

#[test]
fn authenticate_accepts_only_the_exact_active_name() {
    let s = setup("exact", "", "");
    let crowd = Script::alice_and_bob();
    let mut r = no_cache(&s);
    assert!(r.over(&crowd).authenticate(&n("alice"), "pw", None).is_ok());
    assert_eq!(
        r.over(&crowd).authenticate(&n("Alice"), "pw", None),
        Err(Denial::Account(AccountState::NameMismatch {
            canonical: "alice".into(),
            case_only: true
        }))
    );
    assert_eq!(
        r.over(&crowd).authenticate(&n("bob"), "pw", None),
        Err(Denial::Account(AccountState::Inactive))
    );
    assert_eq!(
        r.over(&crowd).authenticate(&n("alice"), "nope", None),
        Err(Denial::refused(Reason::InvalidUserAuthentication))
    );
}

#[test]
fn account_asks_crowd_when_authenticate_did_not_run() {
    let s = setup("asks", "", "");
    let crowd = Script::alice_and_bob();
    let verdict =
        no_cache(&s)
            .over(&crowd)
            .account(&n("alice"), None, &rules(&["linux-users"], &[]));
    assert!(matches!(verdict, Ok(Verdict::Granted(_))), "{verdict:?}");
    assert_eq!(
        *crowd.asked.borrow(),
        vec!["user alice", "member alice linux-users"]
    );
}

#[test]
fn account_reuses_what_authenticate_learned() {
    let s = setup("reuses", "", "");
    let crowd = Script::alice_and_bob();
    let known = known(&crowd, &s.config, "alice");
    crowd.asked.borrow_mut().clear();
    let verdict =
        no_cache(&s)
            .over(&crowd)
            .account(&n("alice"), Some(&known), &rules(&["linux-users"], &[]));
    assert!(matches!(verdict, Ok(Verdict::Granted(_))), "{verdict:?}");
    assert_eq!(*crowd.asked.borrow(), vec!["member alice linux-users"]);
}

#[test]
fn account_denials() {
    let s = setup("denials", "", "");
    let crowd = Script::alice_and_bob();
    let r = rules(&["linux-users"], &[]);
    let account =
        |user: &str, rules: &AccessRules| no_cache(&s).over(&crowd).account(&n(user), None, rules);
    assert_eq!(
        account("bob", &r),
        Err(Denial::Account(AccountState::Inactive))
    );
    assert_eq!(
        account("ALICE", &r),
        Err(Denial::Account(AccountState::NameMismatch {
            canonical: "alice".into(),
            case_only: true
        }))
    );
    assert_eq!(
        account("carol", &r),
        Err(Denial::refused(Reason::UserNotFound))
    );
    assert_eq!(
        account("alice", &rules(&["admins"], &[])),
        Err(Denial::Account(AccountState::Access(
            Access::NotInAllowGroups(vec!["admins".into()])
        )))
    );
    assert_eq!(
        account("alice", &rules(&["linux-users"], &["linux-users"])),
        Err(Denial::Account(AccountState::Access(Access::InDenyGroup(
            "linux-users".into()
        ))))
    );
    let down = Script {
        down: true,
        ..Script::alice_and_bob()
    };
    let unavailable = no_cache(&s).over(&down).account(&n("alice"), None, &r);
    assert_eq!(
        unavailable.unwrap_err().unanswered(),
        Some(&CrowdError::Unavailable(vec![]))
    );
}

#[test]
fn many_named_groups_fetch_the_group_list_once() {
    let s = setup("many", "", "");
    let crowd = Script::alice_and_bob();
    let r = rules(&["a", "b", "linux-users"], &["d"]);
    assert!(
        no_cache(&s)
            .over(&crowd)
            .account(&n("alice"), None, &r)
            .is_ok()
    );
    assert_eq!(*crowd.asked.borrow(), vec!["user alice", "groups alice"]);
}

#[test]
fn an_expired_password_is_accepted_and_the_account_phase_asks_for_a_new_one() {
    let s = setup("expired", "offline_days = 7\n", "");
    let crowd = Script {
        expired: true,
        ..Script::alice_and_bob()
    };
    let mut r = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let (granted, known) = r
        .over(&crowd)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(granted.detail.contains("expired"), "{granted:?}");
    assert!(matches!(
        known,
        Known::Crowd {
            password_expired: true,
            ..
        }
    ));
    let verdict = r
        .over(&crowd)
        .account(&n("alice"), Some(&known), &rules(&["linux-users"], &[]));
    assert_eq!(verdict, Ok(Verdict::NewPasswordRequired));
    // The expired password is recorded as the refusal it is: offline, it is refused.
    let down = Script {
        down: true,
        ..Script::alice_and_bob()
    };
    let offline = r.over(&down).authenticate(&n("alice"), "pw", None);
    assert!(
        matches!(
            offline,
            Err(Denial::Offline(Offline { cache: Some(_), .. }))
        ),
        "{offline:?}"
    );
    assert!(r.take_problems().is_empty());
}

#[test]
fn offline_the_cache_decides_what_crowd_last_said() {
    let s = setup("offline", "offline_days = 7\n", "");
    let crowd = Script::alice_and_bob();
    let r = rules(&["linux-users"], &[]);
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let (_, known) = resolver
        .over(&crowd)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(
        resolver
            .over(&crowd)
            .account(&n("alice"), Some(&known), &r)
            .is_ok()
    );
    assert_eq!(resolver.went_offline(), None);

    let down = Script {
        down: true,
        ..Script::alice_and_bob()
    };
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let (granted, known) = resolver
        .over(&down)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(granted.offline);
    assert!(matches!(known, Known::Offline(_)));
    // The account phase goes offline at once, without asking Crowd again.
    down.asked.borrow_mut().clear();
    let verdict = resolver.over(&down).account(&n("alice"), Some(&known), &r);
    assert!(matches!(
        verdict,
        Ok(Verdict::Granted(Granted { offline: true, .. }))
    ));
    assert!(down.asked.borrow().is_empty());
    assert!(resolver.went_offline().is_some());
    // Without authenticate (publickey), Crowd is asked first, then the cache.
    let verdict = resolver.over(&down).account(&n("alice"), None, &r);
    assert!(matches!(
        verdict,
        Ok(Verdict::Granted(Granted { offline: true, .. }))
    ));
    assert_eq!(*down.asked.borrow(), vec!["user alice"]);
    // Another's password, or a user never seen, is refused offline.
    assert!(
        resolver
            .over(&down)
            .authenticate(&n("alice"), "guess", None)
            .is_err()
    );
    assert!(resolver.over(&down).account(&n("carol"), None, &r).is_err());
}

#[test]
fn positive_ttl_answers_without_crowd() {
    let s = setup("positive", "positive_ttl = 60\n", "");
    let crowd = Script::alice_and_bob();
    let r = rules(&["linux-users"], &[]);
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    assert!(resolver.over(&crowd).account(&n("alice"), None, &r).is_ok());
    crowd.asked.borrow_mut().clear();
    let verdict = resolver.over(&crowd).account(&n("alice"), None, &r);
    assert!(matches!(verdict, Ok(Verdict::Granted(g)) if g.detail.contains("positive_ttl")));
    assert!(
        crowd.asked.borrow().is_empty(),
        "{:?}",
        crowd.asked.borrow()
    );
    // Once the answers are older than positive_ttl, Crowd is asked again.
    let later = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now() + 120,
    )
    .over(&crowd)
    .account(&n("alice"), None, &r);
    assert!(later.is_ok());
    assert_eq!(
        *crowd.asked.borrow(),
        vec!["user alice", "member alice linux-users"]
    );
}

#[test]
fn keys_follow_the_account_rules_of_sshd() {
    let s = setup("keys", "", "ssh_keys_attribute = \"sshPublicKey\"\n");
    let crowd = Script::alice_and_bob();
    let keys = no_cache(&s)
        .over(&crowd)
        .keys(&n("alice"), "sshPublicKey")
        .unwrap();
    assert_eq!(keys.keys, vec![]);
    assert_eq!(keys.skipped.len(), 1, "the scripted value is not a key");
    // No allow_groups in this config: the user's attributes are the one question.
    assert_eq!(*crowd.asked.borrow(), vec!["attributes alice"]);
    assert_eq!(
        no_cache(&s).over(&crowd).keys(&n("bob"), "sshPublicKey"),
        Err(Denial::Account(AccountState::Inactive))
    );
    assert!(matches!(
        crowd_name(&s.config, "root"),
        Err(Denial::Account(AccountState::HostAccount(_)))
    ));
}

#[test]
fn an_expired_password_asks_for_a_new_one_even_when_recent_answers_would_admit() {
    let s = setup("expired_ttl", "positive_ttl = 60\n", "");
    let r = rules(&["linux-users"], &[]);
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    // Recent answers admit alice (positive_ttl)...
    let crowd = Script::alice_and_bob();
    assert!(resolver.over(&crowd).account(&n("alice"), None, &r).is_ok());
    // ...but Crowd just said her password has expired: a new one first.
    let expired = Script {
        expired: true,
        ..Script::alice_and_bob()
    };
    let (_, known) = resolver
        .over(&expired)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    let verdict = resolver
        .over(&expired)
        .account(&n("alice"), Some(&known), &r);
    assert_eq!(verdict, Ok(Verdict::NewPasswordRequired));
    assert_eq!(
        crate::outcome::code_of(&verdict, crate::outcome::Phase::Account),
        crate::outcome::PamCode::NewAuthtokReqd
    );
}

#[test]
fn a_synced_user_with_crowd_down_is_decided_offline_not_refused_as_gone() {
    // Removed on drop, even when an assertion fails.
    let guard = Scratch(
        std::env::temp_dir().join(format!("pam_crowd_resolver_synced_{}", std::process::id())),
    );
    let synced = guard.0.clone();
    let _ = std::fs::remove_dir_all(&synced);
    let alice = nss_crowd_files::Passwd {
        name: "alice".into(),
        uid: 70_000,
        gid: 100,
        gecos: String::new(),
        home: "/home/alice".into(),
        shell: "/bin/sh".into(),
    };
    std::fs::create_dir_all(&synced).unwrap();
    nss_crowd_files::write(&synced, &[alice], &[]).unwrap();
    let nss = format!("[nss]\ndir = {:?}\n", synced.display().to_string());
    let s = setup("synced_down", &format!("offline_days = 7\n{nss}"), "");
    assert!(crate::host::synced_user(&synced, "alice"));
    let r = rules(&["linux-users"], &[]);
    let down = Script {
        down: true,
        ..Script::alice_and_bob()
    };
    // No cache yet: Crowd could not answer, which is PAM_AUTHINFO_UNAVAIL.
    let verdict = no_cache(&s).over(&down).account(&n("alice"), None, &r);
    assert!(matches!(verdict, Err(Denial::Offline(_))), "{verdict:?}");
    assert_eq!(
        crate::outcome::code_of(&verdict, crate::outcome::Phase::Account),
        crate::outcome::PamCode::AuthinfoUnavail
    );
    // With a fresh cache: admitted offline.
    let crowd = Script::alice_and_bob();
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let (_, known) = resolver
        .over(&crowd)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(
        resolver
            .over(&crowd)
            .account(&n("alice"), Some(&known), &r)
            .is_ok()
    );
    let verdict = resolver.over(&down).account(&n("alice"), None, &r);
    assert!(
        matches!(verdict, Ok(Verdict::Granted(Granted { offline: true, .. }))),
        "{verdict:?}"
    );
    // Gone from Crowd is for Crowd's word that it does not know her.
    let gone = Script {
        users: vec![("bob", "pw", false)],
        ..Script::alice_and_bob()
    };
    let verdict = no_cache(&s).over(&gone).account(&n("alice"), None, &r);
    assert!(
        matches!(
            verdict,
            Err(Denial::Account(AccountState::GoneFromCrowd(_)))
        ),
        "{verdict:?}"
    );
    // So is Crowd knowing her only under another name (renamed to Alice).
    let renamed = Script {
        users: vec![("Alice", "pw", true)],
        ..Script::alice_and_bob()
    };
    let verdict = no_cache(&s).over(&renamed).account(&n("alice"), None, &r);
    assert!(
        matches!(
            verdict,
            Err(Denial::Account(AccountState::GoneFromCrowd(_)))
        ),
        "{verdict:?}"
    );
}

#[test]
fn an_application_crowd_rejects_is_an_answer_not_an_outage() {
    let s = setup("rejected", "offline_days = 7\n", "");
    let r = rules(&["linux-users"], &[]);
    let crowd = Script::alice_and_bob();
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let (_, known) = resolver
        .over(&crowd)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(
        resolver
            .over(&crowd)
            .account(&n("alice"), Some(&known), &r)
            .is_ok()
    );
    // A fresh cache would admit alice offline; Crowd rejecting the application (401 at
    // every URL) is not Crowd being down, so the cache does not decide.
    let rejected = Script {
        app_rejected: true,
        ..Script::alice_and_bob()
    };
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    let verdict = resolver.over(&rejected).account(&n("alice"), None, &r);
    assert!(
        matches!(verdict, Err(Denial::Offline(Offline { cache: None, .. }))),
        "{verdict:?}"
    );
    let auth = resolver
        .over(&rejected)
        .authenticate(&n("alice"), "pw", None);
    assert!(
        matches!(auth, Err(Denial::Offline(Offline { cache: None, .. }))),
        "{auth:?}"
    );
    assert_eq!(resolver.went_offline(), None);
}

#[test]
fn a_cache_that_cannot_be_written_is_a_problem_to_log_and_the_decision_stands() {
    let s = setup("unwritable", "offline_days = 7\n", "");
    let crowd = Script::alice_and_bob();
    let mut resolver = Resolver::new(
        &s.config,
        Crowds(None),
        Cache::open(&s.config),
        cache::now(),
    );
    // The directory goes away after it was opened: every record fails.
    std::fs::remove_dir_all(&s.dir).unwrap();
    let (granted, _) = resolver
        .over(&crowd)
        .authenticate(&n("alice"), "pw", None)
        .unwrap();
    assert!(!granted.offline);
    let problems = resolver.take_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(resolver.take_problems().is_empty(), "taken once");
}
