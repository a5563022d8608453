//! The double's Crowd: users, nested groups, and the REST answers Crowd gives.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Value, json};

use crate::events::Dialect;

/// A Crowd user of the double.
#[derive(Debug, Clone)]
pub struct User {
    /// Canonical name; lookups match it without regard to case, as Crowd does.
    pub name: String,
    pub password: String,
    pub active: bool,
    /// Crowd user attributes: name → values (multi-valued, as Crowd keeps them).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The password has expired: Crowd says EXPIRED_CREDENTIAL once it matched.
    pub expired: bool,
    /// Locked after too many failed attempts: every password is refused.
    pub locked: bool,
    /// Crowd's stable key (directory id and external id): kept across renames.
    pub key: String,
}

/// A group: its direct user members, its direct child groups, its attributes.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Users and groups the double serves.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    pub users: Vec<User>,
    pub groups: BTreeMap<String, Group>,
    /// Open SSO sessions: token → (user, remote address).
    pub sessions: BTreeMap<String, (String, Option<String>)>,
    /// Whether the application may change users (attributes): Crowd's directory
    /// permissions. Without it, writes answer 403.
    pub writable: bool,
}

impl Fixture {
    /// Adds a user.
    pub fn user(mut self, name: &str, password: &str, active: bool) -> Self {
        let key = format!("32769:{:08x}-{name}", self.users.len() + 1);
        self.users.push(User {
            name: name.into(),
            password: password.into(),
            active,
            attributes: BTreeMap::new(),
            expired: false,
            locked: false,
            key,
        });
        self
    }

    /// Renames a user as Crowd does: same key, new name, memberships kept.
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        for u in self.users.iter_mut().filter(|u| u.name == from) {
            u.name = to.into();
        }
        for g in self.groups.values_mut() {
            for member in g.users.iter_mut().filter(|m| *m == from) {
                *member = to.into();
            }
        }
        self
    }

    /// Removes `user` from `group`'s direct members.
    pub fn leave(mut self, group: &str, user: &str) -> Self {
        if let Some(g) = self.groups.get_mut(group) {
            g.users.retain(|u| u != user);
        }
        self
    }

    /// Gives `group` (created if new) an attribute with these values.
    pub fn group_attribute(mut self, group: &str, name: &str, values: &[&str]) -> Self {
        self.groups
            .entry(group.into())
            .or_default()
            .attributes
            .insert(name.into(), values.iter().map(|v| v.to_string()).collect());
        self
    }

    /// Marks `user`'s password expired.
    /// Locks `user`'s account, as too many failed attempts do in Crowd.
    pub fn locked(mut self, user: &str) -> Self {
        if let Some(u) = self.users.iter_mut().find(|u| u.name == user) {
            u.locked = true;
        }
        self
    }

    pub fn expired(mut self, user: &str) -> Self {
        if let Some(u) = self.users.iter_mut().find(|u| u.name == user) {
            u.expired = true;
        }
        self
    }

    /// Gives `user` (added before) an attribute with these values.
    pub fn attribute(mut self, user: &str, name: &str, values: &[&str]) -> Self {
        if let Some(u) = self.users.iter_mut().find(|u| u.name == user) {
            u.attributes
                .insert(name.into(), values.iter().map(|v| v.to_string()).collect());
        }
        self
    }

    /// Lets the application change users (their attributes).
    pub fn writable(mut self) -> Self {
        self.writable = true;
        self
    }

    /// Adds `user` as a direct member of `group`, creating the group.
    pub fn member(mut self, group: &str, user: &str) -> Self {
        self.groups
            .entry(group.into())
            .or_default()
            .users
            .push(user.into());
        self
    }

    /// Makes `child` a nested group of `parent`, creating both.
    pub fn nest(mut self, parent: &str, child: &str) -> Self {
        self.groups.entry(child.into()).or_default();
        self.groups
            .entry(parent.into())
            .or_default()
            .groups
            .push(child.into());
        self
    }

    /// The demo's and the tests' common directory:
    /// alice (in linux-users through nested group "developers", and in sudo-admins),
    /// bob (active, in no group), carol (inactive, in linux-users), dave (contractor),
    /// erin (in linux-users only: may log in, may not sudo).
    pub fn demo() -> Self {
        Fixture::default()
            .user("alice", "alice-pw", true)
            .user("bob", "bob-pw", true)
            .user("carol", "carol-pw", false)
            .user("dave", "dave-pw", true)
            .user("erin", "erin-pw", true)
            .nest("linux-users", "developers")
            .member("developers", "alice")
            .member("sudo-admins", "alice")
            .member("linux-users", "carol")
            .member("linux-users", "dave")
            .member("contractors", "dave")
            .member("linux-users", "erin")
    }

    pub(crate) fn find(&self, name: &str) -> Option<&User> {
        let lower = name.to_lowercase();
        self.users.iter().find(|u| u.name.to_lowercase() == lower)
    }

    /// Users by canonical name, for answers that list many.
    fn by_name(&self) -> std::collections::HashMap<&str, &User> {
        self.users.iter().map(|u| (u.name.as_str(), u)).collect()
    }

    pub(crate) fn group_name(&self, name: &str) -> Option<&String> {
        // The exact name first: a directory of thousands of groups (the benchmark's)
        // should not cost the double a scan per request.
        if let Some((exact, _)) = self.groups.get_key_value(name) {
            return Some(exact);
        }
        let lower = name.to_lowercase();
        self.groups.keys().find(|g| g.to_lowercase() == lower)
    }

    /// Groups listing `user` (canonical) as a direct member.
    pub fn direct_groups(&self, user: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.users.iter().any(|u| u == user))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `group` and every group nested in it, at any depth; cycles are safe.
    fn closure(&self, group: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([group.to_owned()]);
        while let Some(g) = queue.pop_front() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(def) = self.groups.get(&g) {
                queue.extend(def.groups.iter().cloned());
            }
        }
        seen
    }

    /// Every user in `group` directly or through nested groups.
    pub fn nested_members(&self, group: &str) -> Vec<String> {
        let users: BTreeSet<String> = self
            .closure(group)
            .iter()
            .filter_map(|g| self.groups.get(g))
            .flat_map(|def| def.users.iter().cloned())
            .collect();
        users.into_iter().collect()
    }

    /// Every group nested in `group`, at any depth, without `group`.
    pub fn nested_child_groups(&self, group: &str) -> Vec<String> {
        let mut below = self.closure(group);
        below.remove(group);
        below.into_iter().collect()
    }

    /// Every group `user` (canonical) is in, directly or through nesting; cycles are safe.
    pub fn nested_groups(&self, user: &str) -> Vec<String> {
        let mut found = BTreeSet::new();
        let mut queue: VecDeque<&String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.users.iter().any(|u| u == user))
            .map(|(name, _)| name)
            .collect();
        // Each group's parents, once: the benchmark's directory has thousands of
        // groups, and a scan of all of them per group found cost it seconds.
        let mut parents: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for (parent, g) in &self.groups {
            for child in &g.groups {
                parents.entry(child.as_str()).or_default().push(parent);
            }
        }
        while let Some(group) = queue.pop_front() {
            if !found.insert(group.clone()) {
                continue;
            }
            queue.extend(parents.get(group.as_str()).into_iter().flatten().copied());
        }
        found.into_iter().collect()
    }
}

/// A request as the double understood it: method, path below the REST base, decoded
/// query pairs, and body. A SOAP request keeps its path, names its operation, and has
/// the names it is about (`username`, `groupname`, `token`) as its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Whether the path was below the double's REST base (context path included).
    pub below_base: bool,
    /// The SOAP operation, for a SOAP request.
    pub operation: Option<String>,
    pub query: Vec<(String, String)>,
    pub body: String,
    /// Made by the read-only keys application ([`crate::KEYS_APP_NAME`]).
    pub read_only: bool,
    /// The `JSESSIONID` cookie the request brought back, if any.
    pub session_cookie: Option<String>,
    /// Whether Crowd checked the application's password for this request (it brought
    /// no session in which that was done before).
    pub app_check: bool,
    /// Whether it asked for JSON (`Accept: application/json`); Crowd answers XML otherwise.
    pub wants_json: bool,
}

impl Request {
    /// What the request asked, in words common to REST and SOAP, so that a test can
    /// say what Crowd was asked whichever protocol asked it: `authenticate`, `user`,
    /// `is-member`, `user-groups`, `group-members`, `group`, `set-password`, `store-attribute`,
    /// `remove-attribute`, `create-session`, `validate-session`, `session-user`,
    /// `end-session`, `ping`, and SOAP's `app-auth`. Anything else: its path.
    pub fn op(&self) -> &str {
        if let Some(operation) = &self.operation {
            return match operation.as_str() {
                "authenticateApplication" => "app-auth",
                "authenticatePrincipal" => "authenticate",
                "findPrincipalByName" | "findPrincipalWithAttributesByName" => "user",
                "isGroupMember" => "is-member",
                "findGroupMemberships" => "user-groups",
                "findGroupByName" => "group-members",
                "findGroupWithAttributesByName" => "group",
                "updatePrincipalCredential" => "set-password",
                "updatePrincipalAttribute" => "store-attribute",
                "removeAttributeFromPrincipal" => "remove-attribute",
                "isValidPrincipalToken" => "validate-session",
                "findPrincipalByToken" => "session-user",
                "invalidatePrincipalToken" => "end-session",
                other => other,
            };
        }
        match (self.method.as_str(), self.path.as_str()) {
            ("POST", "/authentication") => "authenticate",
            ("GET", "/user") | ("GET", "/user/attribute") => "user",
            ("GET", "/group/user/nested") if self.param("username").is_some() => "is-member",
            ("GET", "/group/user/nested") => "group-members",
            ("GET", "/group") => "group",
            ("GET", "/user/group/nested") | ("GET", "/user/group/direct") => "user-groups",
            ("PUT", "/user/password") => "set-password",
            ("POST", "/user/attribute") => "store-attribute",
            ("DELETE", "/user/attribute") => "remove-attribute",
            ("POST", "/session") => "create-session",
            ("POST", p) if p.starts_with("/session/") => "validate-session",
            ("DELETE", p) if p.starts_with("/session/") => "end-session",
            ("GET", "/config/cookie") => "ping",
            ("GET", "/event") => "events-start",
            ("GET", p) if p.starts_with("/event/") => "events",
            ("GET", "/group/child-group/nested") => "child-groups",
            ("POST", "/search") => "search-users",
            (_, path) => path,
        }
    }

    /// The password the request carries (authentication, a session, a new
    /// password), whichever protocol carries it.
    pub fn password(&self) -> Option<String> {
        if self.operation.is_some() {
            return crate::soap::password_in(&self.body);
        }
        let body: Value = serde_json::from_str(&self.body).ok()?;
        body.get("value")
            .or_else(|| body.get("password"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The first value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Crowd's answer: status and JSON body, as `dialect`'s server gives it (singular
/// lists are renamed by the caller). Sessions change the fixture.
pub fn answer(fixture: &mut Fixture, req: &Request, dialect: Dialect) -> (u16, Value) {
    if let Some(token) = req.path.strip_prefix("/session/") {
        let token = percent_encoding::percent_decode_str(token).decode_utf8_lossy();
        return session(fixture, req, &token);
    }
    let username = req.param("username").unwrap_or_default();
    let result = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/authentication") => authenticate(fixture, req),
        ("GET", "/user") => get_user(fixture, req),
        ("GET", "/user/attribute") => named(fixture, req).map(|user| (200, attributes_json(user))),
        ("PUT", "/user/password") => {
            let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            set_password(fixture, username, body["value"].as_str())
                .map(|()| (204, Value::Null))
                .map_err(|refusal| refusal.json())
        }
        ("DELETE", "/user/attribute") => {
            let name = req.param("attributename").unwrap_or_default();
            set_attribute(fixture, username, name, None)
                .map(|()| (204, Value::Null))
                .map_err(|refusal| refusal.json())
        }
        ("POST", "/user/attribute") => store_attributes(fixture, req),
        ("GET", "/user/group/nested") | ("GET", "/user/group/direct") => user_groups(fixture, req),
        // An empty `username=` is no username to Crowd: it serves the member list
        // (Atlassian's CWD-2474), which a client asking "is '' a member?" reads as yes.
        ("GET", "/group/user/nested") if req.param("username").is_none_or(str::is_empty) => {
            member_list(fixture, req, dialect)
        }
        ("GET", "/group/child-group/nested") => child_groups(fixture, req),
        ("GET", "/group") => get_group(fixture, req),
        ("POST", "/session") => new_session(fixture, req),
        ("GET", "/group/user/nested") => Ok(is_member(fixture, req)),
        ("POST", "/search") if req.param("entity-type") == Some("user") => {
            Ok(search_users(fixture, req, dialect))
        }
        ("GET", "/config/cookie") => Ok((
            200,
            json!({ "domain": null, "secure": false, "name": "crowd.token_key" }),
        )),
        _ => Ok((404, Value::Null)),
    };
    result.unwrap_or_else(|refusal| refusal)
}

/// A refusal the handlers return early: status and Crowd's error body.
type Answer = Result<(u16, Value), (u16, Value)>;

/// The user `username=` names, or Crowd's 404 USER_NOT_FOUND.
fn named<'f>(fixture: &'f Fixture, req: &Request) -> Result<&'f User, (u16, Value)> {
    let username = req.param("username").unwrap_or_default();
    fixture.find(username).ok_or_else(|| {
        let (_, body) = error(
            "USER_NOT_FOUND",
            &format!("User <{username}> does not exist"),
        );
        (404, body)
    })
}

/// The group `groupname=` names (its canonical name), or Crowd's 404 GROUP_NOT_FOUND.
fn named_group(fixture: &Fixture, req: &Request) -> Result<String, (u16, Value)> {
    let groupname = req.param("groupname").unwrap_or_default();
    fixture
        .group_name(groupname)
        .cloned()
        .ok_or_else(|| group_not_found(groupname))
}

fn authenticate(fixture: &Fixture, req: &Request) -> Answer {
    let username = req.param("username").unwrap_or_default();
    let password = serde_json::from_str::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get("value").and_then(Value::as_str).map(str::to_owned));
    let user = check_password(fixture, username, password.as_deref()).map_err(|r| r.json())?;
    Ok((200, user_json(&user)))
}

fn get_user(fixture: &Fixture, req: &Request) -> Answer {
    let user = named(fixture, req)?;
    let mut json = user_json(user);
    if req.param("expand") == Some("attributes") {
        json["attributes"] = attributes_json(user);
    }
    Ok((200, json))
}

fn store_attributes(fixture: &mut Fixture, req: &Request) -> Answer {
    let username = req.param("username").unwrap_or_default();
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let Some(list) = body["attributes"].as_array() else {
        return Err(error("INVALID_ATTRIBUTE", "no attributes in the body"));
    };
    for attribute in list {
        let (Some(name), Some(values)) =
            (attribute["name"].as_str(), attribute["values"].as_array())
        else {
            return Err(error(
                "INVALID_ATTRIBUTE",
                "an attribute needs a name and values",
            ));
        };
        let values = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        set_attribute(fixture, username, name, Some(values)).map_err(|r| r.json())?;
    }
    Ok((204, Value::Null))
}

fn user_groups(fixture: &Fixture, req: &Request) -> Answer {
    let user = named(fixture, req)?;
    let groups = if req.path.ends_with("nested") {
        fixture.nested_groups(&user.name)
    } else {
        fixture.direct_groups(&user.name)
    };
    Ok((
        200,
        json!({ "expand": "group", "groups": page(req, groups) }),
    ))
}

/// A group's nested members; `expand=user,attributes` lists whole users, as Crowd's
/// own client asks.
fn member_list(fixture: &Fixture, req: &Request, dialect: Dialect) -> Answer {
    let group = match named_group(fixture, req) {
        Ok(group) => group,
        // Crowd 2.3's GroupsController.getNestedUsers: an unknown group has no
        // members, 200.
        Err(_) if dialect == Dialect::Crowd23 => {
            return Ok((200, json!({ "expand": "user", "users": [] })));
        }
        Err(refusal) => return Err(refusal),
    };
    let members = page(req, fixture.nested_members(&group));
    let expand = req.param("expand").unwrap_or_default();
    if !expand.split(',').any(|e| e == "user") {
        return Ok((200, json!({ "expand": "user", "users": members })));
    }
    // Members are canonical names: an index, not a scan per member (the sync
    // benchmark lists 10,000).
    let by_name = fixture.by_name();
    let users: Vec<Value> = members
        .iter()
        .filter_map(|m| by_name.get(m["name"].as_str().unwrap_or_default()).copied())
        .map(|user| {
            let mut json = user_json(user);
            if expand.split(',').any(|e| e == "attributes") {
                // Crowd's member-list resource builds its users without attributes:
                // the lists come back empty (REAL-CROWD.md).
                json["attributes"] = attribute_list(&BTreeMap::new());
            }
            json
        })
        .collect();
    Ok((200, json!({ "expand": "user", "users": users })))
}

fn child_groups(fixture: &Fixture, req: &Request) -> Answer {
    let group = named_group(fixture, req)?;
    let children: Vec<String> = fixture.nested_child_groups(&group).into_iter().collect();
    Ok((
        200,
        json!({ "expand": "group", "groups": page(req, children) }),
    ))
}

fn get_group(fixture: &Fixture, req: &Request) -> Answer {
    let group = named_group(fixture, req)?;
    let mut json = json!({ "name": group, "active": true, "type": "GROUP" });
    if req.param("expand") == Some("attributes") {
        json["attributes"] = attribute_list(&fixture.groups[&group].attributes);
    }
    Ok((200, json))
}

fn new_session(fixture: &mut Fixture, req: &Request) -> Answer {
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let name = body["username"].as_str().unwrap_or_default();
    let user = check_password(fixture, name, body["password"].as_str()).map_err(|r| r.json())?;
    let token = format!("tok/{}+{}", fixture.sessions.len() + 1, user.name);
    let bound = remote_address(&body["validation-factors"]);
    fixture
        .sessions
        .insert(token.clone(), (user.name.clone(), bound));
    Ok((201, session_json(&token, &user.name)))
}

/// Crowd only asks "is U a nested member of G": an unknown group or user is just
/// "no", 404 MEMBERSHIP_NOT_FOUND; a member is the name as sent.
fn is_member(fixture: &Fixture, req: &Request) -> (u16, Value) {
    let username = req.param("username").unwrap_or_default();
    let groupname = req.param("groupname").unwrap_or_default();
    let member = match (fixture.group_name(groupname), fixture.find(username)) {
        (Some(group), Some(user)) => fixture.nested_members(group).contains(&user.name),
        _ => false,
    };
    if member {
        return (
            200,
            json!({ "name": username, "link": { "rel": "self", "href": "..." } }),
        );
    }
    let (_, body) = error(
        "MEMBERSHIP_NOT_FOUND",
        &format!("<{username}> is not a member of <{groupname}>"),
    );
    (404, body)
}

fn search_users(fixture: &Fixture, req: &Request, dialect: Dialect) -> (u16, Value) {
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let mut names = Vec::new();
    for user in &fixture.users {
        match matches(&body, user) {
            Some(true) => names.push(user.name.clone()),
            Some(false) => {}
            None => return error("INVALID_SEARCH_RESTRICTION", "unsupported restriction"),
        }
    }
    let expand = req.param("expand").unwrap_or_default();
    let with = |what: &str| expand.split(',').any(|e| e == what);
    let by_name = fixture.by_name();
    let users: Vec<Value> = page(req, names)
        .into_iter()
        .map(
            |entry| match by_name.get(entry["name"].as_str().unwrap_or_default()) {
                Some(user) if with("user") => {
                    let mut json = user_json(user);
                    // Crowd 2.3's SearchResource honours only the `user` expansion:
                    // every list comes back empty.
                    json["attributes"] = match (with("attributes"), dialect) {
                        (true, Dialect::Crowd5 | Dialect::Singular) => attributes_json(user),
                        _ => attribute_list(&BTreeMap::new()),
                    };
                    json
                }
                _ => entry,
            },
        )
        .collect();
    (200, json!({ "expand": "user", "users": users }))
}

/// Whether `user` meets a search restriction, as Crowd's REST entities write them:
/// none, a property (`active`, `name`: names without regard to case) matched
/// exactly, or a boolean `and`/`or` of restrictions. `None`: not one the double knows.
fn matches(restriction: &Value, user: &User) -> Option<bool> {
    match restriction["restriction-type"].as_str()? {
        "null-search-restriction" => Some(true),
        "property-search-restriction" if restriction["match-mode"] == "EXACTLY_MATCHES" => {
            let value = restriction["value"].as_str()?;
            match restriction["property"]["name"].as_str()? {
                "active" => Some(user.active.to_string() == value),
                "name" => Some(user.name.eq_ignore_ascii_case(value)),
                _ => None,
            }
        }
        "boolean-search-restriction" => {
            let all: Option<Vec<bool>> = restriction["restrictions"]
                .as_array()?
                .iter()
                .map(|r| matches(r, user))
                .collect();
            match restriction["boolean-logic"]
                .as_str()?
                .to_ascii_lowercase()
                .as_str()
            {
                "and" => Some(all?.iter().all(|b| *b)),
                "or" => Some(all?.iter().any(|b| *b)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `POST /session/{token}` validates, `DELETE` terminates.
fn session(fixture: &mut Fixture, req: &Request, token: &str) -> (u16, Value) {
    let invalid = || {
        (
            404,
            json!({ "reason": "INVALID_SSO_TOKEN", "message": format!("Token <{token}> does not exist") }),
        )
    };
    match req.method.as_str() {
        "POST" => {
            let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            match fixture.sessions.get(token) {
                Some((user, bound)) if bound.is_none() || *bound == remote_address(&body) => {
                    (200, session_json(token, user))
                }
                // A known token from another address: 400, not 404.
                Some(_) => (
                    400,
                    json!({ "reason": "INVALID_SSO_TOKEN", "message": "Validation factors do not match" }),
                ),
                None => invalid(),
            }
        }
        // 204 whether Crowd knew the token or not.
        "DELETE" => {
            fixture.sessions.remove(token);
            (204, Value::Null)
        }
        _ => (404, Value::Null),
    }
}

fn remote_address(factors: &Value) -> Option<String> {
    factors["validationFactors"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == "remote_address")
        .and_then(|f| f["value"].as_str().map(str::to_owned))
}

fn session_json(token: &str, user: &str) -> Value {
    json!({
        "token": token,
        "user": { "name": user },
        "created-date": 1_700_000_000_000_i64,
        "expiry-date": 1_700_000_600_000_i64,
    })
}

/// The page of `items` that `start-index` and `max-results` ask for, as `{"name"}`s.
fn page(req: &Request, items: Vec<String>) -> Vec<Value> {
    let start = number(req.param("start-index"), 0);
    let max = number(req.param("max-results"), 1000);
    items
        .into_iter()
        .skip(start)
        .take(max)
        .map(|name| json!({ "name": name }))
        .collect()
}

/// Crowd's refusal: HTTP status, reason, message (REST's words; the SOAP side names
/// the matching exception).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, reason: &str, message: &str) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn json(&self) -> (u16, Value) {
        (
            self.status,
            json!({ "reason": self.reason, "message": self.message }),
        )
    }
}

fn user_not_found(name: &str) -> Refusal {
    Refusal::new(
        404,
        "USER_NOT_FOUND",
        &format!("User <{name}> does not exist"),
    )
}

/// Crowd's password check, as authentication and sessions make it (both protocols).
pub fn check_password(
    fixture: &Fixture,
    name: &str,
    password: Option<&str>,
) -> Result<User, Refusal> {
    let Some(user) = fixture.find(name).cloned() else {
        return Err(Refusal::new(
            400,
            "USER_NOT_FOUND",
            &format!("User <{name}> does not exist"),
        ));
    };
    // Crowd's internal directory refuses an inactive user before it looks at the
    // password, and a locked one (too many failed attempts) even with the right one.
    if !user.active {
        return Err(Refusal::new(
            400,
            "INACTIVE_ACCOUNT",
            &format!("Account with name <{}> is inactive", user.name),
        ));
    }
    if user.locked {
        return Err(Refusal::new(
            400,
            "INVALID_USER_AUTHENTICATION",
            "Maximum allowed invalid password attempts has been reached",
        ));
    }
    if password != Some(user.password.as_str()) {
        return Err(Refusal::new(
            400,
            "INVALID_USER_AUTHENTICATION",
            "Failed to authenticate principal, password was invalid",
        ));
    }
    // Only after the password matched, as Crowd's ExpiredCredentialException is thrown.
    if user.expired {
        return Err(Refusal::new(
            400,
            "EXPIRED_CREDENTIAL",
            "The password has expired and must be changed",
        ));
    }
    Ok(user)
}

/// The user `name`, to change: when the application may change users (`what`).
fn changeable<'f>(
    fixture: &'f mut Fixture,
    name: &str,
    what: &str,
) -> Result<&'f mut User, Refusal> {
    if !fixture.writable && fixture.find(name).is_some() {
        return Err(Refusal::new(
            403,
            "APPLICATION_PERMISSION_DENIED",
            &format!("Application does not have permission to update {what}"),
        ));
    }
    let lower = name.to_lowercase();
    fixture
        .users
        .iter_mut()
        .find(|u| u.name.to_lowercase() == lower)
        .ok_or_else(|| user_not_found(name))
}

/// Sets a user's password under the directory's policy, if the application may.
pub fn set_password(fixture: &mut Fixture, name: &str, new: Option<&str>) -> Result<(), Refusal> {
    let user = changeable(fixture, name, "passwords")?;
    let Some(new) = new else {
        return Err(Refusal::new(
            400,
            "INVALID_CREDENTIAL",
            "no password in the request",
        ));
    };
    // The directory's policy, as Crowd's internal directory words it.
    if new.chars().count() < 8 {
        return Err(Refusal::new(
            400,
            "INVALID_CREDENTIAL",
            "The new password does not meet the directory complexity requirements: at least 8 characters",
        ));
    }
    user.password = new.to_owned();
    user.expired = false;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) one of a user's attributes, if the application may.
pub fn set_attribute(
    fixture: &mut Fixture,
    name: &str,
    attribute: &str,
    values: Option<Vec<String>>,
) -> Result<(), Refusal> {
    let user = changeable(fixture, name, "user attributes")?;
    match values {
        Some(values) => user.attributes.insert(attribute.to_owned(), values),
        None => user.attributes.remove(attribute),
    };
    Ok(())
}

fn group_not_found(name: &str) -> (u16, Value) {
    (
        404,
        error("GROUP_NOT_FOUND", &format!("Group <{name}> does not exist")).1,
    )
}

pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "name": user.name,
        "active": user.active,
        "first-name": user.name,
        "last-name": "Test",
        "display-name": format!("{} Test", user.name),
        "email": format!("{}@example.com", user.name),
        "key": user.key,
        "password": { "link": { "rel": "edit", "href": "..." } },
    })
}

/// Crowd's `{"attributes": [{"name", "values"}], "link"}`, with the internal
/// attributes a real server keeps on every user of its internal directory.
fn attributes_json(user: &User) -> Value {
    let mut all = user.attributes.clone();
    for (name, value) in [
        ("requiresPasswordChange", "false"),
        ("invalidPasswordAttempts", "0"),
        ("lastAuthenticated", "1764806400000"),
        ("passwordLastChanged", "1733270400000"),
    ] {
        all.entry(name.into()).or_insert_with(|| vec![value.into()]);
    }
    attribute_list(&all)
}

fn attribute_list(attributes: &BTreeMap<String, Vec<String>>) -> Value {
    let list: Vec<Value> = attributes
        .iter()
        .map(|(name, values)| json!({ "name": name, "values": values }))
        .collect();
    json!({ "attributes": list, "link": { "rel": "self", "href": "..." } })
}

fn error(reason: &str, message: &str) -> (u16, Value) {
    (400, json!({ "reason": reason, "message": message }))
}

fn number(v: Option<&str>, default: usize) -> usize {
    v.and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_followed_and_cycles_end() {
        let f = Fixture::demo().nest("developers", "linux-users");
        assert_eq!(
            f.nested_groups("alice"),
            vec!["developers", "linux-users", "sudo-admins"]
        );
        assert!(f.nested_groups("bob").is_empty());
    }
}
