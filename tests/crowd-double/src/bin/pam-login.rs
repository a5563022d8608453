//! `pam-login CONFDIR SERVICE USER [auth] [account]`: one PAM transaction in a fresh
//! process, as sshd runs one per login; the password is the first line of stdin.
//! Prints `auth=CODE account=CODE` (`-` for a phase not run). With
//! `PAM_LOGIN_REPORT_MEMORY=1` it also prints its peak resident memory (`VmHWM`) to
//! stderr, for the benchmark (a parent's wait4 reports a peak that includes the
//! parent's own pages copied before exec).

use std::io::BufRead;

use crowd_double::pam_app::transaction;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [confdir, service, user, phases @ ..] = &args[..] else {
        eprintln!("usage: pam-login CONFDIR SERVICE USER [auth] [account]");
        std::process::exit(2);
    };
    let mut password = String::new();
    let _ = std::io::stdin().lock().read_line(&mut password);
    let password = password.trim_end_matches(['\n', '\r']);
    let has = |p: &str| phases.iter().any(|x| x == p);
    let outcome = transaction(
        confdir.as_ref(),
        service,
        user.as_bytes(),
        password.as_bytes(),
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
    println!(
        "auth={} account={}",
        show(outcome.auth),
        show(outcome.account)
    );
}
