//! 10,000 PAM transactions in one process leak no file descriptors and no threads.
//! A test binary of its own, with this one test, so nothing else opens files or starts
//! threads in the process while it counts.

// A test harness: helpers unwrap and panic, since a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unused_imports)]
#[path = "pam/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use crowd_double::pam_app::{SUCCESS, transaction};
use harness::*;

const TRANSACTIONS: usize = 10_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (bounded) for the count to come down: the double's connection threads end
/// when the module's connections close, and ureq's resolver threads when they answer.
fn settled(count: fn() -> usize, baseline: usize) -> usize {
    let started = Instant::now();
    while count() > baseline && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    count()
}

#[test]
fn ten_thousand_transactions_leak_no_fds_or_threads() {
    // Plain HTTP and a one-certificate trust file: the module's own resources are
    // counted, and each transaction costs milliseconds.
    let tls = Double::start(Fixture::default(), Transport::Https);
    let double = Double::start(Fixture::demo(), Transport::Http);
    let ca = tls.ca_file().expect("ca").display().to_string();
    let host = Host::new(&format!(
        "{}ca_file = {ca:?}\n",
        config_for(&[&double], RULES)
    ));
    let confdir = host.dir.join("pam.d");
    let login = || transaction(&confdir, "crowd-test", b"alice", b"alice-pw", true, true);
    for _ in 0..20 {
        assert_eq!(login().account, Some(SUCCESS)); // libpam and the module loaded once
    }
    let (fds, threads_before) = (settled(open_fds, 0), settled(threads, 0));
    let started = Instant::now();
    for i in 0..TRANSACTIONS {
        let outcome = login();
        assert_eq!(
            (outcome.auth, outcome.account),
            (Some(SUCCESS), Some(SUCCESS)),
            "transaction {i}"
        );
    }
    let took = started.elapsed();
    let (fds_after, threads_after) = (settled(open_fds, fds), settled(threads, threads_before));
    println!(
        "{TRANSACTIONS} transactions in {took:?}: fds {fds} -> {fds_after}, threads {threads_before} -> {threads_after}"
    );
    assert!(
        fds_after <= fds,
        "file descriptors leaked: {fds} -> {fds_after}"
    );
    assert!(
        threads_after <= threads_before,
        "threads leaked: {threads_before} -> {threads_after}"
    );
    // Two requests a login: authenticate, then one membership answer.
    assert_eq!(double.requests().len(), (TRANSACTIONS + 20) * 2);
}
