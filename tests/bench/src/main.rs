//! `login-bench`: the login benchmark. Starts the Crowd double over HTTPS on
//! 127.0.0.1, then measures a login (authenticate + account, the group rule naming
//! two groups) made by pam_crowd.so through the real libpam, by curl, by python-crowd
//! and by the floor client, and writes the table into BENCHMARKS.md between its
//! markers. Run it through `tests/bench/run`, which builds everything in release mode
//! and installs curl, strace and python-crowd first.
//!
//! Usage: login-bench [--iterations N] [--out FILE] [--python PYTHON]

mod latency;
mod measure;
mod nss;
mod report;
mod setup;

use std::path::PathBuf;
use std::time::Instant;

use crowd_double::pam_app::transaction;
use crowd_double::{Double, Transport};
use login_bench::Floor;

use latency::{LatencyProxy, WAN_ONE_WAY};
use measure::{Row, spawn_many, spawn_timed};
use setup::{BENCH_GROUPS, BENCH_PASSWORD, BENCH_USER, Bench};

struct Args {
    iterations: usize,
    out: PathBuf,
    python: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        iterations: 200,
        out: PathBuf::from("BENCHMARKS.md"),
        python: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--iterations", Some(n)) => args.iterations = n.parse().unwrap_or(200),
            ("--out", Some(path)) => args.out = path.into(),
            ("--python", Some(path)) => args.python = Some(path.into()),
            _ => {
                eprintln!("usage: login-bench [--iterations N] [--out FILE] [--python PYTHON]");
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
    let mut rows: Vec<Row> = Vec::new();
    let started = Instant::now();

    // (1) One PAM transaction per fresh process, as sshd runs one per login, in turns
    // with the floor client in a fresh process, and with what libpam alone costs
    // (pam_permit in the same program) and what starting a process costs.
    let mut module_fresh = || {
        let run = spawn_timed(&mut bench.pam_login("bench"), &bench.pam_login_stdin());
        run.expect_stdout("auth=0 account=0\n");
        run.elapsed
    };
    let mut floor_fresh = || {
        let run = spawn_timed(&mut bench.floor_client(), &bench.two_passwords());
        run.expect_success();
        run.elapsed
    };
    let mut permit_fresh = || {
        let run = spawn_timed(
            &mut bench.pam_login("bench-permit"),
            &bench.pam_login_stdin(),
        );
        run.expect_stdout("auth=0 account=0\n");
        run.elapsed
    };
    let mut module_loaded = || {
        let run = spawn_timed(&mut bench.pam_login("bench-load"), &bench.pam_login_stdin());
        run.expect_stdout("auth=3 account=-\n");
        run.elapsed
    };
    let mut empty_process = || {
        let run = spawn_timed(&mut bench.empty_process(), b"");
        run.expect_success();
        run.elapsed
    };
    let fresh = bench.interleaved(
        n,
        &mut [
            &mut module_fresh,
            &mut floor_fresh,
            &mut permit_fresh,
            &mut module_loaded,
            &mut empty_process,
        ],
    );

    // (2) The same in one long-lived process, in turns with the long-lived floor and
    // libpam alone.
    let floor = Floor::new(
        &bench.ca_file,
        bench.addr,
        crowd_double::APP_NAME,
        crowd_double::APP_PASSWORD,
    );
    let in_process = |service: &'static str| {
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
    };
    // The account phase alone (no password: publickey, sudo NOPASSWD) of `user`.
    let account_alone = |service: &'static str, user: String| {
        let confdir = bench.confdir.clone();
        move || {
            let t = Instant::now();
            let outcome = transaction(&confdir, service, user.as_bytes(), b"", false, true);
            let elapsed = t.elapsed();
            assert_eq!(outcome.account, Some(0), "{service} {user}");
            elapsed
        }
    };
    let mut floor_long = || {
        let t = Instant::now();
        let answers = floor
            .login(BENCH_USER, BENCH_PASSWORD, &BENCH_GROUPS)
            .expect("floor login");
        let elapsed = t.elapsed();
        assert_eq!((answers.auth, answers.memberships), (200, vec![404, 200]));
        elapsed
    };
    let long = bench.interleaved(
        n,
        &mut [
            &mut in_process("bench"),
            &mut floor_long,
            &mut in_process("bench-permit"),
        ],
    );
    let [
        module_fresh,
        floor_fresh,
        permit_fresh,
        module_loaded,
        empty_process,
    ] = <[_; 5]>::try_from(fresh).expect("five series");
    let [module_long, floor_long, permit_long] = <[_; 3]>::try_from(long).expect("three series");
    rows.push(Row::new(
        "1",
        "pam_crowd.so, fresh process per login (pam-login)",
        module_fresh,
    ));
    rows.push(Row::new(
        "2",
        "pam_crowd.so, long-lived process (libpam in-process)",
        module_long,
    ));

    // (S) The same login over SOAP (protocol = "soap", for Crowd before 2.1): the
    // application token, the user lookup and ending the principal token are three
    // more calls on the same connection.
    let soap_fresh = bench.series(n, || {
        let run = spawn_timed(&mut bench.pam_login("bench-soap"), &bench.pam_login_stdin());
        run.expect_stdout("auth=0 account=0\n");
        run.elapsed
    });
    rows.push(Row::new(
        "S1",
        "pam_crowd.so over SOAP, fresh process per login (pam-login)",
        soap_fresh,
    ));
    let soap_long = bench.series(n, in_process("bench-soap"));
    rows.push(Row::new(
        "S2",
        "pam_crowd.so over SOAP, long-lived process (libpam in-process)",
        soap_long,
    ));

    // (W) The same logins over a WAN: the double behind a proxy that delays every byte
    // by WAN_ONE_WAY in each direction, so a round trip costs twice that and a login's
    // time is its round trips. The report counts them (targets).
    let wan = LatencyProxy::start(bench.addr, WAN_ONE_WAY);
    let wan_url = bench.double.ip_url().replacen(
        &format!(":{}/", bench.addr.port()),
        &format!(":{}/", wan.addr().port()),
        1,
    );
    bench.write_service("bench-wan", &wan_url, &bench.ca_file, "");
    bench.write_service(
        "bench-wan-soap",
        &wan_url,
        &bench.ca_file,
        "protocol = \"soap\"\n",
    );
    let wan_login = bench.series(n, in_process("bench-wan"));
    let wan_account = bench.series(n, account_alone("bench-wan", BENCH_USER.into()));
    let wan_soap = bench.series(n, in_process("bench-wan-soap"));
    drop(wan);
    let one_way = WAN_ONE_WAY.as_millis();
    rows.push(Row::new(
        "W1",
        &format!("password login over a {one_way} ms-each-way link (long-lived)"),
        wan_login,
    ));
    rows.push(Row::new(
        "W2",
        &format!(
            "account phase alone (publickey, sudo) over a {one_way} ms-each-way link (long-lived)"
        ),
        wan_account,
    ));
    rows.push(Row::new(
        "W3",
        &format!("password login over SOAP over a {one_way} ms-each-way link (long-lived)"),
        wan_soap,
    ));

    // (3) curl, one process and one connection for the same requests.
    let curl = bench.series(n, || {
        let run = spawn_timed(&mut bench.curl(), b"");
        run.expect_stdout("200 1\n404 0\n200 0\n");
        run.elapsed
    });
    rows.push(Row::new("3", "curl, one process, one connection", curl));

    // (4) python-crowd in a fresh Python process.
    match &args.python {
        Some(python) => {
            let py = bench.series(n, || {
                let run = spawn_timed(&mut bench.python_crowd(python), &bench.two_passwords());
                run.expect_success();
                run.elapsed
            });
            rows.push(Row::new("4", "python-crowd, fresh Python process", py));
        }
        None => rows.push(Row::skipped("4", "python-crowd", "no --python given")),
    }
    rows.push(Row::new(
        "F1",
        "floor client (rustls), fresh process (in turns with 1)",
        floor_fresh,
    ));
    rows.push(Row::new(
        "F2",
        "floor client (rustls), long-lived process (in turns with 2)",
        floor_long,
    ));
    rows.push(Row::new(
        "P1",
        "libpam alone: pam_permit in pam-login, fresh process (in turns with 1)",
        permit_fresh,
    ));
    rows.push(Row::new(
        "P2",
        "libpam alone: pam_permit, long-lived process (in turns with 2)",
        permit_long,
    ));
    rows.push(Row::new(
        "L1",
        "pam_crowd.so loaded, refusing at once (no config), fresh process (in turns with 1)",
        module_loaded,
    ));
    rows.push(Row::new(
        "P0",
        "starting a process that exits at once (in turns with 1)",
        empty_process,
    ));

    // (5) The account phase alone for users in many groups; the rule still names two.
    for groups in setup::GROUP_COUNTS {
        let account = bench.series(n, account_alone("bench", setup::user_in_groups(groups)));
        rows.push(Row::new(
            "5",
            &format!("account phase alone, user in {groups} nested groups (long-lived)"),
            account,
        ));
    }

    // (6) Concurrent logins, each a fresh pam-login process.
    for concurrency in [50, 200] {
        let rounds = n.div_ceil(concurrency).max(2);
        let stats = bench.counted(|| {
            let mut samples = Vec::new();
            for _ in 0..rounds {
                let runs = spawn_many(
                    concurrency,
                    || bench.pam_login("bench"),
                    &bench.pam_login_stdin(),
                );
                for run in runs {
                    run.expect_stdout("auth=0 account=0\n");
                    samples.push(run.elapsed);
                }
            }
            samples
        });
        rows.push(Row::new(
            "6",
            &format!("{concurrency} concurrent logins (fresh processes), latency of each"),
            stats,
        ));
    }

    // (7) The cache: a login that also writes the argon2id verifier; the account phase
    // from recent answers (positive_ttl, no request); an offline login while Crowd is
    // down (nothing listening). A Crowd of its own, to be stopped.
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
    rows.push(Row::new(
        "C1",
        "login with [cache] offline_days on: argon2id verifier written (long-lived)",
        online,
    ));
    rows.push(Row::new(
        "C2",
        "account phase alone from Crowd's recent answers, positive_ttl (long-lived)",
        recent,
    ));
    rows.push(Row::new(
        "C3",
        "offline login, Crowd down: argon2id check from the cache (long-lived)",
        offline,
    ));

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
