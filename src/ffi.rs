//! The only unsafe code: [`PamContext`] over a real libpam handle, plus the libpam
//! functions pam-bindings does not wrap (`pam_get_authtok`, `pam_syslog`, and a
//! `pam_get_user` that hands back bytes rather than refusing non-UTF-8 names), and the
//! `getpwnam_r` and `getgrnam_r`, which std and rustix lack (NSS is glibc's); and
//! libselinux, in [`selinux`].

use std::ffi::{CStr, CString, c_char, c_int};

use pam::constants::PamResultCode;
use pam::items::{RHost, Service};
use pam::module::PamHandle;
use zeroize::Zeroizing;

use crate::outcome::PamCode;
use crate::pam_context::{Level, PamContext, PamError, data_key};

pub(crate) mod selinux;

/// `PAM_AUTHTOK` and `PAM_OLDAUTHTOK` from `<security/_pam_types.h>`.
const PAM_AUTHTOK: c_int = 6;
const PAM_OLDAUTHTOK: c_int = 7;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_get_authtok(
        pamh: *mut PamHandle,
        item: c_int,
        authtok: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    fn pam_get_user(pamh: *mut PamHandle, user: *mut *const c_char, prompt: *const c_char)
    -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_prompt(
        pamh: *mut PamHandle,
        style: c_int,
        response: *mut *mut c_char,
        fmt: *const c_char,
        ...
    ) -> c_int;
}

/// The real PAM handle of the running hook.
pub struct RealPam<'a> {
    pub handle: &'a mut PamHandle,
    /// `PAM_SILENT`: the application asked for no messages.
    pub silent: bool,
}

impl RealPam<'_> {
    /// `pam_get_authtok` for `item`: libpam prompts (twice for a new password) or
    /// hands back what an earlier module read, as `use_authtok` and friends say.
    fn authtok(&mut self, item: c_int, what: &'static str) -> Result<Zeroizing<Vec<u8>>, PamError> {
        let mut ptr: *const c_char = std::ptr::null();
        // SAFETY: as for pam_get_user; a null prompt means libpam's default.
        let rc = unsafe { pam_get_authtok(self.handle, item, &mut ptr, std::ptr::null()) };
        if rc != 0 || ptr.is_null() {
            return Err(PamError {
                what,
                code: PamCode::from_raw(if rc == 0 { 4 } else { rc }),
            });
        }
        // SAFETY: non-null, NUL-terminated, owned by libpam; copied at once.
        Ok(Zeroizing::new(
            unsafe { CStr::from_ptr(ptr) }.to_bytes().to_vec(),
        ))
    }
}

impl PamContext for RealPam<'_> {
    fn user(&mut self) -> Result<Vec<u8>, PamError> {
        let mut ptr: *const c_char = std::ptr::null();
        // SAFETY: the handle is live for the hook; libpam owns the returned string,
        // which stays valid until PAM_USER changes, and we copy it at once.
        let rc = unsafe { pam_get_user(self.handle, &mut ptr, std::ptr::null()) };
        if rc != 0 || ptr.is_null() {
            return Err(PamError {
                what: "getting the user name",
                code: PamCode::from_raw(if rc == 0 { 4 } else { rc }),
            });
        }
        // SAFETY: non-null, NUL-terminated, owned by libpam (see above).
        Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes().to_vec())
    }

    fn service(&self) -> String {
        match self.handle.get_item::<Service>() {
            Ok(Some(s)) => s.to_string_lossy().into_owned(),
            _ => String::new(),
        }
    }

    fn rhost(&self) -> Option<String> {
        match self.handle.get_item::<RHost>() {
            Ok(Some(h)) => Some(h.to_string_lossy().into_owned()),
            _ => None,
        }
    }

    fn password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError> {
        self.authtok(PAM_AUTHTOK, "reading the password")
    }

    fn old_password(&mut self) -> Result<Zeroizing<Vec<u8>>, PamError> {
        self.authtok(PAM_OLDAUTHTOK, "reading the current password")
    }

    fn tell(&mut self, error: bool, text: &str) {
        if self.silent {
            return;
        }
        let Ok(text) = CString::new(text.replace('\0', "\\0")) else {
            return;
        };
        // PAM_ERROR_MSG or PAM_TEXT_INFO (`<security/_pam_types.h>`); pam_error and
        // pam_info are macros over pam_prompt.
        let style = if error { 3 } else { 4 };
        // SAFETY: the text is an argument to a constant "%s" format, never the
        // format; a null response pointer is allowed for messages that expect no
        // answer; a failed conversation only means the user saw nothing.
        unsafe {
            pam_prompt(
                self.handle,
                style,
                std::ptr::null_mut(),
                c"%s".as_ptr(),
                text.as_ptr(),
            );
        }
    }

    fn log(&self, level: Level, line: &str) {
        let priority = match level {
            Level::Err => 3,
            Level::Notice => 5,
            Level::Info => 6,
            Level::Debug => 7,
        };
        // Escaped here too, whatever the caller did: one call is always one line,
        // whatever Crowd put in its messages.
        let Ok(line) = CString::new(crate::outcome::printable(line)) else {
            return;
        };
        // SAFETY: the message is passed as an argument to a constant "%s" format,
        // never as the format itself.
        unsafe { pam_syslog(&*self.handle, priority, c"%s".as_ptr(), line.as_ptr()) };
    }

    fn set_data<T: Clone + 'static>(&mut self, value: Option<T>) {
        // Replacing the data drops the value kept before (libpam calls its cleanup);
        // failing to keep only costs a later phase a request or a handshake.
        let _ = self.handle.set_data(&data_key::<T>(), Box::new(value));
    }

    fn data<T: Clone + 'static>(&self) -> Option<T> {
        // SAFETY: the key is the type's full path, and only `set_data` stores under
        // this prefix, always an `Option` of the type the key names.
        unsafe { self.handle.get_data::<Option<T>>(&data_key::<T>()) }
            .ok()
            .cloned()
            .flatten()
    }
}

/// The PAM code as pam-bindings spells it: the same value, so no second table.
pub fn to_pam(code: PamCode) -> PamResultCode {
    PamResultCode::try_from(code as c_int).unwrap_or(PamResultCode::PAM_SYSTEM_ERR)
}

/// Calls one of NSS's reentrant lookups through `lookup`, which gets the buffer and
/// answers glibc's return code and the entry, if found, read out of the buffer. The
/// buffer grows on ERANGE, bounded: 1 MiB is far beyond any passwd or group line (a
/// group with thousands of members included).
fn nss_lookup<T>(
    mut lookup: impl FnMut(&mut [u8]) -> (c_int, Option<T>),
) -> std::io::Result<Option<T>> {
    let mut buf = vec![0u8; 4096];
    while buf.len() <= 1 << 20 {
        match lookup(&mut buf) {
            (0, found) => return Ok(found),
            (libc::ERANGE, _) => buf.resize(buf.len() * 2, 0),
            (e, _) => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
    Err(std::io::ErrorKind::OutOfMemory.into())
}

/// A local account as NSS gives it (`getpwnam_r`): uid, gid, home directory. `None`
/// when NSS knows no such user.
pub(crate) fn local_account(name: &str) -> std::io::Result<Option<(u32, u32, std::path::PathBuf)>> {
    use std::os::unix::ffi::OsStrExt;
    let name = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    nss_lookup(|buf| {
        // SAFETY: zeroed `passwd` is a valid value of a plain C struct.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives the reads below.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: on success pw_dir points to a NUL-terminated string in `buf`.
        let home = unsafe { CStr::from_ptr(pwd.pw_dir) };
        let home = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes()));
        (rc, Some((pwd.pw_uid, pwd.pw_gid, home)))
    })
}

/// The gid NSS gives group `name` (`getgrnam_r`), or `None` when it knows no such
/// group.
pub(crate) fn local_group_gid(name: &str) -> std::io::Result<Option<u32>> {
    let name = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    nss_lookup(|buf| {
        // SAFETY: zeroed `group` is a valid value of a plain C struct.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives it.
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        (rc, (rc == 0 && !result.is_null()).then_some(grp.gr_gid))
    })
}

/// The uid NSS gives `name` (`getpwnam_r`), or `None` when it knows no such user.
pub(crate) fn local_account_uid(name: &str) -> std::io::Result<Option<u32>> {
    Ok(local_account(name)?.map(|(uid, _, _)| uid))
}
