//! The double's event API, as Crowd's REST plugin serves it (`EventsController`,
//! `EventEntityList`, REST API 1.2+; see ../shared/crowd-rest-api.md): `GET /event`
//! gives the current token, `GET /event/{token}` the events since it. Tests change
//! the directory through [`Change`], each change recording the event Crowd's store
//! would, in one of its two stores ([`EventStore`]; REAL-CROWD.md names the classes):
//! the listener store keeps only `synch.*` attribute changes and loses its tokens on
//! a restart; Data Center's timestamp store sends a changed user without attributes,
//! replays the last five minutes on every call, and keeps its tokens across restarts.
//!
//! Events come as XML, or as JSON either bare (told apart by their keys) or wrapped by
//! type, as servers running different JSON libraries send them.

use serde_json::{Value, json};

use crate::directory::Fixture;

/// A change a test makes to the directory while the double runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new user (in no group).
    CreateUser { user: String, active: bool },
    /// A user removed, with its memberships.
    DeleteUser { user: String },
    /// A user (de)activated.
    Activate { user: String, active: bool },
    /// A user attribute set to these values.
    SetAttribute {
        user: String,
        name: String,
        values: Vec<String>,
    },
    /// A user attribute removed.
    RemoveAttribute { user: String, name: String },
    /// A user made a direct member of a group (created if new).
    Join { user: String, group: String },
    /// A user's direct membership ended.
    Leave { user: String, group: String },
    /// A group nested into another (both created if new).
    Nest { parent: String, child: String },
    /// A nesting ended.
    Unnest { parent: String, child: String },
    /// A group attribute set.
    SetGroupAttribute {
        group: String,
        name: String,
        values: Vec<String>,
    },
    /// A group removed, with its memberships.
    DeleteGroup { group: String },
    /// A user's direct groups set to exactly these (created if new): Crowd's
    /// `EventTransformer` sends one membership `UPDATED` event listing them all, as
    /// when a user left one directory but is still present in another.
    Regroup { user: String, groups: Vec<String> },
}

/// Which of Crowd's event stores the double runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventStore {
    /// Crowd's in-memory store, fed by `StoringEventListener`: attribute changes
    /// are events only for attributes named `synch.*`; tokens are `<instance>:<n>`,
    /// unknown after a restart.
    #[default]
    Listener,
    /// Data Center's `TimestampBasedEventStore`: events rebuilt from entities'
    /// updated dates (a changed user is a user `UPDATED` without attributes), the
    /// last five minutes (`TIMESTAMP_SLOP_TOLERANCE`) given again on every call,
    /// tokens that survive a restart.
    Timestamp,
}

/// Which server's JSON the double speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Crowd 3 to 5 as captured: plural lists (`"users"`, `"groups"`,
    /// `"attributes": [...]`).
    #[default]
    Crowd5,
    /// Crowd 2.3 (the REST plugin bundled with Jira 4.4): `GET /event` without
    /// `incrementalSynchronisationAvailable`, a user search that ignores the
    /// `attributes` expansion, an unknown group's member list 200 and empty.
    Crowd23,
    /// Crowd 6.0.1's REST reference: singular lists (`"user"`, `"group"`,
    /// `"attribute": [...]`).
    Singular,
}

/// Crowd's `TIMESTAMP_SLOP_TOLERANCE`: what the timestamp store gives again.
const SLOP_MS: u128 = 5 * 60 * 1000;

/// How the double words its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventStyle {
    /// JSON, each event a bare object.
    #[default]
    Bare,
    /// JSON, each event wrapped by its type (`{"userEvent": {...}}`).
    Wrapped,
    /// XML, as Crowd's own Java client asks for.
    Xml,
}

/// Whether the double offers events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventMode {
    /// Tokens and events.
    #[default]
    Available,
    /// `incrementalSynchronisationAvailable: false` (an uncached directory).
    Unavailable,
    /// 404: a server before REST API 1.2.
    Absent,
    /// Access-based synchronisation filtering on: a token, then 410 for every batch
    /// that has events.
    AccessFiltered,
    /// Crowd 2.3 over a directory it does not cache: `GET /event/{token}` answers
    /// 400 INCREMENTAL_SYNC_NOT_AVAILABLE.
    NotAvailable,
}

/// One recorded event: its type, its bare JSON, and when (ms since the epoch).
#[derive(Debug, Clone)]
struct Recorded {
    kind: &'static str,
    body: Value,
    at: u128,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The event log of one run of the double.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// Differs on every start: a restarted server's tokens are new.
    epoch: String,
    /// Events dropped from the front (evicted), so tokens before them expire.
    evicted: usize,
    log: Vec<Recorded>,
    pub style: EventStyle,
    pub mode: EventMode,
    /// Events given again before the token's (a cluster's rewinding store).
    pub rewind: usize,
    pub store: EventStore,
    pub dialect: Dialect,
    /// Timestamp tokens from before this (ms) are expired.
    expired_before: u128,
}

impl EventLog {
    pub fn new() -> EventLog {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        EventLog {
            epoch: format!("{nanos:x}"),
            ..EventLog::default()
        }
    }

    fn token(&self) -> String {
        match self.store {
            EventStore::Listener => format!("{}:{}", self.epoch, self.evicted + self.log.len()),
            // The timestamp store's token names a time, not this process.
            EventStore::Timestamp => format!("ts:{}", now_ms()),
        }
    }

    /// Forgets every event so far: earlier tokens expire, even the current one.
    pub fn evict(&mut self) {
        self.evicted += self.log.len() + 1;
        self.log.clear();
        self.expired_before = now_ms() + 1;
    }

    /// The events since `token`, as the store gives them; `None`: expired.
    fn since(&self, token: &str) -> Option<Vec<&Recorded>> {
        match self.store {
            EventStore::Listener => {
                let since = token
                    .strip_prefix(&format!("{}:", self.epoch))?
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= self.evicted && *n <= self.evicted + self.log.len())?;
                let from = (since - self.evicted).saturating_sub(self.rewind);
                Some(self.log[from..].iter().collect())
            }
            EventStore::Timestamp => {
                let at = token
                    .strip_prefix("ts:")?
                    .parse::<u128>()
                    .ok()
                    .filter(|at| *at >= self.expired_before)?;
                Some(self.log.iter().filter(|e| e.at + SLOP_MS >= at).collect())
            }
        }
    }

    /// `GET /event`, `GET /event/{token}`: (status, content type, body).
    /// `xml`: the request did not ask for JSON, so Crowd answers XML.
    pub fn answer(&self, path: &str, xml: bool) -> Option<(u16, &'static str, String)> {
        let rest = path.strip_prefix("/event")?;
        if self.mode == EventMode::Absent {
            return Some((404, "text/html", "<html>Not Found</html>".into()));
        }
        let token = match rest {
            "" => None,
            r => Some(r.strip_prefix('/')?),
        };
        let Some(token) = token else {
            return Some(match self.mode {
                EventMode::Unavailable => self.render(None, Some(false), &[], xml),
                // Crowd 2.3's EventEntityList has no such field.
                _ if self.dialect == Dialect::Crowd23 => {
                    self.render(Some(self.token()), None, &[], xml)
                }
                _ => self.render(Some(self.token()), Some(true), &[], xml),
            });
        };
        let token = percent_encoding::percent_decode_str(token).decode_utf8_lossy();
        let refusal = |status: u16, reason: &str, message: &str| {
            let body = json!({ "reason": reason, "message": message });
            Some((status, "application/json", body.to_string()))
        };
        if self.mode == EventMode::NotAvailable {
            return refusal(
                400,
                "INCREMENTAL_SYNC_NOT_AVAILABLE",
                "Incremental synchronisation is not available for this directory",
            );
        }
        let events = match (self.since(&token), self.mode) {
            (Some(events), EventMode::Available) => events,
            (Some(events), EventMode::AccessFiltered) if events.is_empty() => events,
            (Some(_), EventMode::AccessFiltered) => {
                return refusal(
                    410,
                    "EVENT_TOKEN_EXPIRED",
                    "Incremental synchronisation is not available when access based filtering is on",
                );
            }
            _ => {
                return refusal(
                    410,
                    "EVENT_TOKEN_EXPIRED",
                    "Event token is not recognised or has expired",
                );
            }
        };
        Some(self.render(Some(self.token()), Some(true), &events, xml))
    }

    fn render(
        &self,
        token: Option<String>,
        available: Option<bool>,
        events: &[&Recorded],
        xml_asked: bool,
    ) -> (u16, &'static str, String) {
        let style = if xml_asked {
            EventStyle::Xml
        } else {
            self.style
        };
        match style {
            EventStyle::Xml => (200, "application/xml", xml(token, available, events)),
            style => {
                let list: Vec<Value> = events
                    .iter()
                    .map(|e| match style {
                        EventStyle::Wrapped => json!({ e.kind: e.body }),
                        _ => e.body.clone(),
                    })
                    .collect();
                let mut body = json!({ "events": list });
                if let Some(available) = available {
                    body["incrementalSynchronisationAvailable"] = json!(available);
                }
                if let Some(token) = token {
                    body["newEventToken"] = json!(token);
                }
                if self.dialect == Dialect::Singular {
                    singular(&mut body);
                }
                (200, "application/json", body.to_string())
            }
        }
    }

    fn record(&mut self, kind: &'static str, body: Value) {
        self.log.push(Recorded {
            kind,
            body,
            at: now_ms(),
        });
    }

    /// A user attribute set or removed: an event only in the timestamp store (the
    /// user, without attributes) or for a `synch.*` attribute in the listener store.
    fn attribute_event(
        &mut self,
        fixture: &Fixture,
        user: &str,
        name: &str,
        stored: Value,
        deleted: Value,
    ) {
        match self.store {
            EventStore::Timestamp => {
                self.user_event(fixture, "UPDATED", user, json!([]), json!([]));
            }
            EventStore::Listener if name.starts_with("synch.") => {
                self.user_event(fixture, "UPDATED", user, stored, deleted);
            }
            EventStore::Listener => {}
        }
    }

    /// Applies `change` to `fixture`, recording the event Crowd would. What Crowd
    /// would refuse (a user twice, a member who is not one, a user who does not
    /// exist) changes nothing and records nothing.
    pub fn apply(&mut self, fixture: &mut Fixture, change: &Change) {
        use Change::*;
        if refuses(fixture, change) {
            return;
        }
        match change {
            CreateUser { user, active } => {
                let password = format!("{user}-pw");
                *fixture = std::mem::take(fixture).user(user, &password, *active);
                self.user_event(fixture, "CREATED", user, json!([]), json!([]));
            }
            DeleteUser { user } => {
                fixture.users.retain(|u| u.name != *user);
                for g in fixture.groups.values_mut() {
                    g.users.retain(|u| u != user);
                }
                // The server builds a deletion from a bare template: the name alone.
                let body = json!({"operation": "DELETED", "user": {"name": user}});
                self.record("userEvent", body);
            }
            Activate { user, active } => {
                for u in fixture.users.iter_mut().filter(|u| u.name == *user) {
                    u.active = *active;
                }
                self.user_event(fixture, "UPDATED", user, json!([]), json!([]));
            }
            SetAttribute { user, name, values } => {
                for u in fixture.users.iter_mut().filter(|u| u.name == *user) {
                    u.attributes.insert(name.clone(), values.clone());
                }
                let stored = json!([{ "name": name, "values": values }]);
                self.attribute_event(fixture, user, name, stored, json!([]));
            }
            RemoveAttribute { user, name } => {
                for u in fixture.users.iter_mut().filter(|u| u.name == *user) {
                    u.attributes.remove(name);
                }
                self.attribute_event(fixture, user, name, json!([]), json!([{ "name": name }]));
            }
            Regroup { user, groups } => self.regroup(fixture, user, groups),
            Join { .. }
            | Leave { .. }
            | Nest { .. }
            | Unnest { .. }
            | SetGroupAttribute { .. }
            | DeleteGroup { .. } => self.change_groups(fixture, change),
        }
    }

    /// A user's direct groups set at once, as one membership `UPDATED` event.
    fn regroup(&mut self, fixture: &mut Fixture, user: &str, groups: &[String]) {
        for (name, group) in fixture.groups.iter_mut() {
            let wanted = groups.contains(name);
            group.users.retain(|u| u != user || wanted);
        }
        for name in groups {
            let group = fixture.groups.entry(name.clone()).or_default();
            if !group.users.iter().any(|u| u == user) {
                group.users.push(user.to_owned());
            }
        }
        let parents: Vec<Value> = fixture
            .direct_groups(user)
            .iter()
            .map(|g| json!({ "name": g }))
            .collect();
        let body = json!({
            "operation": "UPDATED",
            "childUser": {"name": user},
            "parentGroups": {"groups": parents},
        });
        self.record("userMembershipEvent", body);
    }

    /// Changes to groups and their members.
    fn change_groups(&mut self, fixture: &mut Fixture, change: &Change) {
        use Change::*;
        match change {
            Join { user, group } => {
                let g = fixture.groups.entry(group.clone()).or_default();
                if !g.users.contains(user) {
                    g.users.push(user.clone());
                }
                self.user_membership("CREATED", user, group);
            }
            Leave { user, group } => {
                if let Some(g) = fixture.groups.get_mut(group) {
                    g.users.retain(|u| u != user);
                }
                self.user_membership("DELETED", user, group);
            }
            Nest { parent, child } => {
                fixture.groups.entry(child.clone()).or_default();
                let p = fixture.groups.entry(parent.clone()).or_default();
                if !p.groups.contains(child) {
                    p.groups.push(child.clone());
                }
                self.group_membership("CREATED", parent, child);
            }
            Unnest { parent, child } => {
                if let Some(p) = fixture.groups.get_mut(parent) {
                    p.groups.retain(|c| c != child);
                }
                self.group_membership("DELETED", parent, child);
            }
            SetGroupAttribute {
                group,
                name,
                values,
            } => {
                let g = fixture.groups.entry(group.clone()).or_default();
                g.attributes.insert(name.clone(), values.clone());
                let body = json!({
                    "operation": "UPDATED",
                    "group": {"name": group},
                    "storedAttributes": {"attributes": [{ "name": name, "values": values }]},
                });
                self.record("groupEvent", body);
            }
            DeleteGroup { group } => {
                fixture.groups.remove(group);
                for g in fixture.groups.values_mut() {
                    g.groups.retain(|c| c != group);
                }
                let body = json!({"operation": "DELETED", "group": {"name": group}});
                self.record("groupEvent", body);
            }
            _ => {}
        }
    }

    fn user_event(
        &mut self,
        fixture: &Fixture,
        operation: &str,
        user: &str,
        stored: Value,
        deleted: Value,
    ) {
        let Some(u) = fixture.users.iter().find(|u| u.name == user) else {
            return;
        };
        let body = json!({
            "operation": operation,
            "user": crate::directory::user_json(u),
            "storedAttributes": {"attributes": stored},
            "deletedAttributes": {"attributes": deleted},
        });
        self.record("userEvent", body);
    }

    fn user_membership(&mut self, operation: &str, user: &str, group: &str) {
        let body = json!({
            "operation": operation,
            "childUser": {"name": user},
            "parentGroups": {"groups": [{"name": group}]},
        });
        self.record("userMembershipEvent", body);
    }

    fn group_membership(&mut self, operation: &str, parent: &str, child: &str) {
        let body = json!({
            "operation": operation,
            "group": {"name": child},
            "parentGroups": {"groups": [{"name": parent}]},
            "childGroups": {"groups": []},
        });
        self.record("groupMembershipEvent", body);
    }
}

/// Crowd 6.0.1's reference's JSON: every list named singular.
pub fn singular(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (plural, one) in [
                ("users", "user"),
                ("groups", "group"),
                ("attributes", "attribute"),
            ] {
                if map.get(plural).is_some_and(Value::is_array)
                    && let Some(list) = map.remove(plural)
                {
                    map.insert(one.into(), list);
                }
            }
            map.values_mut().for_each(singular);
        }
        Value::Array(list) => list.iter_mut().for_each(singular),
        _ => {}
    }
}

/// The XML Crowd's JAXB entities give for the same events.
fn xml(token: Option<String>, available: Option<bool>, events: &[&Recorded]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>");
    out.push_str("<events");
    if let Some(token) = token {
        out.push_str(&format!(" newEventToken=\"{}\"", escape(&token)));
    }
    if let Some(available) = available {
        out.push_str(&format!(
            " incrementalSynchronisationAvailable=\"{available}\""
        ));
    }
    out.push('>');
    for e in events {
        let b = &e.body;
        out.push_str(&format!("<{}>", e.kind));
        out.push_str(&format!(
            "<operation>{}</operation>",
            b["operation"].as_str().unwrap_or_default()
        ));
        if let Some(user) = b.get("user") {
            let name = escape(user["name"].as_str().unwrap_or_default());
            match user.get("active") {
                // A deletion's bare template: the name alone.
                None => out.push_str(&format!("<user name=\"{name}\"/>")),
                Some(active) => out.push_str(&format!(
                    "<user name=\"{name}\"><key>{}</key><active>{}</active><display-name>{}</display-name><email>{}</email></user>",
                    escape(user["key"].as_str().unwrap_or_default()),
                    active.as_bool().unwrap_or(false),
                    escape(user["display-name"].as_str().unwrap_or_default()),
                    escape(user["email"].as_str().unwrap_or_default()),
                )),
            }
        }
        for (key, tag) in [("childUser", "childUser"), ("group", "group")] {
            if let Some(name) = b[key]["name"].as_str() {
                out.push_str(&format!("<{tag} name=\"{}\"/>", escape(name)));
            }
        }
        for key in ["parentGroups", "childGroups"] {
            if let Some(groups) = b[key]["groups"].as_array() {
                out.push_str(&format!("<{key}>"));
                for g in groups {
                    let name = g["name"].as_str().unwrap_or_default();
                    out.push_str(&format!("<group name=\"{}\"/>", escape(name)));
                }
                out.push_str(&format!("</{key}>"));
            }
        }
        for key in ["storedAttributes", "deletedAttributes"] {
            let list = b[key]["attributes"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                continue;
            }
            out.push_str(&format!("<{key}>"));
            for a in list {
                out.push_str(&format!(
                    "<attribute name=\"{}\"><values>",
                    escape(a["name"].as_str().unwrap_or_default())
                ));
                for v in a["values"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "<value>{}</value>",
                        escape(v.as_str().unwrap_or_default())
                    ));
                }
                out.push_str("</values></attribute>");
            }
            out.push_str(&format!("</{key}>"));
        }
        out.push_str(&format!("</{}>", e.kind));
    }
    out.push_str("</events>");
    out
}

/// Whether Crowd would refuse `change` (a user twice, a member who is not one, a
/// user who does not exist): then it changes nothing and records nothing.
fn refuses(fixture: &Fixture, change: &Change) -> bool {
    use Change::*;
    let exists = |user: &str| fixture.users.iter().any(|u| u.name == user);
    let member = |user: &str, group: &str| {
        fixture
            .groups
            .get(group)
            .is_some_and(|g| g.users.iter().any(|u| u == user))
    };
    match change {
        CreateUser { user, .. } => exists(user),
        DeleteUser { user }
        | Activate { user, .. }
        | SetAttribute { user, .. }
        | RemoveAttribute { user, .. }
        | Regroup { user, .. } => !exists(user),
        Join { user, group } => !exists(user) || member(user, group),
        Leave { user, group } => !member(user, group),
        Nest { parent, child } => {
            parent == child
                || fixture
                    .groups
                    .get(parent)
                    .is_some_and(|g| g.groups.contains(child))
                || fixture.nested_child_groups(child).contains(parent)
        }
        Unnest { parent, child } => !fixture
            .groups
            .get(parent)
            .is_some_and(|g| g.groups.contains(child)),
        SetGroupAttribute { .. } => false,
        DeleteGroup { group } => !fixture.groups.contains_key(group),
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}
