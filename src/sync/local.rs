//! The host's own users and groups, read from the files themselves: through NSS, a
//! lookup would also see the Crowd entries of the last sync.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

/// Names and ids of the entries in /etc/passwd and /etc/group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    pub users: BTreeSet<String>,
    pub uids: BTreeSet<u32>,
    pub groups: BTreeSet<String>,
    pub gids: BTreeSet<u32>,
}

impl Local {
    /// The entries of `/etc/passwd` and `/etc/group`.
    pub fn system() -> io::Result<Local> {
        Local::read(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// The entries of a passwd- and a group-format file.
    pub fn read(passwd: &Path, group: &Path) -> io::Result<Local> {
        let mut local = Local::default();
        for (name, id) in entries(&std::fs::read_to_string(passwd)?) {
            local.users.insert(name);
            local.uids.extend(id);
        }
        for (name, id) in entries(&std::fs::read_to_string(group)?) {
            local.groups.insert(name);
            local.gids.extend(id);
        }
        Ok(local)
    }
}

/// The names in the passwd-format file `passwd` that are the host's own accounts:
/// `root`, and every uid below `min_uid`.
pub fn system_accounts(passwd: &Path, min_uid: u32) -> io::Result<Vec<String>> {
    Ok(entries(&std::fs::read_to_string(passwd)?)
        .filter(|(name, id)| name == "root" || id.is_some_and(|id| id < min_uid))
        .map(|(name, _)| name)
        .collect())
}

/// `name` and the third field (the id) of each line; comments, NIS `+`/`-` lines and
/// blank lines are skipped (their names are still kept from shadowing).
fn entries(text: &str) -> impl Iterator<Item = (String, Option<u32>)> + '_ {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut fields = line.split(':');
            let name = fields.next().unwrap_or_default();
            let name = name.trim_start_matches(['+', '-']).to_owned();
            let id = fields.nth(1).and_then(|id| id.parse().ok());
            (name, id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_read_and_odd_lines_do_not_break_it() {
        let found: Vec<_> =
            entries("root:x:0:0:root:/root:/bin/bash\n# c\n\n+nis::::::\nbad\n").collect();
        assert_eq!(
            found,
            [
                ("root".into(), Some(0)),
                ("nis".into(), None),
                ("bad".into(), None)
            ]
        );
        let system = Local::system().unwrap();
        let accounts = system_accounts(Path::new("/etc/passwd"), 1000).unwrap();
        assert!(accounts.contains(&"root".to_string()) && accounts.contains(&"daemon".to_string()));
        assert!(system.users.contains("root") && system.uids.contains(&0));
        assert!(system.groups.contains("root") && system.gids.contains(&0));
    }
}
