//! Test doubles for the unit tests: a scripted Crowd ([`Script`]) and a scripted PAM
//! handle ([`ScriptedPam`]) that fails the test on any call it was not told to expect,
//! in the order expected.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use zeroize::Zeroizing;

use crate::crowd::{Attributes, CrowdError, LoginDirectory, Reason, User, UserDirectory};
use crate::pam_context::{Level, PamContext, PamError, data_key};

/// A scripted directory: users, memberships, and a record of what was asked.
#[derive(Default)]
pub struct Script {
    /// (name, password, active)
    pub users: Vec<(&'static str, &'static str, bool)>,
    /// The groups every user is a member of.
    pub member_of: Vec<&'static str>,
    /// Every user's password has expired (Crowd: EXPIRED_CREDENTIAL once it matched).
    pub expired: bool,
    /// Crowd cannot be reached.
    pub down: bool,
    /// Crowd rejects the application (401 at every URL): an answer, not an outage.
    pub app_rejected: bool,
    /// What was asked, in order.
    pub asked: RefCell<Vec<String>>,
}

impl Script {
    /// alice (active, password "pw") and bob (inactive), both in linux-users.
    pub fn alice_and_bob() -> Script {
        Script {
            users: vec![("alice", "pw", true), ("bob", "pw", false)],
            member_of: vec!["linux-users"],
            ..Script::default()
        }
    }

    fn find(&self, name: &str) -> Result<User, CrowdError> {
        if self.down {
            return Err(CrowdError::Unavailable(vec![]));
        }
        if self.app_rejected {
            return Err(CrowdError::Unavailable(vec![crate::crowd::Failure {
                url: "https://crowd.example".into(),
                kind: crate::crowd::FailureKind::ApplicationRejected,
                detail: "401".into(),
            }]));
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
            .ok_or(refused(404, Reason::UserNotFound))
    }

    fn ask(&self, what: String) {
        self.asked.borrow_mut().push(what);
    }
}

fn refused(status: u16, reason: Reason) -> CrowdError {
    CrowdError::Refused {
        status,
        reason,
        message: String::new(),
    }
}

impl UserDirectory for Script {
    fn user(&self, username: &str) -> Result<User, CrowdError> {
        self.ask(format!("user {username}"));
        self.find(username)
    }
    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError> {
        self.ask(format!("attributes {username}"));
        let mut attributes = Attributes::new();
        attributes.insert("sshPublicKey".into(), vec!["not a key".into()]);
        Ok((self.find(username)?, attributes))
    }
}

impl LoginDirectory for Script {
    fn authenticate(
        &self,
        username: &str,
        password: &str,
        _: Option<&str>,
    ) -> Result<User, CrowdError> {
        self.ask(format!("auth {username}"));
        let user = self.find(username)?;
        let matched = self
            .users
            .iter()
            .any(|u| u.0 == user.name && u.1 == password);
        match (matched, self.expired) {
            (true, false) => Ok(user),
            (true, true) => Err(refused(400, Reason::ExpiredCredential)),
            (false, _) => Err(refused(400, Reason::InvalidUserAuthentication)),
        }
    }
    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.ask(format!("groups {username}"));
        self.find(username)?;
        Ok(self.member_of.iter().map(|s| s.to_string()).collect())
    }
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
        self.ask(format!("member {username} {group}"));
        self.find(username)?;
        Ok(self.member_of.contains(&group))
    }
    fn set_password(&self, username: &str, _: &str) -> Result<(), CrowdError> {
        self.ask(format!("set-password {username}"));
        self.find(username).map(drop)
    }
}

/// One call the scripted PAM handle expects next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `user()`, answered with these bytes.
    User(&'static [u8]),
    /// `service()`.
    Service,
    /// `rhost()`.
    Rhost,
    /// `password()`, answered with these bytes.
    Password(&'static [u8]),
    /// `log()` at this level of a line starting so.
    Log(Level, &'static str),
    /// `data::<T>()` for the type of this name (its last path segment).
    Data(&'static str),
    /// `set_data::<T>()` for the type of this name.
    SetData(&'static str),
}

/// A PAM handle that answers each call from its script, and fails the test on any
/// call out of order or not in it. Transaction data is kept as libpam keeps it.
pub struct ScriptedPam {
    script: RefCell<VecDeque<Expect>>,
    data: RefCell<HashMap<String, Box<dyn Any>>>,
    /// Every line logged, for assertions on the whole line.
    pub logged: RefCell<Vec<String>>,
}

impl ScriptedPam {
    /// A handle expecting exactly `script`, in order.
    pub fn new(script: Vec<Expect>) -> ScriptedPam {
        ScriptedPam {
            script: RefCell::new(script.into()),
            data: RefCell::new(HashMap::new()),
            logged: RefCell::new(Vec::new()),
        }
    }

    /// Expects `script` next (the next call of the same transaction).
    pub fn then(&self, script: Vec<Expect>) {
        self.script.borrow_mut().extend(script);
    }

    /// Fails unless every expected call was made.
    pub fn done(&self) {
        let left = self.script.borrow();
        assert!(left.is_empty(), "expected PAM calls not made: {left:?}");
    }

    fn next(&self, call: &str) -> Expect {
        let next = self.script.borrow_mut().pop_front();
        next.unwrap_or_else(|| panic!("unexpected PAM call {call}: the script is over"))
    }
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::")
        .next()
        .unwrap_or(full)
        .trim_end_matches('>')
}

impl PamContext for ScriptedPam {
    fn user(&mut self) -> Result<Vec<u8>, PamError> {
        match self.next("user") {
            Expect::User(user) => Ok(user.to_vec()),
            other => panic!("PAM call user, expected {other:?}"),
        }
    }
    fn service(&self) -> String {
        match self.next("service") {
            Expect::Service => "sshd".into(),
            other => panic!("PAM call service, expected {other:?}"),
        }
    }
    fn rhost(&self) -> Option<String> {
        match self.next("rhost") {
            Expect::Rhost => Some("192.0.2.1".into()),
            other => panic!("PAM call rhost, expected {other:?}"),
        }
    }
    fn password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError> {
        match self.next("password") {
            Expect::Password(pw) => Ok(Zeroizing::new(pw.to_vec())),
            other => panic!("PAM call password, expected {other:?}"),
        }
    }
    fn old_password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError> {
        panic!(
            "unexpected PAM call old_password, expected {:?}",
            self.next("old_password")
        )
    }
    fn tell(&mut self, _: bool, text: &str) {
        panic!(
            "unexpected PAM call tell({text:?}), expected {:?}",
            self.next("tell")
        )
    }
    fn log(&self, level: Level, line: &str) {
        self.logged.borrow_mut().push(line.to_owned());
        match self.next("log") {
            Expect::Log(l, start) if l == level && line.starts_with(start) => {}
            other => panic!("PAM call log({level:?}, {line:?}), expected {other:?}"),
        }
    }
    fn set_data<T: Clone + 'static>(&mut self, value: Option<T>) {
        match self.next("set_data") {
            Expect::SetData(name) if name == short_name::<T>() => {}
            other => panic!(
                "PAM call set_data::<{}>, expected {other:?}",
                short_name::<T>()
            ),
        }
        self.data
            .borrow_mut()
            .insert(data_key::<T>(), Box::new(value));
    }
    fn data<T: Clone + 'static>(&self) -> Option<T> {
        match self.next("data") {
            Expect::Data(name) if name == short_name::<T>() => {}
            other => panic!("PAM call data::<{}>, expected {other:?}", short_name::<T>()),
        }
        self.data
            .borrow()
            .get(&data_key::<T>())
            .and_then(|v| v.downcast_ref::<Option<T>>())
            .cloned()
            .flatten()
    }
}
