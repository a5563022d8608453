//! Writing the files: each replaced whole, data before its index.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::format::{Group, Passwd, check_group_name, check_text, check_user_name};
use crate::index::{BY_ID, BY_MEMBER, BY_NAME, HEADER_LEN, MAGIC, TABLES, name_key};

/// Replaces the passwd and group files (and their indexes) in `dir` with these
/// entries, world-readable. Names must be unique and usable (see
/// [`check_user_name`]); ids need not be. The caller serializes writers.
pub fn write(dir: &Path, users: &[Passwd], groups: &[Group]) -> io::Result<()> {
    let invalid = |why: crate::format::NameError| io::Error::new(ErrorKind::InvalidInput, why);
    let twice = |why: String| io::Error::new(ErrorKind::InvalidInput, why);
    for u in users {
        check_user_name(&u.name).map_err(invalid)?;
        for text in [&u.gecos, &u.home, &u.shell] {
            check_text(text).map_err(invalid)?;
        }
    }
    for g in groups {
        check_group_name(&g.name).map_err(invalid)?;
        for m in &g.members {
            check_user_name(m).map_err(invalid)?;
        }
    }
    let mut users: Vec<&Passwd> = users.iter().collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let mut groups: Vec<&Group> = groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = users.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(twice(format!("user {:?} twice", w[0].name)));
    }
    if let Some(w) = groups.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(twice(format!("group {:?} twice", w[0].name)));
    }

    let passwd = Table::build(users.iter().map(|u| {
        let keys = vec![(BY_NAME, name_key(&u.name)), (BY_ID, u64::from(u.uid))];
        (u.line(), keys)
    }));
    let group = Table::build(groups.iter().map(|g| {
        let mut keys = vec![(BY_NAME, name_key(&g.name)), (BY_ID, u64::from(g.gid))];
        keys.extend(g.members.iter().map(|m| (BY_MEMBER, name_key(m))));
        (g.line(), keys)
    }));

    let passwd_ino = stage(dir, "passwd", &passwd.data)?;
    let group_ino = stage(dir, "group", &group.data)?;
    stage(dir, "passwd.index", &passwd.index(passwd_ino))?;
    stage(dir, "group.index", &group.index(group_ino))?;
    // Data before index: a reader that finds a new index finds its data too.
    for name in ["passwd", "group", "passwd.index", "group.index"] {
        fs::rename(dir.join(staged(name)), dir.join(name))?;
    }
    File::open(dir)?.sync_all()
}

/// A data file's bytes and its index records.
struct Table {
    data: Vec<u8>,
    records: [Vec<(u64, u64)>; TABLES],
}

impl Table {
    fn build(lines: impl Iterator<Item = (String, Vec<(usize, u64)>)>) -> Table {
        let mut table = Table {
            data: Vec::new(),
            records: Default::default(),
        };
        for (line, keys) in lines {
            let offset = table.data.len() as u64;
            table.data.extend_from_slice(line.as_bytes());
            table.data.push(b'\n');
            for (t, key) in keys {
                table.records[t].push((key, offset));
            }
        }
        for r in &mut table.records {
            r.sort_unstable();
            r.dedup();
        }
        table
    }

    fn index(&self, data_ino: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&data_ino.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        for r in &self.records {
            out.extend_from_slice(&(r.len() as u64).to_le_bytes());
        }
        out.resize(HEADER_LEN as usize, 0);
        for r in &self.records {
            for (key, offset) in r {
                out.extend_from_slice(&key.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
            }
        }
        out
    }
}

fn staged(name: &str) -> String {
    format!(".{name}.new")
}

/// Writes `bytes` to the staged name of `name`, mode 0644, synced; returns its inode.
fn stage(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<u64> {
    let path = dir.join(staged(name));
    let _ = fs::remove_file(&path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)?; // create_new: O_EXCL, which never follows a planted symlink
    // The umask may have narrowed the mode; these files are for every process.
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(file.metadata()?.ino())
}

#[cfg(test)]
mod tests;
