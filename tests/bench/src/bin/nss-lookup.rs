//! `nss-lookup N USERS`: N `getpwnam_r` calls through glibc (whatever nsswitch.conf
//! says), of names `user00000`... spread over USERS, each checked to be found; prints
//! each call's time in nanoseconds, one per line. Run by the benchmark inside a mount
//! namespace where `passwd: files crowd` and the cache are set up.

// A measurement tool: a step that fails should stop the run loudly, so expect and
// panic are allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
// It calls glibc's getpwnam_r, as a program looking a user up does.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let users: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut buf = vec![0u8; 4096];
    let mut out = String::new();
    for i in 0..n {
        // A stride through the names, so lookups do not hit one page of the index.
        let name = CString::new(format!("user{:05}", (i * 7919) % users)).expect("name");
        // SAFETY: zeroed passwd is a valid plain C struct; every pointer is valid.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let t = Instant::now();
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        let elapsed = t.elapsed();
        assert!(rc == 0 && !result.is_null(), "{name:?} not found (rc {rc})");
        out.push_str(&format!("{}\n", elapsed.as_nanos()));
    }
    print!("{out}");
}
