//! `crowd-double`: serves the demo directory until killed, for the demo and for
//! poking at the module by hand.
//!
//! Usage: crowd-double [--https] [--hang] [--writable] [--soap-only] [--port N] [--ca-out FILE]
//!                     [--user NAME:PASSWORD:GROUP]... [--attribute USER:NAME:VALUE]...
//! `--hang`: accept every request and never answer (a Crowd that is down but
//! still holds its port). `--writable`: the application may change users' attributes.
//! `--soap-only`: a Crowd before 2.1, with the SOAP service and no REST API.
//! `--user`: one more active user, a member of GROUP (a Crowd user named `root`,
//! say, as anyone allowed to create Crowd users could make). `--attribute`: a
//! one-valued attribute of USER (a `homeDirectory` outside /home, say, as anyone who
//! may edit users could set).
//! Prints one line, `url=URL ca_file=FILE`, once it is listening.

// A test tool: a step that fails should stop it loudly, so expect and panic are
// allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crowd_double::{Double, Fault, Fixture, Transport};

fn main() {
    let mut transport = Transport::Http;
    let mut port = 0;
    let mut ca_out = None;
    let mut hang = false;
    let mut soap_only = false;
    let mut fixture = Fixture::demo();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--https" => transport = Transport::Https,
            "--hang" => hang = true,
            "--writable" => fixture = fixture.writable(),
            "--soap-only" => soap_only = true,
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--ca-out" => ca_out = args.next(),
            "--user" => {
                let spec = args.next().unwrap_or_default();
                let Some((name, password, group)) = spec
                    .split_once(':')
                    .and_then(|(n, rest)| rest.split_once(':').map(|(p, g)| (n, p, g)))
                else {
                    eprintln!("crowd-double: --user takes NAME:PASSWORD:GROUP");
                    std::process::exit(2);
                };
                fixture = fixture.user(name, password, true).member(group, name);
            }
            "--member" => {
                let spec = args.next().unwrap_or_default();
                let Some((group, user)) = spec.split_once(':') else {
                    eprintln!("crowd-double: --member takes GROUP:USER");
                    std::process::exit(2);
                };
                fixture = fixture.member(group, user);
            }
            "--attribute" => {
                let spec = args.next().unwrap_or_default();
                let mut parts = spec.splitn(3, ':');
                let (Some(user), Some(name), Some(value)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    eprintln!("crowd-double: --attribute takes USER:NAME:VALUE");
                    std::process::exit(2);
                };
                fixture = fixture.attribute(user, name, &[value]);
            }
            other => {
                eprintln!("crowd-double: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let double = Double::start_on(fixture, transport, port);
    if hang {
        double.set_fault(Fault::Hang);
    }
    if soap_only {
        double.soap_only();
    }
    let (ca, keep_dir) = match (double.ca_file(), ca_out) {
        (Some(ca), Some(out)) => {
            std::fs::copy(ca, &out).expect("copy CA");
            (out, false)
        }
        (Some(ca), None) => (ca.display().to_string(), true),
        (None, _) => (String::new(), false),
    };
    // Killed, as the scripts stop it, the double cannot remove its directory on the
    // way out: when nothing in it is needed any more, it goes now.
    if !keep_dir {
        let _ = std::fs::remove_dir_all(double.dir());
    }
    println!("url={} ca_file={ca}", double.url());
    // Serve until killed: the accept thread does the work.
    loop {
        std::thread::park();
    }
}
