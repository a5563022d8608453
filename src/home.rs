//! `[session] create_home`: the session phase makes a missing home directory, as
//! pam_mkhomedir does, for Crowd users who have no local account made by hand.
//!
//! It runs as root on a path from the passwd database, which for synced users Crowd
//! wrote: so it never follows a link anyone could have planted. The path is walked
//! from `/` one component at a time (`openat(O_DIRECTORY|O_NOFOLLOW)`), every
//! directory on the way must be root's and not writable by group or others (a home
//! below `/tmp` is refused), and everything after is done through directory handles:
//! the home is built in a private staging directory in its parent (mode 0700,
//! root's), the skeleton copied into it without following any link, each file's owner
//! then mode set on its open handle after its contents, the directory's last. The
//! staging directory is moved into place with `renameat2(RENAME_NOREPLACE)` only if
//! its name still holds the directory built, so a concurrent login either finds the
//! finished home or builds its own and discards it, and nobody sees a half-made one.
//! With SELinux on, everything is created with the context restorecon would give it in
//! its final place ([`label`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, RenameFlags, Stat, Uid};
use rustix::io::Errno;

use crate::config::SessionConfig;

pub mod label;

use label::{Labels, PolicyLabels, labelled};

/// Bounds on the skeleton copied: deeper or larger is not a skeleton.
const MAX_DEPTH: usize = 16;
const MAX_ENTRIES: usize = 10_000;
/// How every directory is opened: never through a link, never inherited by children.
const DIR: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// Whom a home is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl Owner {
    /// `name`'s local account, through NSS (so a synced Crowd user too); `None` when
    /// there is none.
    pub fn lookup(name: &str) -> Result<Option<Owner>, HomeError> {
        let found = crate::ffi::local_account(name).map_err(|e| HomeError::Lookup {
            user: name.to_owned(),
            source: Errno::from_io_error(&e).unwrap_or(Errno::IO),
        })?;
        Ok(found.map(|(uid, gid, home)| Owner {
            name: name.to_owned(),
            uid,
            gid,
            home,
        }))
    }
}

/// Why no home was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeError {
    /// The passwd lookup of the user failed.
    Lookup {
        /// The user.
        user: String,
        /// What NSS said.
        source: Errno,
    },
    /// The home in the passwd entry cannot be made safely (relative, `..`, `/`).
    BadPath {
        /// The home as given.
        home: PathBuf,
    },
    /// A step on a path failed.
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        source: Errno,
    },
    /// A symbolic link or a file where a directory on the way should be.
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A directory on the way that its owner, group or others could swap things below.
    Untrusted {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// The home exists but is not a directory of the user's: it is not used.
    NotOwned {
        /// The home.
        home: PathBuf,
        /// Its owner.
        uid: u32,
        /// The user's uid.
        user_uid: u32,
        /// Whether it is a directory at all.
        directory: bool,
    },
    /// The staging directory was replaced while the home was made: nothing was moved
    /// into place.
    Replaced {
        /// The staging directory.
        staging: PathBuf,
    },
}

impl HomeError {
    fn io(path: &Path, errno: Errno) -> HomeError {
        HomeError::Io {
            path: path.to_owned(),
            source: errno,
        }
    }
}

impl std::fmt::Display for HomeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HomeError::Lookup { user, source } => {
                write!(
                    f,
                    "cannot look {user:?} up in the passwd database: {source}"
                )
            }
            HomeError::BadPath { home } => write!(
                f,
                "home {:?} is not an absolute, normalised path below /",
                home.display().to_string()
            ),
            HomeError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            HomeError::NotADirectory { path } => write!(
                f,
                "{}: a symbolic link or not a directory: refused on the way to a home",
                path.display()
            ),
            HomeError::Untrusted { path, uid, .. } if *uid != 0 => write!(
                f,
                "{} is owned by uid {uid}, not root: no home is made below it",
                path.display()
            ),
            HomeError::Untrusted { path, mode, .. } => write!(
                f,
                "{} is writable by group or others (mode {mode:04o}): no home is made below it",
                path.display()
            ),
            HomeError::NotOwned {
                home,
                uid,
                user_uid,
                directory,
            } => write!(
                f,
                "{} exists but is {}, not the user's (uid {user_uid}): the session is refused and \
                 nothing is changed",
                home.display(),
                match directory {
                    true => format!("owned by uid {uid}"),
                    false => "not a directory".to_owned(),
                }
            ),
            HomeError::Replaced { staging } => write!(
                f,
                "{}: replaced while the home was made: nothing moved into place",
                staging.display()
            ),
        }
    }
}

impl std::error::Error for HomeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HomeError::Lookup { source, .. } | HomeError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What the session phase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// The home was there already (or a concurrent login made it first).
    Existed,
    /// Created, from the skeleton when it exists.
    Created,
}

/// Makes `owner`'s home unless it exists.
pub fn ensure(owner: &Owner, session: &SessionConfig) -> Result<Made, HomeError> {
    ensure_below(
        Path::new("/"),
        owner,
        session,
        &PolicyLabels::default(),
        &mut |_| {},
    )
}

/// [`ensure`] with the home's path taken below `root` instead of `/` (tests build
/// homes in a scratch directory) and labelled by `labels` (by the path as below `/`),
/// calling `staged` with the staging directory's path once it exists and before
/// anything is copied into it (tests use it to swap the directory for a link, as an
/// attacker racing the login would).
pub fn ensure_below(
    root: &Path,
    owner: &Owner,
    session: &SessionConfig,
    labels: &dyn Labels,
    staged: &mut dyn FnMut(&Path),
) -> Result<Made, HomeError> {
    let home = owner.home.to_str().unwrap_or_default();
    let bad = || HomeError::BadPath {
        home: owner.home.clone(),
    };
    if !crate::config::is_normal_path(home) || home == "/" {
        return Err(bad());
    }
    let mut components: Vec<&OsStr> = owner.home.iter().skip(1).collect();
    let name = components.pop().ok_or_else(bad)?;
    let fail = HomeError::io;

    let (parent, at) = open_parent(root, components, labels)?;

    match rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(found) => return existing(&found, owner),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(fail(&owner.home, e)),
    }
    // One staging directory per call: logins in one process (threads) never share.
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let mut staging = b".".to_vec();
    staging.extend_from_slice(name.as_bytes());
    staging.extend_from_slice(
        format!(
            ".pam_crowd-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        )
        .as_bytes(),
    );
    let staging = OsStr::from_bytes(&staging);
    let staging_path = at.join(staging);
    // The staging directory becomes the home: it is labelled as the home.
    labelled(labels, &owner.home, FileType::Directory, || {
        rfs::mkdirat(&parent, staging, Mode::from_raw_mode(0o700))
    })
    .map_err(|e| fail(&staging_path, e))?;
    let built = (|| {
        let stage = rfs::openat(&parent, staging, DIR, Mode::empty())?;
        staged(&staging_path);
        build(&stage, owner, session, labels)?;
        // Only the directory built becomes the home: if the name now holds anything
        // else (a link to /etc, say), nothing is moved.
        let named = rfs::statat(&parent, staging, AtFlags::SYMLINK_NOFOLLOW)?;
        if !same_file(&named, &rfs::fstat(&stage)?) {
            return Err(Errno::STALE);
        }
        rfs::renameat_with(&parent, staging, &parent, name, RenameFlags::NOREPLACE)
    })();
    match built {
        Ok(()) => Ok(Made::Created),
        Err(Errno::EXIST | Errno::NOTEMPTY) => {
            remove_at(&parent, staging, 0);
            let found = rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fail(&owner.home, e))?;
            existing(&found, owner)
        }
        Err(Errno::STALE) => {
            remove_at(&parent, staging, 0);
            Err(HomeError::Replaced {
                staging: staging_path,
            })
        }
        Err(e) => {
            remove_at(&parent, staging, 0);
            Err(fail(&owner.home, e))
        }
    }
}

/// A home that is there already is used only if it is a directory of its user's:
/// one another user made (a Crowd `homeDirectory` naming someone else's home, made at
/// that user's first login) would give them this user's startup files.
fn existing(found: &Stat, owner: &Owner) -> Result<Made, HomeError> {
    let is_dir = FileType::from_raw_mode(found.st_mode) == FileType::Directory;
    match is_dir && found.st_uid == owner.uid {
        true => Ok(Made::Existed),
        false => Err(HomeError::NotOwned {
            home: owner.home.clone(),
            uid: found.st_uid,
            user_uid: owner.uid,
            directory: is_dir,
        }),
    }
}

/// A directory on the way to a home must be root's (or, for tests run as another
/// user, this process's) and writable by nobody else: otherwise its owner or group
/// could swap what lies below it between our steps.
fn check_trusted(dir: &OwnedFd, path: &Path) -> Result<(), HomeError> {
    let stat = rfs::fstat(dir).map_err(|e| HomeError::io(path, e))?;
    let euid = rustix::process::geteuid().as_raw();
    let owner_ok = stat.st_uid == 0 || stat.st_uid == euid;
    if !owner_ok || stat.st_mode & 0o022 != 0 {
        return Err(HomeError::Untrusted {
            path: path.to_owned(),
            // Said as "not root" when the owner is wrong, else by the mode.
            uid: if owner_ok { 0 } else { stat.st_uid },
            mode: stat.st_mode & 0o7777,
        });
    }
    Ok(())
}

/// What a std error was, as rustix says it.
fn errno(e: io::Error) -> Errno {
    Errno::from_io_error(&e).unwrap_or(Errno::IO)
}

fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The home's contents in the staging directory `stage`, owner and mode set on its
/// handle last.
fn build(
    stage: &OwnedFd,
    owner: &Owner,
    session: &SessionConfig,
    labels: &dyn Labels,
) -> Result<(), Errno> {
    // No skeleton (or not a directory): an empty home, as pam_mkhomedir makes.
    if let Ok(skel) = rfs::open(&session.skel, DIR, Mode::empty()) {
        let mut copier = Copier {
            owner,
            umask: session.umask,
            labels,
            budget: MAX_ENTRIES,
        };
        copier.tree(&skel, stage, &owner.home, 0)?;
    }
    chown(stage, owner)?;
    rfs::fchmod(stage, Mode::from_raw_mode(0o777 & !session.umask))
}

fn chown(fd: &OwnedFd, owner: &Owner) -> Result<(), Errno> {
    rfs::fchown(
        fd,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
    )
}

/// What copying a skeleton into a home needs at every level.
struct Copier<'a> {
    owner: &'a Owner,
    umask: u32,
    labels: &'a dyn Labels,
    /// Entries still allowed ([`MAX_ENTRIES`] in all).
    budget: usize,
}

impl Copier<'_> {
    /// Copies the entries of directory `from` into directory `to`, which will be
    /// `place` in the finished home: directories, regular files and symlinks (as
    /// symlinks), nothing else; never following a link.
    fn tree(
        &mut self,
        from: &OwnedFd,
        to: &OwnedFd,
        place: &Path,
        depth: usize,
    ) -> Result<(), Errno> {
        if depth > MAX_DEPTH {
            return Err(Errno::LOOP);
        }
        let owner = self.owner;
        for entry in rfs::Dir::read_from(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            self.budget = self.budget.checked_sub(1).ok_or(Errno::NOSPC)?;
            let stat = rfs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW)?;
            let mode = Mode::from_raw_mode(stat.st_mode & 0o777 & !self.umask);
            let kind = FileType::from_raw_mode(stat.st_mode);
            let path = place.join(OsStr::from_bytes(name.to_bytes()));
            match kind {
                FileType::Symlink => {
                    let target = rfs::readlinkat(from, name, Vec::new())?;
                    labelled(self.labels, &path, kind, || {
                        rfs::symlinkat(&*target, to, name)
                    })?;
                    rfs::chownat(
                        to,
                        name,
                        Some(Uid::from_raw(owner.uid)),
                        Some(Gid::from_raw(owner.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
                FileType::Directory => {
                    labelled(self.labels, &path, kind, || {
                        rfs::mkdirat(to, name, Mode::from_raw_mode(0o700))
                    })?;
                    let source = rfs::openat(from, name, DIR, Mode::empty())?;
                    let target = rfs::openat(to, name, DIR, Mode::empty())?;
                    self.tree(&source, &target, &path, depth + 1)?;
                    chown(&target, owner)?;
                    rfs::fchmod(&target, mode)?;
                }
                FileType::RegularFile => {
                    let input = rfs::openat(
                        from,
                        name,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    let output = labelled(self.labels, &path, kind, || {
                        rfs::openat(
                            to,
                            name,
                            OFlags::WRONLY
                                | OFlags::CREATE
                                | OFlags::EXCL
                                | OFlags::NOFOLLOW
                                | OFlags::CLOEXEC,
                            Mode::from_raw_mode(0o600),
                        )
                    })?;
                    let (mut input, mut output) = (File::from(input), File::from(output));
                    io::copy(&mut input, &mut output).map_err(errno)?;
                    let output = OwnedFd::from(output);
                    chown(&output, owner)?;
                    rfs::fchmod(&output, mode)?;
                }
                // Devices, fifos, sockets: not part of a home.
                _ => {}
            }
        }
        Ok(())
    }
}

/// Removes `name` in `dir` and everything below it, without following a link: a
/// link is removed itself. Best effort: what cannot be removed stays.
fn remove_at(dir: &OwnedFd, name: &OsStr, depth: usize) {
    if depth <= MAX_DEPTH {
        if let Ok(inner) = rfs::openat(dir, name, DIR, Mode::empty()) {
            let names: Vec<Vec<u8>> = match rfs::Dir::read_from(&inner) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_bytes().to_vec())
                    .filter(|n| n != b"." && n != b"..")
                    .collect(),
                Err(_) => Vec::new(),
            };
            for entry in names {
                remove_at(&inner, OsStr::from_bytes(&entry), depth + 1);
            }
            let _ = rfs::unlinkat(dir, name, AtFlags::REMOVEDIR);
            return;
        }
    }
    let _ = rfs::unlinkat(dir, name, AtFlags::empty());
}

/// The home's parent directory below `root`, reached without following a link,
/// through trusted directories only (made 0755 where missing, labelled as their
/// path below `/`); and its path.
fn open_parent(
    root: &Path,
    components: Vec<&OsStr>,
    labels: &dyn Labels,
) -> Result<(OwnedFd, PathBuf), HomeError> {
    let fail = HomeError::io;
    let mut at = root.to_path_buf();
    let mut place = PathBuf::from("/");
    let mut parent = rfs::open(root, DIR, Mode::empty()).map_err(|e| fail(root, e))?;
    check_trusted(&parent, &at)?;
    for component in components {
        at.push(component);
        place.push(component);
        let next = match rfs::openat(&parent, component, DIR, Mode::empty()) {
            Err(Errno::NOENT) => {
                let made = labelled(labels, &place, FileType::Directory, || {
                    rfs::mkdirat(&parent, component, Mode::from_raw_mode(0o755))
                });
                match made {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(fail(&at, e)),
                }
                rfs::openat(&parent, component, DIR, Mode::empty())
            }
            other => other,
        }
        .map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => HomeError::NotADirectory { path: at.clone() },
            e => fail(&at, e),
        })?;
        check_trusted(&next, &at)?;
        parent = next;
    }
    Ok((parent, at))
}

#[cfg(test)]
mod tests;
