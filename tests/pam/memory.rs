//! Copies of the secrets a login process still holds after `pam_end`: the
//! application's password (raw, and base64 in the Authorization header) and the
//! user's password, found by reading the memory of a real login process (`pam-login`,
//! one PAM transaction through the real libpam) from `/proc/PID/mem`. The number is
//! stated in RELIABILITY.md.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;

use crate::harness::*;

/// Occurrences of `needle` in `haystack`.
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Occurrences of each needle in the writable memory of process `pid`: heap, stack,
/// anonymous maps and the data segments of the program and its libraries (read-only
/// pages hold code and constants, not copies made at run time).
fn scan(pid: u32, needles: &[&[u8]]) -> Vec<usize> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("mem");
    let mut found = vec![0; needles.len()];
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(range), Some(perms)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        let name = fields.get(5).copied().unwrap_or("");
        if !perms.starts_with("rw") || name.starts_with("[v") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        let mut region = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue;
        }
        for (i, needle) in needles.iter().enumerate() {
            found[i] += count(&region, needle);
        }
    }
    found
}

#[test]
fn copies_of_the_secrets_left_in_a_login_process_after_pam_end() {
    let (double, host) = https_setup(RULES);
    let mut child = Command::new(pam_login())
        .arg(host.dir.join("pam.d"))
        .args(["crowd-test", "alice", "auth", "account"])
        .env("PAM_LOGIN_HOLD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pam-login");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"alice-pw\n").expect("password");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let outcome = rx.recv_timeout(Duration::from_secs(60));
    // pam_end has returned and the process waits: read what it still holds.
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{APP_NAME}:{APP_PASSWORD}"));
    let counts = scan(
        child.id(),
        &[
            APP_PASSWORD.as_bytes(),
            credentials.as_bytes(),
            b"alice-pw",
            // A control the process must still hold (its environment, on its stack):
            // the scan reads the memory it claims to.
            b"PAM_LOGIN_HOLD=1",
        ],
    );
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        outcome.as_deref().map(str::trim),
        Ok("auth=0 account=0"),
        "the login must succeed for the scan to mean anything"
    );
    assert!(!double.requests().is_empty());
    assert!(
        counts[3] >= 1,
        "the scan found not even the control: {counts:?}"
    );
    eprintln!(
        "copies left after pam_end: application secret {}, Basic credentials {}, user password {}",
        counts[0], counts[1], counts[2]
    );
    assert_eq!(
        counts[..3],
        [0, 0, 0],
        "copies left after pam_end (application secret, its base64 credentials, the user's password)"
    );
}
