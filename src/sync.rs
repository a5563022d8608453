//! `pam-crowd sync`: Crowd's users and groups written as local files for the NSS
//! module (`libnss_crowd.so.2`), which never talks to Crowd itself.
//!
//! [`fetch`] asks Crowd (the only step with network), [`plan`] decides every entry
//! (ids, names never shadowing local ones, homes and shells) as a pure function,
//! [`Plan::diff`] and [`Plan::drops_too_many`] say what would change, and
//! [`Plan::write`] replaces the files. The id map is written before the files, so
//! an id is reserved before anyone can see it.

mod ids;
pub mod incremental;
mod local;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nss_crowd_files::{
    Files, Group, NameError, Passwd, check_group_name, check_text, check_user_name,
};

pub use ids::{Assigned, IdMap, Kind};
pub use local::{Local, system_accounts};

use crate::cache::store::{self, Lock};
use crate::config::NssConfig;
use crate::crowd::{Attributes, CrowdError, SyncDirectory, User, UserIndex};

/// The file (in `[nss] dir`, mode 0600) remembering every id given.
pub const ID_MAP: &str = "idmap.json";

/// What Crowd answered for a sync.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The nested members of `[nss] groups`, each once, with their attributes.
    pub users: Vec<(User, Attributes)>,
    /// The `[nss] expose_groups` with their attributes and nested members.
    pub groups: Vec<FetchedGroup>,
}

/// A group to expose, as Crowd has it.
#[derive(Debug, Clone, Default)]
pub struct FetchedGroup {
    pub name: String,
    pub attributes: Attributes,
    pub members: Vec<String>,
}

/// Asks Crowd for everything a sync writes. `begin` is called before each group, to
/// give each its own deadline.
pub fn fetch(
    crowd: &impl SyncDirectory,
    nss: &NssConfig,
    begin: impl Fn(),
) -> Result<Fetched, CrowdError> {
    let mut users: BTreeMap<String, (User, Attributes)> = BTreeMap::new();
    // Attributes from one bulk read (Crowd's member lists carry none), then the
    // members of each group matched against it: requests grow with users / 1000.
    begin();
    let everyone = crowd.active_users_with_attributes()?.map(UserIndex::new);
    for group in &nss.groups {
        begin();
        let members = match &everyone {
            Some(all) => all.members(&crowd.nested_group_members(group)?),
            None => crowd.nested_group_users(group)?,
        };
        for (user, attributes) in members {
            users.entry(user.name.clone()).or_insert((user, attributes));
        }
    }
    let mut groups = Vec::new();
    for name in &nss.expose_groups {
        begin();
        let attributes = crowd.group_attributes(name)?;
        let members = crowd.nested_group_members(name)?;
        groups.push(FetchedGroup {
            name: name.clone(),
            attributes,
            members,
        });
    }
    Ok(Fetched {
        users: users.into_values().collect(),
        groups,
    })
}

/// The entries a sync would write, what it left out and why, and the id map after it.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub users: Vec<Passwd>,
    pub groups: Vec<Group>,
    /// One line per Crowd user or group left out, or value of theirs refused.
    pub skipped: Vec<String>,
    pub ids: IdMap,
}

/// Why a Crowd user or group is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A name passwd and group lines cannot hold.
    Name(NameError),
    /// A local user or group has this name, and is never shadowed.
    LocalName {
        /// `user` or `group`.
        what: &'static str,
    },
    /// A `uidNumber` or `gidNumber` attribute that is not one usable id.
    BadId {
        /// The attribute.
        key: &'static str,
        /// Its values.
        values: Vec<String>,
        /// The lowest id Crowd may name (`min_uid`).
        lowest: u32,
    },
    /// No id could be given.
    Id(ids::IdError),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Name(e) => e.fmt(f),
            Skip::LocalName { what } => {
                write!(f, "a local {what} has this name, and is never shadowed")
            }
            Skip::BadId {
                key,
                values,
                lowest,
            } => write!(
                f,
                "its {key} attribute {values:?} is not one id of {lowest} or more (system ids are not Crowd's)"
            ),
            Skip::Id(e) => e.fmt(f),
        }
    }
}

impl From<NameError> for Skip {
    fn from(e: NameError) -> Skip {
        Skip::Name(e)
    }
}

impl From<ids::IdError> for Skip {
    fn from(e: ids::IdError) -> Skip {
        Skip::Id(e)
    }
}

/// Why a Crowd `homeDirectory` is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeRefused {
    /// Relative, with `.` or `..`, `//`, or more than one line.
    NotNormal,
    /// Not strictly below one of `[nss] home_bases`.
    NotBelow(Vec<PathBuf>),
}

impl fmt::Display for HomeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HomeRefused::NotNormal => f.write_str("not an absolute, normalised path on one line"),
            HomeRefused::NotBelow(bases) => write!(f, "not below [nss] home_bases {bases:?}"),
        }
    }
}

/// Decides every entry from Crowd's answer, the host's own entries and the ids given
/// before.
pub fn plan(fetched: &Fetched, local: &Local, ids: &IdMap, nss: &NssConfig) -> Plan {
    let mut plan = Plan {
        ids: ids.clone(),
        ..Plan::default()
    };
    let mut uids = Ids {
        in_use: BTreeSet::new(),
        reserved: ids.reserved(Kind::User),
    };
    for (user, attributes) in fetched.users.iter().filter(|(u, _)| u.active) {
        let mut notes = Vec::new();
        let entry = user_entry(
            user,
            attributes,
            local,
            &mut plan.ids,
            &mut uids,
            nss,
            &mut notes,
        );
        plan.skipped.append(&mut notes);
        match entry {
            Ok(entry) => plan.users.push(entry),
            Err(why) => plan
                .skipped
                .push(format!("user {:?} skipped: {why}", user.name)),
        }
    }
    let synced: BTreeSet<&str> = plan.users.iter().map(|u| u.name.as_str()).collect();
    let mut gids = Ids {
        in_use: BTreeSet::new(),
        reserved: ids.reserved(Kind::Group),
    };
    for group in &fetched.groups {
        match group_entry(group, &synced, local, &mut plan.ids, &mut gids, nss) {
            Ok(entry) => plan.groups.push(entry),
            Err(why) => plan
                .skipped
                .push(format!("group {:?} skipped: {why}", group.name)),
        }
    }
    plan
}

/// The ids of one kind given in this sync, and those the map held when it began.
struct Ids {
    in_use: BTreeSet<u32>,
    reserved: BTreeSet<u32>,
}

fn user_entry(
    user: &User,
    attributes: &Attributes,
    local: &Local,
    ids: &mut IdMap,
    given: &mut Ids,
    nss: &NssConfig,
    notes: &mut Vec<String>,
) -> Result<Passwd, Skip> {
    // The Linux name (`user_names`): Crowd's, or its lower-case form.
    let name = &nss.user_names.linux_name(&user.name);
    check_user_name(name)?;
    if local.users.contains(name) {
        return Err(Skip::LocalName { what: "user" });
    }
    let key = user.key.as_deref().unwrap_or(name);
    let uid = ids.assign(
        &ids::Request {
            kind: Kind::User,
            key,
            name,
            wanted: id_attribute(attributes, "uidNumber", nss.min_uid)?,
            range: nss.uids,
        },
        &local.uids,
        &mut given.in_use,
        &given.reserved,
    )?;
    let gid = id_attribute(attributes, "gidNumber", nss.min_uid)?.unwrap_or(nss.primary_gid);
    let path_attribute =
        |key: &str| single(attributes, key).filter(|v| v.starts_with('/') && check_text(v).is_ok());
    let template = || nss.home.replace("{name}", name);
    let home = match single(attributes, "homeDirectory") {
        None => template(),
        Some(home) => match home_below_bases(&home, &nss.home_bases) {
            Ok(()) => home,
            Err(why) => {
                notes.push(format!(
                    "user {name:?}: homeDirectory {home:?} refused ({why}); {:?} used",
                    template()
                ));
                template()
            }
        },
    };
    let shell = path_attribute("loginShell").unwrap_or_else(|| nss.shell.clone());
    let gecos = user
        .display_name
        .clone()
        .filter(|d| check_text(d).is_ok())
        .unwrap_or_default();
    Ok(Passwd {
        name: name.clone(),
        uid,
        gid,
        gecos,
        home,
        shell,
    })
}

fn group_entry(
    group: &FetchedGroup,
    synced: &BTreeSet<&str>,
    local: &Local,
    ids: &mut IdMap,
    given: &mut Ids,
    nss: &NssConfig,
) -> Result<Group, Skip> {
    let name = &group.name;
    check_group_name(name)?;
    if local.groups.contains(name) {
        return Err(Skip::LocalName { what: "group" });
    }
    let gid = ids.assign(
        &ids::Request {
            kind: Kind::Group,
            key: name,
            name,
            wanted: id_attribute(&group.attributes, "gidNumber", nss.min_uid)?,
            range: nss.gids,
        },
        &local.gids,
        &mut given.in_use,
        &given.reserved,
    )?;
    // Only synced users: a local user of the same name is not this Crowd member.
    let mut members: Vec<String> = group
        .members
        .iter()
        .map(|m| nss.user_names.linux_name(m))
        .filter(|m| synced.contains(m.as_str()))
        .collect();
    members.sort();
    members.dedup();
    Ok(Group {
        name: name.clone(),
        gid,
        members,
    })
}

/// Whether a Crowd `homeDirectory` may be a home here: an absolute, normalised path
/// strictly below one of `bases`. Crowd must not name `/etc`, `/home/../root` or
/// a base itself as someone's home: the session phase creates and hands it over.
pub fn home_below_bases(home: &str, bases: &[PathBuf]) -> Result<(), HomeRefused> {
    if !crate::config::is_normal_path(home) {
        return Err(HomeRefused::NotNormal);
    }
    let path = Path::new(home);
    match bases.iter().any(|b| path.starts_with(b) && path != b) {
        true => Ok(()),
        false => Err(HomeRefused::NotBelow(bases.to_vec())),
    }
}

/// The one value of a single-valued attribute.
fn single(attributes: &Attributes, key: &str) -> Option<String> {
    match attributes.get(key).map(Vec::as_slice) {
        Some([value]) => Some(value.trim().to_owned()),
        _ => None,
    }
}

/// A numeric id attribute: absent is `None`; present, it must be a usable id, not
/// below `lowest` (`[nss]`'s `min_uid`: the host's ids, never below `LOWEST_ID`).
fn id_attribute(
    attributes: &Attributes,
    key: &'static str,
    lowest: u32,
) -> Result<Option<u32>, Skip> {
    let Some(values) = attributes.get(key) else {
        return Ok(None);
    };
    match single(attributes, key).and_then(|v| v.parse::<u32>().ok()) {
        Some(id) if (lowest..u32::MAX - 1).contains(&id) && id != 65534 => Ok(Some(id)),
        _ => Err(Skip::BadId {
            key,
            values: values.clone(),
            lowest,
        }),
    }
}

/// What a sync changes, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// `+ line`, `- line`, `~ old line -> new line`, users first.
    pub lines: Vec<String>,
    pub users_added: usize,
    pub users_removed: usize,
    pub users_changed: usize,
    /// Users in the files before.
    pub users_before: usize,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn diff_lines<'a>(
    before: impl Iterator<Item = (&'a str, String)>,
    after: impl Iterator<Item = (&'a str, String)>,
    what: &str,
    lines: &mut Vec<String>,
) -> (usize, usize, usize) {
    let before: BTreeMap<&str, String> = before.collect();
    let after: BTreeMap<&str, String> = after.collect();
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    for (name, line) in &after {
        match before.get(name) {
            None => {
                added += 1;
                lines.push(format!("+ {what} {line}"));
            }
            Some(old) if old != line => {
                changed += 1;
                lines.push(format!("~ {what} {old} -> {line}"));
            }
            Some(_) => {}
        }
    }
    for (name, line) in &before {
        if !after.contains_key(name) {
            removed += 1;
            lines.push(format!("- {what} {line}"));
        }
    }
    (added, removed, changed)
}

impl Plan {
    /// What writing this plan would change in the files in `dir` (none yet: all new).
    pub fn diff(&self, dir: &Path) -> Result<Diff, SyncError> {
        let files = Files::new(dir);
        let (old_users, old_groups) = match (files.users(), files.groups()) {
            (Ok(u), Ok(g)) => (u, g),
            (Err(nss_crowd_files::Error::Unavailable(e)), _)
            | (_, Err(nss_crowd_files::Error::Unavailable(e)))
                if e.kind() == io::ErrorKind::NotFound =>
            {
                (Vec::new(), Vec::new())
            }
            (Err(e), _) | (_, Err(e)) => {
                return Err(SyncError::Files(dir.to_owned(), e.to_string()));
            }
        };
        let mut diff = Diff {
            users_before: old_users.len(),
            ..Diff::default()
        };
        let (a, r, c) = diff_lines(
            old_users.iter().map(|u| (u.name.as_str(), u.line())),
            self.users.iter().map(|u| (u.name.as_str(), u.line())),
            "user",
            &mut diff.lines,
        );
        (diff.users_added, diff.users_removed, diff.users_changed) = (a, r, c);
        diff_lines(
            old_groups.iter().map(|g| (g.name.as_str(), g.line())),
            self.groups.iter().map(|g| (g.name.as_str(), g.line())),
            "group",
            &mut diff.lines,
        );
        Ok(diff)
    }

    /// Whether `diff` drops more than `max_drop` of the users there were: a Crowd
    /// answering empty (a renamed group, a broken directory) must not empty the host.
    pub fn drops_too_many(diff: &Diff, max_drop: f64) -> bool {
        diff.users_before > 0 && diff.users_removed as f64 > max_drop * diff.users_before as f64
    }

    /// Writes the id map, then the files, in `dir` (created 0755 if missing), under
    /// the sync lock.
    pub fn write(&self, dir: &Path) -> Result<(), SyncError> {
        let io_err = |e: io::Error| SyncError::Files(dir.to_owned(), e.to_string());
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err)?;
        let map = dir.join(ID_MAP);
        let _lock =
            Lock::acquire(&map).map_err(|e| SyncError::Files(dir.to_owned(), e.to_string()))?;
        let json = serde_json::to_vec_pretty(&self.ids)
            .map_err(|e| SyncError::Files(map.clone(), e.to_string()))?;
        // The cache store's atomic replace (0600, fsync, rename), under its lock taken above.
        store::write(&map, &json).map_err(|e| SyncError::Files(map.clone(), e.to_string()))?;
        nss_crowd_files::write(dir, &self.users, &self.groups).map_err(io_err)
    }
}

/// Reads the id map of `dir`; none yet is an empty map.
pub fn read_ids(dir: &Path) -> Result<IdMap, SyncError> {
    let path = dir.join(ID_MAP);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            SyncError::Files(
                path,
                format!(
                    "not an id map ({e}); it is never rewritten from scratch, fix or restore it"
                ),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IdMap::default()),
        Err(e) => Err(SyncError::Files(path, e.to_string())),
    }
}

/// Why a sync did not complete.
#[derive(Debug)]
pub enum SyncError {
    /// Crowd could not answer, or refused.
    Crowd(CrowdError),
    /// A file or directory could not be read or written.
    Files(PathBuf, String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Crowd(e) => write!(f, "Crowd: {e}"),
            SyncError::Files(path, why) => write!(f, "{}: {why}", path.display()),
        }
    }
}
