//! The offline and result cache (`[cache]`) through the real module and libpam: a
//! login with Crowd up fills the cache; with the double stopped, the cache decides;
//! Crowd's answers always win when it is back.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;
use crate::inproc::{AUTH_ERR, AUTHINFO_UNAVAIL, SUCCESS};

const BOTH: &[&str] = &["authenticate", "acct_mgmt"];

/// A host with the cache on, and a double that can be stopped and started again on
/// the same port (its CA copied next to the config, so it outlives the double).
struct Site {
    double: Option<Double>,
    port: u16,
    host: Host,
    cache_table: String,
}

impl Site {
    fn new(cache_table: &str) -> Site {
        let double = Double::start(Fixture::demo(), Transport::Https);
        let host = Host::new("");
        let mut site = Site {
            port: double.port(),
            double: None,
            host,
            cache_table: cache_table.to_owned(),
        };
        site.serve(double);
        site
    }

    fn cache_dir(&self) -> PathBuf {
        self.host.dir.join("cache")
    }

    fn serve(&mut self, double: Double) {
        let ca = self.host.dir.join("ca.pem");
        std::fs::copy(double.ca_file().expect("https"), &ca).expect("copy CA");
        self.host.write_config(&format!(
            "url = {:?}\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\n\
             ca_file = {:?}\ntimeout = 5\n{RULES}[cache]\ndir = {:?}\n{}",
            double.ip_url(),
            ca.display().to_string(),
            self.cache_dir().display().to_string(),
            self.cache_table
        ));
        self.double = Some(double);
    }

    /// Stops Crowd: nothing listens on its port any more.
    fn stop(&mut self) {
        self.double = None;
    }

    /// Starts Crowd again, on the same port, with `fixture`.
    fn start(&mut self, fixture: Fixture) {
        let double = Double::start_on(fixture, Transport::Https, self.port);
        self.serve(double);
    }

    fn double(&self) -> &Double {
        self.double.as_ref().expect("the double is running")
    }

    fn login(&self, user: &str, password: &str) -> Run {
        self.host.run(user, password, BOTH)
    }

    /// The one entry file (the tests cache one user unless they say otherwise).
    fn entry_file(&self) -> PathBuf {
        let files = json_files(&self.cache_dir());
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    /// Rewrites the entry, as time passing (or an attacker) would.
    fn edit_entry(&self, edit: impl FnOnce(&mut Value)) {
        let file = self.entry_file();
        let mut entry: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        edit(&mut entry);
        std::fs::write(&file, entry.to_string()).expect("write");
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    rustix::process::geteuid().as_raw()
}

fn assert_offline_success(run: &Run) {
    assert_eq!(run.codes, vec![Code::Success, Code::Success], "{}", run.log);
    assert!(
        run.log.contains("checked offline") && run.log.contains("Crowd unavailable"),
        "the log line should say the decision was offline:\n{}",
        run.log
    );
}

#[test]
fn a_login_fills_the_cache_and_the_same_password_works_while_crowd_is_down() {
    let mut site = Site::new("offline_days = 7\n");
    let online = site.login("alice", "alice-pw");
    assert_eq!(
        online.codes,
        vec![Code::Success, Code::Success],
        "{}",
        online.log
    );
    assert!(!online.log.contains("offline"), "{}", online.log);

    // Root-only directory, root-only files, and no password in them.
    let dir = std::fs::metadata(site.cache_dir()).expect("cache dir");
    assert_eq!((dir.uid(), dir.mode() & 0o7777), (euid(), 0o700));
    for item in std::fs::read_dir(site.cache_dir()).expect("list") {
        let path = item.expect("entry").path();
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!(
            (meta.uid(), meta.mode() & 0o7777),
            (euid(), 0o600),
            "{path:?}"
        );
        let bytes = std::fs::read(&path).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["alice-pw", APP_PASSWORD] {
            assert!(!text.contains(secret), "{secret} in {path:?}");
        }
    }
    assert!(
        std::fs::read_to_string(site.entry_file())
            .expect("read")
            .contains("$argon2id$"),
        "the entry keeps an argon2id verifier"
    );

    site.stop();
    assert_offline_success(&site.login("alice", "alice-pw"));
    let wrong = site.login("alice", "not-alice-pw");
    assert_eq!(wrong.last(), Code::AuthErr, "{}", wrong.log);
    assert!(
        wrong.log.contains("offline: password differs"),
        "{}",
        wrong.log
    );
    // Erin exists in Crowd, but never logged in here.
    let unseen = site.login("erin", "erin-pw");
    assert_eq!(unseen.last(), Code::AuthinfoUnavail, "{}", unseen.log);
    assert!(unseen.log.contains("no cached password"), "{}", unseen.log);
}

#[test]
fn crowd_failing_rather_than_stopped_also_goes_offline() {
    let site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    for fault in [
        Fault::Respond(Canned::new(503, "text/html", "<html>down</html>")),
        Fault::Respond(Canned::new(429, "text/plain", "slow down")),
        Fault::Respond(Canned::new(200, "text/html", "<html>login</html>")),
        Fault::Close,
    ] {
        site.double().set_fault(fault.clone());
        assert_offline_success(&site.login("alice", "alice-pw"));
    }
}

#[test]
fn crowd_rejecting_the_application_cuts_the_host_off() {
    let site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    for status in [401, 403] {
        site.double().set_fault(Fault::Respond(Canned::new(
            status,
            "text/plain",
            "application not allowed",
        )));
        let run = site.login("alice", "alice-pw");
        assert_eq!(run.last(), Code::AuthinfoUnavail, "{status}: {}", run.log);
        assert!(!run.log.contains("offline"), "{status}: {}", run.log);
    }
}

#[test]
fn an_expired_window_is_refused() {
    let mut site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    site.edit_entry(|e| {
        let eight_days = 8 * 86_400;
        let at = e["password"]["at"].as_u64().expect("password.at");
        e["password"]["at"] = (at - eight_days).into();
    });
    site.stop();
    let run = site.login("alice", "alice-pw");
    assert_eq!(run.last(), Code::AuthinfoUnavail, "{}", run.log);
    assert!(
        run.log.contains("older than offline_days = 7"),
        "{}",
        run.log
    );
}

#[test]
fn the_failure_limit_locks_until_crowd_accepts_the_password_again() {
    let mut site = Site::new("offline_days = 7\noffline_max_failures = 2\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    site.stop();
    for guess in ["guess-one", "guess-two"] {
        assert_eq!(site.login("alice", guess).last(), Code::AuthErr);
    }
    let locked = site.login("alice", "alice-pw");
    assert_eq!(locked.last(), Code::AuthErr, "{}", locked.log);
    assert!(locked.log.contains("locked after 2"), "{}", locked.log);

    site.start(Fixture::demo());
    assert_eq!(
        site.login("alice", "alice-pw").codes,
        vec![Code::Success; 2]
    );
    site.stop();
    assert_offline_success(&site.login("alice", "alice-pw"));
}

#[test]
fn a_membership_removed_online_is_refused_offline() {
    let mut site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    // Alice leaves "developers", and with it linux-users.
    let without = Fixture::default()
        .user("alice", "alice-pw", true)
        .nest("linux-users", "developers")
        .member("sudo-admins", "alice");
    site.double().set_fixture(without);
    let online = site.login("alice", "alice-pw");
    assert_eq!(
        online.codes,
        vec![Code::Success, Code::PermDenied],
        "{}",
        online.log
    );
    site.stop();
    let offline = site.login("alice", "alice-pw");
    assert_eq!(
        offline.codes,
        vec![Code::Success, Code::PermDenied],
        "{}",
        offline.log
    );
    assert!(
        offline
            .log
            .contains("offline: cached answers: in none of allow_groups"),
        "{}",
        offline.log
    );
}

#[test]
fn a_user_crowd_no_longer_knows_is_dropped() {
    let mut site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    site.double()
        .set_fixture(Fixture::default().user("alice", "alice-pw", false));
    assert_eq!(site.login("alice", "alice-pw").last(), Code::AuthErr);
    assert!(json_files(&site.cache_dir()).is_empty());
    site.stop();
    assert_eq!(
        site.login("alice", "alice-pw").last(),
        Code::AuthinfoUnavail
    );
}

#[test]
fn untrustworthy_entries_are_ignored_and_logged() {
    let mut site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    let file = site.entry_file();
    site.stop();
    std::os::unix::fs::chown(&file, Some(4321), None).expect("chown");
    let foreign = site.login("alice", "alice-pw");
    assert_eq!(foreign.last(), Code::AuthinfoUnavail, "{}", foreign.log);
    assert!(
        foreign.log.contains("not trusted: owned by uid 4321"),
        "{}",
        foreign.log
    );
    std::os::unix::fs::chown(&file, Some(0), None).expect("chown");
    std::fs::write(&file, "{\"format\": 1, \"crowd\": ").expect("corrupt");
    let corrupt = site.login("alice", "alice-pw");
    assert_eq!(corrupt.last(), Code::AuthinfoUnavail, "{}", corrupt.log);
    assert!(corrupt.log.contains("corrupt"), "{}", corrupt.log);
}

#[test]
fn recent_answers_spare_crowd_the_account_phase() {
    let site = Site::new("positive_ttl = 300\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    site.double().clear_requests();
    let account = site.host.run("alice", "", &["acct_mgmt"]);
    assert_eq!(account.last(), Code::Success, "{}", account.log);
    assert!(account.log.contains("positive_ttl"), "{}", account.log);
    assert_eq!(site.double().request_count(), 0, "Crowd was asked");
    // Not for a user Crowd refused: that is asked again every time.
    let denied = site.host.run("bob", "", &["acct_mgmt"]);
    assert_eq!(denied.last(), Code::PermDenied);
    assert_eq!(
        site.host.run("bob", "", &["acct_mgmt"]).last(),
        Code::PermDenied
    );
    assert!(site.double().request_count() >= 4);
}

#[test]
fn the_command_decides_from_the_cache_as_the_module_does() {
    let mut site = Site::new("offline_days = 7\npositive_ttl = 300\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    // Recent answers: `pam-crowd account` asks Crowd nothing, as the module would not.
    site.double().clear_requests();
    let account = pam_crowd(&site.host, &["account", "alice", "--json"], "").json();
    assert_eq!(account["code"], "PAM_SUCCESS", "{account}");
    assert!(
        account["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("positive_ttl")
    );
    assert_eq!(site.double().request_count(), 0, "Crowd was asked");
    // Crowd down: the cache decides, for the command as for the module.
    site.stop();
    let auth = pam_crowd(&site.host, &["auth", "alice", "--json"], "alice-pw\n");
    assert_eq!(auth.code, 0, "{}{}", auth.stdout, auth.stderr);
    let auth = auth.json();
    assert_eq!(auth["allowed"], true, "{auth}");
    assert!(
        auth["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("checked offline"),
        "{auth}"
    );
    let wrong = pam_crowd(&site.host, &["auth", "alice", "--json"], "not-alices-pw\n").json();
    assert_eq!(wrong["code"], "PAM_AUTH_ERR", "{wrong}");
    let module = site.host.run("alice", "alice-pw", BOTH);
    assert_offline_success(&module);
}

#[test]
fn the_admin_command_lists_shows_and_purges() {
    let site = Site::new("offline_days = 7\n");
    for (user, password) in [("alice", "alice-pw"), ("erin", "erin-pw")] {
        assert_eq!(site.login(user, password).last(), Code::Success);
    }
    let list = pam_crowd(&site.host, &["--json", "cache", "list"], "").json();
    let users: Vec<&str> = list["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["user"].as_str().expect("user"))
        .collect();
    assert_eq!(users.len(), 2);
    assert!(
        users.contains(&"alice") && users.contains(&"erin"),
        "{users:?}"
    );
    let check = pam_crowd(&site.host, &["check"], "");
    assert!(check.stdout.contains("cache: ok: "), "{}", check.stdout);
    let show = pam_crowd(&site.host, &["cache", "show", "alice"], "");
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("argon2id m=19456 KiB"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("group linux-users: member"),
        "{}",
        show.stdout
    );
    assert!(
        !show.stdout.contains("$argon2id$"),
        "the verifier itself is never shown"
    );
    assert_eq!(
        pam_crowd(&site.host, &["cache", "purge", "alice"], "").code,
        0
    );
    assert_eq!(
        pam_crowd(&site.host, &["cache", "show", "alice"], "").code,
        1
    );
    assert_eq!(
        pam_crowd(&site.host, &["cache", "purge", "alice"], "").code,
        1
    );
    let purged = pam_crowd(&site.host, &["--json", "cache", "purge"], "").json();
    assert_eq!(purged["removed"], 1);
    assert!(json_files(&site.cache_dir()).is_empty());
}

/// One login in its own process (`pam-login`), for running many at once.
fn spawn_login(site: &Site, user: &str, password: &str) -> std::thread::JoinHandle<Finished> {
    let mut login = std::process::Command::new(pam_login());
    login
        .arg(site.host.dir.join("pam.d"))
        .args(["crowd-test", user, "auth", "account"]);
    let input = format!("{password}\n");
    std::thread::spawn(move || run_bounded(&mut login, &input))
}

#[test]
fn parallel_logins_leave_the_cache_consistent() {
    let mut site = Site::new("offline_days = 7\noffline_max_failures = 1000\n");
    let users = [
        ("alice", "alice-pw"),
        ("erin", "erin-pw"),
        ("alice", "alice-pw"),
        ("erin", "erin-pw"),
    ];
    // Online: the same users logging in many times at once.
    let runs: Vec<_> = (0..24)
        .map(|i| {
            let (user, password) = users[i % users.len()];
            spawn_login(&site, user, password)
        })
        .collect();
    for run in runs {
        let done = run.join().expect("login thread");
        assert_eq!(
            done.stdout.trim(),
            format!("auth={SUCCESS} account={SUCCESS}"),
            "{}",
            done.stderr
        );
    }
    let files: Vec<PathBuf> = std::fs::read_dir(site.cache_dir())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")),
        "a temporary file was left: {files:?}"
    );
    assert_eq!(json_files(&site.cache_dir()).len(), 2);

    // Offline: every wrong guess counted, none lost to a race; right ones still work.
    site.stop();
    let guesses = 12;
    let runs: Vec<_> = (0..guesses)
        .map(|i| spawn_login(&site, "alice", &format!("guess-{i}")))
        .chain((0..4).map(|_| spawn_login(&site, "erin", "erin-pw")))
        .collect();
    let outputs: Vec<String> = runs
        .into_iter()
        .map(|r| r.join().expect("login thread").stdout.trim().to_owned())
        .collect();
    for out in &outputs[..guesses] {
        assert_eq!(out, &format!("auth={AUTH_ERR} account=-"));
    }
    for out in &outputs[guesses..] {
        assert_eq!(out, &format!("auth={SUCCESS} account={SUCCESS}"));
    }
    let alice = pam_crowd(&site.host, &["--json", "cache", "show", "alice"], "").json();
    assert_eq!(alice["failures"], guesses);
    let erin = pam_crowd(&site.host, &["--json", "cache", "show", "erin"], "").json();
    assert_eq!(erin["failures"], 0);
    let never = spawn_login(&site, "bob", "bob-pw").join().expect("login");
    assert_eq!(
        never.stdout.trim(),
        format!("auth={AUTHINFO_UNAVAIL} account=-")
    );
}

#[test]
fn unprivileged_callers_behave_as_if_the_cache_were_off() {
    assert_eq!(
        euid(),
        0,
        "this test switches to another user: run it as root (tests/run does)"
    );
    let mut site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    let entry = std::fs::read(site.entry_file()).expect("entry");
    // A screen locker runs PAM as the user: here nobody, with their own copy of the
    // config (the module accepts a config owned by the process's user).
    let config = std::fs::read_to_string(site.host.config_path()).expect("config");
    let locker = Host::new(&config);
    let nobody = 65534;
    std::os::unix::fs::chown(locker.config_path(), Some(nobody), Some(nobody)).expect("chown");
    let lock_screen = || {
        let mut login = std::process::Command::new("setpriv");
        login
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(pam_login())
            .arg(locker.dir.join("pam.d"))
            .args(["crowd-test", "alice", "auth", "account"]);
        run_bounded(&mut login, "alice-pw\n")
    };
    let online = lock_screen();
    assert_eq!(
        online.stdout.trim(),
        format!("auth={SUCCESS} account={SUCCESS}"),
        "{}",
        online.stderr
    );
    site.stop();
    let offline = lock_screen();
    assert_eq!(
        offline.stdout.trim(),
        format!("auth={AUTHINFO_UNAVAIL} account=-"),
        "{}",
        offline.stderr
    );
    assert_eq!(
        std::fs::read(site.entry_file()).expect("entry"),
        entry,
        "the entry changed"
    );
    // Root, meanwhile, still logs in offline.
    assert_offline_success(&site.login("alice", "alice-pw"));
}

#[test]
fn a_password_changed_through_pam_is_the_one_that_works_offline() {
    let mut site = Site::new("offline_days = 7\n");
    site.stop();
    site.start(Fixture::demo().writable());
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    let changed = site.host.run_answering(
        "crowd-test",
        "alice",
        &["alice-pw", "new-alice-pw", "new-alice-pw"],
        &["chauthtok"],
    );
    assert_eq!(changed.codes, vec![Code::Success], "{}", changed.log);

    site.stop();
    assert_offline_success(&site.login("alice", "new-alice-pw"));
    let old = site.login("alice", "alice-pw");
    assert_eq!(old.last(), Code::AuthErr, "{}", old.log);
    assert!(old.log.contains("offline: password differs"), "{}", old.log);
}

#[test]
fn crowd_text_in_an_offline_grant_cannot_forge_a_log_line() {
    let site = Site::new("offline_days = 7\n");
    assert_eq!(site.login("alice", "alice-pw").last(), Code::Success);
    let forged = "granted user=\"root\" service=\"sshd\"";
    for canned in [
        Canned::new(
            503,
            "application/json",
            serde_json::json!({ "reason": format!("DOWN\n{forged}"), "message": format!("x\r\n{forged}") })
                .to_string(),
        ),
        Canned::new(503, "text/plain", format!("down\n{forged}\n")),
    ] {
        site.double().set_fault(Fault::Respond(canned));
        let run = site.login("alice", "alice-pw");
        assert_offline_success(&run);
        assert!(
            !run.shown.lines().any(|l| l.trim_start().starts_with("granted user=\"root\"")),
            "a line was forged:\n{}",
            run.shown
        );
    }
}
