//! libselinux, for the labels of the homes the session phase makes: the context
//! `restorecon` would give a path (`selabel_lookup`), and the context this thread's
//! next new file gets (`setfscreatecon`).
//!
//! Opened at run time (`dlopen("libselinux.so.1")`) rather than linked: every host
//! that runs SELinux has it (sshd, login and the display managers link it), a host
//! without SELinux never loads it, and building the module needs neither its headers
//! nor bindgen. It is never unloaded (`RTLD_NODELETE`): sshd may have it linked, and
//! its handles outlive no call of ours anyway.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::OnceLock;

/// `SELABEL_CTX_FILE` and `SELABEL_OPT_PATH` from `<selinux/label.h>`.
const SELABEL_CTX_FILE: c_uint = 0;
const SELABEL_OPT_PATH: c_int = 3;

/// `struct selinux_opt`.
#[repr(C)]
struct SelinuxOpt {
    kind: c_int,
    value: *const c_char,
}

// The C prototypes of the libselinux functions used (libselinux 2.x and 3.x alike).
type IsSelinuxEnabled = unsafe extern "C" fn() -> c_int;
type SelabelOpen = unsafe extern "C" fn(c_uint, *const SelinuxOpt, c_uint) -> *mut c_void;
type SelabelClose = unsafe extern "C" fn(*mut c_void);
type SelabelLookup =
    unsafe extern "C" fn(*mut c_void, *mut *mut c_char, *const c_char, c_int) -> c_int;
type Freecon = unsafe extern "C" fn(*mut c_char);
type Setfscreatecon = unsafe extern "C" fn(*const c_char) -> c_int;

/// The libselinux functions used, resolved once.
struct Lib {
    is_selinux_enabled: IsSelinuxEnabled,
    selabel_open: SelabelOpen,
    selabel_close: SelabelClose,
    selabel_lookup: SelabelLookup,
    freecon: Freecon,
    setfscreatecon: Setfscreatecon,
}

/// libselinux, or `None` when this host has none.
fn lib() -> Option<&'static Lib> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(load).as_ref()
}

fn load() -> Option<Lib> {
    // SAFETY: a constant NUL-terminated name; the handle is never closed, so the
    // symbols below stay valid for the life of the process.
    let handle = unsafe {
        libc::dlopen(
            c"libselinux.so.1".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NODELETE,
        )
    };
    if handle.is_null() {
        return None;
    }
    // SAFETY: each field's type is the C prototype of libselinux's function of that
    // name.
    unsafe {
        Some(Lib {
            is_selinux_enabled: symbol(handle, c"is_selinux_enabled")?,
            selabel_open: symbol(handle, c"selabel_open")?,
            selabel_close: symbol(handle, c"selabel_close")?,
            selabel_lookup: symbol(handle, c"selabel_lookup")?,
            freecon: symbol(handle, c"freecon")?,
            setfscreatecon: symbol(handle, c"setfscreatecon")?,
        })
    }
}

/// `name` in the library `handle` as a function of type `F`, if it has it.
///
/// # Safety
/// `handle` is a live dlopen handle, and `F` the function pointer type of `name`'s C
/// prototype.
unsafe fn symbol<F: Copy>(handle: *mut c_void, name: &CStr) -> Option<F> {
    // SAFETY: a live handle and a NUL-terminated name.
    let found = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if found.is_null() {
        return None;
    }
    debug_assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
    // SAFETY: `F` is a function pointer type (the caller's promise), as wide as `found`.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&found) })
}

/// libselinux, or why not.
fn loaded() -> io::Result<&'static Lib> {
    lib().ok_or_else(|| io::Error::other("libselinux.so.1 cannot be loaded"))
}

/// `path` as C wants it.
fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Whether SELinux is enabled on this host (libselinux's `is_selinux_enabled`).
pub(crate) fn enabled() -> bool {
    // SAFETY: no arguments.
    lib().is_some_and(|lib| unsafe { (lib.is_selinux_enabled)() } == 1)
}

/// A file-contexts handle: what `restorecon` would label each path.
pub(crate) struct FileContexts {
    lib: &'static Lib,
    handle: NonNull<c_void>,
}

impl FileContexts {
    /// The policy's file contexts (`file_contexts`, `.homedirs`, `.local`).
    pub(crate) fn system() -> io::Result<FileContexts> {
        FileContexts::open(None)
    }

    /// The contexts of the file-contexts file `path` (and its `.homedirs` and
    /// `.local`), whether SELinux is on or not: what tests look paths up in.
    #[cfg(test)]
    pub(crate) fn from_file(path: &Path) -> io::Result<FileContexts> {
        FileContexts::open(Some(&c_path(path)?))
    }

    fn open(path: Option<&CStr>) -> io::Result<FileContexts> {
        let lib = loaded()?;
        let option = path.map(|path| SelinuxOpt {
            kind: SELABEL_OPT_PATH,
            value: path.as_ptr(),
        });
        let (options, count) = match &option {
            Some(option) => (option as *const SelinuxOpt, 1),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `options` points at `count` live options whose strings outlive the call.
        let handle = unsafe { (lib.selabel_open)(SELABEL_CTX_FILE, options, count) };
        NonNull::new(handle)
            .map(|handle| FileContexts { lib, handle })
            .ok_or_else(io::Error::last_os_error)
    }

    /// The context for `path` of the file type `file_type` (`S_IFDIR`, `S_IFREG`,
    /// `S_IFLNK`), or `None` when no entry names one (or it says `<<none>>`).
    pub(crate) fn lookup(&self, path: &Path, file_type: u32) -> io::Result<Option<CString>> {
        let key = c_path(path)?;
        let mut context: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live handle, a NUL-terminated key, and a place for the answer,
        // which libselinux allocates and `freecon` frees.
        let found = unsafe {
            (self.lib.selabel_lookup)(
                self.handle.as_ptr(),
                &mut context,
                key.as_ptr(),
                file_type as c_int,
            )
        };
        if found != 0 || context.is_null() {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::ENOENT) => Ok(None),
                _ => Err(error),
            };
        }
        // SAFETY: libselinux's NUL-terminated string, copied before it is freed.
        let owned = unsafe { CStr::from_ptr(context) }.to_owned();
        // SAFETY: allocated by selabel_lookup above, freed once.
        unsafe { (self.lib.freecon)(context) };
        Ok(Some(owned))
    }
}

impl Drop for FileContexts {
    fn drop(&mut self) {
        // SAFETY: opened by selabel_open, closed once.
        unsafe { (self.lib.selabel_close)(self.handle.as_ptr()) }
    }
}

/// Makes the files this thread creates next get `context`, or the policy's default
/// again with `None` (`setfscreatecon`).
pub(crate) fn set_create_context(context: Option<&CStr>) -> io::Result<()> {
    let lib = loaded()?;
    let context = context.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: a NUL-terminated context or NULL, which libselinux reads during the call.
    match unsafe { (lib.setfscreatecon)(context) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
