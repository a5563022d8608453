//! What the host already holds, read from its files themselves (through NSS a lookup
//! would also see the Crowd entries of the last sync): its users with their ids and
//! homes, its groups, the subordinate id ranges it handed out, and its login shells.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// The files the host's holdings are read from: `/etc`'s, or a test's.
#[derive(Debug, Clone)]
pub struct HostFiles {
    pub passwd: PathBuf,
    pub group: PathBuf,
    pub subuid: PathBuf,
    pub subgid: PathBuf,
    pub shells: PathBuf,
    pub nsswitch: PathBuf,
    pub login_defs: PathBuf,
}

impl HostFiles {
    /// The system's own files.
    pub fn system() -> HostFiles {
        HostFiles::under(Path::new("/"))
    }

    /// The same files below `root` instead of `/`.
    pub fn under(root: &Path) -> HostFiles {
        let etc = root.join("etc");
        HostFiles {
            passwd: etc.join("passwd"),
            group: etc.join("group"),
            subuid: etc.join("subuid"),
            subgid: etc.join("subgid"),
            shells: etc.join("shells"),
            nsswitch: etc.join("nsswitch.conf"),
            login_defs: etc.join("login.defs"),
        }
    }
}

/// One inclusive range of subordinate ids and whom it was given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubRange {
    pub owner: String,
    pub first: u32,
    pub last: u32,
}

/// Names, ids and homes of the entries in the passwd and group files, the
/// subordinate ranges of subuid and subgid, and the shells /etc/shells lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub users: BTreeSet<String>,
    pub uids: BTreeSet<u32>,
    /// `(user, home)` of each local account.
    pub homes: Vec<(String, String)>,
    pub groups: BTreeSet<String>,
    pub gids: BTreeSet<u32>,
    /// Each local group's gid, by name (`[nss.local_groups]` names local groups).
    pub group_gids: BTreeMap<String, u32>,
    pub subuids: Vec<SubRange>,
    pub subgids: Vec<SubRange>,
    pub shells: BTreeSet<String>,
    /// The service nsswitch.conf names for `subid:`, when subordinate ids come from
    /// somewhere other than the subuid and subgid files.
    pub subid_service: Option<String>,
}

impl Holdings {
    /// The holdings of `/etc`.
    pub fn system() -> io::Result<Holdings> {
        Holdings::read(&HostFiles::system())
    }

    /// The holdings in `files`. passwd and group must be readable; a missing subuid,
    /// subgid, shells or nsswitch.conf holds nothing.
    pub fn read(files: &HostFiles) -> io::Result<Holdings> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let optional = |path: &Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        let mut held = Holdings::default();
        for entry in entries(&read(&files.passwd)?) {
            held.uids.extend(entry.id);
            if let Some(home) = entry.home {
                held.homes.push((entry.name.clone(), home));
            }
            held.users.insert(entry.name);
        }
        for entry in entries(&read(&files.group)?) {
            if let Some(gid) = entry.id {
                held.group_gids.entry(entry.name.clone()).or_insert(gid);
            }
            held.groups.insert(entry.name);
            held.gids.extend(entry.id);
        }
        held.subuids = sub_ranges(&optional(&files.subuid)?);
        held.subgids = sub_ranges(&optional(&files.subgid)?);
        held.shells = optional(&files.shells)?
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .map(str::to_owned)
            .collect();
        held.subid_service = subid_service(&optional(&files.nsswitch)?);
        Ok(held)
    }
}

/// One passwd- or group-format line: the name, the third field (the id) and, in
/// passwd, the sixth (the home).
struct Entry {
    name: String,
    id: Option<u32>,
    home: Option<String>,
}

/// The entries of a passwd- or group-format file; comments and blank lines are
/// skipped, NIS `+`/`-` lines kept by name (they are still never shadowed).
fn entries(text: &str) -> impl Iterator<Item = Entry> + '_ {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let name = fields[0].trim_start_matches(['+', '-']).to_owned();
            Entry {
                name,
                id: fields.get(2).and_then(|id| id.parse().ok()),
                home: fields
                    .get(5)
                    .filter(|h| !h.is_empty())
                    .map(|h| (*h).to_owned()),
            }
        })
}

/// `(name, uid)` of every account in the passwd-format file `passwd`.
pub fn accounts(passwd: &Path) -> io::Result<Vec<(String, Option<u32>)>> {
    Ok(entries(&std::fs::read_to_string(passwd)?)
        .map(|e| (e.name, e.id))
        .collect())
}

/// The ranges of a subuid- or subgid-format file (`owner:first:count`); lines that
/// are not such a range are skipped.
fn sub_ranges(text: &str) -> Vec<SubRange> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let owner = f.next()?.to_owned();
            let first: u32 = f.next()?.parse().ok()?;
            let count: u32 = f.next()?.parse().ok()?;
            let last = first.checked_add(count.checked_sub(1)?)?;
            Some(SubRange { owner, first, last })
        })
        .collect()
}

/// The service of nsswitch.conf's `subid:` line, if any: shadow's libsubid then asks
/// `libsubid_SERVICE.so` instead of reading the subuid and subgid files.
fn subid_service(nsswitch: &str) -> Option<String> {
    nsswitch.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let rest = line.trim().strip_prefix("subid:")?;
        let service = rest.split_whitespace().next()?;
        (service != "files").then(|| service.to_owned())
    })
}

/// The window `useradd` hands new subordinate ranges out of, from login.defs
/// (`SUB_UID_MIN`..`SUB_UID_MAX`, `SUB_GID_MIN`..`SUB_GID_MAX`; shadow's defaults
/// 100000..600100000): `(uids, gids)`.
pub fn subordinate_windows(login_defs: &Path) -> ((u32, u32), (u32, u32)) {
    let text = std::fs::read_to_string(login_defs).unwrap_or_default();
    let value = |key: &str, default: u32| {
        text.lines()
            .rev()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(key)).then(|| words.next()?.parse().ok())?
            })
            .unwrap_or(default)
    };
    (
        (
            value("SUB_UID_MIN", 100_000),
            value("SUB_UID_MAX", 600_100_000),
        ),
        (
            value("SUB_GID_MIN", 100_000),
            value("SUB_GID_MAX", 600_100_000),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_homes_are_read_and_odd_lines_do_not_break_it() {
        let found: Vec<_> = entries("root:x:0:0:root:/root:/bin/bash\n# c\n\n+nis::::::\nbad\n")
            .map(|e| (e.name, e.id, e.home))
            .collect();
        assert_eq!(
            found,
            [
                ("root".into(), Some(0), Some("/root".into())),
                ("nis".into(), None, None),
                ("bad".into(), None, None)
            ]
        );
        let system = Holdings::system().unwrap();
        let accounts = accounts(Path::new("/etc/passwd")).unwrap();
        let has = |name: &str| accounts.iter().any(|(n, _)| n == name);
        assert!(has("root") && has("daemon"));
        assert!(system.users.contains("root") && system.uids.contains(&0));
        assert!(system.groups.contains("root") && system.gids.contains(&0));
    }

    #[test]
    fn subordinate_ranges_shells_and_the_subid_service() {
        let ranges = sub_ranges("alice:100000:65536\n1001:165536:65536\nbad\nz:1:0\n");
        assert_eq!(
            ranges,
            [
                SubRange {
                    owner: "alice".into(),
                    first: 100_000,
                    last: 165_535
                },
                SubRange {
                    owner: "1001".into(),
                    first: 165_536,
                    last: 231_071
                },
            ]
        );
        assert_eq!(
            subid_service("passwd: files\nsubid: sss\n"),
            Some("sss".into())
        );
        assert_eq!(subid_service("subid: files\n"), None);
        assert_eq!(subid_service("# subid: sss\npasswd: files\n"), None);
        let dir = std::env::temp_dir().join(format!("pam-crowd-logindefs-{}", std::process::id()));
        std::fs::write(
            &dir,
            "SUB_UID_MIN 500000\n#SUB_GID_MIN 1\nSUB_GID_MAX\t700000\n",
        )
        .unwrap();
        assert_eq!(
            subordinate_windows(&dir),
            ((500_000, 600_100_000), (100_000, 700_000))
        );
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            subordinate_windows(Path::new("/nonexistent/login.defs")),
            ((100_000, 600_100_000), (100_000, 600_100_000))
        );
    }
}
