//! The SELinux contexts of what a home is made of: each directory, file and link gets
//! the context `restorecon` would give it in its final place (the policy's file
//! contexts, through libselinux), set as it is created (`setfscreatecon`), so a home
//! is never seen mislabelled, wherever the home base is. Without SELinux nothing is
//! loaded and nothing changes.

use std::cell::OnceCell;
use std::path::Path;

use rustix::fs::FileType;
use rustix::io::Errno;

use super::errno;
use crate::ffi::selinux::{self, FileContexts};

/// How the files of a home get their contexts.
pub trait Labels {
    /// The next file this thread creates, which will be `path` (its final place, as
    /// below `/`) of type `kind`, gets the context the policy names for it.
    fn prepare(&self, path: &Path, kind: FileType) -> Result<(), Errno>;
    /// Files this thread creates get the policy's default context again.
    fn reset(&self);
}

/// Runs `create` with `path`'s context set, and resets it after, whatever happens
/// (a panic included: the thread is sshd's, and its next file is not a home's).
pub(super) fn labelled<T>(
    labels: &dyn Labels,
    path: &Path,
    kind: FileType,
    create: impl FnOnce() -> Result<T, Errno>,
) -> Result<T, Errno> {
    struct Reset<'a>(&'a dyn Labels);
    impl Drop for Reset<'_> {
        fn drop(&mut self) {
            self.0.reset();
        }
    }
    labels.prepare(path, kind)?;
    let _reset = Reset(labels);
    create()
}

/// The host's policy: nothing is loaded until the first file is created, and then
/// only when SELinux is enabled.
#[derive(Default)]
pub struct PolicyLabels {
    /// `None` inside: SELinux is off.
    contexts: OnceCell<Option<FileContexts>>,
}

impl PolicyLabels {
    fn contexts(&self) -> Result<Option<&FileContexts>, Errno> {
        if let Some(contexts) = self.contexts.get() {
            return Ok(contexts.as_ref());
        }
        let opened = match selinux::enabled() {
            true => Some(FileContexts::system().map_err(errno)?),
            false => None,
        };
        Ok(self.contexts.get_or_init(|| opened).as_ref())
    }
}

impl Labels for PolicyLabels {
    fn prepare(&self, path: &Path, kind: FileType) -> Result<(), Errno> {
        let Some(contexts) = self.contexts()? else {
            return Ok(());
        };
        // No entry (or `<<none>>`): the policy's default, as restorecon leaves it.
        let context = contexts.lookup(path, kind.as_raw_mode()).map_err(errno)?;
        selinux::set_create_context(context.as_deref()).map_err(errno)
    }

    fn reset(&self) {
        if let Some(Some(_)) = self.contexts.get() {
            // Cannot fail for a thread that could set it; nothing to do if it did.
            let _ = selinux::set_create_context(None);
        }
    }
}
