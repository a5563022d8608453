//! The one place a login is decided: ask Crowd; if Crowd cannot answer, the offline
//! cache; then record what Crowd said. The module's phases, `pam-crowd auth|account`
//! and `pam-crowd authorized-keys` all call it, so they give one decision by
//! construction: an expired password, an offline login and a `positive_ttl` answer
//! alike.
//!
//! The clock is passed in, and the Crowd client is made on first use ([`Connect`],
//! in `resolver/connection.rs`): a decision the cache makes connects nowhere.

use crate::cache::{self, Cache, CacheError};
use crate::config::Config;
use crate::crowd::{CrowdError, LoginDirectory, Reason, UserDirectory};
use crate::names::CrowdAccount;
use crate::offline::{self, Answers};
use crate::outcome::{AccountState, Denial, Granted, Offline, OfflineRefusal, Verdict};
use crate::policy::{Access, AccessRules, same_group};
use crate::ssh_keys::{self, UserKeys};
use crate::ssh_principals;

mod connection;
pub use connection::{Connect, LazyClient};

/// A user name Crowd may be asked about: not the host's own account, and one
/// `user_names` can give. Made only by [`crowd_name`], so the resolver's every entry
/// point takes a name that passed, and no call checks it twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrowdName(String);

impl CrowdName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Any name, unchecked: for tests of what happens after the check.
    #[cfg(test)]
    pub(crate) fn unchecked(name: &str) -> CrowdName {
        CrowdName(name.to_owned())
    }
}

/// Every refusal the name alone decides, before Crowd is asked (or a password
/// prompted for): the host's own accounts (see [`crate::host`]: root, system uids,
/// and local accounts `local_users` does not hand to Crowd), and names the host's
/// name rule or `user_names` never gives.
pub fn crowd_name(config: &Config, user: &str) -> Result<CrowdName, Denial> {
    if let Some(why) = crate::host::system_account(user, config.min_uid) {
        return Err(Denial::Account(AccountState::HostAccount(why)));
    }
    if let Some(why) = crate::host::local_account(user, &config.local_users) {
        return Err(Denial::Account(AccountState::HostAccount(why)));
    }
    config.user_names.check_pam_name(user)?;
    Ok(CrowdName(user.to_owned()))
}

/// What authenticate learned, for the rest of the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Crowd accepted the password of this account.
    Crowd {
        /// The account, as Crowd names it.
        account: CrowdAccount,
        /// The password matched but has expired: the account phase asks for a new one.
        password_expired: bool,
    },
    /// Crowd could not answer (this is why) and the offline cache accepted the
    /// password: the account phase decides from the cache too, rather than wait for
    /// an unreachable Crowd a second time.
    Offline(CrowdError),
}

impl Known {
    /// Crowd accepted the password, but it has expired.
    pub fn password_expired(&self) -> bool {
        matches!(
            self,
            Known::Crowd {
                password_expired: true,
                ..
            }
        )
    }
}

/// One decision's resolver: the configuration, the cache (if on), the time, and its
/// connection to Crowd, which it owns: a caller hands the connection in once and
/// takes it back ([`Resolver::into_connection`]) to keep or close.
pub struct Resolver<'a, C: Connect> {
    config: &'a Config,
    crowd: C,
    cache: Option<Cache>,
    now: u64,
    problems: Vec<CacheError>,
    offline: Option<CrowdError>,
}

/// One decision's three parts, for [`Resolver::decide`]: what Crowd is asked (the
/// answers it gave go to [`Answers`] for the cache), what the cache says when Crowd
/// cannot answer, and how Crowd's answer is recorded.
struct Step<Ask, Fallback, Record> {
    ask: Ask,
    offline: Fallback,
    record: Record,
}

impl<'a, C: Connect> Resolver<'a, C> {
    /// A resolver over `crowd` and `cache` (as `Cache::open` or `Cache::open_keys`
    /// gave it: a broken cache is a problem to log, and no cache), at `now` (seconds
    /// since the epoch, as the cache counts).
    pub fn new(
        config: &'a Config,
        crowd: C,
        cache: Result<Option<Cache>, CacheError>,
        now: u64,
    ) -> Resolver<'a, C> {
        let mut problems = Vec::new();
        let cache = cache.unwrap_or_else(|problem| {
            problems.push(problem);
            None
        });
        Resolver {
            config,
            crowd,
            cache,
            now,
            problems,
            offline: None,
        }
    }

    /// The resolver of a login (the module, `pam-crowd auth|account|passwd`): the
    /// cache `[cache]` names, if on and this process may use it; the time now.
    pub fn for_login(config: &'a Config, crowd: C) -> Resolver<'a, C> {
        Resolver::new(config, crowd, Cache::open(config), cache::now())
    }

    /// The resolver of `authorized-keys`: the keys cache (`[cache] keys_dir`).
    pub fn for_keys(config: &'a Config, crowd: C) -> Resolver<'a, C> {
        Resolver::new(config, crowd, Cache::open_keys(config), cache::now())
    }

    /// The cache reads and writes that failed so far, for the log: the decision stands,
    /// but the next offline login may not find what it needs.
    pub fn take_problems(&mut self) -> Vec<CacheError> {
        std::mem::take(&mut self.problems)
    }

    /// Why Crowd could not answer, when the last decision was the cache's.
    pub fn went_offline(&self) -> Option<&CrowdError> {
        self.offline.as_ref()
    }

    /// The connection, given back: to keep for later in the transaction, or to close.
    pub fn into_connection(self) -> C {
        self.crowd
    }

    /// Crowd's auth_user for `user`, accepting only the account [`crate::names`]
    /// admits. An expired password that matched is accepted, with the account phase
    /// to ask for a new one. When Crowd cannot be reached, the offline cache decides
    /// (if on); otherwise Crowd's answer is recorded (an expired password as the
    /// refusal it is: it must not work offline).
    pub fn authenticate(
        &mut self,
        user: &CrowdName,
        password: &str,
        rhost: Option<&str>,
    ) -> Result<(Granted, Known), Denial> {
        let (user, names, settings, now) = (
            user.as_str(),
            self.config.user_names,
            &self.config.cache,
            self.now,
        );
        self.decide(Step {
            ask: |crowd: &C::Crowd, _: &mut Answers| {
                let answer = crowd
                    .authenticate(user, password, rhost)
                    .map_err(Denial::from)
                    .and_then(|found| names.admit(user, &found));
                // Crowd says "expired" only once the password matched.
                let expired =
                    matches!(&answer, Err(d) if d.reason() == Some(&Reason::ExpiredCredential));
                let account = match expired {
                    true => crowd
                        .user(user)
                        .map_err(Denial::from)
                        .and_then(|found| names.admit(user, &found))?,
                    false => answer?,
                };
                let granted = Granted::new(match expired {
                    true => "password accepted by Crowd, but expired: a new one is required",
                    false => "password accepted by Crowd",
                });
                let known = Known::Crowd {
                    account,
                    password_expired: expired,
                };
                Ok((granted, known))
            },
            offline: |cache: &Cache, unreachable: CrowdError| {
                let granted = offline::authenticate(
                    cache,
                    settings,
                    user,
                    password,
                    unreachable.clone(),
                    now,
                )?;
                Ok((granted, Known::Offline(unreachable)))
            },
            record: |cache: &Cache, _: &Answers, result: &Result<(Granted, Known), Denial>| {
                let expired = Err(Denial::refused(Reason::ExpiredCredential));
                let recorded = match result {
                    Ok((_, known)) if known.password_expired() => &expired,
                    _ => result,
                };
                offline::after_authenticate(cache, settings, user, password, recorded, now)
            },
        })
    }

    /// The account phase under `rules`: the user exists and is active under the PAM
    /// name, and the rules admit them. `known` is what authenticate learned in this
    /// transaction; without it (publickey, sudo NOPASSWD) Crowd is asked, unless the
    /// cache's recent answers (`positive_ttl`) already admit the user.
    pub fn account(
        &mut self,
        user: &CrowdName,
        known: Option<&Known>,
        rules: &AccessRules,
    ) -> Result<Verdict, Denial> {
        let user = user.as_str();
        let expired = known.is_some_and(Known::password_expired);
        match (known, &self.cache) {
            // Authenticate found Crowd unreachable moments ago and went offline: so
            // does the account phase, rather than wait for Crowd again.
            (Some(Known::Offline(unreachable)), cache) => {
                let cache = cache.as_ref().ok_or(Denial::from(unreachable.clone()))?;
                self.offline = Some(unreachable.clone());
                let (granted, _) = offline::account(
                    cache,
                    &self.config.cache,
                    user,
                    rules,
                    unreachable.clone(),
                    self.now,
                )?;
                return Ok(Verdict::Granted(granted));
            }
            // Crowd's recent answers, unless a new password is due.
            (None | Some(Known::Crowd { .. }), Some(cache)) if !expired => {
                let recent =
                    offline::account_from_recent(cache, &self.config.cache, user, rules, self.now);
                match recent {
                    Ok(Some(granted)) => return Ok(Verdict::Granted(granted)),
                    Ok(None) => {}
                    Err(problem) => self.problems.push(problem),
                }
            }
            _ => {}
        }
        let (config, now) = (self.config, self.now);
        let granted = self.decide(Step {
            ask: |crowd: &C::Crowd, answers: &mut Answers| {
                let asked = ask_account(config, crowd, user, known, rules, answers);
                gone_from_crowd(config, user, asked)
            },
            offline: |cache: &Cache, unreachable: CrowdError| {
                offline::account(cache, &config.cache, user, rules, unreachable, now)
                    .map(|(granted, _)| granted)
            },
            record: |cache: &Cache, answers: &Answers, result: &Result<Granted, Denial>| {
                offline::after_account(cache, user, &config.named_groups(), answers, result, now)
            },
        })?;
        Ok(match expired {
            // Allowed in, once the expired password is replaced.
            true => Verdict::NewPasswordRequired,
            false => Verdict::Granted(granted),
        })
    }

    /// The keys sshd may accept for `user` (`authorized-keys`): only for a user the
    /// account phase of service sshd admits, from Crowd's `attribute`; from the keys
    /// cache when Crowd cannot be reached.
    pub fn keys(&mut self, user: &CrowdName, attribute: &str) -> Result<UserKeys, Denial> {
        let user = user.as_str();
        let (config, now) = (self.config, self.now);
        let rules = config.rules_for(ssh_keys::KEYS_SERVICE);
        self.decide(Step {
            ask: |crowd: &C::Crowd, answers: &mut Answers| {
                let asked = (|| {
                    let (found, attributes) = crowd.user_attributes(user)?;
                    let known = Known::Crowd {
                        account: config.user_names.admit(user, &found)?,
                        password_expired: false,
                    };
                    ask_account(config, crowd, user, Some(&known), &rules, answers)?;
                    Ok(UserKeys::of(
                        attributes.get(attribute).cloned().unwrap_or_default(),
                    ))
                })();
                gone_from_crowd(config, user, asked)
            },
            offline: |cache: &Cache, unreachable: CrowdError| {
                let (_, entry) =
                    offline::account(cache, &config.cache, user, &rules, unreachable.clone(), now)?;
                match entry.ssh_keys {
                    Some(values) => Ok(UserKeys::of(values)),
                    None => Err(Denial::Offline(Offline {
                        crowd: unreachable,
                        cache: Some(OfflineRefusal::NotCached(
                            "no keys cached for this user".into(),
                        )),
                    })),
                }
            },
            record: |cache: &Cache, answers: &Answers, result: &Result<UserKeys, Denial>| {
                offline::after_account(cache, user, &config.named_groups(), answers, result, now)
                    .and_then(|()| ssh_keys::record(cache, user, result))
            },
        })
    }

    /// The lines sshd's `AuthorizedPrincipalsCommand` reads for `user`: their own name
    /// and each `[ssh_principals]` principal whose Crowd groups hold them, only for a
    /// user the account phase of service sshd admits; from the keys cache's answers
    /// when Crowd cannot be reached.
    pub fn principals(&mut self, user: &CrowdName) -> Result<Vec<String>, Denial> {
        let user = user.as_str();
        let (config, now) = (self.config, self.now);
        let rules = config.rules_for(ssh_keys::KEYS_SERVICE);
        let table = &config.ssh_principals;
        self.decide(Step {
            ask: |crowd: &C::Crowd, answers: &mut Answers| {
                let asked = (|| {
                    ask_account(config, crowd, user, None, &rules, answers)?;
                    let groups = match answers.all_groups.take() {
                        Some(groups) => groups,
                        None => crowd.nested_groups(user)?,
                    };
                    let granted =
                        ssh_principals::granted(table, |g| ssh_principals::in_groups(&groups, g));
                    let lines = ssh_principals::lines(user, &granted);
                    // Kept for the cache: the principals' groups are answered offline.
                    answers.all_groups = Some(groups);
                    Ok(lines)
                })();
                gone_from_crowd(config, user, asked)
            },
            offline: |cache: &Cache, unreachable: CrowdError| {
                let (_, entry) =
                    offline::account(cache, &config.cache, user, &rules, unreachable, now)?;
                let granted = offline::principals(&entry, &config.cache, table, now);
                Ok(ssh_principals::lines(user, &granted))
            },
            record: |cache: &Cache, answers: &Answers, result: &Result<Vec<String>, Denial>| {
                offline::after_account(cache, user, &config.named_groups(), answers, result, now)
            },
        })
    }

    /// The account whose Crowd password may be changed, for the module's chauthtok and
    /// `pam-crowd passwd` alike: admitted as a login is (Crowd knows it under this
    /// name, active) and by `rules` (the phase's allow and deny groups). Crowd only:
    /// a password is never changed on the cache's word.
    pub fn password_account(
        &mut self,
        user: &CrowdName,
        rules: &AccessRules,
    ) -> Result<CrowdAccount, Denial> {
        let (user, config) = (user.as_str(), self.config);
        let crowd = self.crowd.crowd()?;
        let account = config.user_names.admit(user, &crowd.user(user)?)?;
        let known = Known::Crowd {
            account: account.clone(),
            password_expired: false,
        };
        ask_account(
            config,
            crowd,
            user,
            Some(&known),
            rules,
            &mut Answers::default(),
        )?;
        Ok(account)
    }

    /// Crowd checks `user`'s current password before a change: an expired one that
    /// matches is the reason for the change, not a refusal.
    pub fn current_password(
        &mut self,
        user: &CrowdName,
        password: &str,
        rhost: Option<&str>,
    ) -> Result<(), Denial> {
        match self
            .crowd
            .crowd()?
            .authenticate(user.as_str(), password, rhost)
        {
            Ok(_) => Ok(()),
            Err(e) if e.reason() == Some(&Reason::ExpiredCredential) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets `user`'s new password in Crowd, once [`Resolver::password_account`]
    /// admitted them (`_admitted`), then the offline cache's verifier follows (a
    /// problem recording it is kept for the log). `Ok(Err(..))`: Crowd refused or
    /// could not answer.
    pub fn set_password(
        &mut self,
        user: &CrowdName,
        _admitted: &CrowdAccount,
        new: &str,
    ) -> Result<Result<(), CrowdError>, Denial> {
        if let Err(e) = self.crowd.crowd()?.set_password(user.as_str(), new) {
            return Ok(Err(e));
        }
        if let Some(cache) = &self.cache {
            let recorded = offline::after_password_change(
                cache,
                &self.config.cache,
                user.as_str(),
                new,
                self.now,
            );
            self.note(recorded);
        }
        Ok(Ok(()))
    }

    /// Ask Crowd, else the cache, then record: every decision's one shape. Crowd's
    /// answer stands unless it could not be reached and offline use is on; then the
    /// cache decides (with no cache, Crowd's failure stands). An answer is recorded
    /// for later offline decisions.
    fn decide<T>(
        &mut self,
        step: Step<
            impl FnOnce(&C::Crowd, &mut Answers) -> Result<T, Denial>,
            impl FnOnce(&Cache, CrowdError) -> Result<T, Denial>,
            impl FnOnce(&Cache, &Answers, &Result<T, Denial>) -> Result<(), CacheError>,
        >,
    ) -> Result<T, Denial> {
        let mut answers = Answers::default();
        let result = self
            .crowd
            .crowd()
            .and_then(|crowd| (step.ask)(crowd, &mut answers));
        match (self.offline_fallback(&result), &self.cache) {
            (Some(unreachable), Some(cache)) => {
                self.offline = Some(unreachable.clone());
                (step.offline)(cache, unreachable)
            }
            (Some(_), None) => result,
            (None, Some(cache)) => {
                let recorded = (step.record)(cache, &answers, &result);
                self.note(recorded);
                result
            }
            (None, None) => result,
        }
    }

    /// Why Crowd could not answer, when that lets the offline cache decide: offline
    /// use is on and Crowd was unreachable (not when it rejected the application).
    fn offline_fallback<T>(&self, result: &Result<T, Denial>) -> Option<CrowdError> {
        let unanswered = result.as_ref().err()?.unanswered()?;
        (self.config.cache.offline() && offline::crowd_unreachable(unanswered))
            .then(|| unanswered.clone())
    }

    fn note(&mut self, recorded: Result<(), CacheError>) {
        if let Err(problem) = recorded {
            self.problems.push(problem);
        }
    }
}

/// Crowd's side of the account phase: the user (unless authenticate just vouched for
/// them), then the rules' membership questions, whose answers go to `answers` for
/// the cache.
fn ask_account(
    config: &Config,
    crowd: &impl LoginDirectory,
    user: &str,
    known: Option<&Known>,
    rules: &AccessRules,
    answers: &mut Answers,
) -> Result<Granted, Denial> {
    if !matches!(known, Some(Known::Crowd { .. })) {
        let found = crowd.user(user)?;
        config.user_names.admit(user, &found)?;
    }
    answers.active = true;
    // One question whatever the rules: a rule naming one group asks about it; any
    // other asks for the user's nested groups (one request below 1000 groups).
    let access = match rules.named_groups().count() > 1 {
        true => {
            let groups = crowd.nested_groups(user)?;
            let access =
                rules.check(|g| Ok::<_, CrowdError>(groups.iter().any(|m| same_group(m, g))));
            answers.all_groups = Some(groups);
            access
        }
        false => rules.check(|g| {
            let member = crowd.is_nested_member(user, g)?;
            answers.memberships.push((g.to_owned(), member));
            Ok(member)
        }),
    }?;
    match access {
        Access::Granted => Ok(Granted::new(match &rules.allow_groups {
            None => "active in Crowd, no allow_groups rule",
            Some(_) => "active in Crowd and in allow_groups",
        })),
        denied => Err(Denial::Account(AccountState::Access(denied))),
    }
}

/// A user `pam-crowd sync` wrote whom Crowd no longer knows under this name is
/// refused ([`AccountState::GoneFromCrowd`]) rather than "unknown": stacks skip an
/// unknown user, and the synced entry would let them in.
fn gone_from_crowd<T>(config: &Config, user: &str, result: Result<T, Denial>) -> Result<T, Denial> {
    let why = match &result {
        Err(d) if d.reason() == Some(&Reason::UserNotFound) => "unknown user".to_owned(),
        Err(Denial::Account(AccountState::NameMismatch { canonical, .. })) => {
            format!("Crowd has the name only as {canonical:?}")
        }
        _ => return result,
    };
    match crate::host::synced_user(&config.nss.dir, user) {
        true => Err(Denial::Account(AccountState::GoneFromCrowd(why))),
        false => result,
    }
}

#[cfg(test)]
mod tests;
