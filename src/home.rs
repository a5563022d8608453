//! `[session] create_home`: the session phase makes a missing home directory, as
//! pam_mkhomedir does, for Crowd users who have no local account made by hand.
//!
//! The home is built in a private directory beside it (mode 0700, root's): the
//! skeleton copied without following any symlink, each file's owner then mode set
//! after its contents, the directory's owner and mode last. It is then moved into
//! place with `renameat2(RENAME_NOREPLACE)`, so a concurrent login either finds the
//! finished home or builds its own and discards it; nobody sees a half-made one.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::SessionConfig;

/// Bounds on the skeleton copied: deeper or larger is not a skeleton.
const MAX_DEPTH: usize = 16;
const MAX_ENTRIES: usize = 10_000;

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
    pub fn lookup(name: &str) -> Result<Option<Owner>, String> {
        let found = crate::ffi::local_account(name)
            .map_err(|e| format!("cannot look {name:?} up in the passwd database: {e}"))?;
        Ok(found.map(|(uid, gid, home)| Owner {
            name: name.to_owned(),
            uid,
            gid,
            home,
        }))
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
pub fn ensure(owner: &Owner, session: &SessionConfig) -> Result<Made, String> {
    let home = &owner.home;
    if !home.is_absolute() || home.parent().is_none() {
        return Err(format!(
            "home {:?} is not an absolute path below /",
            home.display()
        ));
    }
    match fs::symlink_metadata(home) {
        Ok(_) => return Ok(Made::Existed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", home.display())),
    }
    let parent = home.parent().unwrap_or(Path::new("/"));
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    // One staging directory per call: logins in one process (threads) never share.
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let staging = parent.join(format!(
        ".{}.pam_crowd-{}-{}",
        home.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&staging);
    let built = build(&staging, owner, session)
        .and_then(|()| crate::ffi::rename_noreplace(&staging, home).map_err(|e| (home.clone(), e)));
    match built {
        Ok(()) => Ok(Made::Created),
        Err((_, e))
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            let _ = fs::remove_dir_all(&staging);
            Ok(Made::Existed)
        }
        Err((path, e)) => {
            let _ = fs::remove_dir_all(&staging);
            Err(format!("{}: {e}", path.display()))
        }
    }
}

type Failure = (PathBuf, io::Error);

fn at(path: &Path) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| (path.to_owned(), e)
}

/// The home's contents in `staging`, owner and mode set, ready to move.
fn build(staging: &Path, owner: &Owner, session: &SessionConfig) -> Result<(), Failure> {
    DirBuilder::new()
        .mode(0o700)
        .create(staging)
        .map_err(at(staging))?;
    let mut budget = MAX_ENTRIES;
    match fs::symlink_metadata(&session.skel) {
        Ok(meta) if meta.is_dir() => {
            copy_tree(&session.skel, staging, owner, session.umask, 0, &mut budget)?
        }
        // No skeleton: an empty home, as pam_mkhomedir makes.
        _ => {}
    }
    std::os::unix::fs::chown(staging, Some(owner.uid), Some(owner.gid)).map_err(at(staging))?;
    fs::set_permissions(staging, fs::Permissions::from_mode(0o777 & !session.umask))
        .map_err(at(staging))
}

/// Copies the entries of `from` into `to`: directories, regular files and symlinks
/// (as symlinks), nothing else; never following a link.
fn copy_tree(
    from: &Path,
    to: &Path,
    owner: &Owner,
    umask: u32,
    depth: usize,
    budget: &mut usize,
) -> Result<(), Failure> {
    if depth > MAX_DEPTH {
        return Err((
            from.to_owned(),
            io::Error::other("the skeleton is too deep"),
        ));
    }
    for entry in fs::read_dir(from).map_err(at(from))? {
        let entry = entry.map_err(at(from))?;
        *budget = budget.checked_sub(1).ok_or_else(|| {
            (
                from.to_owned(),
                io::Error::other("the skeleton has too many entries"),
            )
        })?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&source).map_err(at(&source))?;
        let mode = meta.mode() & 0o777 & !umask;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(&source).map_err(at(&source))?;
            std::os::unix::fs::symlink(&link, &target).map_err(at(&target))?;
            std::os::unix::fs::lchown(&target, Some(owner.uid), Some(owner.gid))
                .map_err(at(&target))?;
        } else if kind.is_dir() {
            DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(at(&target))?;
            copy_tree(&source, &target, owner, umask, depth + 1, budget)?;
            std::os::unix::fs::chown(&target, Some(owner.uid), Some(owner.gid))
                .map_err(at(&target))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(at(&target))?;
        } else if kind.is_file() {
            let mut input = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&source)
                .map_err(at(&source))?;
            let mut output: File = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(at(&target))?;
            io::copy(&mut input, &mut output).map_err(at(&target))?;
            std::os::unix::fs::fchown(&output, Some(owner.uid), Some(owner.gid))
                .map_err(at(&target))?;
            output
                .set_permissions(fs::Permissions::from_mode(mode))
                .map_err(at(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
