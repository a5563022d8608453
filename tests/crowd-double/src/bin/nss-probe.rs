//! `nss-probe`: calls `libnss_crowd.so.2`'s entry points directly, as glibc would,
//! with the buffer sizes a test chooses, and prints what each returned: the cases
//! glibc hides (its retries on a small buffer, its errno handling).
//!
//! Commands, one per line of standard input (so one process can outlive a sync):
//!   `getpwnam NAME BUFLEN`, `getpwuid UID BUFLEN`, `getgrnam NAME BUFLEN`,
//!   `getpwent BUFLEN` (the next entry), `setpwent`, `initgroups USER`.
//! Each prints `status=S errno=E` and, on success, the entry's name or the gids.

// A test tool: a step that fails should stop it loudly, so expect and panic are
// allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
// This probe is FFI by nature: it calls the NSS module's C entry points as glibc does.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_void};
use std::io::BufRead;

type Status = c_int;

fn symbol(lib: *mut c_void, name: &str) -> *mut c_void {
    let name = CString::new(name).expect("symbol name");
    // SAFETY: lib is a handle from dlopen; name is NUL-terminated.
    let f = unsafe { libc::dlsym(lib, name.as_ptr()) };
    assert!(!f.is_null(), "{name:?} not exported");
    f
}

type ByName =
    unsafe extern "C" fn(*const c_char, *mut c_void, *mut c_char, usize, *mut c_int) -> Status;
type ById = unsafe extern "C" fn(u32, *mut libc::passwd, *mut c_char, usize, *mut c_int) -> Status;
type Ent = unsafe extern "C" fn(*mut libc::passwd, *mut c_char, usize, *mut c_int) -> Status;
type Set = unsafe extern "C" fn(c_int) -> Status;
type Init = unsafe extern "C" fn(
    *const c_char,
    u32,
    *mut c_long,
    *mut c_long,
    *mut *mut u32,
    c_long,
    *mut c_int,
) -> Status;

/// The module's entry points.
struct Nss {
    getpwnam: ByName,
    getpwuid: ById,
    getgrnam: ByName,
    getpwent: Ent,
    setpwent: Set,
    initgroups: Init,
}

/// The text a C string points at.
fn text(p: *const c_char) -> String {
    // SAFETY: the module returned entries whose strings are NUL-terminated.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Nss {
    fn load() -> Nss {
        let path = CString::new("libnss_crowd.so.2").expect("path");
        // SAFETY: a NUL-terminated library name.
        let lib = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
        assert!(
            !lib.is_null(),
            "dlopen libnss_crowd.so.2 failed (LD_LIBRARY_PATH?)"
        );
        // SAFETY: the module exports these with glibc's NSS signatures.
        unsafe {
            Nss {
                getpwnam: std::mem::transmute::<*mut c_void, ByName>(symbol(
                    lib,
                    "_nss_crowd_getpwnam_r",
                )),
                getpwuid: std::mem::transmute::<*mut c_void, ById>(symbol(
                    lib,
                    "_nss_crowd_getpwuid_r",
                )),
                getgrnam: std::mem::transmute::<*mut c_void, ByName>(symbol(
                    lib,
                    "_nss_crowd_getgrnam_r",
                )),
                getpwent: std::mem::transmute::<*mut c_void, Ent>(symbol(
                    lib,
                    "_nss_crowd_getpwent_r",
                )),
                setpwent: std::mem::transmute::<*mut c_void, Set>(symbol(
                    lib,
                    "_nss_crowd_setpwent",
                )),
                initgroups: std::mem::transmute::<*mut c_void, Init>(symbol(
                    lib,
                    "_nss_crowd_initgroups_dyn",
                )),
            }
        }
    }

    /// One command's answer.
    fn answer(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let size = |i: usize| {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or(1024usize)
        };
        match words.as_slice() {
            ["getpwnam", name, _] => self.by_name(name, false, size(2)),
            ["getgrnam", name, _] => self.by_name(name, true, size(2)),
            ["getpwuid", uid, _] => self.by_uid(uid.parse().unwrap_or(0), size(2)),
            // SAFETY: a plain call with an int.
            ["setpwent"] => format!("status={}", unsafe { (self.setpwent)(0) }),
            ["getpwent", _] => self.next_entry(size(1)),
            ["initgroups", user] => self.initgroups(user),
            _ => format!("unknown command {line:?}"),
        }
    }

    fn by_name(&self, name: &str, group: bool, len: usize) -> String {
        let name = CString::new(name).expect("name");
        let mut buf = vec![0 as c_char; len];
        let mut errno: c_int = 0;
        // SAFETY: zeroed C structs; every pointer below is valid for the call.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let result: *mut c_void = if group {
            (&raw mut grp).cast()
        } else {
            (&raw mut pwd).cast()
        };
        let f = if group { self.getgrnam } else { self.getpwnam };
        let s = unsafe { f(name.as_ptr(), result, buf.as_mut_ptr(), len, &mut errno) };
        let found = if s != 1 {
            String::new()
        } else if group {
            format!(" name={} gid={}", text(grp.gr_name), grp.gr_gid)
        } else {
            format!(" name={} uid={}", text(pwd.pw_name), pwd.pw_uid)
        };
        format!("status={s} errno={errno}{found}")
    }

    fn by_uid(&self, uid: u32, len: usize) -> String {
        let mut buf = vec![0 as c_char; len];
        let mut errno: c_int = 0;
        // SAFETY: a zeroed C struct; every pointer below is valid for the call.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let s = unsafe { (self.getpwuid)(uid, &mut pwd, buf.as_mut_ptr(), len, &mut errno) };
        let found = if s == 1 {
            format!(" name={}", text(pwd.pw_name))
        } else {
            String::new()
        };
        format!("status={s} errno={errno}{found}")
    }

    fn next_entry(&self, len: usize) -> String {
        let mut buf = vec![0 as c_char; len];
        let mut errno: c_int = 0;
        // SAFETY: a zeroed C struct; every pointer below is valid for the call.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let s = unsafe { (self.getpwent)(&mut pwd, buf.as_mut_ptr(), len, &mut errno) };
        let found = if s == 1 {
            format!(" name={}", text(pwd.pw_name))
        } else {
            String::new()
        };
        format!("status={s} errno={errno}{found}")
    }

    fn initgroups(&self, user: &str) -> String {
        let user = CString::new(user).expect("user");
        let mut errno: c_int = 0;
        let (mut start, mut size): (c_long, c_long) = (0, 1);
        // glibc's array: malloc'd, grown by the module with realloc.
        // SAFETY: a fresh allocation of one gid, freed below.
        let mut groups = unsafe { libc::malloc(std::mem::size_of::<u32>()) }.cast::<u32>();
        // SAFETY: every pointer is valid for the call.
        let s = unsafe {
            (self.initgroups)(
                user.as_ptr(),
                100,
                &mut start,
                &mut size,
                &mut groups,
                0,
                &mut errno,
            )
        };
        let gids: Vec<String> = (0..start as usize)
            // SAFETY: the module filled `start` entries.
            .map(|i| unsafe { *groups.add(i) }.to_string())
            .collect();
        // SAFETY: the array the module may have reallocated, freed once.
        unsafe { libc::free(groups.cast()) };
        format!("status={s} errno={errno} gids={}", gids.join(","))
    }
}

fn main() {
    let nss = Nss::load();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        println!("{}", nss.answer(&line));
    }
}
