//! `pam-login CONFDIR SERVICE USER [auth] [account]`: one PAM transaction in a fresh
//! process, as sshd runs one per login; the password is the first line of stdin.
//! Prints `auth=CODE account=CODE` (`-` for a phase not run). With
//! `PAM_LOGIN_REPORT_MEMORY=1` it also prints its peak resident memory (`VmHWM`) to
//! stderr, for the benchmark (a parent's wait4 reports a peak that includes the
//! parent's own pages copied before exec). With `PAM_LOGIN_HOLD=1` it stays alive
//! after printing, until its standard input ends, so that a test can scan its memory
//! for copies of the secrets left after `pam_end`.

// A test tool: a step that fails should stop it loudly, so expect and panic are
// allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;

use crowd_double::pam_app::transaction;
use zeroize::Zeroizing;

/// One line of standard input, read straight from fd 0 into a buffer wiped on drop
/// (std's stdin would keep a copy in its own buffer); `None` at end of input.
#[allow(unsafe_code)]
fn read_line_unbuffered() -> Option<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(4096));
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a valid, writable byte.
        let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
        if n <= 0 {
            return (!line.is_empty()).then_some(line);
        }
        if byte == b'\n' {
            return Some(line);
        }
        line.push(byte);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [confdir, service, user, phases @ ..] = &args[..] else {
        eprintln!("usage: pam-login CONFDIR SERVICE USER [auth] [account]");
        std::process::exit(2);
    };
    let mut password = read_line_unbuffered().unwrap_or_default();
    while password.last() == Some(&b'\r') {
        password.pop();
    }
    let has = |p: &str| phases.iter().any(|x| x == p);
    let outcome = transaction(
        confdir.as_ref(),
        service,
        user.as_bytes(),
        &password,
        has("auth"),
        has("account"),
    );
    if std::env::var_os("PAM_LOGIN_REPORT_MEMORY").is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            eprintln!("{line}");
        }
    }
    let show = |c: Option<i32>| c.map_or("-".to_string(), |c| c.to_string());
    drop(password);
    println!(
        "auth={} account={}",
        show(outcome.auth),
        show(outcome.account)
    );
    if std::env::var_os("PAM_LOGIN_HOLD").is_some() {
        let _ = std::io::stdout().flush();
        while read_line_unbuffered().is_some() {}
    }
}
