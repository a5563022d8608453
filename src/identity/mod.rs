//! The host's rules for a Crowd identity: what name, uid, gid, primary gid, home and
//! shell a Crowd user (or group) may have here. What sync writes becomes ids, homes
//! and shells that sudo, the kernel and other users trust, so a Crowd value may only
//! select among what the host's admin allowed: never a local name, a local or
//! subordinate id, a local group as primary group, another user's home or a shell
//! /etc/shells does not list. Sync asks these rules once per entry and gets back a
//! value or a typed refusal ([`Skip`]) or, where a default stands in, a note.
//!
//! [`holdings`] reads what the host already holds; [`ids`] remembers the ids given;
//! [`homes`] keeps one home per user.

pub mod holdings;
pub mod homes;
pub mod ids;

use std::fmt;
use std::path::{Path, PathBuf};

use nss_crowd_files::{Group, NameError, check_group_name, check_text, check_user_name};

use crate::config::NssConfig;
use crate::crowd::{Attributes, User};
use crate::names::{HostNameRefused, check_host_name};
use holdings::Holdings;
use homes::{Clash, Holder, Homes};
use ids::{HostIds, IdError, IdMap, Kind};

/// Why a Crowd user or group is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A name passwd and group lines cannot hold.
    Name(NameError),
    /// A name the host cannot show unambiguously ([`check_host_name`]).
    HostName(HostNameRefused),
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
    Id(IdError),
    /// Neither the `homeDirectory` nor the `home` template's path is free.
    Home(Clash),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Name(e) => e.fmt(f),
            Skip::HostName(e) => write!(f, "its name is no user name here: {e}"),
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
            Skip::Home(clash) => write!(f, "no home is free for it: the template's path: {clash}"),
        }
    }
}

impl From<NameError> for Skip {
    fn from(e: NameError) -> Skip {
        Skip::Name(e)
    }
}

impl From<IdError> for Skip {
    fn from(e: IdError) -> Skip {
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
    /// Another entry's home, or inside or above one.
    Taken(Clash),
}

impl fmt::Display for HomeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HomeRefused::NotNormal => f.write_str("not an absolute, normalised path on one line"),
            HomeRefused::NotBelow(bases) => write!(f, "not below [nss] home_bases {bases:?}"),
            HomeRefused::Taken(clash) => clash.fmt(f),
        }
    }
}

/// Why the `[nss]` id ranges cannot be synced into at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRefused {
    /// The whole range lies in subordinate ranges of local users.
    Subordinate {
        /// `uid` or `gid`.
        word: &'static str,
        /// The range.
        range: (u32, u32),
    },
    /// nsswitch.conf names a `subid:` service whose ranges cannot be read here.
    SubidService(String),
}

impl fmt::Display for RangeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeRefused::Subordinate { word, range } => write!(
                f,
                "[nss] {word}_min..{word}_max ({}..{}) lies wholly inside subordinate ranges of \
                 /etc/sub{word}: every id there is a local user's to map; choose a range outside them",
                range.0, range.1
            ),
            RangeRefused::SubidService(service) => write!(
                f,
                "nsswitch.conf names `subid: {service}`: subordinate ids come from that service, \
                 whose ranges pam-crowd cannot read, so no id is known to be free of them"
            ),
        }
    }
}

/// The rules of one sync: the config and what the host holds.
pub struct Rules<'a> {
    pub nss: &'a NssConfig,
    pub held: &'a Holdings,
}

/// A Crowd user that passed the name rules, on its way to a passwd entry.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The Linux name.
    pub name: String,
    /// Crowd's key for the user, or the name when Crowd gives none (SOAP).
    pub key: String,
    /// Crowd's user.
    pub user: &'a User,
    pub attributes: &'a Attributes,
}

impl Rules<'_> {
    /// Refuses to sync into ranges that are all subordinate ids, or when subordinate
    /// ids come from somewhere that cannot be read.
    pub fn check_ranges(&self) -> Result<(), RangeRefused> {
        if let Some(service) = &self.held.subid_service {
            return Err(RangeRefused::SubidService(service.clone()));
        }
        for (word, range, kind) in [
            ("uid", self.nss.uids, Kind::User),
            ("gid", self.nss.gids, Kind::Group),
        ] {
            if self.host_ids(kind).free_segments(range).is_empty() {
                return Err(RangeRefused::Subordinate { word, range });
            }
        }
        Ok(())
    }

    /// The Linux name of Crowd's user `crowd_name` (`user_names`), if the host may
    /// hold it: one passwd can hold, the name rule admits, and no local user has.
    pub fn user_name(&self, crowd_name: &str) -> Result<String, Skip> {
        let name = self.nss.user_names.linux_name(crowd_name);
        check_user_name(&name)?;
        check_host_name(&name).map_err(Skip::HostName)?;
        if self.held.users.contains(&name) {
            return Err(Skip::LocalName { what: "user" });
        }
        Ok(name)
    }

    /// Whether an exposed group may be written under `name`.
    pub fn group_name(&self, name: &str) -> Result<(), Skip> {
        check_group_name(name)?;
        if self.held.groups.contains(name) {
            return Err(Skip::LocalName { what: "group" });
        }
        Ok(())
    }

    /// The ids the host holds of `kind`.
    pub fn host_ids(&self, kind: Kind) -> HostIds<'_> {
        match kind {
            Kind::User => HostIds {
                local: &self.held.uids,
                subordinate: &self.held.subuids,
            },
            Kind::Group => HostIds {
                local: &self.held.gids,
                subordinate: &self.held.subgids,
            },
        }
    }

    /// Each candidate's home: its `homeDirectory` if below the home bases and no
    /// other entry's (local homes, other candidates' template paths, homes taken
    /// before it), else the `home` template's path if free, else a refusal. Notes
    /// say why a `homeDirectory` was not taken.
    pub fn homes(
        &self,
        candidates: &[Candidate],
        notes: &mut Vec<String>,
    ) -> Vec<Result<String, Skip>> {
        let mut homes = Homes::new(&self.held.homes, &self.nss.home_bases);
        let template = |name: &str| self.nss.home.replace("{name}", name);
        for c in candidates {
            homes.hold(&template(&c.name), Holder::Template(c.name.clone()));
        }
        // Every template first, so that no homeDirectory takes a path another
        // user's template gives; then each in name order.
        candidates
            .iter()
            .map(|c| {
                let wanted =
                    single(c.attributes, "homeDirectory").filter(|h| *h != template(&c.name));
                if let Some(home) = wanted {
                    let checked = home_below_bases(&home, &self.nss.home_bases).and_then(|()| {
                        homes
                            .clash(&home, &c.name)
                            .map_or(Ok(()), |clash| Err(HomeRefused::Taken(clash)))
                    });
                    match checked {
                        Ok(()) => {
                            homes.hold(&home, Holder::Crowd(c.name.clone()));
                            return Ok(home);
                        }
                        Err(why) => notes.push(format!(
                            "user {:?}: homeDirectory {home:?} refused ({why}); {:?} used",
                            c.name,
                            template(&c.name)
                        )),
                    }
                }
                let own = template(&c.name);
                match homes.clash(&own, &c.name) {
                    None => Ok(own),
                    Some(clash) => Err(Skip::Home(clash)),
                }
            })
            .collect()
    }

    /// The candidate's uid: its `uidNumber` if usable, else the one it had, else a
    /// new one from `[nss] uid_min..uid_max`; never the host's (local or
    /// subordinate).
    pub fn uid(&self, ids: &mut IdMap, c: &Candidate, given: &mut Given) -> Result<u32, Skip> {
        let id = ids.assign(
            &ids::Request {
                kind: Kind::User,
                key: &c.key,
                name: &c.name,
                wanted: id_attribute(c.attributes, "uidNumber", self.nss.min_uid)?,
                range: self.nss.uids,
            },
            &self.host_ids(Kind::User),
            &mut given.in_use,
            &given.reserved,
        )?;
        Ok(id)
    }

    /// The exposed group's gid, as [`Rules::uid`] for users.
    pub fn gid(
        &self,
        ids: &mut IdMap,
        name: &str,
        attributes: &Attributes,
        given: &mut Given,
    ) -> Result<u32, Skip> {
        let id = ids.assign(
            &ids::Request {
                kind: Kind::Group,
                key: name,
                name,
                wanted: id_attribute(attributes, "gidNumber", self.nss.min_uid)?,
                range: self.nss.gids,
            },
            &self.host_ids(Kind::Group),
            &mut given.in_use,
            &given.reserved,
        )?;
        Ok(id)
    }

    /// The user's primary gid: a `gidNumber` only when it is `[nss] primary_gid` or
    /// the gid of an exposed group (`groups`, as this sync writes them) whose Crowd
    /// members include the user; anything else would make them a member of a group
    /// (sudo and the kernel count the primary gid) that Crowd cannot grant.
    pub fn primary_gid(
        &self,
        c: &Candidate,
        crowd_members: &dyn Fn(&Group) -> bool,
        groups: &[Group],
        notes: &mut Vec<String>,
    ) -> u32 {
        let Some(values) = c.attributes.get("gidNumber") else {
            return self.nss.primary_gid;
        };
        let wanted = single(c.attributes, "gidNumber").and_then(|v| v.parse::<u32>().ok());
        let why = match wanted {
            None => format!("{values:?} is not one gid"),
            Some(gid) if gid == self.nss.primary_gid => return gid,
            Some(gid) => match groups.iter().find(|g| g.gid == gid) {
                Some(g) if crowd_members(g) => return gid,
                Some(g) => format!(
                    "{gid} is exposed group {:?}'s, and the user is not its member",
                    g.name
                ),
                None if self.held.gids.contains(&gid) => format!("{gid} is a local group's"),
                None => format!("{gid} is no exposed group's"),
            },
        };
        notes.push(format!(
            "user {:?}: gidNumber refused ({why}); primary_gid {} used",
            c.name, self.nss.primary_gid
        ));
        self.nss.primary_gid
    }

    /// The user's shell: a `loginShell` only if /etc/shells lists it, else `[nss] shell`.
    pub fn shell(&self, c: &Candidate, notes: &mut Vec<String>) -> String {
        let Some(values) = c.attributes.get("loginShell") else {
            return self.nss.shell.clone();
        };
        match single(c.attributes, "loginShell") {
            Some(shell)
                if (self.held.shells.contains(&shell) || shell == self.nss.shell)
                    && check_text(&shell).is_ok() =>
            {
                shell
            }
            _ => {
                notes.push(format!(
                    "user {:?}: loginShell {values:?} refused (not a shell /etc/shells lists); {:?} used",
                    c.name, self.nss.shell
                ));
                self.nss.shell.clone()
            }
        }
    }
}

/// The ids of one kind given in this sync, and those the map held when it began.
pub struct Given {
    pub in_use: std::collections::BTreeSet<u32>,
    pub reserved: std::collections::BTreeSet<u32>,
}

impl Given {
    /// None given yet, `ids`' reserved.
    pub fn new(ids: &IdMap, kind: Kind) -> Given {
        Given {
            in_use: Default::default(),
            reserved: ids.reserved(kind),
        }
    }
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
/// below `lowest` (`[nss]`'s `min_uid`: the host's ids, never below `LOWEST_ID`),
/// not nobody's (65534) and not `(uid_t)-1` or `(uid_t)-2`.
pub fn id_attribute(
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
