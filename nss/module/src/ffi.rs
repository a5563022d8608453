//! The NSS entry points glibc calls (`_nss_crowd_*`), the only unsafe code here.
//!
//! Each turns its C arguments into a plain call, copies the answer into the caller's
//! buffer, and sets `*errnop` as glibc expects: `ENOENT` with NOTFOUND or UNAVAIL,
//! `ERANGE` with TRYAGAIN when the buffer is too small (glibc retries with a larger
//! one). A panic is caught and answered UNAVAIL: it must never unwind into C.

use std::ffi::{CStr, c_char, c_int, c_long};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Mutex, MutexGuard};

use libc::{ENOENT, ENOMEM, ERANGE, gid_t, group, passwd, size_t, uid_t};
use nss_crowd_files::{Group, Passwd};

use crate::lookup::{self, Answer, Enumeration};
use crate::pack::{Packer, TooSmall};

/// glibc's `enum nss_status`.
type NssStatus = c_int;
const NSS_STATUS_TRYAGAIN: NssStatus = -2;
const NSS_STATUS_UNAVAIL: NssStatus = -1;
const NSS_STATUS_NOTFOUND: NssStatus = 0;
const NSS_STATUS_SUCCESS: NssStatus = 1;

static USERS: Mutex<Option<Enumeration<Passwd>>> = Mutex::new(None);
static GROUPS: Mutex<Option<Enumeration<Group>>> = Mutex::new(None);

/// The enumeration state, even if a panic poisoned its lock (the state is only a
/// list and a position: nothing half-done to fear).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f`, turning a panic into UNAVAIL.
fn guarded(errnop: *mut c_int, f: impl FnOnce() -> (NssStatus, c_int)) -> NssStatus {
    let (status, errno) = catch_unwind(AssertUnwindSafe(f)).unwrap_or((NSS_STATUS_UNAVAIL, ENOENT));
    if !errnop.is_null() && status != NSS_STATUS_SUCCESS {
        // SAFETY: glibc passes a valid pointer to its errno slot.
        unsafe { *errnop = errno };
    }
    status
}

/// A name argument as UTF-8; anything else cannot be in the files.
///
/// SAFETY: `name` is null or a NUL-terminated string, as glibc passes.
unsafe fn name_arg<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: per the function's contract.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

/// Copies an answer out with `fill`, deciding the status and errno.
fn copied<T>(
    answer: Answer<T>,
    fill: impl FnOnce(&T) -> Result<(), TooSmall>,
) -> (NssStatus, c_int) {
    match answer {
        Answer::Found(entry) => match fill(&entry) {
            Ok(()) => (NSS_STATUS_SUCCESS, 0),
            Err(TooSmall) => (NSS_STATUS_TRYAGAIN, ERANGE),
        },
        Answer::NotFound => (NSS_STATUS_NOTFOUND, ENOENT),
        Answer::Unavailable => (NSS_STATUS_UNAVAIL, ENOENT),
    }
}

/// The caller's buffer as a slice.
///
/// SAFETY: `buffer` points to `buflen` writable bytes (or is null), as glibc passes.
unsafe fn buffer<'a>(buffer: *mut c_char, buflen: size_t) -> &'a mut [u8] {
    if buffer.is_null() {
        return &mut [];
    }
    // SAFETY: per the function's contract.
    unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), buflen) }
}

/// Fills `*result` with `p`, its strings in the buffer.
///
/// SAFETY: `result` is valid for writes; `buf`/`buflen` as for [`buffer`].
unsafe fn fill_passwd(
    p: &Passwd,
    result: *mut passwd,
    buf: *mut c_char,
    buflen: size_t,
) -> Result<(), TooSmall> {
    // SAFETY: per the function's contract.
    let mut packer = Packer::new(unsafe { buffer(buf, buflen) });
    let name = packer.string(&p.name)?;
    // `*`, not `x`: there is no shadow entry, and pam_unix's account phase then has
    // nothing to check (it refuses an `x` without one).
    let password = packer.string("*")?;
    let gecos = packer.string(&p.gecos)?;
    let home = packer.string(&p.home)?;
    let shell = packer.string(&p.shell)?;
    // SAFETY: every offset is inside the buffer (the packer checked); result is valid.
    unsafe {
        *result = passwd {
            pw_name: buf.add(name),
            pw_passwd: buf.add(password),
            pw_uid: p.uid,
            pw_gid: p.gid,
            pw_gecos: buf.add(gecos),
            pw_dir: buf.add(home),
            pw_shell: buf.add(shell),
        };
    }
    Ok(())
}

/// Fills `*result` with `g`, its strings and member array in the buffer.
///
/// SAFETY: as for [`fill_passwd`].
unsafe fn fill_group(
    g: &Group,
    result: *mut group,
    buf: *mut c_char,
    buflen: size_t,
) -> Result<(), TooSmall> {
    // SAFETY: per the function's contract.
    let mut packer = Packer::new(unsafe { buffer(buf, buflen) });
    let members = packer.pointers(buf as usize, g.members.len() + 1)?;
    let name = packer.string(&g.name)?;
    let password = packer.string("x")?;
    let mut member_offsets = Vec::with_capacity(g.members.len());
    for m in &g.members {
        member_offsets.push(packer.string(m)?);
    }
    // SAFETY: every offset is inside the buffer and the array is aligned (the packer
    // checked); result is valid.
    unsafe {
        let array = buf.add(members).cast::<*mut c_char>();
        for (i, offset) in member_offsets.iter().enumerate() {
            *array.add(i) = buf.add(*offset);
        }
        *array.add(member_offsets.len()) = ptr::null_mut();
        *result = group {
            gr_name: buf.add(name),
            gr_passwd: buf.add(password),
            gr_gid: g.gid,
            gr_mem: array,
        };
    }
    Ok(())
}

/// The next entry of an enumeration (loaded by `load` if `setXXent` was not called),
/// copied out with `fill`; the position moves only when the entry was copied.
fn next_entry<T>(
    state: &Mutex<Option<Enumeration<T>>>,
    load: fn() -> Option<Enumeration<T>>,
    fill: impl FnOnce(&T) -> Result<(), TooSmall>,
) -> (NssStatus, c_int) {
    let mut state = locked(state);
    if state.is_none() {
        *state = load();
    }
    let Some(entries) = state.as_mut() else {
        return (NSS_STATUS_UNAVAIL, ENOENT);
    };
    let answer = match entries.current() {
        Some(entry) => Answer::Found(entry),
        None => Answer::NotFound,
    };
    let outcome = copied(answer, |entry| fill(entry));
    if outcome.0 == NSS_STATUS_SUCCESS {
        entries.advance();
    }
    outcome
}

/// A by-name lookup: `find` on the name, or not found for a name that is not UTF-8.
///
/// SAFETY: `name` as for [`name_arg`].
unsafe fn by_name<T>(name: *const c_char, find: fn(&str) -> Answer<T>) -> Answer<T> {
    // SAFETY: per the function's contract.
    match unsafe { name_arg(name) } {
        Some(name) => find(name),
        None => Answer::NotFound,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getpwnam_r(
    name: *const c_char,
    result: *mut passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments, as documented on each helper.
        let answer = unsafe { by_name(name, lookup::user_by_name) };
        copied(answer, |p| unsafe { fill_passwd(p, result, buf, buflen) })
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getpwuid_r(
    uid: uid_t,
    result: *mut passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        copied(lookup::user_by_uid(uid), |p| unsafe {
            fill_passwd(p, result, buf, buflen)
        })
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_crowd_setpwent(_stayopen: c_int) -> NssStatus {
    guarded(ptr::null_mut(), || {
        *locked(&USERS) = Enumeration::<Passwd>::users();
        (NSS_STATUS_SUCCESS, 0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_crowd_endpwent() -> NssStatus {
    guarded(ptr::null_mut(), || {
        *locked(&USERS) = None;
        (NSS_STATUS_SUCCESS, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getpwent_r(
    result: *mut passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        next_entry(&USERS, Enumeration::<Passwd>::users, |p| unsafe {
            fill_passwd(p, result, buf, buflen)
        })
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getgrnam_r(
    name: *const c_char,
    result: *mut group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        let answer = unsafe { by_name(name, lookup::group_by_name) };
        copied(answer, |g| unsafe { fill_group(g, result, buf, buflen) })
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getgrgid_r(
    gid: gid_t,
    result: *mut group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        copied(lookup::group_by_gid(gid), |g| unsafe {
            fill_group(g, result, buf, buflen)
        })
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_crowd_setgrent(_stayopen: c_int) -> NssStatus {
    guarded(ptr::null_mut(), || {
        *locked(&GROUPS) = Enumeration::<Group>::groups();
        (NSS_STATUS_SUCCESS, 0)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_crowd_endgrent() -> NssStatus {
    guarded(ptr::null_mut(), || {
        *locked(&GROUPS) = None;
        (NSS_STATUS_SUCCESS, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_getgrent_r(
    result: *mut group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        next_entry(&GROUPS, Enumeration::<Group>::groups, |g| unsafe {
            fill_group(g, result, buf, buflen)
        })
    })
}

/// Adds the gids of the groups listing `user` to glibc's array `*groupsp` (`*start`
/// used of `*size`), growing it with `realloc` up to `limit` (when positive).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_crowd_initgroups_dyn(
    user: *const c_char,
    primary: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> NssStatus {
    guarded(errnop, || {
        // SAFETY: glibc's arguments.
        let Some(user) = (unsafe { name_arg(user) }) else {
            return (NSS_STATUS_NOTFOUND, ENOENT);
        };
        let gids = match lookup::supplementary_gids(user, primary) {
            Answer::Found(gids) => gids,
            Answer::NotFound => return (NSS_STATUS_NOTFOUND, ENOENT),
            Answer::Unavailable => return (NSS_STATUS_UNAVAIL, ENOENT),
        };
        if start.is_null() || size.is_null() || groupsp.is_null() {
            return (NSS_STATUS_UNAVAIL, ENOENT);
        }
        // SAFETY: glibc passes valid pointers to its counters and its malloc'd array.
        unsafe {
            for gid in gids {
                let used = usize::try_from(*start).unwrap_or(0);
                let existing: &[gid_t] = if used == 0 || (*groupsp).is_null() {
                    &[]
                } else {
                    std::slice::from_raw_parts(*groupsp, used)
                };
                if existing.contains(&gid) {
                    continue;
                }
                if *start == *size {
                    if limit > 0 && *size >= limit {
                        break;
                    }
                    let mut grown = (*size).max(1).saturating_mul(2);
                    if limit > 0 {
                        grown = grown.min(limit);
                    }
                    let bytes = usize::try_from(grown).unwrap_or(0) * size_of::<gid_t>();
                    let array = libc::realloc((*groupsp).cast(), bytes).cast::<gid_t>();
                    if array.is_null() {
                        return (NSS_STATUS_TRYAGAIN, ENOMEM);
                    }
                    *groupsp = array;
                    *size = grown;
                }
                *(*groupsp).add(used) = gid;
                *start += 1;
            }
        }
        (NSS_STATUS_SUCCESS, 0)
    })
}
