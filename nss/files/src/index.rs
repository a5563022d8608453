//! The index layout, and lookups through it.
//!
//! An index file is a 64-byte header, then its tables one after the other; each table
//! is a sorted array of 16-byte records (key, offset of a line in the data file), all
//! integers little-endian:
//!
//! ```text
//! magic "PCNSIDX1" | data inode u64 | data length u64 | records in tables 0, 1, 2 (u64 each) | zero u64
//! ```
//!
//! Table 0 is keyed by the FNV-1a hash of the entry's name, table 1 by its id, and
//! table 2 (groups only) by the hash of each member's name. Hashes can collide: every
//! candidate line is read and compared.

use std::fs::File;
use std::hash::Hasher;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::format::{Group, Passwd};

pub(crate) const MAGIC: &[u8; 8] = b"PCNSIDX1";
pub(crate) const HEADER_LEN: u64 = 64;
pub(crate) const RECORD_LEN: u64 = 16;
pub(crate) const TABLES: usize = 3;
pub(crate) const BY_NAME: usize = 0;
pub(crate) const BY_ID: usize = 1;
pub(crate) const BY_MEMBER: usize = 2;
/// The longest line read: a group of some 50,000 members.
const MAX_LINE: u64 = 1 << 20;
/// Attempts at opening a data file and its index from the same sync.
const OPEN_ATTEMPTS: usize = 3;

/// The hash names are indexed by.
pub(crate) fn name_key(name: &str) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(name.as_bytes());
    h.finish()
}

/// Why a lookup could not answer.
#[derive(Debug)]
pub enum Error {
    /// The files are missing or unreadable (no sync has run yet, say).
    Unavailable(io::Error),
    /// The files are not what a sync writes.
    Corrupt(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unavailable(e) => write!(f, "unavailable: {e}"),
            Error::Corrupt(why) => write!(f, "corrupt: {why}"),
        }
    }
}

impl std::error::Error for Error {}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt(why.into())
}

/// The synced files of one directory. Every lookup opens them afresh, so a new sync
/// is seen by the next lookup without any restart.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
}

/// A data file opened with its index, checked to be from the same sync.
struct Indexed {
    data: File,
    data_len: u64,
    index: File,
    counts: [u64; TABLES],
}

impl Files {
    /// The files in `dir` (usually [`crate::DIR`]).
    pub fn new(dir: impl Into<PathBuf>) -> Files {
        Files { dir: dir.into() }
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The user named exactly `name`.
    pub fn user_by_name(&self, name: &str) -> Result<Option<Passwd>, Error> {
        let files = self.open("passwd")?;
        files.find(BY_NAME, name_key(name), |line| {
            Passwd::parse(line).filter(|p| p.name == name)
        })
    }

    /// The user with this uid.
    pub fn user_by_uid(&self, uid: u32) -> Result<Option<Passwd>, Error> {
        let files = self.open("passwd")?;
        files.find(BY_ID, u64::from(uid), |line| {
            Passwd::parse(line).filter(|p| p.uid == uid)
        })
    }

    /// The group named exactly `name`.
    pub fn group_by_name(&self, name: &str) -> Result<Option<Group>, Error> {
        let files = self.open("group")?;
        files.find(BY_NAME, name_key(name), |line| {
            Group::parse(line).filter(|g| g.name == name)
        })
    }

    /// The group with this gid.
    pub fn group_by_gid(&self, gid: u32) -> Result<Option<Group>, Error> {
        let files = self.open("group")?;
        files.find(BY_ID, u64::from(gid), |line| {
            Group::parse(line).filter(|g| g.gid == gid)
        })
    }

    /// The gids of the groups listing `member`, in gid order.
    pub fn gids_of_member(&self, member: &str) -> Result<Vec<u32>, Error> {
        let files = self.open("group")?;
        let mut gids = Vec::new();
        for offset in files.offsets(BY_MEMBER, name_key(member))? {
            let line = files.line(offset)?;
            let group = Group::parse(&line).ok_or_else(|| corrupt("a group line"))?;
            if group.members.iter().any(|m| m == member) {
                gids.push(group.gid);
            }
        }
        gids.sort_unstable();
        gids.dedup();
        Ok(gids)
    }

    /// Every user, in file order (by name).
    pub fn users(&self) -> Result<Vec<Passwd>, Error> {
        self.all("passwd", Passwd::parse)
    }

    /// Every group, in file order (by name).
    pub fn groups(&self) -> Result<Vec<Group>, Error> {
        self.all("group", Group::parse)
    }

    fn all<T>(&self, name: &str, parse: fn(&str) -> Option<T>) -> Result<Vec<T>, Error> {
        let files = self.open(name)?;
        let mut text = vec![0; usize::try_from(files.data_len).map_err(|_| corrupt("size"))?];
        files
            .data
            .read_exact_at(&mut text, 0)
            .map_err(Error::Unavailable)?;
        let text = String::from_utf8(text).map_err(|_| corrupt(format!("{name} is not UTF-8")))?;
        text.lines()
            .map(|l| parse(l).ok_or_else(|| corrupt(format!("a line of {name}"))))
            .collect()
    }

    /// Opens `name` and `name.index`, again if a sync replaced one between the opens.
    fn open(&self, name: &str) -> Result<Indexed, Error> {
        for _ in 0..OPEN_ATTEMPTS {
            if let Attempt::Opened(files) = self.open_once(name)? {
                return Ok(files);
            }
        }
        Err(corrupt(format!(
            "{name} and {name}.index are from different syncs"
        )))
    }

    fn open_once(&self, name: &str) -> Result<Attempt, Error> {
        let index =
            File::open(self.dir.join(format!("{name}.index"))).map_err(Error::Unavailable)?;
        let data = File::open(self.dir.join(name)).map_err(Error::Unavailable)?;
        let mut header = [0u8; HEADER_LEN as usize];
        index
            .read_exact_at(&mut header, 0)
            .map_err(|_| corrupt(format!("{name}.index has no header")))?;
        if &header[..8] != MAGIC {
            return Err(corrupt(format!("{name}.index is not an index")));
        }
        let field = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[8 * i..8 * i + 8]);
            u64::from_le_bytes(b)
        };
        let (ino, len) = (field(1), field(2));
        let counts = [field(3), field(4), field(5)];
        let meta = data.metadata().map_err(Error::Unavailable)?;
        if meta.ino() != ino || meta.len() != len {
            return Ok(Attempt::Torn);
        }
        let records = counts
            .iter()
            .try_fold(0u64, |sum, c| sum.checked_add(*c))
            .and_then(|n| n.checked_mul(RECORD_LEN))
            .and_then(|n| n.checked_add(HEADER_LEN));
        let index_len = index.metadata().map_err(Error::Unavailable)?.len();
        if records != Some(index_len) {
            return Err(corrupt(format!("{name}.index has a wrong length")));
        }
        Ok(Attempt::Opened(Indexed {
            data,
            data_len: len,
            index,
            counts,
        }))
    }
}

/// One attempt at opening a file and its index.
enum Attempt {
    Opened(Indexed),
    /// The two are from different syncs: one was replaced between the opens.
    Torn,
}

impl Indexed {
    /// The first line under `key` in `table` that `accept` takes.
    fn find<T>(
        &self,
        table: usize,
        key: u64,
        accept: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        for offset in self.offsets(table, key)? {
            if let Some(entry) = accept(&self.line(offset)?) {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// Offsets of the lines under `key` in `table`: a binary search for the first,
    /// then the records that follow with the same key.
    fn offsets(&self, table: usize, key: u64) -> Result<Vec<u64>, Error> {
        let start = HEADER_LEN + RECORD_LEN * self.counts[..table].iter().sum::<u64>();
        let count = self.counts[table];
        let (mut low, mut high) = (0u64, count);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.record(start, mid)?.0 < key {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let mut offsets = Vec::new();
        for i in low..count {
            let (k, offset) = self.record(start, i)?;
            if k != key {
                break;
            }
            offsets.push(offset);
        }
        Ok(offsets)
    }

    fn record(&self, table_start: u64, i: u64) -> Result<(u64, u64), Error> {
        let mut b = [0u8; RECORD_LEN as usize];
        self.index
            .read_exact_at(&mut b, table_start + i * RECORD_LEN)
            .map_err(Error::Unavailable)?;
        let (k, o) = b.split_at(8);
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        };
        Ok((word(k), word(o)))
    }

    /// The line starting at `offset`, without its newline.
    fn line(&self, offset: u64) -> Result<String, Error> {
        if offset >= self.data_len {
            return Err(corrupt("an index points past its data"));
        }
        let mut line = Vec::new();
        let mut chunk = [0u8; 512];
        let mut at = offset;
        loop {
            let n = match self.data.read_at(&mut chunk, at) {
                Ok(0) => return Err(corrupt("a line without its newline")),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Unavailable(e)),
            };
            if let Some(end) = chunk[..n].iter().position(|b| *b == b'\n') {
                line.extend_from_slice(&chunk[..end]);
                break;
            }
            line.extend_from_slice(&chunk[..n]);
            at += n as u64;
            if at - offset > MAX_LINE {
                return Err(corrupt("a line longer than 1 MiB"));
            }
        }
        String::from_utf8(line).map_err(|_| corrupt("a line that is not UTF-8"))
    }
}
