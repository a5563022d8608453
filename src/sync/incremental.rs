//! Incremental sync from Crowd's event API: what the last sync learned ([`SyncState`],
//! kept root-only beside the synced files with Crowd's event token), the events
//! since applied to it, and only what an event makes unknown asked again (a new
//! member's attributes, whether a user left a group for good, a group whose nesting
//! changed). Anything it cannot apply, and every fallback Crowd calls for, is a full
//! sync, which also takes a new token.
//!
//! Applying events is idempotent: a clustered Crowd's event store rewinds a few
//! minutes, so the same events can come twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Fetched, FetchedGroup, SyncError};
use crate::cache::store;
use crate::config::NssConfig;
use crate::crowd::events::{Event, EventStart, Operation};
use crate::crowd::{
    Attributes, CrowdError, FailureKind, LoginDirectory, Reason, SyncDirectory, User, UserIndex,
};

/// The file (in `[nss] dir`, mode 0600) holding the event token and what the last
/// sync learned.
pub const STATE: &str = "sync-state.json";

/// A user as the last sync learned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub key: Option<String>,
    pub attributes: Attributes,
}

impl UserRecord {
    fn new(user: &User, attributes: Attributes) -> UserRecord {
        UserRecord {
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            email: user.email.clone(),
            key: user.key.clone(),
            attributes,
        }
    }

    fn user(&self) -> User {
        User {
            name: self.name.clone(),
            active: true,
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            key: self.key.clone(),
        }
    }
}

/// One of `[nss] groups` or `[nss] expose_groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Nested members, by name.
    pub members: BTreeSet<String>,
    /// Groups nested in it, at any depth: a membership change in one of these is a
    /// change of this group's members.
    pub nested: BTreeSet<String>,
    /// Its attributes (expose_groups only).
    pub attributes: Attributes,
}

/// What a sync learned from Crowd, and where Crowd's events take up from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Crowd's event token after the last sync.
    pub token: String,
    /// When the last full sync was (seconds since the epoch).
    pub full_at: u64,
    /// `[nss] groups` and `[nss] expose_groups` then: another configuration is
    /// another sync.
    pub synced: Vec<String>,
    pub exposed: Vec<String>,
    /// The active nested members of `[nss] groups`, with their attributes.
    pub users: BTreeMap<String, UserRecord>,
    /// Each synced and exposed group.
    pub groups: BTreeMap<String, GroupRecord>,
}

/// How a sync came to its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Everything asked again, and why.
    Full(String),
    /// The events since the last sync applied: how many.
    Incremental(usize),
}

impl SyncState {
    /// What [`super::plan`] takes: the same a full fetch gives.
    pub fn fetched(&self, nss: &NssConfig) -> Fetched {
        let mut users = BTreeMap::new();
        for group in &nss.groups {
            for member in self
                .groups
                .get(group)
                .map(|g| &g.members)
                .into_iter()
                .flatten()
            {
                if let Some(record) = self.users.get(member) {
                    users
                        .entry(record.name.clone())
                        .or_insert_with(|| (record.user(), record.attributes.clone()));
                }
            }
        }
        let groups = nss
            .expose_groups
            .iter()
            .map(|name| {
                let record = self.groups.get(name).cloned().unwrap_or_default();
                FetchedGroup {
                    name: name.clone(),
                    attributes: record.attributes,
                    members: record.members.into_iter().collect(),
                }
            })
            .collect();
        Fetched {
            users: users.into_values().collect(),
            groups,
        }
    }

    fn is_synced_member(&self, nss: &NssConfig, user: &str) -> bool {
        nss.groups
            .iter()
            .any(|g| self.groups.get(g).is_some_and(|r| r.members.contains(user)))
    }
}

/// What applying events left to ask Crowd.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Users whose attributes are not known (new members, reactivated).
    pub users: BTreeSet<String>,
    /// (user, group): whether the user is still a nested member.
    pub recheck: BTreeSet<(String, String)>,
    /// Groups whose nesting changed: members and nested groups asked again.
    pub groups: BTreeSet<String>,
}

/// Applies `events` to `state`; what they make unknown is in the answer. `Err` says
/// why they cannot be applied (then: a full sync).
pub fn apply(state: &mut SyncState, nss: &NssConfig, events: &[Event]) -> Result<Needs, String> {
    let mut applier = Applier {
        tracked: state.groups.keys().cloned().collect(),
        state,
        nss,
        needs: Needs::default(),
    };
    for event in events {
        match event {
            Event::User {
                operation,
                user,
                stored,
                deleted,
            } => applier.user(*operation, user, stored, deleted),
            Event::Group {
                operation, group, ..
            } => applier.group(*operation, group)?,
            Event::UserMembership {
                operation,
                user,
                parents,
                absolute,
            } => applier.user_membership(*operation, user, parents, *absolute),
            Event::GroupMembership {
                group,
                parents,
                children,
                ..
            } => applier.group_membership(group, parents, children),
        }
    }
    Ok(applier.needs)
}

/// Events applied one at a time to the state.
struct Applier<'a> {
    state: &'a mut SyncState,
    nss: &'a NssConfig,
    /// The synced and exposed groups.
    tracked: Vec<String>,
    needs: Needs,
}

impl Applier<'_> {
    /// Whether `group` is `root` or nested in it.
    fn within(&self, root: &str, group: &str) -> bool {
        group == root
            || self
                .state
                .groups
                .get(root)
                .is_some_and(|r| r.nested.contains(group))
    }

    /// A user deleted leaves every group; a synced member's changes are taken over
    /// (an unknown or reactivated one is asked for).
    fn user(&mut self, operation: Operation, user: &User, stored: &Attributes, deleted: &[String]) {
        let state = &mut *self.state;
        if operation == Operation::Deleted {
            state.users.remove(&user.name);
            for record in state.groups.values_mut() {
                record.members.remove(&user.name);
            }
            return;
        }
        if !state.is_synced_member(self.nss, &user.name) {
            return;
        }
        match (user.active, state.users.get_mut(&user.name)) {
            (false, _) => {
                state.users.remove(&user.name);
            }
            (true, Some(record)) => {
                let attributes = std::mem::take(&mut record.attributes);
                // Crowd's key is stable: an event that leaves it out (XML, older
                // servers) does not change it.
                let key = user.key.clone().or(record.key.take());
                *record = UserRecord::new(user, attributes);
                record.key = key;
                record.attributes.extend(stored.clone());
                for name in deleted {
                    record.attributes.remove(name);
                }
            }
            (true, None) => {
                self.needs.users.insert(user.name.clone());
            }
        }
    }

    /// A synced group deleted cannot be applied; any other change to a group within a
    /// synced one asks that one again.
    fn group(&mut self, operation: Operation, group: &str) -> Result<(), String> {
        // A nested group's attributes are nobody's concern here.
        if operation != Operation::Deleted && !self.tracked.iter().any(|t| t == group) {
            return Ok(());
        }
        for root in &self.tracked {
            if operation == Operation::Deleted && root == group {
                return Err(format!("group {group:?}, which is synced, was deleted"));
            }
            if self.within(root, group) {
                self.needs.groups.insert(root.clone());
            }
        }
        Ok(())
    }

    /// A user joining a group within a synced one joins it; one leaving is asked
    /// about (another path may keep them in).
    fn user_membership(
        &mut self,
        operation: Operation,
        user: &str,
        parents: &[String],
        absolute: bool,
    ) {
        for root in self.tracked.clone() {
            let touched = parents.iter().any(|p| self.within(&root, p));
            let member = self
                .state
                .groups
                .get(&root)
                .is_some_and(|r| r.members.contains(user));
            let recheck = match (operation, absolute) {
                (Operation::Created, false) if touched => {
                    if let Some(record) = self.state.groups.get_mut(&root) {
                        record.members.insert(user.to_owned());
                    }
                    if self.nss.groups.contains(&root) && !self.state.users.contains_key(user) {
                        self.needs.users.insert(user.to_owned());
                    }
                    false
                }
                (_, true) => touched || member,
                (Operation::Deleted, _) => touched && member,
                _ => false,
            };
            if recheck {
                self.needs.recheck.insert((user.to_owned(), root));
            }
        }
    }

    /// A group nested into or out of a group within a synced one changes its
    /// members: that one is asked again.
    fn group_membership(&mut self, group: &str, parents: &[String], children: &[String]) {
        for root in &self.tracked {
            let parent_within = parents.iter().any(|p| self.within(root, p));
            if parent_within || (self.within(root, group) && !children.is_empty()) {
                self.needs.groups.insert(root.clone());
            }
        }
    }
}

/// Asks Crowd what applying events left unknown, and updates `state`.
pub fn resolve(
    crowd: &(impl SyncDirectory + LoginDirectory),
    state: &mut SyncState,
    nss: &NssConfig,
    mut needs: Needs,
) -> Result<(), CrowdError> {
    for group in &needs.groups {
        let exposed = nss.expose_groups.contains(group);
        let record = fetch_group(crowd, group, exposed)?;
        if nss.groups.contains(group) {
            for member in &record.members {
                if !state.users.contains_key(member) {
                    needs.users.insert(member.clone());
                }
            }
        }
        state.groups.insert(group.clone(), record);
    }
    for (user, group) in &needs.recheck {
        if needs.groups.contains(group) {
            continue;
        }
        let member = crowd.is_nested_member(user, group)?;
        if let Some(record) = state.groups.get_mut(group) {
            match member {
                true => record.members.insert(user.clone()),
                false => record.members.remove(user),
            };
        }
        if member && nss.groups.contains(group) && !state.users.contains_key(user) {
            needs.users.insert(user.clone());
        }
    }
    for user in &needs.users {
        if !state.is_synced_member(nss, user) {
            continue;
        }
        match crowd.user_attributes(user) {
            Ok((found, attributes)) if found.active => {
                state
                    .users
                    .insert(found.name.clone(), UserRecord::new(&found, attributes));
            }
            Ok(_) => {}
            Err(CrowdError::Refused {
                reason: Reason::UserNotFound,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    // Users no synced group holds any more are not synced.
    let members: BTreeSet<String> = nss
        .groups
        .iter()
        .filter_map(|g| state.groups.get(g))
        .flat_map(|r| r.members.iter().cloned())
        .collect();
    state.users.retain(|name, _| members.contains(name));
    Ok(())
}

/// One group's nested members and nested groups (and attributes, if exposed).
fn fetch_group(
    crowd: &impl SyncDirectory,
    group: &str,
    exposed: bool,
) -> Result<GroupRecord, CrowdError> {
    Ok(GroupRecord {
        members: crowd.nested_group_members(group)?.into_iter().collect(),
        nested: crowd.nested_child_groups(group)?.into_iter().collect(),
        attributes: match exposed {
            true => crowd.group_attributes(group)?,
            false => Attributes::new(),
        },
    })
}

/// A full fetch that also keeps what events will be applied to: Crowd's token first
/// (so no change after it is missed), then every synced and exposed group. `None`
/// for the state when Crowd offers no events (or speaks SOAP): the plain full fetch.
pub fn fetch_full(
    crowd: &impl SyncDirectory,
    nss: &NssConfig,
    now: u64,
    begin: &dyn Fn(),
) -> Result<(Fetched, Option<SyncState>), CrowdError> {
    begin();
    let EventStart::Token(token) = crowd.event_start()? else {
        return Ok((super::fetch(crowd, nss, begin)?, None));
    };
    let everyone = crowd.active_users_with_attributes()?.map(UserIndex::new);
    let Some(everyone) = everyone else {
        return Ok((super::fetch(crowd, nss, begin)?, None));
    };
    let mut state = SyncState {
        token,
        full_at: now,
        synced: nss.groups.clone(),
        exposed: nss.expose_groups.clone(),
        ..SyncState::default()
    };
    for group in nss.groups.iter().chain(&nss.expose_groups) {
        if state.groups.contains_key(group) {
            continue;
        }
        begin();
        let record = fetch_group(crowd, group, nss.expose_groups.contains(group))?;
        if nss.groups.contains(group) {
            let members: Vec<String> = record.members.iter().cloned().collect();
            for (user, attributes) in everyone.members(&members) {
                state
                    .users
                    .entry(user.name.clone())
                    .or_insert_with(|| UserRecord::new(&user, attributes));
            }
        }
        state.groups.insert(group.clone(), record);
    }
    Ok((state.fetched(nss), Some(state)))
}

/// The data for a sync: the events since `previous` applied when it can be taken up
/// from, else a full fetch (and why). `full`: `pam-crowd sync --full`.
pub fn refresh(
    crowd: &(impl SyncDirectory + LoginDirectory),
    nss: &NssConfig,
    previous: Result<Option<SyncState>, String>,
    full: bool,
    now: u64,
    begin: &dyn Fn(),
) -> Result<(Fetched, Option<SyncState>, Kind), CrowdError> {
    let why = match (full, previous) {
        (true, _) => "--full".to_owned(),
        (false, Err(why)) => why,
        (false, Ok(None)) => "no earlier sync state".to_owned(),
        (false, Ok(Some(state))) => match stale(&state, nss, now) {
            Some(why) => why,
            None => match incremental(crowd, nss, state, begin)? {
                Ok(done) => return Ok(done),
                Err(why) => why,
            },
        },
    };
    let (fetched, state) = fetch_full(crowd, nss, now, begin)?;
    Ok((fetched, state, Kind::Full(why)))
}

type Done = (Fetched, Option<SyncState>, Kind);

/// The events since `state`'s token, applied; `Ok(Err(why))` when a full sync must
/// do instead (the token expired, events unavailable, an event it cannot apply).
fn incremental(
    crowd: &(impl SyncDirectory + LoginDirectory),
    nss: &NssConfig,
    mut state: SyncState,
    begin: &dyn Fn(),
) -> Result<Result<Done, String>, CrowdError> {
    begin();
    let batch = match crowd.events_since(&state.token) {
        Ok(batch) => batch,
        Err(CrowdError::Refused { reason, .. }) => {
            return Ok(Err(format!("Crowd: {}", reason.as_str())));
        }
        Err(CrowdError::Unavailable(failures))
            if failures.iter().all(|f| f.kind == FailureKind::NotCrowd) =>
        {
            let why = failures
                .first()
                .map(|f| f.detail.clone())
                .unwrap_or_default();
            return Ok(Err(format!("events not understood: {why}")));
        }
        Err(e) => return Err(e),
    };
    let needs = match apply(&mut state, nss, &batch.events) {
        Ok(needs) => needs,
        Err(why) => return Ok(Err(why)),
    };
    begin();
    resolve(crowd, &mut state, nss, needs)?;
    state.token = batch.token;
    let count = batch.events.len();
    Ok(Ok((
        state.fetched(nss),
        Some(state),
        Kind::Incremental(count),
    )))
}

/// Why the last state cannot be taken up from, if it cannot.
pub fn stale(state: &SyncState, nss: &NssConfig, now: u64) -> Option<String> {
    if state.synced != nss.groups || state.exposed != nss.expose_groups {
        return Some("[nss] groups or expose_groups changed".into());
    }
    let age = now.saturating_sub(state.full_at);
    if age >= nss.full_sync_hours * 3600 {
        return Some(format!(
            "the last full sync is older than full_sync_hours = {}",
            nss.full_sync_hours
        ));
    }
    None
}

/// The state the last sync left, if any; an unreadable one is a reason for a full
/// sync, not an error.
pub fn read_state(dir: &Path) -> Result<Option<SyncState>, String> {
    let path = dir.join(STATE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} unreadable ({e})", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the state root-only, replacing the old one atomically.
pub fn write_state(dir: &Path, state: &SyncState) -> Result<(), SyncError> {
    let path = dir.join(STATE);
    let json =
        serde_json::to_vec(state).map_err(|e| SyncError::Files(path.clone(), e.to_string()))?;
    store::write(&path, &json).map_err(|e| SyncError::Files(path.clone(), e.to_string()))
}
