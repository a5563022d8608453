//! `pam-crowd sync`: Crowd's users and groups written as local files for the NSS
//! module (`libnss_crowd.so.2`), which never talks to Crowd itself.
//!
//! [`fetch`] asks Crowd (the only step with network), [`plan`] decides every entry
//! (ids, names never shadowing local ones, homes and shells) as a pure function,
//! [`Plan::diff`] and [`Plan::drops_too_many`] say what would change, and
//! [`Plan::write`] replaces the files. The id map is written before the files, so
//! an id is reserved before anyone can see it.

pub mod incremental;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nss_crowd_files::{Files, Group, Passwd, check_text};

pub use crate::identity::holdings::Holdings;
pub use crate::identity::ids::{Assigned, IdMap, Kind};
use crate::identity::{Candidate, Given, RangeRefused, Rules};

use crate::cache::store::{self, Lock};
use crate::config::NssConfig;
use crate::crowd::{Attributes, CrowdError, Reason, SyncDirectory, User, UserIndex};

/// The file (in `[nss] dir`, mode 0600) remembering every id given.
pub const ID_MAP: &str = "idmap.json";

/// What Crowd answered for a sync.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The nested members of `[nss] groups`, each once, with their attributes.
    pub users: Vec<(User, Attributes)>,
    /// The `[nss] expose_groups` with their attributes and nested members.
    pub groups: Vec<FetchedGroup>,
    /// The nested members of each Crowd group `[nss.local_groups]` names.
    pub mapped: BTreeMap<String, Vec<String>>,
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
        let names = group_members(crowd, group)?;
        for (user, attributes) in active_with_attributes(crowd, everyone.as_ref(), &names)? {
            users.entry(user.name.clone()).or_insert((user, attributes));
        }
    }
    let mut groups = Vec::new();
    for name in &nss.expose_groups {
        begin();
        let attributes = crowd
            .group_attributes(name)
            .map_err(|e| named_group(e, name))?;
        let members = group_members(crowd, name)?;
        groups.push(FetchedGroup {
            name: name.clone(),
            attributes,
            members,
        });
    }
    let mut mapped = BTreeMap::new();
    for name in nss.mapped_groups() {
        // An exposed group's members were just read: not asked twice.
        let members = match groups.iter().find(|g| g.name == name) {
            Some(exposed) => exposed.members.clone(),
            None => {
                begin();
                group_members(crowd, &name)?
            }
        };
        mapped.insert(name, members);
    }
    Ok(Fetched {
        users: users.into_values().collect(),
        groups,
        mapped,
    })
}

/// A synced or exposed group's nested members. An empty list is trusted only once
/// Crowd confirms the group exists: Crowd 2.x lists an unknown group's members as
/// none, and nested queries over a failing directory can come back empty. A group
/// Crowd does not have is an error naming it: nothing is written.
pub fn group_members(crowd: &impl SyncDirectory, group: &str) -> Result<Vec<String>, CrowdError> {
    let members = crowd
        .nested_group_members(group)
        .map_err(|e| named_group(e, group))?;
    if members.is_empty() && !crowd.group_exists(group)? {
        return Err(unknown_group(group));
    }
    Ok(members)
}

/// The active users among `names`, with their attributes: from `everyone` (one bulk
/// read) when there is one, else asked of Crowd for these names (many in one search,
/// or one by one where the search gives no attributes: Crowd 2.x, SOAP).
pub fn active_with_attributes(
    crowd: &impl SyncDirectory,
    everyone: Option<&UserIndex>,
    names: &[String],
) -> Result<Vec<(User, Attributes)>, CrowdError> {
    let found = match everyone {
        Some(all) => all.members(names),
        None => crowd.users_with_attributes(names)?,
    };
    Ok(found.into_iter().filter(|(user, _)| user.active).collect())
}

/// The refusal for a configured group Crowd does not have, naming it.
pub fn unknown_group(group: &str) -> CrowdError {
    CrowdError::Refused {
        status: 404,
        reason: Reason::GroupNotFound,
        message: format!(
            "group {group:?}, named in [nss] groups, expose_groups or local_groups, does not \
             exist in Crowd"
        ),
    }
}

/// Crowd's "no such group" about a configured group, said with its name.
pub(crate) fn named_group(e: CrowdError, group: &str) -> CrowdError {
    match e {
        CrowdError::Refused {
            reason: Reason::GroupNotFound,
            ..
        } => unknown_group(group),
        other => other,
    }
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

/// Decides every entry from Crowd's answer, what the host holds and the ids given
/// before, by the host's rules ([`crate::identity`]): names, then homes (which need
/// every name), uids, exposed groups, and each user's primary gid and shell.
pub fn plan(
    fetched: &Fetched,
    held: &Holdings,
    ids: &IdMap,
    nss: &NssConfig,
) -> Result<Plan, SyncError> {
    let rules = Rules { nss, held };
    rules.check_ranges().map_err(SyncError::Ranges)?;
    let mut plan = Plan {
        ids: ids.clone(),
        ..Plan::default()
    };
    let mut candidates = Vec::new();
    for (user, attributes) in fetched.users.iter().filter(|(u, _)| u.active) {
        match rules.user_name(&user.name) {
            Ok(name) => candidates.push(Candidate {
                key: user.key.clone().unwrap_or_else(|| name.clone()),
                name,
                user,
                attributes,
            }),
            Err(why) => plan
                .skipped
                .push(format!("user {:?} skipped: {why}", user.name)),
        }
    }
    let homes = rules.homes(&candidates, &mut plan.skipped);
    let mut uids = Given::new(ids, Kind::User);
    let mut placed = Vec::new();
    for (c, home) in candidates.iter().zip(homes) {
        match home.and_then(|home| Ok((rules.uid(&mut plan.ids, c, &mut uids)?, home))) {
            Ok((uid, home)) => placed.push((c, uid, home)),
            Err(why) => plan
                .skipped
                .push(format!("user {:?} skipped: {why}", c.name)),
        }
    }
    plan.groups = exposed_groups(&rules, fetched, ids, &mut plan);
    let members = exposed_members(fetched, nss);
    for (c, uid, home) in placed {
        let member_of = |g: &Group| {
            members
                .get(g.name.as_str())
                .is_some_and(|m| m.contains(&c.name))
        };
        let gid = rules.primary_gid(c, &member_of, &plan.groups, &mut plan.skipped);
        let shell = rules.shell(c, &mut plan.skipped);
        let gecos = c
            .user
            .display_name
            .clone()
            .filter(|d| check_text(d).is_ok())
            .unwrap_or_default();
        plan.users.push(Passwd {
            name: c.name.clone(),
            uid,
            gid,
            gecos,
            home,
            shell,
        });
    }
    // Only synced users: a local user of the same name is not this Crowd member.
    let synced: BTreeSet<&str> = plan.users.iter().map(|u| u.name.as_str()).collect();
    for group in &mut plan.groups {
        group.members = members
            .get(group.name.as_str())
            .into_iter()
            .flatten()
            .filter(|m| synced.contains(m.as_str()))
            .cloned()
            .collect();
    }
    let local = local_groups(fetched, held, nss, &synced)?;
    plan.groups.extend(local);
    Ok(plan)
}

/// `[nss.local_groups]`: each local group, with its own gid, listing the synced
/// users among the nested members of its Crowd groups, so that `initgroups` (and
/// `getent group` where nsswitch.conf merges) gives them the local group. Its own
/// entry in /etc/group stays as it is. A name the host has no group of is a
/// configuration error: nothing is written.
fn local_groups(
    fetched: &Fetched,
    held: &Holdings,
    nss: &NssConfig,
    synced: &BTreeSet<&str>,
) -> Result<Vec<Group>, SyncError> {
    let mut groups = Vec::new();
    for (local, crowd_groups) in &nss.local_groups {
        let gid = *held
            .group_gids
            .get(local)
            .ok_or_else(|| SyncError::NoLocalGroup(local.clone()))?;
        let members: BTreeSet<String> = crowd_groups
            .iter()
            .filter_map(|g| fetched.mapped.get(g))
            .flatten()
            .map(|m| nss.user_names.linux_name(m))
            .filter(|m| synced.contains(m.as_str()))
            .collect();
        groups.push(Group {
            name: local.clone(),
            gid,
            members: members.into_iter().collect(),
        });
    }
    Ok(groups)
}

/// Crowd's nested members of each exposed group, by Linux name.
fn exposed_members<'f>(
    fetched: &'f Fetched,
    nss: &NssConfig,
) -> BTreeMap<&'f str, BTreeSet<String>> {
    fetched
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.members
                    .iter()
                    .map(|m| nss.user_names.linux_name(m))
                    .collect(),
            )
        })
        .collect()
}

/// The exposed groups' entries (members are filled in once the users are known).
fn exposed_groups(rules: &Rules, fetched: &Fetched, ids: &IdMap, plan: &mut Plan) -> Vec<Group> {
    let mut gids = Given::new(ids, Kind::Group);
    let mut groups = Vec::new();
    for group in &fetched.groups {
        let entry = rules.group_name(&group.name).and_then(|()| {
            Ok(Group {
                name: group.name.clone(),
                gid: rules.gid(&mut plan.ids, &group.name, &group.attributes, &mut gids)?,
                members: Vec::new(),
            })
        });
        match entry {
            Ok(entry) => groups.push(entry),
            Err(why) => plan
                .skipped
                .push(format!("group {:?} skipped: {why}", group.name)),
        }
    }
    groups
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
    /// The `[nss]` ranges leave no id free of the host's subordinate ranges.
    Ranges(RangeRefused),
    /// `[nss.local_groups]` names a group the host does not have.
    NoLocalGroup(String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Crowd(e) => write!(f, "Crowd: {e}"),
            SyncError::Files(path, why) => write!(f, "{}: {why}", path.display()),
            SyncError::Ranges(why) => why.fmt(f),
            SyncError::NoLocalGroup(name) => write!(
                f,
                "config: [nss.local_groups] names {name:?}, which is no local group (/etc/group): \
                 only existing local groups may be mapped"
            ),
        }
    }
}
