//! 200 logins at once against a double that answers each user differently (a fault
//! per user), as threads in this process (threaded PAM consumers) and as separate
//! processes (as sshd forks): every result is exactly what that user's answer implies.

use std::sync::{Arc, Barrier};

use crate::harness::*;
use crate::inproc::*;

const LOGINS: usize = 200;

/// What the double does for user `i`, and the (authenticate, account) codes that implies.
fn plan(i: usize) -> (Option<Fault>, bool, bool, Outcome) {
    let unavailable = Outcome {
        auth: Some(AUTHINFO_UNAVAIL),
        account: None,
    };
    match i % 6 {
        0 => (
            None,
            true,
            true,
            Outcome {
                auth: Some(SUCCESS),
                account: Some(SUCCESS),
            },
        ),
        1 => (
            Some(Fault::Respond(Canned::new(503, "text/plain", "busy"))),
            true,
            true,
            unavailable,
        ),
        2 => (
            None,
            false,
            true,
            Outcome {
                auth: Some(AUTH_ERR),
                account: None,
            },
        ),
        3 => (
            Some(Fault::Respond(Canned::new(
                200,
                "text/html",
                "<html>login</html>",
            ))),
            true,
            true,
            unavailable,
        ),
        4 => (
            None,
            true,
            false,
            Outcome {
                auth: Some(SUCCESS),
                account: Some(PERM_DENIED),
            },
        ),
        _ => (
            Some(Fault::Respond(Canned::new(429, "text/plain", "slow down"))),
            true,
            true,
            unavailable,
        ),
    }
}

/// Users u000..u199 with their faults, and a host whose timeout leaves room for load.
fn setup() -> (Double, Host) {
    let mut fixture = Fixture::default();
    for i in 0..LOGINS {
        let (_, _, in_group, _) = plan(i);
        let user = format!("u{i:03}");
        fixture = fixture.user(&user, &format!("pw-{i}"), true);
        if in_group {
            fixture = fixture.member("linux-users", &user);
        }
    }
    let double = Double::start(fixture, Transport::Https);
    for i in 0..LOGINS {
        if let (Some(fault), ..) = plan(i) {
            double.set_user_fault(&format!("u{i:03}"), fault);
        }
    }
    let host = Host::new(&config_for(&[&double], RULES).replace("timeout = 5", "timeout = 30"));
    (double, host)
}

fn password(i: usize) -> String {
    let (_, right_password, ..) = plan(i);
    if right_password {
        format!("pw-{i}")
    } else {
        "not-the-password".into()
    }
}

#[test]
fn two_hundred_concurrent_logins_in_one_process() {
    let (_double, host) = setup();
    let confdir = Arc::new(host.dir.join("pam.d"));
    module(); // built once before the threads start
    let barrier = Arc::new(Barrier::new(LOGINS));
    let threads: Vec<_> = (0..LOGINS)
        .map(|i| {
            let (barrier, confdir) = (barrier.clone(), confdir.clone());
            std::thread::spawn(move || {
                barrier.wait();
                transaction(
                    &confdir,
                    "crowd-test",
                    format!("u{i:03}").as_bytes(),
                    password(i).as_bytes(),
                    true,
                    true,
                )
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let got = thread.join().expect("a login thread panicked");
        assert_eq!(got, plan(i).3, "u{i:03}");
    }
}

#[test]
fn two_hundred_concurrent_logins_as_processes() {
    let (_double, host) = setup();
    let confdir = host.dir.join("pam.d");
    let pam_login = pam_login();
    // pam-login: a real PAM application, one process per login (pamtester's
    // pam_wrapper cannot run 200 at once: it names its temp dirs with one letter).
    let children: Vec<_> = (0..LOGINS)
        .map(|i| {
            let mut login = std::process::Command::new(pam_login);
            login
                .arg(&confdir)
                .args(["crowd-test", &format!("u{i:03}"), "auth", "account"]);
            std::thread::spawn(move || run_bounded(&mut login, &format!("{}\n", password(i))))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let done = child.join().expect("a pam-login thread panicked");
        let want = plan(i).3;
        let show = |c: Option<i32>| c.map_or("-".to_string(), |c| c.to_string());
        let expected = format!("auth={} account={}", show(want.auth), show(want.account));
        assert_eq!(done.stdout.trim(), expected, "u{i:03}: {}", done.stderr);
    }
}
