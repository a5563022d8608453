//! Incremental sync from Crowd's event API: what the last sync learned ([`SyncState`],
//! kept root-only beside the synced files with Crowd's event token), the events
//! since applied to it, and only what an event makes unknown asked again (a new
//! member's attributes, whether a user left a group for good, a group whose nesting
//! changed). Anything it cannot apply, and every fallback Crowd calls for, is a full
//! sync, which also takes a new token.
//!
//! Applying events is idempotent: Data Center's event store replays about the last
//! five minutes on every call, so the same events come again and again.
//!
//! Events are read as real servers store them (Crowd 5.1.6's `StoringEventListener`,
//! `TimestampBasedEventStore`, `EventTransformer`; ../shared/crowd-rest-api.md):
//! attribute changes are mostly not events, so a changed user is read again, and
//! every `[nss] attributes_minutes` the synced users' attributes are read again in
//! bulk; a membership `UPDATED` is the complete set of direct parents (`apply`).

mod apply;
mod reason;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use apply::{Needs, apply};
pub use reason::{FullSyncReason, StateUnreadable};

use super::{Fetched, FetchedGroup, SyncError, active_with_attributes, group_members, named_group};
use crate::cache::store;
use crate::config::NssConfig;
use crate::crowd::events::EventStart;
use crate::crowd::{
    Attributes, CrowdError, FailureKind, LoginDirectory, Reason, SyncDirectory, User, UserIndex,
};

/// The file (in `[nss] dir`, mode 0600) holding the event token and what the last
/// sync learned.
pub const STATE: &str = "sync-state.json";

/// Incremental syncs that fell back on an expired token in a row before the report
/// says why that may keep happening.
const EXPIRED_IN_A_ROW_NOTE: u32 = 3;

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
    /// When the users' attributes were last read in bulk (a full sync, or the
    /// `attributes_minutes` refresh).
    #[serde(default)]
    pub attributes_at: u64,
    /// Incremental syncs in a row that fell back to a full one on an expired token
    /// (410): reset by a batch of events applied.
    #[serde(default)]
    pub expired_in_a_row: u32,
    /// `[nss] groups`, `[nss] expose_groups` and `[nss.local_groups]` then: another
    /// configuration is another sync.
    pub synced: Vec<String>,
    pub exposed: Vec<String>,
    #[serde(default)]
    pub local_groups: BTreeMap<String, Vec<String>>,
    /// The active nested members of `[nss] groups`, with their attributes.
    pub users: BTreeMap<String, UserRecord>,
    /// Each synced and exposed group.
    pub groups: BTreeMap<String, GroupRecord>,
}

/// How a sync came to its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Everything asked again: why, and why no events can be taken up from next
    /// time, when Crowd offers none (its words).
    Full {
        why: FullSyncReason,
        no_events: Option<String>,
    },
    /// The events since the last sync applied: how many, and whether the users'
    /// attributes were read again (`[nss] attributes_minutes`).
    Incremental { events: usize, attributes: bool },
}

/// What a sync has to plan from.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub fetched: Fetched,
    /// What the next sync takes up from; `None` without events.
    pub state: Option<SyncState>,
    pub kind: Kind,
    /// What the admin should know, for the report and the log.
    pub notes: Vec<String>,
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
        let mapped = nss
            .mapped_groups()
            .into_iter()
            .map(|name| {
                let members = self.groups.get(&name).cloned().unwrap_or_default().members;
                (name, members.into_iter().collect())
            })
            .collect();
        Fetched {
            users: users.into_values().collect(),
            groups,
            mapped,
        }
    }

    fn is_synced_member(&self, nss: &NssConfig, user: &str) -> bool {
        nss.groups
            .iter()
            .any(|g| self.groups.get(g).is_some_and(|r| r.members.contains(user)))
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
    let wanted: Vec<String> = needs
        .users
        .iter()
        .filter(|user| state.is_synced_member(nss, user))
        .cloned()
        .collect();
    read_users(crowd, state, &wanted)?;
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

/// The users named read again, many in one search: the active ones recorded anew,
/// the others (deactivated, gone) dropped.
fn read_users(
    crowd: &impl SyncDirectory,
    state: &mut SyncState,
    names: &[String],
) -> Result<(), CrowdError> {
    if names.is_empty() {
        return Ok(());
    }
    let mut found = BTreeSet::new();
    for (user, attributes) in crowd.users_with_attributes(names)? {
        if user.active {
            found.insert(user.name.to_lowercase());
            state
                .users
                .insert(user.name.clone(), UserRecord::new(&user, attributes));
        }
    }
    for name in names {
        if !found.contains(&name.to_lowercase()) {
            state.users.remove(name);
        }
    }
    Ok(())
}

/// Every synced user's attributes read again through the paged user search (no
/// member lists): what changed without an event. Users the search no longer finds
/// active are dropped.
fn refresh_attributes(crowd: &impl SyncDirectory, state: &mut SyncState) -> Result<(), CrowdError> {
    let names: Vec<String> = state.users.keys().cloned().collect();
    let everyone = crowd.active_users_with_attributes()?.map(UserIndex::new);
    state.users = active_with_attributes(crowd, everyone.as_ref(), &names)?
        .into_iter()
        .map(|(user, attributes)| (user.name.clone(), UserRecord::new(&user, attributes)))
        .collect();
    Ok(())
}

/// One group's nested members and nested groups (and attributes, if exposed).
fn fetch_group(
    crowd: &impl SyncDirectory,
    group: &str,
    exposed: bool,
) -> Result<GroupRecord, CrowdError> {
    Ok(GroupRecord {
        members: group_members(crowd, group)?.into_iter().collect(),
        nested: crowd.nested_child_groups(group)?.into_iter().collect(),
        attributes: match exposed {
            true => crowd
                .group_attributes(group)
                .map_err(|e| named_group(e, group))?,
            false => Attributes::new(),
        },
    })
}

/// Crowd offers no events to take up from: its words (Crowd 2.x, a directory it does
/// not cache, SOAP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoEvents(pub String);

/// A full fetch that also keeps what events will be applied to: Crowd's token first
/// (so no change after it is missed), then every synced and exposed group. `Err`
/// for the state says why there is none (Crowd offers no events, or speaks SOAP):
/// then it is the plain full fetch.
pub fn fetch_full(
    crowd: &impl SyncDirectory,
    nss: &NssConfig,
    now: u64,
    begin: &dyn Fn(),
) -> Result<(Fetched, Result<SyncState, NoEvents>), CrowdError> {
    begin();
    let token = match crowd.event_start()? {
        EventStart::Token(token) => token,
        EventStart::Unavailable(why) => {
            return Ok((super::fetch(crowd, nss, begin)?, Err(NoEvents(why))));
        }
    };
    let everyone = crowd.active_users_with_attributes()?.map(UserIndex::new);
    let mut state = SyncState {
        token,
        full_at: now,
        attributes_at: now,
        synced: nss.groups.clone(),
        exposed: nss.expose_groups.clone(),
        local_groups: nss.local_groups.clone(),
        ..SyncState::default()
    };
    let mapped = nss.mapped_groups();
    for group in nss.groups.iter().chain(&nss.expose_groups).chain(&mapped) {
        if state.groups.contains_key(group) {
            continue;
        }
        begin();
        let record = fetch_group(crowd, group, nss.expose_groups.contains(group))?;
        if nss.groups.contains(group) {
            let members: Vec<String> = record
                .members
                .iter()
                .filter(|m| !state.users.contains_key(*m))
                .cloned()
                .collect();
            for (user, attributes) in active_with_attributes(crowd, everyone.as_ref(), &members)? {
                state
                    .users
                    .entry(user.name.clone())
                    .or_insert_with(|| UserRecord::new(&user, attributes));
            }
        }
        state.groups.insert(group.clone(), record);
    }
    Ok((state.fetched(nss), Ok(state)))
}

/// The data for a sync: the events since `previous` applied when it can be taken up
/// from, else a full fetch (and why). `full`: `pam-crowd sync --full`.
pub fn refresh(
    crowd: &(impl SyncDirectory + LoginDirectory),
    nss: &NssConfig,
    previous: Result<Option<SyncState>, StateUnreadable>,
    full: bool,
    now: u64,
    begin: &dyn Fn(),
) -> Result<Refreshed, CrowdError> {
    let mut expired_in_a_row = match &previous {
        Ok(Some(state)) => state.expired_in_a_row,
        _ => 0,
    };
    let why = match (full, previous) {
        (true, _) => FullSyncReason::Asked,
        (false, Err(unreadable)) => FullSyncReason::StateUnreadable(unreadable),
        (false, Ok(None)) => FullSyncReason::NoState,
        (false, Ok(Some(state))) => match stale(&state, nss, now) {
            Some(why) => why,
            None => match incremental(crowd, nss, state, now, begin)? {
                Ok(done) => return Ok(done),
                Err(why) => {
                    if matches!(
                        why,
                        FullSyncReason::Refused {
                            reason: Reason::EventTokenExpired,
                            ..
                        }
                    ) {
                        expired_in_a_row += 1;
                    }
                    why
                }
            },
        },
    };
    let (fetched, state) = fetch_full(crowd, nss, now, begin)?;
    let (state, no_events) = match state {
        Ok(mut state) => {
            state.expired_in_a_row = expired_in_a_row;
            (Some(state), None)
        }
        Err(NoEvents(words)) => (None, Some(words)),
    };
    let notes = state.iter().filter_map(fallback_note).collect();
    Ok(Refreshed {
        fetched,
        state,
        kind: Kind::Full { why, no_events },
        notes,
    })
}

/// What the admin should know when incremental syncs keep falling back on expired
/// tokens: Crowd's access-based filtering answers 410 to every batch with changes.
pub fn fallback_note(state: &SyncState) -> Option<String> {
    (state.expired_in_a_row >= EXPIRED_IN_A_ROW_NOTE).then(|| {
        format!(
            "the last {} incremental syncs fell back to full ones: Crowd called the event \
             token expired (410) each time. Crowd does so for every batch with changes when \
             access-based synchronisation filtering is on for this application, and after \
             every restart of its in-memory event store; turn the filtering off for this \
             application in Crowd, or every change costs a full sync",
            state.expired_in_a_row
        )
    })
}

/// The events since `state`'s token, applied (and, when due, the users' attributes
/// read again); `Ok(Err(..))` when a full sync must do instead (the token expired,
/// events unavailable, an event it cannot apply).
fn incremental(
    crowd: &(impl SyncDirectory + LoginDirectory),
    nss: &NssConfig,
    mut state: SyncState,
    now: u64,
    begin: &dyn Fn(),
) -> Result<Result<Refreshed, FullSyncReason>, CrowdError> {
    begin();
    let batch = match crowd.events_since(&state.token) {
        Ok(batch) => batch,
        Err(CrowdError::Refused {
            reason, message, ..
        }) => return Ok(Err(FullSyncReason::Refused { reason, message })),
        Err(CrowdError::Unavailable(failures))
            if failures.iter().all(|f| f.kind == FailureKind::NotCrowd) =>
        {
            let detail = failures
                .first()
                .map(|f| f.detail.clone())
                .unwrap_or_default();
            return Ok(Err(FullSyncReason::NotUnderstood(detail)));
        }
        Err(e) => return Err(e),
    };
    let needs = match apply(&mut state, nss, &batch.events) {
        Ok(needs) => needs,
        Err(why) => return Ok(Err(why)),
    };
    begin();
    resolve(crowd, &mut state, nss, needs)?;
    let attributes = now.saturating_sub(state.attributes_at) >= nss.attributes_minutes * 60;
    if attributes {
        begin();
        refresh_attributes(crowd, &mut state)?;
        state.attributes_at = now;
    }
    state.token = batch.token;
    if !batch.events.is_empty() {
        state.expired_in_a_row = 0;
    }
    let notes = fallback_note(&state).into_iter().collect();
    Ok(Ok(Refreshed {
        fetched: state.fetched(nss),
        kind: Kind::Incremental {
            events: batch.events.len(),
            attributes,
        },
        state: Some(state),
        notes,
    }))
}

/// Why the last state cannot be taken up from, if it cannot.
pub fn stale(state: &SyncState, nss: &NssConfig, now: u64) -> Option<FullSyncReason> {
    if state.synced != nss.groups
        || state.exposed != nss.expose_groups
        || state.local_groups != nss.local_groups
    {
        return Some(FullSyncReason::GroupsChanged);
    }
    let age = now.saturating_sub(state.full_at);
    if age >= nss.full_sync_hours * 3600 {
        return Some(FullSyncReason::Due {
            full_sync_hours: nss.full_sync_hours,
        });
    }
    None
}

/// The state the last sync left, if any; an unreadable one is a reason for a full
/// sync, not an error.
pub fn read_state(dir: &Path) -> Result<Option<SyncState>, StateUnreadable> {
    let path = dir.join(STATE);
    let unreadable = |detail: String| StateUnreadable {
        path: path.clone(),
        detail,
    };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| unreadable(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Writes the state root-only, replacing the old one atomically.
pub fn write_state(dir: &Path, state: &SyncState) -> Result<(), SyncError> {
    let path = dir.join(STATE);
    let json =
        serde_json::to_vec(state).map_err(|e| SyncError::Files(path.clone(), e.to_string()))?;
    store::write(&path, &json).map_err(|e| SyncError::Files(path.clone(), e.to_string()))
}
