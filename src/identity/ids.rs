//! Uid and gid assignment, remembered in a root-only map so that an id, once given,
//! is never changed for its owner nor given to anyone else.

use std::collections::{BTreeMap, BTreeSet};

use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};

use super::holdings::SubRange;

/// Every id ever assigned: users by Crowd key, groups by name, and the ids their
/// owners no longer hold (an attribute moved them), which stay taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    #[serde(default)]
    pub users: BTreeMap<String, Assigned>,
    #[serde(default)]
    pub groups: BTreeMap<String, Assigned>,
    #[serde(default)]
    pub retired_uids: BTreeSet<u32>,
    #[serde(default)]
    pub retired_gids: BTreeSet<u32>,
}

/// An id and the name its owner had when last synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    pub id: u32,
    pub name: String,
}

/// Users or groups: which half of the map, which range, which local ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::User => "uid",
            Kind::Group => "gid",
        }
    }
}

/// Why an id cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// The id Crowd names was another entry's before: ids are never reused.
    Reused {
        /// `uid` or `gid`.
        word: &'static str,
        /// The id.
        id: u32,
        /// The entry it was given to.
        other: String,
    },
    /// The id Crowd names was retired.
    Retired {
        /// `uid` or `gid`.
        word: &'static str,
        /// The id.
        id: u32,
    },
    /// No free id is left in the range.
    RangeFull {
        /// `uid` or `gid`.
        word: &'static str,
        /// The range.
        range: (u32, u32),
    },
    /// The id is a local entry's.
    Local {
        /// `uid` or `gid`.
        word: &'static str,
        /// The id.
        id: u32,
    },
    /// The id lies in a subordinate range the host gave a local user (subuid,
    /// subgid): that user's user namespaces can act as it.
    Subordinate {
        /// `uid` or `gid`.
        word: &'static str,
        /// The id.
        id: u32,
        /// Whose range it is in.
        owner: String,
    },
    /// The id is given to another Crowd entry in this sync.
    Taken {
        /// `uid` or `gid`.
        word: &'static str,
        /// The id.
        id: u32,
    },
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdError::Reused { word, id, other } => write!(
                f,
                "{word} {id} (from Crowd) was given to {other:?} before: ids are never reused"
            ),
            IdError::Retired { word, id } => {
                write!(
                    f,
                    "{word} {id} (from Crowd) was retired: ids are never reused"
                )
            }
            IdError::RangeFull { word, range } => {
                write!(f, "no free {word} left in {}..{}", range.0, range.1)
            }
            IdError::Local { word, id } => write!(
                f,
                "{word} {id} belongs to a local entry, which is never shadowed"
            ),
            IdError::Subordinate { word, id, owner } => write!(
                f,
                "{word} {id} lies in the subordinate range of {owner:?} (/etc/sub{word}), \
                 whose user namespaces can act as it"
            ),
            IdError::Taken { word, id } => {
                write!(f, "{word} {id} is another Crowd entry's in this sync")
            }
        }
    }
}

impl std::error::Error for IdError {}

/// The ids the host holds: its entries' (passwd or group) and the subordinate ranges
/// it gave local users (subuid or subgid). No Crowd entry gets one.
#[derive(Debug, Clone, Copy)]
pub struct HostIds<'a> {
    pub local: &'a BTreeSet<u32>,
    pub subordinate: &'a [SubRange],
}

impl HostIds<'_> {
    /// Why `id` is the host's, if it is.
    fn refuse(&self, word: &'static str, id: u32) -> Option<IdError> {
        if self.local.contains(&id) {
            return Some(IdError::Local { word, id });
        }
        self.subordinate
            .iter()
            .find(|r| (r.first..=r.last).contains(&id))
            .map(|r| IdError::Subordinate {
                word,
                id,
                owner: r.owner.clone(),
            })
    }

    /// `range` less the subordinate ranges: where allocation looks.
    pub fn free_segments(&self, range: (u32, u32)) -> Vec<(u32, u32)> {
        let mut segments = vec![range];
        for sub in self.subordinate {
            segments = segments
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut left = Vec::with_capacity(2);
                    if sub.last < a || sub.first > b {
                        left.push((a, b));
                    } else {
                        if sub.first > a {
                            left.push((a, sub.first - 1));
                        }
                        if sub.last < b {
                            left.push((sub.last + 1, b));
                        }
                    }
                    left
                })
                .collect();
        }
        segments
    }
}

/// One assignment request.
pub struct Request<'a> {
    pub kind: Kind,
    /// What the id is remembered by: a user's Crowd key, a group's name.
    pub key: &'a str,
    pub name: &'a str,
    /// An id Crowd holds for it (`uidNumber` / `gidNumber`).
    pub wanted: Option<u32>,
    /// The range to allocate from (inclusive).
    pub range: (u32, u32),
}

impl IdMap {
    fn entries(&mut self, kind: Kind) -> (&mut BTreeMap<String, Assigned>, &mut BTreeSet<u32>) {
        match kind {
            Kind::User => (&mut self.users, &mut self.retired_uids),
            Kind::Group => (&mut self.groups, &mut self.retired_gids),
        }
    }

    /// Every id of `kind` held or retired: what a new allocation must avoid. Taken
    /// once per sync, so that allocating for 10,000 new users is not 10,000 scans.
    pub fn reserved(&self, kind: Kind) -> BTreeSet<u32> {
        let (entries, retired) = match kind {
            Kind::User => (&self.users, &self.retired_uids),
            Kind::Group => (&self.groups, &self.retired_gids),
        };
        entries
            .values()
            .map(|a| a.id)
            .chain(retired.iter().copied())
            .collect()
    }

    /// The id for `request`, recorded in the map. `host` holds the ids of the
    /// host's own entries and subordinate ranges, `in_use` those given in this sync so
    /// far (updated), and `reserved` the map's ids when the sync began
    /// ([`IdMap::reserved`]).
    pub fn assign(
        &mut self,
        request: &Request,
        host: &HostIds,
        in_use: &mut BTreeSet<u32>,
        reserved: &BTreeSet<u32>,
    ) -> Result<u32, IdError> {
        let word = request.kind.word();
        let (entries, retired) = self.entries(request.kind);
        let held = entries.get(request.key).map(|a| a.id);
        let owner_of = |id: u32| {
            entries
                .iter()
                .find(|(k, a)| a.id == id && k.as_str() != request.key)
                .map(|(_, a)| a.name.clone())
        };
        let id = if let Some(wanted) = request.wanted {
            if let Some(other) = owner_of(wanted) {
                return Err(IdError::Reused {
                    word,
                    id: wanted,
                    other,
                });
            }
            if retired.contains(&wanted) && held != Some(wanted) {
                return Err(IdError::Retired { word, id: wanted });
            }
            wanted
        } else if let Some(id) = held {
            id
        } else {
            let taken = |id: u32| {
                host.local.contains(&id) || in_use.contains(&id) || reserved.contains(&id)
            };
            allocate(request.key, &host.free_segments(request.range), taken).ok_or(
                IdError::RangeFull {
                    word,
                    range: request.range,
                },
            )?
        };
        if let Some(refused) = host.refuse(word, id) {
            return Err(refused);
        }
        if !in_use.insert(id) {
            return Err(IdError::Taken { word, id });
        }
        if let Some(old) = held.filter(|old| *old != id) {
            retired.insert(old);
        }
        entries.insert(
            request.key.to_owned(),
            Assigned {
                id,
                name: request.name.to_owned(),
            },
        );
        Ok(id)
    }
}

/// The first free id from a place in `segments` (inclusive ranges, in order)
/// proposed by a hash of `key`, so that an id does not depend on the order users
/// arrive in; `None` when every segment is full.
fn allocate(key: &str, segments: &[(u32, u32)], taken: impl Fn(u32) -> bool) -> Option<u32> {
    let size: u64 = segments.iter().map(|(a, b)| u64::from(b - a) + 1).sum();
    if size == 0 {
        return None;
    }
    let digest = Blake2s256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let start = u64::from_le_bytes(first) % size;
    (0..size)
        .filter_map(|step| nth(segments, (start + step) % size))
        .find(|id| !taken(*id))
}

/// The `index`th id of `segments`, counted across them.
fn nth(segments: &[(u32, u32)], mut index: u64) -> Option<u32> {
    for (a, b) in segments {
        let len = u64::from(b - a) + 1;
        if index < len {
            return u32::try_from(index).ok().map(|i| a + i);
        }
        index -= len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `assign` with the map's own reserved ids, as a sync of one user.
    fn give(
        map: &mut IdMap,
        request: &Request,
        local: &BTreeSet<u32>,
        in_use: &mut BTreeSet<u32>,
    ) -> Result<u32, IdError> {
        let reserved = map.reserved(request.kind);
        let host = HostIds {
            local,
            subordinate: &[],
        };
        map.assign(request, &host, in_use, &reserved)
    }

    fn user<'a>(key: &'a str, name: &'a str, wanted: Option<u32>) -> Request<'a> {
        Request {
            kind: Kind::User,
            key,
            name,
            wanted,
            range: (1000, 1009),
        }
    }

    #[test]
    fn an_id_stays_with_its_key_and_is_never_given_again() {
        let mut map = IdMap::default();
        let local = BTreeSet::from([1000, 1001]);
        let a = give(
            &mut map,
            &user("k1", "alice", None),
            &local,
            &mut BTreeSet::new(),
        )
        .unwrap();
        assert!((1002..=1009).contains(&a), "local ids are skipped");
        // Renamed in Crowd: same key, same uid, new name remembered.
        let again = give(
            &mut map,
            &user("k1", "alicia", None),
            &local,
            &mut BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(again, a);
        assert_eq!(map.users["k1"].name, "alicia");
        // Everyone else gets another id, until the range is full.
        let mut seen = BTreeSet::from([a]);
        for i in 2..=8 {
            let key = format!("k{i}");
            let id = give(
                &mut map,
                &user(&key, &key, None),
                &local,
                &mut BTreeSet::new(),
            )
            .unwrap();
            assert!(seen.insert(id), "{id} given twice");
        }
        let full = give(
            &mut map,
            &user("k9", "x", None),
            &local,
            &mut BTreeSet::new(),
        );
        assert!(matches!(full, Err(IdError::RangeFull { word: "uid", .. })));
        // An attribute asking for someone's id is refused; one moving its owner
        // retires the old id for good.
        let taken = map.users["k2"].id;
        assert!(
            give(
                &mut map,
                &user("k1", "alicia", Some(taken)),
                &local,
                &mut BTreeSet::new()
            )
            .is_err()
        );
        assert_eq!(
            give(
                &mut map,
                &user("k1", "alicia", Some(5000)),
                &local,
                &mut BTreeSet::new()
            ),
            Ok(5000)
        );
        assert!(map.retired_uids.contains(&a));
        assert!(
            give(
                &mut map,
                &user("k10", "y", Some(a)),
                &local,
                &mut BTreeSet::new()
            )
            .is_err()
        );
    }

    #[test]
    fn local_ids_and_ids_given_in_the_same_sync_are_never_shared() {
        let mut map = IdMap::default();
        let local = BTreeSet::from([0, 4000]);
        let e = give(
            &mut map,
            &user("k", "root2", Some(0)),
            &local,
            &mut BTreeSet::new(),
        );
        assert!(matches!(e, Err(IdError::Local { .. })));
        let mut in_use = BTreeSet::new();
        assert_eq!(
            give(&mut map, &user("a", "a", Some(7000)), &local, &mut in_use),
            Ok(7000)
        );
        assert!(give(&mut map, &user("b", "b", Some(7000)), &local, &mut in_use).is_err());
        // A remembered id that a local entry has taken since is not used.
        map.users.insert(
            "c".into(),
            Assigned {
                id: 4000,
                name: "c".into(),
            },
        );
        assert!(give(&mut map, &user("c", "c", None), &local, &mut in_use).is_err());
    }

    #[test]
    fn the_proposal_is_the_same_on_every_host_and_release() {
        // Hosts sync on their own: a user gets the same uid everywhere only if the
        // proposal from the key never changes (blake2s of the key, modulo the range).
        let nothing = BTreeSet::new();
        let host = HostIds {
            local: &nothing,
            subordinate: &[],
        };
        let mut map = IdMap::default();
        let mut given = BTreeSet::new();
        let mut ids = Vec::new();
        for key in ["32769:alice", "32770:bob", "carol"] {
            let request = Request {
                range: (65_536, 99_999),
                ..user(key, key, None)
            };
            ids.push(
                map.assign(&request, &host, &mut given, &BTreeSet::new())
                    .unwrap(),
            );
        }
        assert_eq!(ids, PINNED);
        // Keeping its id retires nothing.
        let again = map.assign(
            &Request {
                range: (65_536, 99_999),
                ..user("carol", "carol", None)
            },
            &host,
            &mut BTreeSet::new(),
            &BTreeSet::new(),
        );
        assert_eq!(again, Ok(ids[2]));
        assert!(map.retired_uids.is_empty(), "{:?}", map.retired_uids);
    }

    /// The ids [`the_proposal_is_the_same_on_every_host_and_release`] expects: blake2s-256
    /// of the key, its first 8 bytes little-endian, modulo the range size (checked with
    /// Python's hashlib).
    const PINNED: [u32; 3] = [95_820, 78_978, 70_400];

    #[test]
    fn the_proposal_does_not_depend_on_order() {
        let (mut one, mut two) = (IdMap::default(), IdMap::default());
        let nothing = BTreeSet::new();
        let none = HostIds {
            local: &nothing,
            subordinate: &[],
        };
        let r = |k: &'static str| Request {
            range: (200_000, 299_999),
            ..user(k, k, None)
        };
        let a1 = one
            .assign(&r("ka"), &none, &mut BTreeSet::new(), &BTreeSet::new())
            .unwrap();
        let b2 = two
            .assign(&r("kb"), &none, &mut BTreeSet::new(), &BTreeSet::new())
            .unwrap();
        let a2 = two
            .assign(&r("ka"), &none, &mut BTreeSet::new(), &BTreeSet::new())
            .unwrap();
        assert_eq!(a1, a2);
        assert_ne!(a1, b2);
    }

    #[test]
    fn allocation_looks_only_where_no_subordinate_range_is() {
        let nothing = BTreeSet::new();
        // Every way a subordinate range can meet the range, to the id.
        let free = |first: u32, last: u32| {
            let sub = [SubRange {
                owner: "o".into(),
                first,
                last,
            }];
            HostIds {
                local: &nothing,
                subordinate: &sub,
            }
            .free_segments((1000, 1009))
        };
        assert_eq!(free(990, 999), [(1000, 1009)], "just before");
        assert_eq!(free(900, 950), [(1000, 1009)], "before");
        assert_eq!(free(1010, 1020), [(1000, 1009)], "just after");
        assert_eq!(free(1050, 1100), [(1000, 1009)], "after");
        assert_eq!(free(990, 1000), [(1001, 1009)], "over the first id");
        assert_eq!(free(1009, 1020), [(1000, 1008)], "over the last id");
        assert_eq!(free(1000, 1009), [], "the whole range");
        assert_eq!(free(1000, 1000), [(1001, 1009)]);
        assert_eq!(free(1009, 1009), [(1000, 1008)]);
        assert_eq!(free(1001, 1008), [(1000, 1000), (1009, 1009)]);
    }

    #[test]
    fn subordinate_ranges_are_never_given_nor_taken_from_crowd() {
        let nothing = BTreeSet::new();
        let subordinate = [SubRange {
            owner: "alice".into(),
            first: 1002,
            last: 1007,
        }];
        let host = HostIds {
            local: &nothing,
            subordinate: &subordinate,
        };
        assert_eq!(
            host.free_segments((1000, 1009)),
            [(1000, 1001), (1008, 1009)]
        );
        let mut map = IdMap::default();
        let mut given = BTreeSet::new();
        for i in 0..4 {
            let key = format!("k{i}");
            let id = map
                .assign(&user(&key, &key, None), &host, &mut given, &BTreeSet::new())
                .unwrap();
            assert!(!(1002..=1007).contains(&id), "{id}");
        }
        let full = map.assign(&user("k9", "k9", None), &host, &mut given, &BTreeSet::new());
        assert!(matches!(full, Err(IdError::RangeFull { .. })), "{full:?}");
        let wanted = map.assign(
            &user("x", "x", Some(1005)),
            &host,
            &mut given,
            &BTreeSet::new(),
        );
        assert_eq!(
            wanted,
            Err(IdError::Subordinate {
                word: "uid",
                id: 1005,
                owner: "alice".into()
            })
        );
        // An id remembered from before the range was given is not used either.
        map.users.insert(
            "old".into(),
            Assigned {
                id: 1003,
                name: "old".into(),
            },
        );
        let held = map.assign(
            &user("old", "old", None),
            &host,
            &mut given,
            &BTreeSet::new(),
        );
        assert!(
            matches!(held, Err(IdError::Subordinate { id: 1003, .. })),
            "{held:?}"
        );
        // The upper bound of an id attribute holds (see identity::id_attribute).
        let whole = HostIds {
            local: &nothing,
            subordinate: &[SubRange {
                owner: "b".into(),
                first: 0,
                last: u32::MAX,
            }],
        };
        assert!(whole.free_segments((1000, 1009)).is_empty());
    }
}
