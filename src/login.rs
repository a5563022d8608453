//! The decision of one PAM call: options → config → user → Crowd → outcome, with the
//! one log line. Generic over [`PamContext`] and [`Directory`], so it runs in tests
//! without libpam or a network.

use zeroize::Zeroizing;

use crate::cache::{Cache, CacheError};
use crate::config::Config;
use crate::crowd::{Client, ClientSettings, CrowdError, Deadline, Directory, User};
use crate::home;
use crate::names::UserNames;
use crate::offline::{self, Answers};
use crate::options::Options;
use crate::outcome::{Denial, Granted, PamCode, Phase, Subject, decision_line, printable};
use crate::pam_context::{KeptClient, KnownUser, Level, PamContext};
use crate::password;
use crate::policy::{Access, AccessRules, same_group};

/// Longest user name sent to Crowd.
const MAX_USERNAME_BYTES: usize = 255;
/// Longest password sent to Crowd; a longer one is refused unasked.
const MAX_PASSWORD_BYTES: usize = 4096;
/// Rules naming more groups than this fetch the user's group list once instead of
/// asking one membership question per group.
const MAX_MEMBERSHIP_QUERIES: usize = 3;

/// Runs one hook: decides, logs the decision, returns the PAM code.
pub fn run<P: PamContext, S: AsRef<str>>(pam: &mut P, phase: Phase, args: &[S]) -> PamCode {
    let mut subject = Subject {
        user: None,
        service: pam.service(),
        rhost: pam.rhost(),
        asked_crowd: None,
    };
    let result = decide(pam, phase, args, &mut subject);
    let level = match &result {
        Ok(g) if g.offline => Level::Notice,
        Ok(_) | Err(Denial::NotOurs(_)) => Level::Info,
        Err(d)
            if matches!(
                d.code(phase),
                PamCode::AuthinfoUnavail | PamCode::ServiceErr
            ) =>
        {
            Level::Err
        }
        Err(_) => Level::Notice,
    };
    // The profile puts the session phase in every login's stack: with nothing to do
    // (create_home off, no local account) it says nothing, rather than a line per login.
    let nothing_to_do = phase == Phase::Session && matches!(result, Err(Denial::NotOurs(_)));
    if !nothing_to_do {
        pam.log(level, &decision_line(&subject, &result, phase));
    }
    match result {
        Ok(_) => PamCode::Success,
        Err(d) => d.code(phase),
    }
}

fn decide<P: PamContext, S: AsRef<str>>(
    pam: &mut P,
    phase: Phase,
    args: &[S],
    subject: &mut Subject,
) -> Result<Granted, Denial> {
    // The user first, so that even a configuration error is logged with the user.
    let user = check_username(pam.user()?)?;
    subject.user = Some(user.clone());
    let options = Options::parse(args).map_err(Denial::Config)?;
    let config = Config::load(&options.config_path).map_err(|e| Denial::Config(e.to_string()))?;
    // The host's own accounts are never Crowd's: decided before Crowd is asked.
    // (The session phase has its own say: it makes no home for them.)
    if phase != Phase::Session {
        refuse_unasked(&config, &user)?;
    }

    let settings = ClientSettings::from(&config);
    // The client authenticate used, with its open connection, when it can serve this
    // call; else a new one.
    let connect = |pam: &P| {
        let deadline = Deadline::after(config.timeout);
        match pam.kept_client().and_then(|k| k.usable_for(&settings)) {
            Some(client) => {
                client.begin(deadline);
                Ok(client)
            }
            None => Client::new(&settings, deadline).map_err(Denial::Crowd),
        }
    };
    let trace = |pam: &P, client: &Client| {
        if options.debug {
            for line in client.trail() {
                pam.log(Level::Debug, &format!("crowd request {}", printable(&line)));
            }
        }
    };
    match phase {
        Phase::Session => make_home(&config, &user),
        Phase::Auth => {
            let password = check_password(pam.password()?)?;
            // The deadline starts after the prompt: typing is not Crowd's time.
            subject.asked_crowd = Some(std::time::Instant::now());
            let client = connect(pam)?;
            let answer = authenticate(
                &client,
                config.user_names,
                &user,
                &password,
                subject.rhost.as_deref(),
            );
            // Crowd says "expired" only once the password matched: the login goes on
            // to the account phase, which asks for a new password.
            let expired = matches!(&answer, Err(Denial::Crowd(e)) if password::is_expired(e));
            let result = if expired {
                password::expired_user(&client, config.user_names, &user)
            } else {
                answer.clone()
            };
            trace(pam, &client);
            // Kept whatever the answer: the account phase, or the next password
            // attempt on this handle, reuses the connection.
            pam.keep_client(Some(KeptClient {
                pid: std::process::id(),
                settings,
                client,
            }));
            let cache = open_cache(pam, &config, &user);
            let result = match (result, &cache) {
                (Err(Denial::Crowd(e)), Some(cache))
                    if config.cache.offline() && offline::crowd_unreachable(&e) =>
                {
                    let granted =
                        offline::authenticate(cache, &config.cache, &user, &password, e.clone())?;
                    pam.remember(KnownUser {
                        pam_user: user.clone(),
                        config_path: options.config_path.clone(),
                        canonical: user,
                        active: true,
                        offline: Some(e),
                        password_expired: false,
                    });
                    return Ok(granted);
                }
                (result, Some(cache)) => {
                    // An expired password is recorded as Crowd's refusal it is: it
                    // must not work offline.
                    let recorded = offline::after_authenticate(
                        cache,
                        &config.cache,
                        &user,
                        &password,
                        if expired { &answer } else { &result },
                    );
                    log_cache_problem(pam, &user, recorded);
                    result
                }
                (result, None) => result,
            };
            let crowd_user = result?;
            if expired {
                pam.tell(true, &password::expired_message(&config));
            }
            pam.remember(KnownUser {
                pam_user: user,
                config_path: options.config_path.clone(),
                canonical: crowd_user.name,
                active: crowd_user.active,
                offline: None,
                password_expired: expired,
            });
            Ok(Granted {
                detail: if expired {
                    "password accepted by Crowd, but expired: a new one is required".into()
                } else {
                    "password accepted by Crowd".into()
                },
                offline: false,
            })
        }
        Phase::Account => {
            let service = options.rules_service.as_deref().unwrap_or(&subject.service);
            let rules = config.rules_for(service);
            let known = pam
                .recall()
                .filter(|k| k.pam_user == user && k.config_path == options.config_path);
            let cache = open_cache(pam, &config, &user);
            let from_cache = match (&cache, known.as_ref().and_then(|k| k.offline.clone())) {
                // Authenticate found Crowd unreachable moments ago and went offline:
                // so does the account phase, rather than wait for Crowd again.
                (Some(cache), Some(unreachable)) => Some(offline::account(
                    cache,
                    &config.cache,
                    &user,
                    &rules,
                    unreachable,
                )),
                (None, Some(unreachable)) => Some(Err(Denial::Crowd(unreachable))),
                (Some(cache), None) if !known.as_ref().is_some_and(|k| k.password_expired) => {
                    match offline::account_from_recent(cache, &config.cache, &user, &rules) {
                        Ok(granted) => granted.map(Ok),
                        Err(problem) => {
                            log_cache_problem(pam, &user, Err(problem));
                            None
                        }
                    }
                }
                _ => None,
            };
            if let Some(result) = from_cache {
                pam.keep_client(None);
                return result;
            }
            subject.asked_crowd = Some(std::time::Instant::now());
            let client = connect(pam)?;
            let mut answers = Answers::default();
            let result = account(
                &client,
                config.user_names,
                &user,
                known.as_ref(),
                &rules,
                &mut answers,
            )
            .and_then(|granted| {
                match known.as_ref().is_some_and(|k| k.password_expired) {
                    // Allowed in, once the expired password is replaced.
                    true => Err(Denial::PasswordExpired),
                    false => Ok(granted),
                }
            });
            trace(pam, &client);
            // Crowd's part of the login is over: close the connection now rather than
            // hold it for the whole session (sshd ends the transaction at logout).
            drop(client);
            pam.keep_client(None);
            let result = gone_from_crowd(&config, &user, result);
            match (result, &cache) {
                (Err(Denial::Crowd(e)), Some(cache))
                    if config.cache.offline() && offline::crowd_unreachable(&e) =>
                {
                    offline::account(cache, &config.cache, &user, &rules, e)
                }
                (result, Some(cache)) => {
                    let recorded = offline::after_account(
                        cache,
                        &user,
                        &config.named_groups(),
                        &answers,
                        &result,
                    );
                    log_cache_problem(pam, &user, recorded);
                    result
                }
                (result, None) => result,
            }
        }
        Phase::Password(step) => {
            let known = pam
                .recall()
                .filter(|k| k.pam_user == user && k.config_path == options.config_path);
            // sshd and login ask for a change of expired passwords only: not ours
            // unless Crowd said this one has expired.
            if step.only_expired && !known.is_some_and(|k| k.password_expired) {
                return Err(Denial::NotOurs(
                    "only expired passwords are to be changed, and Crowd did not say this one is"
                        .into(),
                ));
            }
            subject.asked_crowd = Some(std::time::Instant::now());
            let client = connect(pam)?;
            let cache = open_cache(pam, &config, &user);
            let result = password::change(pam, &client, &config, cache.as_ref(), &user, step);
            trace(pam, &client);
            // The update reuses the preliminary check's connection; after it, none is
            // needed.
            pam.keep_client(match step.update {
                false => Some(KeptClient {
                    pid: std::process::id(),
                    settings,
                    client,
                }),
                true => None,
            });
            result
        }
    }
}

/// The cache when `[cache]` is on and this process may use it; a broken one is
/// logged and treated as off.
fn open_cache<P: PamContext>(pam: &P, config: &Config, user: &str) -> Option<Cache> {
    match Cache::open(config) {
        Ok(cache) => cache,
        Err(problem) => {
            log_cache_problem(pam, user, Err(problem));
            None
        }
    }
}

/// A cache that could not be read or written is worth a line of its own: the
/// decision stands, but the next offline login may not find what it needs.
fn log_cache_problem<P: PamContext>(pam: &P, user: &str, result: Result<(), CacheError>) {
    if let Err(problem) = result {
        pam.log(
            Level::Err,
            &format!(
                "cache problem user={user:?}: {}",
                printable(&problem.to_string())
            ),
        );
    }
}

/// `[session] create_home`: the user's home, made if missing (see [`crate::home`]).
fn make_home(config: &Config, user: &str) -> Result<Granted, Denial> {
    if !config.session.create_home {
        return Err(Denial::NotOurs("[session] create_home is off".into()));
    }
    let Some(owner) = home::Owner::lookup(user).map_err(Denial::Home)? else {
        return Err(Denial::NotOurs("no local account (passwd entry)".into()));
    };
    if user == "root" || owner.uid < config.min_uid {
        return Err(Denial::NotOurs("a local system account".into()));
    }
    let made = home::ensure(&owner, &config.session).map_err(Denial::Home)?;
    Ok(Granted {
        detail: match made {
            home::Made::Created => format!("home {} created", owner.home.display()),
            home::Made::Existed => format!("home {} exists", owner.home.display()),
        },
        offline: false,
    })
}

/// Refuses a name that is the host's own account (see [`crate::host`]), before
/// anything asks Crowd about it.
pub fn refuse_host_account(config: &Config, user: &str) -> Result<(), Denial> {
    match crate::host::system_account(user, config.min_uid) {
        Some(why) => Err(Denial::HostAccount(why)),
        None => Ok(()),
    }
}

/// Every refusal the name alone decides, before Crowd is asked: the host's own
/// accounts, and names `user_names` never gives.
pub fn refuse_unasked(config: &Config, user: &str) -> Result<(), Denial> {
    refuse_host_account(config, user)?;
    config.user_names.check_pam_name(user)
}

/// The account phase's answer, except that a user `pam-crowd sync` wrote whom Crowd
/// no longer knows under this name is refused ([`Denial::GoneFromCrowd`]) rather
/// than "unknown": stacks skip an unknown user, and the synced entry would let them in.
pub fn gone_from_crowd(
    config: &Config,
    user: &str,
    result: Result<Granted, Denial>,
) -> Result<Granted, Denial> {
    let why = match &result {
        Err(Denial::Crowd(CrowdError::Refused {
            reason: crate::crowd::Reason::UserNotFound,
            ..
        })) => "unknown user".to_owned(),
        Err(Denial::NameMismatch { canonical, .. }) => {
            format!("Crowd has the name only as {canonical:?}")
        }
        _ => return result,
    };
    match crate::host::synced_user(&config.nss.dir, user) {
        true => Err(Denial::GoneFromCrowd(why)),
        false => result,
    }
}

/// Crowd's auth_user, accepting only an active user under exactly the PAM name.
/// `rhost` is the client's address, a validation factor where the protocol has them.
pub fn authenticate(
    crowd: &impl Directory,
    names: UserNames,
    user: &str,
    password: &str,
    rhost: Option<&str>,
) -> Result<User, Denial> {
    let found = crowd
        .authenticate(user, password, rhost)
        .map_err(Denial::Crowd)?;
    names.same_account(user, &found.name)?;
    if !found.active {
        return Err(Denial::Inactive);
    }
    Ok(found)
}

/// The account phase: the user exists and is active under exactly the PAM name, and
/// the group rules admit them. `known` is what authenticate learned in this
/// transaction; without it (publickey, sudo NOPASSWD) Crowd is asked. What Crowd
/// answered is added to `answers`, for the cache.
pub fn account(
    crowd: &impl Directory,
    names: UserNames,
    user: &str,
    known: Option<&KnownUser>,
    rules: &AccessRules,
    answers: &mut Answers,
) -> Result<Granted, Denial> {
    let (canonical, active) = match known {
        Some(k) => (k.canonical.clone(), k.active),
        None => {
            let u = crowd.user(user).map_err(Denial::Crowd)?;
            (u.name, u.active)
        }
    };
    names.same_account(user, &canonical)?;
    if !active {
        return Err(Denial::Inactive);
    }
    answers.active = true;
    let named = rules.named_groups().count();
    let access = if named > MAX_MEMBERSHIP_QUERIES {
        let groups = crowd.nested_groups(user).map_err(Denial::Crowd)?;
        let access = rules.check(|g| Ok::<_, CrowdError>(groups.iter().any(|m| same_group(m, g))));
        answers.all_groups = Some(groups);
        access
    } else {
        rules.check(|g| {
            let member = crowd.is_nested_member(user, g)?;
            answers.memberships.push((g.to_owned(), member));
            Ok(member)
        })
    }
    .map_err(Denial::Crowd)?;
    match access {
        Access::Granted => Ok(Granted {
            detail: match &rules.allow_groups {
                None => "active in Crowd, no allow_groups rule".into(),
                Some(_) => "active in Crowd and in allow_groups".into(),
            },
            offline: false,
        }),
        denied => Err(Denial::Access(denied)),
    }
}

/// The user name as a name Crowd can be asked about.
pub fn check_username(raw: Vec<u8>) -> Result<String, Denial> {
    let name = String::from_utf8(raw).map_err(|_| Denial::BadUsername("not valid UTF-8".into()))?;
    if name.is_empty() {
        return Err(Denial::BadUsername("empty".into()));
    }
    if name.len() > MAX_USERNAME_BYTES {
        return Err(Denial::BadUsername(format!(
            "longer than {MAX_USERNAME_BYTES} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Denial::BadUsername("contains control characters".into()));
    }
    Ok(name)
}

/// The password as one that can be sent to Crowd; empty ones never are.
pub fn check_password(raw: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, Denial> {
    if raw.is_empty() {
        return Err(Denial::EmptyPassword);
    }
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(Denial::BadPassword(format!(
            "longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    match std::str::from_utf8(&raw) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(Denial::BadPassword("not valid UTF-8".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::Reason;
    use std::cell::RefCell;

    /// A scripted directory: users, memberships, and a record of what was asked.
    #[derive(Default)]
    struct Script {
        users: Vec<(&'static str, &'static str, bool)>, // (name, password, active)
        member_of: Vec<&'static str>,
        down: bool,
        asked: RefCell<Vec<String>>,
    }

    impl Script {
        fn find(&self, name: &str) -> Result<User, CrowdError> {
            if self.down {
                return Err(CrowdError::Unavailable(vec![]));
            }
            self.users
                .iter()
                .find(|u| u.0.eq_ignore_ascii_case(name))
                .map(|u| User {
                    name: u.0.into(),
                    active: u.2,
                    display_name: None,
                    email: None,
                    key: None,
                })
                .ok_or(CrowdError::Refused {
                    status: 404,
                    reason: Reason::UserNotFound,
                    message: String::new(),
                })
        }
    }

    impl Directory for Script {
        fn ping(&self) -> Result<(), CrowdError> {
            Ok(())
        }
        fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
            self.nested_groups(username)
        }
        fn nested_group_members(&self, _: &str) -> Result<Vec<String>, CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn create_session(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<crate::crowd::Session, CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn validate_session(
            &self,
            _: &str,
            _: Option<&str>,
        ) -> Result<crate::crowd::Session, CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn terminate_session(&self, _: &str) -> Result<(), CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn user_attributes(&self, _: &str) -> Result<(User, crate::crowd::Attributes), CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn store_user_attribute(&self, _: &str, _: &str, _: &[String]) -> Result<(), CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn remove_user_attribute(&self, _: &str, _: &str) -> Result<(), CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn set_password(&self, _: &str, _: &str) -> Result<(), CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn group_attributes(&self, _: &str) -> Result<crate::crowd::Attributes, CrowdError> {
            Err(CrowdError::Setup("not scripted".into()))
        }
        fn authenticate(
            &self,
            username: &str,
            password: &str,
            _: Option<&str>,
        ) -> Result<User, CrowdError> {
            self.asked.borrow_mut().push(format!("auth {username}"));
            let user = self.find(username)?;
            let ok = self
                .users
                .iter()
                .any(|u| u.0 == user.name && u.1 == password);
            if ok {
                Ok(user)
            } else {
                Err(CrowdError::Refused {
                    status: 400,
                    reason: Reason::InvalidUserAuthentication,
                    message: String::new(),
                })
            }
        }
        fn user(&self, username: &str) -> Result<User, CrowdError> {
            self.asked.borrow_mut().push(format!("user {username}"));
            self.find(username)
        }
        fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
            self.asked
                .borrow_mut()
                .push(format!("member {username} {group}"));
            self.find(username)?;
            Ok(self.member_of.contains(&group))
        }
        fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
            self.asked.borrow_mut().push(format!("groups {username}"));
            self.find(username)?;
            Ok(self.member_of.iter().map(|s| s.to_string()).collect())
        }
    }

    /// The account phase, without looking at what it records for the cache.
    fn account(
        crowd: &Script,
        user: &str,
        known: Option<&KnownUser>,
        rules: &AccessRules,
    ) -> Result<Granted, Denial> {
        super::account(
            crowd,
            UserNames::Exact,
            user,
            known,
            rules,
            &mut Answers::default(),
        )
    }

    fn script() -> Script {
        Script {
            users: vec![("alice", "pw", true), ("bob", "pw", false)],
            member_of: vec!["linux-users"],
            ..Script::default()
        }
    }

    fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
        AccessRules {
            allow_groups: Some(allow.iter().map(|s| s.to_string()).collect()),
            deny_groups: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn authenticate_accepts_only_the_exact_active_name() {
        let s = script();
        assert!(authenticate(&s, UserNames::Exact, "alice", "pw", None).is_ok());
        assert_eq!(
            authenticate(&s, UserNames::Exact, "Alice", "pw", None),
            Err(Denial::NameMismatch {
                canonical: "alice".into(),
                case_only: true
            })
        );
        assert_eq!(
            authenticate(&s, UserNames::Exact, "bob", "pw", None),
            Err(Denial::Inactive)
        );
        assert!(matches!(
            authenticate(&s, UserNames::Exact, "alice", "nope", None),
            Err(Denial::Crowd(CrowdError::Refused {
                reason: Reason::InvalidUserAuthentication,
                ..
            }))
        ));
    }

    #[test]
    fn account_asks_crowd_when_authenticate_did_not_run() {
        let s = script();
        assert!(account(&s, "alice", None, &rules(&["linux-users"], &[])).is_ok());
        assert_eq!(
            *s.asked.borrow(),
            vec!["user alice", "member alice linux-users"]
        );
    }

    #[test]
    fn account_reuses_what_authenticate_learned() {
        let s = script();
        let known = KnownUser {
            pam_user: "alice".into(),
            config_path: "/x".into(),
            canonical: "alice".into(),
            active: true,
            offline: None,
            password_expired: false,
        };
        assert!(account(&s, "alice", Some(&known), &rules(&["linux-users"], &[])).is_ok());
        assert_eq!(*s.asked.borrow(), vec!["member alice linux-users"]);
    }

    #[test]
    fn account_denials() {
        let s = script();
        let r = rules(&["linux-users"], &[]);
        assert_eq!(account(&s, "bob", None, &r), Err(Denial::Inactive));
        assert_eq!(
            account(&s, "ALICE", None, &r),
            Err(Denial::NameMismatch {
                canonical: "alice".into(),
                case_only: true
            })
        );
        assert!(matches!(
            account(&s, "carol", None, &r),
            Err(Denial::Crowd(CrowdError::Refused {
                reason: Reason::UserNotFound,
                ..
            }))
        ));
        assert_eq!(
            account(&s, "alice", None, &rules(&["admins"], &[])),
            Err(Denial::Access(Access::NotInAllowGroups(vec![
                "admins".into()
            ])))
        );
        assert_eq!(
            account(
                &s,
                "alice",
                None,
                &rules(&["linux-users"], &["linux-users"])
            ),
            Err(Denial::Access(Access::InDenyGroup("linux-users".into())))
        );
        let down = Script {
            down: true,
            ..script()
        };
        assert!(matches!(
            account(&down, "alice", None, &r),
            Err(Denial::Crowd(CrowdError::Unavailable(_)))
        ));
    }

    #[test]
    fn many_named_groups_fetch_the_group_list_once() {
        let s = script();
        let r = rules(&["a", "b", "linux-users"], &["d"]);
        let mut answers = Answers::default();
        assert!(super::account(&s, UserNames::Exact, "alice", None, &r, &mut answers).is_ok());
        assert_eq!(*s.asked.borrow(), vec!["user alice", "groups alice"]);
        assert!(answers.active);
        assert_eq!(answers.all_groups, Some(vec!["linux-users".to_string()]));
    }

    #[test]
    fn the_account_phase_reports_what_crowd_answered() {
        let s = script();
        let mut answers = Answers::default();
        let r = rules(&["admins", "linux-users"], &["d"]);
        assert!(super::account(&s, UserNames::Exact, "alice", None, &r, &mut answers).is_ok());
        assert_eq!(
            answers,
            Answers {
                active: true,
                memberships: vec![
                    ("d".into(), false),
                    ("admins".into(), false),
                    ("linux-users".into(), true)
                ],
                all_groups: None,
            }
        );
        let mut answers = Answers::default();
        assert!(super::account(&s, UserNames::Exact, "bob", None, &r, &mut answers).is_err());
        assert_eq!(
            answers,
            Answers::default(),
            "an inactive user is not recorded"
        );
    }

    /// A scripted PAM handle: fixed items, and everything logged kept.
    struct FakePam {
        user: Vec<u8>,
        password: Vec<u8>,
        prompted: bool,
        logged: RefCell<Vec<(Level, String)>>,
    }

    impl FakePam {
        fn new(user: &[u8], password: &[u8]) -> FakePam {
            FakePam {
                user: user.to_vec(),
                password: password.to_vec(),
                prompted: false,
                logged: RefCell::new(Vec::new()),
            }
        }
    }

    impl PamContext for FakePam {
        fn user(&mut self) -> Result<Vec<u8>, Denial> {
            Ok(self.user.clone())
        }
        fn service(&self) -> String {
            "sshd".into()
        }
        fn rhost(&self) -> Option<String> {
            Some("192.0.2.1".into())
        }
        fn password(&mut self) -> Result<Zeroizing<Vec<u8>>, Denial> {
            self.prompted = true;
            Ok(Zeroizing::new(self.password.clone()))
        }
        fn old_password(&mut self) -> Result<Zeroizing<Vec<u8>>, Denial> {
            self.password()
        }
        fn tell(&mut self, _: bool, _: &str) {}
        fn log(&self, level: Level, line: &str) {
            self.logged.borrow_mut().push((level, line.to_owned()));
        }
        fn remember(&mut self, _: KnownUser) {}
        fn recall(&self) -> Option<KnownUser> {
            None
        }
        fn keep_client(&mut self, _: Option<KeptClient>) {}
        fn kept_client(&self) -> Option<KeptClient> {
            None
        }
    }

    /// A config file whose Crowd URL nobody listens on: these tests must decide first.
    fn config_file(test: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "pam_crowd_login_{test}_{}.toml",
            std::process::id()
        ));
        std::fs::write(
            &path,
            "url = \"https://127.0.0.1:9/crowd\"\napplication = \"a\"\npassword = \"app-secret\"\ntimeout = 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn run_logs_exactly_one_line_per_decision() {
        let file = config_file("one_line");
        let config = format!("config={}", file.display());
        let args = [config.as_str()];
        let case = |user: &'static [u8], pw: &'static [u8], args: &'static [&'static str]| {
            (user, pw, args)
        };
        let cases = [
            (case(b"alice", b"", &[]), PamCode::AuthErr, "empty password"),
            (
                case(b"", b"pw", &[]),
                PamCode::UserUnknown,
                "unusable user name: empty",
            ),
            (
                case(b"al\xffice", b"pw", &[]),
                PamCode::UserUnknown,
                "not valid UTF-8",
            ),
            (
                case(b"alice", b"pw", &["debgu"]),
                PamCode::ServiceErr,
                "unknown module argument",
            ),
        ];
        for ((user, pw, extra), code, says) in cases {
            let mut pam = FakePam::new(user, pw);
            let args = if extra.is_empty() { &args[..] } else { extra };
            assert_eq!(run(&mut pam, Phase::Auth, args), code, "{says}");
            let logged = pam.logged.borrow();
            assert_eq!(logged.len(), 1, "{logged:?}");
            assert!(logged[0].1.contains(says), "{logged:?}");
            assert!(
                logged[0].1.contains("service=\"sshd\" rhost=\"192.0.2.1\""),
                "{logged:?}"
            );
        }
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn run_reports_an_unreachable_crowd_as_unavailable_at_error_level() {
        let file = config_file("unreachable");
        let config = format!("config={}", file.display());
        let mut pam = FakePam::new(b"alice", b"secret-pw");
        assert_eq!(
            run(&mut pam, Phase::Auth, &[&config]),
            PamCode::AuthinfoUnavail
        );
        assert!(pam.prompted);
        let logged = pam.logged.borrow();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].0, Level::Err);
        assert!(!logged[0].1.contains("secret-pw") && !logged[0].1.contains("app-secret"));
        drop(logged);
        let mut pam = FakePam::new(b"alice", b"");
        assert_eq!(
            run(&mut pam, Phase::Account, &[&config]),
            PamCode::AuthinfoUnavail
        );
        assert!(!pam.prompted, "the account phase never asks for a password");
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn a_change_of_expired_passwords_only_is_not_ours_without_an_expiry() {
        let file = config_file("only_expired");
        let config = format!("config={}", file.display());
        let mut pam = FakePam::new(b"alice", b"pw");
        let step = crate::outcome::PasswordStep {
            update: false,
            only_expired: true,
        };
        // Crowd (unreachable here) is not asked, and no password is read.
        assert_eq!(
            run(&mut pam, Phase::Password(step), &[&config]),
            PamCode::Ignore
        );
        assert!(!pam.prompted);
        let logged = pam.logged.borrow();
        assert!(
            logged[0].1.starts_with("ignored user=\"alice\""),
            "{logged:?}"
        );
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn the_session_phase_is_silent_with_nothing_to_do() {
        let file = config_file("session_off");
        let config = format!("config={}", file.display());
        let mut pam = FakePam::new(b"alice", b"pw");
        assert_eq!(run(&mut pam, Phase::Session, &[&config]), PamCode::Ignore);
        assert!(pam.logged.borrow().is_empty(), "{:?}", pam.logged.borrow());
        // A broken config is still said, at every phase.
        let mut pam = FakePam::new(b"alice", b"pw");
        assert_eq!(
            run(
                &mut pam,
                Phase::Session,
                &["config=/nonexistent/pam_crowd.toml"]
            ),
            PamCode::ServiceErr
        );
        assert_eq!(pam.logged.borrow().len(), 1);
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn usernames_are_checked_before_crowd() {
        assert!(check_username(b"alice".to_vec()).is_ok());
        assert!(check_username("al ice&/%ü".as_bytes().to_vec()).is_ok());
        assert!(check_username(vec![]).is_err());
        assert!(check_username(vec![0xff, 0xfe]).is_err());
        assert!(check_username(b"a\nb".to_vec()).is_err());
        assert!(check_username(vec![b'a'; 256]).is_err());
    }

    #[test]
    fn passwords_are_checked_before_crowd() {
        assert_eq!(
            check_password(Zeroizing::new(vec![])),
            Err(Denial::EmptyPassword)
        );
        assert!(check_password(Zeroizing::new(vec![b'x'; 4097])).is_err());
        assert!(check_password(Zeroizing::new(vec![0xc3])).is_err());
        assert_eq!(
            check_password(Zeroizing::new(b" p&%\"\\".to_vec()))
                .unwrap()
                .as_str(),
            " p&%\"\\"
        );
    }
}
