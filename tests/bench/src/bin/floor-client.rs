//! `floor-client CA_FILE ADDR APPLICATION USER GROUP...`: one login by the floor
//! client in a fresh process; the application password and the user's password are
//! the first two lines of stdin. Exits 0 when Crowd accepted the password and the
//! user's nested groups hold one of GROUP. `floor-client --exit` exits at once.

// A measurement tool: a step that fails should stop the run loudly, so expect and
// panic are allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::BufRead;

use login_bench::Floor;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The cost of starting a process, for the benchmark's P0 row.
    if args.first().map(String::as_str) == Some("--exit") {
        return;
    }
    let [ca_file, addr, application, user, groups @ ..] = &args[..] else {
        eprintln!(
            "usage: floor-client CA_FILE ADDR APPLICATION USER GROUP... (passwords on stdin)"
        );
        std::process::exit(2);
    };
    let mut lines = std::io::stdin().lock().lines().map_while(Result::ok);
    let app_password = lines.next().unwrap_or_default();
    let password = lines.next().unwrap_or_default();
    let Ok(addr) = addr.parse() else {
        eprintln!("floor-client: ADDR must be IP:PORT");
        std::process::exit(2);
    };
    let floor = Floor::new(ca_file.as_ref(), addr, application, &app_password);
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    match floor.login(user, &password, &groups) {
        Ok(a) if a.auth == 200 && a.member => {}
        Ok(a) => {
            eprintln!("floor-client: refused: {a:?}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("floor-client: {e}");
            std::process::exit(1);
        }
    }
}
