//! `login-bench`: the login benchmark. Starts the Crowd double over HTTPS on
//! 127.0.0.1, then measures a login (authenticate + account, the group rule naming
//! two groups) made by pam_crowd.so through the real libpam, by curl, by python-crowd
//! and by the floor client, and writes the table into BENCHMARKS.md between its
//! markers. Run it through `tests/bench/run`, which builds everything in release mode
//! and installs curl, strace and python-crowd first.
//!
//! Usage: login-bench [--iterations N] [--out FILE] [--python PYTHON]

// A measurement tool: a step that fails should stop the run loudly, so expect and
// panic are allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod latency;
mod measure;
mod nss;
mod report;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crowd_double::pam_app::transaction;
use crowd_double::{Double, Transport};
use login_bench::Floor;

use latency::{LatencyProxy, WAN_ONE_WAY};
use measure::{Row, Run, Stats, spawn_many, spawn_timed};
use setup::{BENCH_GROUPS, BENCH_PASSWORD, BENCH_USER, Bench};

struct Args {
    iterations: usize,
    out: PathBuf,
    python: Option<PathBuf>,
    /// `--profile module|floor`: only that login, `iterations` times in this process,
    /// for a profiler (perf, callgrind) to watch; no table.
    profile: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        iterations: 200,
        out: PathBuf::from("BENCHMARKS.md"),
        python: None,
        profile: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--iterations", Some(n)) => args.iterations = n.parse().unwrap_or(200),
            ("--out", Some(path)) => args.out = path.into(),
            ("--python", Some(path)) => args.python = Some(path.into()),
            ("--profile", Some(what)) if ["module", "floor"].contains(&what.as_str()) => {
                args.profile = Some(what);
            }
            _ => {
                eprintln!(
                    "usage: login-bench [--iterations N] [--out FILE] [--python PYTHON] [--profile module|floor]"
                );
                std::process::exit(2);
            }
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let n = args.iterations;
    let bench = Bench::start();
    if let Some(what) = &args.profile {
        profile(&bench, what, n);
        return;
    }
    let started = Instant::now();
    let (module, baselines) = login_rows(&bench, n);
    let mut rows = module;
    rows.extend(soap_rows(&bench, n));
    rows.extend(wan_rows(&bench, n));
    rows.extend(client_rows(&bench, n, args.python.as_deref()));
    rows.extend(baselines);
    rows.extend(account_rows(&bench, n));
    rows.extend(concurrent_rows(&bench, n));
    rows.extend(cache_rows(&bench, n));
    // (N) Crowd users through NSS: a lookup on a 10,000-user cache, and the sync that
    // writes it.
    rows.push(nss::lookup_row(bench.bin(), bench.dir(), n.max(100) * 10));
    rows.extend(nss::sync_rows(bench.bin(), bench.dir(), n.clamp(2, 20)));

    let extras = bench.extras(n);
    let report = report::render(&rows, &extras, started.elapsed());
    print!("{report}");
    if let Err(e) = report::write_between_markers(&args.out, &report) {
        eprintln!("login-bench: cannot write {}: {e}", args.out.display());
        std::process::exit(1);
    }
    eprintln!("login-bench: wrote {}", args.out.display());
}

/// `n` long-lived logins of one kind and nothing else, for a profiler: the module's
/// (libpam in this process) or the floor client's.
fn profile(bench: &Bench, what: &str, n: usize) {
    let mut login: Box<dyn FnMut() -> Duration> = match what {
        "module" => Box::new(in_process(bench, "bench")),
        _ => {
            let floor = Floor::new(
                &bench.ca_file,
                bench.addr,
                crowd_double::APP_NAME,
                crowd_double::APP_PASSWORD,
            );
            Box::new(move || {
                let t = Instant::now();
                let answers = floor.login(BENCH_USER, BENCH_PASSWORD, &BENCH_GROUPS);
                assert!(answers.is_ok_and(|a| a.member), "floor login");
                t.elapsed()
            })
        }
    };
    let total: Duration = (0..n).map(|_| login()).sum();
    eprintln!(
        "login-bench: {n} {what} logins, {:.3} ms each",
        total.as_secs_f64() * 1000.0 / n.max(1) as f64
    );
}

/// One password login of `BENCH_USER` through libpam in this process, on `service`.
fn in_process(bench: &Bench, service: &'static str) -> impl FnMut() -> Duration + use<> {
    let confdir = bench.confdir.clone();
    move || {
        let t = Instant::now();
        let outcome = transaction(
            &confdir,
            service,
            BENCH_USER.as_bytes(),
            BENCH_PASSWORD.as_bytes(),
            true,
            true,
        );
        let elapsed = t.elapsed();
        assert_eq!(
            (outcome.auth, outcome.account),
            (Some(0), Some(0)),
            "{service}"
        );
        elapsed
    }
}

/// The account phase alone (no password: publickey, sudo NOPASSWD) of `user`.
fn account_alone(
    bench: &Bench,
    service: &'static str,
    user: String,
) -> impl FnMut() -> Duration + use<> {
    let confdir = bench.confdir.clone();
    move || {
        let t = Instant::now();
        let outcome = transaction(&confdir, service, user.as_bytes(), b"", false, true);
        let elapsed = t.elapsed();
        assert_eq!(outcome.account, Some(0), "{service} {user}");
        elapsed
    }
}

/// A fresh `pam-login` process on `service`, which must print `expected`.
fn pam_login(bench: &Bench, service: &str, expected: &str) -> Duration {
    let run = spawn_timed(&mut bench.pam_login(service), &bench.pam_login_stdin());
    run.expect_stdout(expected);
    run.elapsed
}

/// (1) and (2), the module's logins, and in turns with them the floor client and
/// what the module's host costs anyway (libpam alone, starting a process). Returns
/// the module's rows and the baselines' rows.
fn login_rows(bench: &Bench, n: usize) -> (Vec<Row>, Vec<Row>) {
    // One PAM transaction per fresh process, as sshd runs one per login.
    let fresh = bench.interleaved(
        n,
        &mut [
            &mut || pam_login(bench, "bench", "auth=0 account=0\n"),
            &mut || {
                let run = spawn_timed(&mut bench.floor_client(), &bench.two_passwords());
                run.expect_success();
                run.elapsed
            },
            &mut || pam_login(bench, "bench-permit", "auth=0 account=0\n"),
            &mut || pam_login(bench, "bench-load", "auth=3 account=-\n"),
            &mut || {
                let run = spawn_timed(&mut bench.empty_process(), b"");
                run.expect_success();
                run.elapsed
            },
        ],
    );
    let long = long_lived(bench, n);
    let [m1, f1, p1, l1, p0] = <[_; 5]>::try_from(fresh).expect("five series");
    let [m2, f2, p2] = <[_; 3]>::try_from(long).expect("three series");
    let module = vec![
        Row::new("1", "pam_crowd.so, fresh process per login (pam-login)", m1),
        Row::new(
            "2",
            "pam_crowd.so, long-lived process (libpam in-process)",
            m2,
        ),
    ];
    let baselines = vec![
        Row::new(
            "F1",
            "floor client (rustls), fresh process (in turns with 1)",
            f1,
        ),
        Row::new(
            "F2",
            "floor client (rustls), long-lived process (in turns with 2)",
            f2,
        ),
        Row::new(
            "P1",
            "libpam alone: pam_permit in pam-login, fresh process (in turns with 1)",
            p1,
        ),
        Row::new(
            "P2",
            "libpam alone: pam_permit, long-lived process (in turns with 2)",
            p2,
        ),
        Row::new(
            "L1",
            "pam_crowd.so loaded, refusing at once (no config), fresh process (in turns with 1)",
            l1,
        ),
        Row::new(
            "P0",
            "starting a process that exits at once (in turns with 1)",
            p0,
        ),
    ];
    (module, baselines)
}

/// The module, the floor client and libpam alone in one long-lived process, in turns.
fn long_lived(bench: &Bench, n: usize) -> Vec<Stats> {
    let floor = Floor::new(
        &bench.ca_file,
        bench.addr,
        crowd_double::APP_NAME,
        crowd_double::APP_PASSWORD,
    );
    let mut floor_long = || {
        let t = Instant::now();
        let answers = floor
            .login(BENCH_USER, BENCH_PASSWORD, &BENCH_GROUPS)
            .expect("floor login");
        let elapsed = t.elapsed();
        assert_eq!(
            (answers.auth, answers.groups, answers.member),
            (200, 200, true)
        );
        elapsed
    };
    bench.interleaved(
        n,
        &mut [
            &mut in_process(bench, "bench"),
            &mut floor_long,
            &mut in_process(bench, "bench-permit"),
        ],
    )
}

/// (S) The same login over SOAP (protocol = "soap", for Crowd before 2.1): the
/// application token, the user lookup and ending the principal token are three more
/// calls on the same connection.
fn soap_rows(bench: &Bench, n: usize) -> Vec<Row> {
    let fresh = bench.series(n, || pam_login(bench, "bench-soap", "auth=0 account=0\n"));
    let long = bench.series(n, in_process(bench, "bench-soap"));
    vec![
        Row::new(
            "S1",
            "pam_crowd.so over SOAP, fresh process per login (pam-login)",
            fresh,
        ),
        Row::new(
            "S2",
            "pam_crowd.so over SOAP, long-lived process (libpam in-process)",
            long,
        ),
    ]
}

/// (W) The same logins over a WAN: the double behind a proxy that delays every byte
/// by WAN_ONE_WAY in each direction, so a round trip costs twice that and a login's
/// time is its round trips. The report counts them (targets).
fn wan_rows(bench: &Bench, n: usize) -> Vec<Row> {
    let wan = LatencyProxy::start(bench.addr, WAN_ONE_WAY);
    let wan_url = bench.double.ip_url().replacen(
        &format!(":{}/", bench.addr.port()),
        &format!(":{}/", wan.addr().port()),
        1,
    );
    bench.write_service("bench-wan", &wan_url, &bench.ca_file, "");
    let soap = "protocol = \"soap\"\n";
    bench.write_service("bench-wan-soap", &wan_url, &bench.ca_file, soap);
    let login = bench.series(n, in_process(bench, "bench-wan"));
    let account = bench.series(n, account_alone(bench, "bench-wan", BENCH_USER.into()));
    let soap = bench.series(n, in_process(bench, "bench-wan-soap"));
    drop(wan);
    let one_way = WAN_ONE_WAY.as_millis();
    vec![
        Row::new(
            "W1",
            &format!("password login over a {one_way} ms-each-way link (long-lived)"),
            login,
        ),
        Row::new(
            "W2",
            &format!(
                "account phase alone (publickey, sudo) over a {one_way} ms-each-way link (long-lived)"
            ),
            account,
        ),
        Row::new(
            "W3",
            &format!("password login over SOAP over a {one_way} ms-each-way link (long-lived)"),
            soap,
        ),
    ]
}

/// (3) curl, one process and one connection for the same questions; (4)
/// python-crowd in a fresh Python process.
fn client_rows(bench: &Bench, n: usize, python: Option<&Path>) -> Vec<Row> {
    let curl = bench.series(n, || {
        let run = spawn_timed(&mut bench.curl(), b"");
        run.expect_stdout("200 1\n200 0\n");
        run.elapsed
    });
    let python = match python {
        Some(python) => {
            let py = bench.series(n, || {
                let run = spawn_timed(&mut bench.python_crowd(python), &bench.two_passwords());
                run.expect_success();
                run.elapsed
            });
            Row::new("4", "python-crowd, fresh Python process", py)
        }
        None => Row::skipped("4", "python-crowd", "no --python given"),
    };
    vec![
        Row::new("3", "curl, one process, one connection", curl),
        python,
    ]
}

/// (5) The account phase alone for users in many groups; the rule still names two.
fn account_rows(bench: &Bench, n: usize) -> Vec<Row> {
    setup::GROUP_COUNTS
        .into_iter()
        .map(|groups| {
            let user = setup::user_in_groups(groups);
            let account = bench.series(n, account_alone(bench, "bench", user));
            Row::new(
                "5",
                &format!("account phase alone, user in {groups} nested groups (long-lived)"),
                account,
            )
        })
        .collect()
}

/// (6) Concurrent logins, each a fresh pam-login process, and the floor client at
/// the same concurrency: on a machine of few cores both queue for the CPU, so the
/// module is compared with the floor under the same load, not with a lone login.
fn concurrent_rows(bench: &Bench, n: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for concurrency in [50, 200] {
        let rounds = n.div_ceil(concurrency).max(2);
        let concurrent = |make: &dyn Fn() -> Command, stdin: &[u8], expect: &dyn Fn(&Run)| {
            bench.counted(|| {
                let mut samples = Vec::new();
                for _ in 0..rounds {
                    for run in spawn_many(concurrency, make, stdin) {
                        expect(&run);
                        samples.push(run.elapsed);
                    }
                }
                samples
            })
        };
        let module = concurrent(
            &|| bench.pam_login("bench"),
            &bench.pam_login_stdin(),
            &|run| run.expect_stdout("auth=0 account=0\n"),
        );
        let floor = concurrent(
            &|| bench.floor_client(),
            &bench.two_passwords(),
            &Run::expect_success,
        );
        rows.push(Row::new(
            "6",
            &format!("{concurrency} concurrent logins (fresh processes), latency of each"),
            module,
        ));
        rows.push(Row::new(
            "F6",
            &format!("floor client, {concurrency} concurrent (fresh processes), latency of each"),
            floor,
        ));
    }
    rows
}

/// (7) The cache: a login that also writes the argon2id verifier; the account phase
/// from recent answers (positive_ttl, no request); an offline login while Crowd is
/// down (nothing listening). A Crowd of its own, to be stopped.
fn cache_rows(bench: &Bench, n: usize) -> Vec<Row> {
    let cached_crowd = Double::start(setup::fixture(), Transport::Https);
    let ca = bench.dir().join("cache-ca.pem");
    std::fs::copy(cached_crowd.ca_file().expect("https"), &ca).expect("copy CA");
    let cache_table = format!(
        "[cache]\noffline_days = 7\npositive_ttl = 300\ndir = {:?}\n",
        bench.dir().join("cache").display().to_string()
    );
    bench.write_service("bench-cache", &cached_crowd.ip_url(), &ca, &cache_table);
    let login = |want: (Option<i32>, Option<i32>)| {
        let confdir = bench.confdir.clone();
        move || {
            let t = Instant::now();
            let outcome = transaction(
                &confdir,
                "bench-cache",
                BENCH_USER.as_bytes(),
                BENCH_PASSWORD.as_bytes(),
                want.0.is_some(),
                true,
            );
            let elapsed = t.elapsed();
            assert_eq!((outcome.auth, outcome.account), want);
            elapsed
        }
    };
    let online = bench.series(n, login((Some(0), Some(0))));
    let requests = cached_crowd.request_count();
    let recent = bench.series(n, login((None, Some(0))));
    assert_eq!(
        cached_crowd.request_count(),
        requests,
        "positive_ttl: the account phase asked Crowd"
    );
    drop(cached_crowd);
    let offline = bench.series(n, login((Some(0), Some(0))));
    vec![
        Row::new(
            "C1",
            "login with [cache] offline_days on: argon2id verifier written (long-lived)",
            online,
        ),
        Row::new(
            "C2",
            "account phase alone from Crowd's recent answers, positive_ttl (long-lived)",
            recent,
        ),
        Row::new(
            "C3",
            "offline login, Crowd down: argon2id check from the cache (long-lived)",
            offline,
        ),
    ]
}
