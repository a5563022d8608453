//! The `[nss]` table (what `pam-crowd sync` writes for `libnss_crowd.so.2`) and the
//! `[session]` table (home directories), validated.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

/// Where `pam-crowd sync` writes, and the NSS module reads, unless `[nss] dir` says
/// otherwise (the module always reads this one).
pub const DEFAULT_NSS_DIR: &str = "/var/lib/pam_crowd";
/// The default id range: above every id a distribution's tools give local users
/// (useradd's and adduser's UID_MAX 60000, systemd's homed and DynamicUser ids up to
/// 65519, nobody 65534, the 16-bit 65535), and below the window useradd hands
/// subordinate ranges out of (`SUB_UID_MIN` 100000, default), whose ids a local user's
/// user namespaces act as. The old default, 200000-299999, lay inside that window.
/// 34,464 ids; larger sites choose a range of their own (docs/sync-and-nss.md, "Choosing id ranges").
const DEFAULT_ID_MIN: u32 = 65_536;
const DEFAULT_ID_MAX: u32 = 99_999;
/// Debian's and Fedora's `users` group.
const DEFAULT_PRIMARY_GID: u32 = 100;
const DEFAULT_HOME: &str = "/home/{name}";
const DEFAULT_SHELL: &str = "/bin/bash";
/// A sync that would drop more than this share of the users synced last refuses.
/// A full sync at least daily: the backstop against anything the events missed.
const DEFAULT_FULL_SYNC_HOURS: u64 = 24;
const MAX_FULL_SYNC_HOURS: u64 = 168;
const DEFAULT_MAX_DROP: f64 = 0.2;
/// Most attribute changes are no event in Crowd (only `synch.*` ones are stored):
/// between full syncs, the synced users' attributes are read again this often.
const DEFAULT_ATTRIBUTES_MINUTES: u64 = 60;
const ATTRIBUTES_MINUTES: std::ops::RangeInclusive<u64> = 5..=1440;
/// Ids below this are the system's (and 65534 is nobody's): never Crowd users'.
pub const LOWEST_ID: u32 = 1000;

/// `[nss]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NssConfig {
    /// Crowd groups whose active nested members become users; empty: no sync.
    pub groups: Vec<String>,
    /// Crowd groups written to the group file, with their synced nested members.
    pub expose_groups: Vec<String>,
    /// `[nss.local_groups]`: existing local groups (by name) that the synced nested
    /// members of the listed Crowd groups get as a supplementary group.
    pub local_groups: BTreeMap<String, Vec<String>>,
    /// Where the files are written.
    pub dir: PathBuf,
    /// Range uids are allocated from (inclusive).
    pub uids: (u32, u32),
    /// Range gids are allocated from (inclusive).
    pub gids: (u32, u32),
    /// Primary gid of users without a `gidNumber` attribute.
    pub primary_gid: u32,
    /// Home directory of users without a `homeDirectory` attribute; `{name}` is
    /// replaced by the user name.
    pub home: String,
    /// Shell of users without a `loginShell` attribute.
    pub shell: String,
    /// Where a Crowd `homeDirectory` may point: strictly below one of these. Default:
    /// the directory part of `home` (`/home` for `/home/{name}`).
    pub home_bases: Vec<PathBuf>,
    /// The share (0 to 1) of the last sync's users a sync may drop without `--force`.
    pub max_drop: f64,
    /// Hours after which a sync is a full one again, whatever Crowd's events say: the
    /// backstop against anything the events missed.
    pub full_sync_hours: u64,
    /// Minutes after which an incremental sync reads the users' attributes again
    /// (`loginShell`, `uidNumber` and the rest change without an event).
    pub attributes_minutes: u64,
    /// Ids below this are the host's: a Crowd `uidNumber`/`gidNumber` under it is
    /// refused. The larger of [`LOWEST_ID`] and the top-level `min_uid`.
    pub min_uid: u32,
    /// The top-level `user_names`: the names written are the Linux names.
    pub user_names: crate::names::UserNames,
}

impl Default for NssConfig {
    fn default() -> Self {
        NssConfig {
            groups: Vec::new(),
            expose_groups: Vec::new(),
            local_groups: BTreeMap::new(),
            dir: PathBuf::from(DEFAULT_NSS_DIR),
            uids: (DEFAULT_ID_MIN, DEFAULT_ID_MAX),
            gids: (DEFAULT_ID_MIN, DEFAULT_ID_MAX),
            primary_gid: DEFAULT_PRIMARY_GID,
            home: DEFAULT_HOME.into(),
            shell: DEFAULT_SHELL.into(),
            home_bases: vec![PathBuf::from("/home")],
            max_drop: DEFAULT_MAX_DROP,
            full_sync_hours: DEFAULT_FULL_SYNC_HOURS,
            attributes_minutes: DEFAULT_ATTRIBUTES_MINUTES,
            min_uid: LOWEST_ID,
            user_names: crate::names::UserNames::Exact,
        }
    }
}

/// `[nss]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNss {
    groups: Option<Spanned<Vec<String>>>,
    expose_groups: Option<Spanned<Vec<String>>>,
    local_groups: Option<BTreeMap<String, Spanned<Vec<String>>>>,
    dir: Option<Spanned<PathBuf>>,
    uid_min: Option<Spanned<u32>>,
    uid_max: Option<Spanned<u32>>,
    gid_min: Option<Spanned<u32>>,
    gid_max: Option<Spanned<u32>>,
    primary_gid: Option<Spanned<u32>>,
    home: Option<Spanned<String>>,
    shell: Option<Spanned<String>>,
    home_bases: Option<Spanned<Vec<String>>>,
    max_drop: Option<Spanned<f64>>,
    full_sync_hours: Option<Spanned<u64>>,
    attributes_minutes: Option<Spanned<u64>>,
}

type Err<'a> = &'a dyn Fn(Range<usize>, &str, String) -> ConfigError;

/// `[nss.local_groups]`: local group names (that the host has is checked by the sync
/// and `pam-crowd check`, which read the host) mapped to non-empty lists of Crowd
/// groups.
fn local_groups(
    table: BTreeMap<String, Spanned<Vec<String>>>,
    err: Err,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    super::group_map(table, "nss.local_groups", err, |local| {
        nss_crowd_files::check_group_name(local).map_err(|e| format!("not a group name: {e}"))
    })
}

impl NssConfig {
    /// The Crowd groups `[nss.local_groups]` names, each once.
    pub fn mapped_groups(&self) -> Vec<String> {
        let mut all: Vec<String> = self.local_groups.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A number of `key` inside `bounds` (`words` say the upper one), if given.
fn within(
    value: Option<Spanned<u64>>,
    key: &str,
    bounds: std::ops::RangeInclusive<u64>,
    words: &str,
    err: Err,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if !bounds.contains(value.get_ref()) {
        return Err(err(
            value.span(),
            key,
            format!(
                "must be between {} and {} ({words})",
                bounds.start(),
                bounds.end()
            ),
        ));
    }
    Ok(Some(value.into_inner()))
}

impl RawNss {
    pub(super) fn validate(self, err: Err) -> Result<NssConfig, ConfigError> {
        let mut nss = NssConfig::default();
        for (value, key, target) in [
            (self.groups, "nss.groups", &mut nss.groups),
            (
                self.expose_groups,
                "nss.expose_groups",
                &mut nss.expose_groups,
            ),
        ] {
            if let Some(list) = value {
                let span = list.span();
                *target = super::check_groups(list.into_inner(), |m| err(span, key, m))?;
            }
        }
        nss.local_groups = local_groups(self.local_groups.unwrap_or_default(), err)?;
        if let Some(dir) = self.dir {
            if !dir.get_ref().is_absolute() {
                return Err(err(
                    dir.span(),
                    "nss.dir",
                    "must be an absolute path".into(),
                ));
            }
            nss.dir = dir.into_inner();
        }
        nss.uids = range(self.uid_min, self.uid_max, nss.uids, "nss.uid", err)?;
        nss.gids = range(self.gid_min, self.gid_max, nss.gids, "nss.gid", err)?;
        if let Some(gid) = self.primary_gid {
            nss.primary_gid = gid.into_inner();
        }
        for (value, key, target, hint) in [
            (
                self.home,
                "nss.home",
                &mut nss.home,
                " ({name} is the user name)",
            ),
            (self.shell, "nss.shell", &mut nss.shell, ""),
        ] {
            if let Some(path) = value {
                // A home template must read the same however it is walked.
                let ok = is_normal_path(&path.get_ref().replace("{name}", "n"));
                if !ok {
                    return Err(err(
                        path.span(),
                        key,
                        format!("must be an absolute, normalised path without ':'{hint}"),
                    ));
                }
                *target = path.into_inner();
            }
        }
        nss.home_bases = match self.home_bases {
            None => vec![template_base(&nss.home)],
            Some(list) => home_bases(list, err)?,
        };
        limits(
            &mut nss,
            (self.max_drop, self.full_sync_hours, self.attributes_minutes),
            err,
        )?;
        Ok(nss)
    }
}

/// The keys bounding a sync: `max_drop`, `full_sync_hours`, `attributes_minutes`.
type Limits = (
    Option<Spanned<f64>>,
    Option<Spanned<u64>>,
    Option<Spanned<u64>>,
);

fn limits(nss: &mut NssConfig, limits: Limits, err: Err) -> Result<(), ConfigError> {
    let (max_drop, full_sync_hours, attributes_minutes) = limits;
    if let Some(share) = max_drop {
        if !(0.0..=1.0).contains(share.get_ref()) {
            return Err(err(
                share.span(),
                "nss.max_drop",
                "must be a share between 0.0 and 1.0 (0.2: a fifth of the users)".into(),
            ));
        }
        nss.max_drop = share.into_inner();
    }
    let hours = 1..=MAX_FULL_SYNC_HOURS;
    if let Some(h) = within(full_sync_hours, "nss.full_sync_hours", hours, "a week", err)? {
        nss.full_sync_hours = h;
    }
    let minutes = ATTRIBUTES_MINUTES;
    if let Some(m) = within(
        attributes_minutes,
        "nss.attributes_minutes",
        minutes,
        "a day",
        err,
    )? {
        nss.attributes_minutes = m;
    }
    Ok(())
}

/// `[nss] home_bases`: the directories a Crowd `homeDirectory` must be below.
fn home_bases(list: Spanned<Vec<String>>, err: Err) -> Result<Vec<PathBuf>, ConfigError> {
    let span = list.span();
    list.into_inner()
        .into_iter()
        .map(|base| match is_normal_path(&base) && base != "/" {
            true => Ok(PathBuf::from(base)),
            false => Err(err(
                span.clone(),
                "nss.home_bases",
                "each must be an absolute, normalised directory other than / \
                 (no `.`, `..` or `//`), such as \"/home\""
                    .into(),
            )),
        })
        .collect()
}

/// The directory part of a `home` template: the path up to the component holding
/// `{name}` (`/home` for `/home/{name}`), or its parent when no component does.
fn template_base(template: &str) -> PathBuf {
    let components: Vec<&str> = template.split('/').collect();
    let upto = components
        .iter()
        .position(|c| c.contains("{name}"))
        .unwrap_or(components.len().saturating_sub(1));
    let base = components[..upto].join("/");
    PathBuf::from(if base.is_empty() { "/" } else { &base })
}

/// An absolute path with no empty, `.` or `..` component and no trailing slash, on
/// one line without ':' (a passwd field): the same path however it is read.
pub fn is_normal_path(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && nss_crowd_files::check_text(path).is_ok()
            && path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// `KEY_min..=KEY_max` with defaults, above the system's ids and not reversed.
fn range(
    min: Option<Spanned<u32>>,
    max: Option<Spanned<u32>>,
    default: (u32, u32),
    key: &str,
    err: Err,
) -> Result<(u32, u32), ConfigError> {
    let span = min
        .as_ref()
        .map(Spanned::span)
        .or_else(|| max.as_ref().map(Spanned::span));
    let low = min.map_or(default.0, Spanned::into_inner);
    let high = max.map_or(default.1, Spanned::into_inner);
    if let Some(span) = span {
        if low < LOWEST_ID || high < low || high >= u32::MAX - 1 {
            return Err(err(
                span,
                &format!("{key}_min"),
                format!(
                    "{key}_min..{key}_max must be a range from {LOWEST_ID} up, min not above max \
                     (got {low}..{high})"
                ),
            ));
        }
    }
    Ok((low, high))
}

/// `[session]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Whether the session phase creates a missing home directory.
    pub create_home: bool,
    /// The skeleton copied into a new home.
    pub skel: PathBuf,
    /// The umask applied to the new home and its files.
    pub umask: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            create_home: false,
            skel: PathBuf::from("/etc/skel"),
            umask: 0o022,
        }
    }
}

/// `[session]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    create_home: Option<bool>,
    skel: Option<Spanned<PathBuf>>,
    umask: Option<Spanned<String>>,
}

impl RawSession {
    pub(super) fn validate(self, err: Err) -> Result<SessionConfig, ConfigError> {
        let mut session = SessionConfig {
            create_home: self.create_home.unwrap_or(false),
            ..SessionConfig::default()
        };
        if let Some(skel) = self.skel {
            if !skel.get_ref().is_absolute() {
                return Err(err(
                    skel.span(),
                    "session.skel",
                    "must be an absolute path".into(),
                ));
            }
            session.skel = skel.into_inner();
        }
        if let Some(umask) = self.umask {
            session.umask = u32::from_str_radix(umask.get_ref(), 8)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| {
                    err(
                        umask.span(),
                        "session.umask",
                        "must be an octal string such as \"0022\" or \"0077\"".into(),
                    )
                })?;
        }
        Ok(session)
    }
}
