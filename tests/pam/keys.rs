//! SSH public keys from Crowd: `pam-crowd authorized-keys` and `pam-crowd keys`
//! against the double, with keys made by ssh-keygen.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

const ATTRIBUTE: &str = "sshPublicKey";

/// A key pair made by ssh-keygen in `dir`: the public key line and its fingerprint.
struct Key {
    line: String,
    fingerprint: String,
    file: PathBuf,
}

fn keygen(dir: &Path, name: &str, kind: &str) -> Key {
    let file = dir.join(name);
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&file)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(made.success());
    let public = file.with_extension("pub");
    let line = std::fs::read_to_string(&public)
        .expect("public key")
        .trim()
        .to_owned();
    let shown = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&public)
        .output()
        .expect("ssh-keygen -l");
    let fingerprint = String::from_utf8_lossy(&shown.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned();
    Key {
        line,
        fingerprint,
        file: public,
    }
}

struct Setup {
    double: Double,
    host: Host,
    keys: Vec<Key>,
    _key_dir: RemovedOnDrop,
}

/// A directory removed with everything in it when dropped.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// alice (admitted) with two keys and a value that is not one; bob (no group) and
/// carol (inactive) with a key each; erin (admitted) with none.
fn setup(writable: bool) -> Setup {
    let dir = std::env::temp_dir().join(format!(
        "pam_crowd_keys_{}_{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("key dir");
    let keys = vec![
        keygen(&dir, "alice-laptop", "ed25519"),
        keygen(&dir, "alice-ci", "ecdsa"),
        keygen(&dir, "bob", "ed25519"),
        keygen(&dir, "carol", "ed25519"),
        keygen(&dir, "new", "ed25519"),
    ];
    let mut fixture = Fixture::demo()
        .attribute(
            "alice",
            ATTRIBUTE,
            &[&keys[0].line, "not a key", &keys[1].line],
        )
        .attribute("bob", ATTRIBUTE, &[&keys[2].line])
        .attribute("carol", ATTRIBUTE, &[&keys[3].line]);
    if writable {
        fixture = fixture.writable();
    }
    let double = Double::start(fixture, Transport::Https);
    let host = Host::for_double(
        &double,
        &format!("ssh_keys_attribute = {ATTRIBUTE:?}\n{RULES}"),
    );
    Setup {
        double,
        host,
        keys,
        _key_dir: RemovedOnDrop(dir),
    }
}

/// Runs `authorized-keys USER`, expecting exactly `keys`, exit 0, and `says` on stderr.
fn assert_keys(host: &Host, user: &str, keys: &[Key], says: &str) {
    let run = pam_crowd(host, &["authorized-keys", user], "");
    let lines: String = keys.iter().map(|k| format!("{}\n", k.line)).collect();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, lines.as_str()),
        "{user}: {}",
        run.stderr
    );
    assert!(run.stderr.contains(says), "{user}: {}", run.stderr);
}

/// Runs `authorized-keys USER`, expecting no keys, exit `code`, and `says` on stderr.
fn assert_no_keys(host: &Host, user: &str, code: i32, says: &str) {
    let run = pam_crowd(host, &["authorized-keys", user], "");
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (code, ""),
        "{user}: {}",
        run.stderr
    );
    assert!(run.stderr.contains(says), "{user}: {}", run.stderr);
}

fn rand_suffix() -> usize {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn authorized_keys_serves_valid_keys_of_admitted_users_only() {
    let s = setup(false);
    assert_keys(
        &s.host,
        "alice",
        &s.keys[..2],
        "value 2 of attribute \"sshPublicKey\" skipped",
    );
    // Admitted, but no keys: nothing, and success.
    assert_no_keys(&s.host, "erin", 0, "0 key(s) served from Crowd");
    // Refused by sshd's rules, inactive, unknown, or another spelling: nothing.
    for (user, says) in [
        ("bob", "in none of allow_groups"),
        ("carol", "inactive"),
        ("nobody-here", "unknown user"),
        ("Alice", "Crowd knows this user as \"alice\""),
        ("dave", "deny group"),
    ] {
        assert_no_keys(&s.host, user, 1, says);
    }
    let json = pam_crowd(&s.host, &["--json", "authorized-keys", "alice"], "").json();
    assert_eq!(
        json["keys"][0]["fingerprint"],
        s.keys[0].fingerprint.as_str()
    );
    s.double.set_fault(Fault::Close);
    assert_no_keys(&s.host, "alice", 2, "Crowd unavailable");
}

#[test]
fn authorized_keys_needs_the_attribute_configured() {
    let (_double, host) = https_setup(RULES);
    assert_no_keys(&host, "alice", 2, "ssh_keys_attribute is not set");
}

#[test]
fn admins_add_list_and_remove_keys() {
    let s = setup(true);
    let list = pam_crowd(&s.host, &["keys", "list", "alice"], "");
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.stdout.contains(&s.keys[0].fingerprint),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("(not a key"), "{}", list.stdout);
    // One new key and one already there.
    let both = s.keys[4].file.with_extension("both");
    std::fs::write(
        &both,
        format!("# alice's keys\n{}\n\n{}\n", s.keys[4].line, s.keys[0].line),
    )
    .expect("write");
    let added = pam_crowd(
        &s.host,
        &["keys", "add", "alice", &both.display().to_string()],
        "",
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(
        added
            .stdout
            .contains("added 1 key(s) to alice; 1 already there"),
        "{}",
        added.stdout
    );
    let served = pam_crowd(&s.host, &["authorized-keys", "alice"], "");
    assert!(served.stdout.contains(&s.keys[4].line), "{}", served.stdout);
    // From standard input too.
    let erin = pam_crowd(&s.host, &["keys", "add", "erin", "-"], &s.keys[4].line);
    assert_eq!(erin.code, 0, "{}", erin.stderr);
    assert_eq!(
        pam_crowd(&s.host, &["authorized-keys", "erin"], "").stdout,
        format!("{}\n", s.keys[4].line)
    );
    // Removing by fingerprint; the last key takes the attribute with it.
    let removed = pam_crowd(
        &s.host,
        &["keys", "remove", "erin", &s.keys[4].fingerprint],
        "",
    );
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(
        pam_crowd(&s.host, &["authorized-keys", "erin"], "").stdout,
        ""
    );
    assert!(s.double.asked().iter().any(|op| op == "remove-attribute"));
    let again = pam_crowd(
        &s.host,
        &["keys", "remove", "erin", &s.keys[4].fingerprint],
        "",
    );
    assert_eq!(again.code, 1, "{}", again.stderr);
    let removed = pam_crowd(
        &s.host,
        &["keys", "remove", "alice", &s.keys[0].fingerprint],
        "",
    );
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let served = pam_crowd(&s.host, &["authorized-keys", "alice"], "");
    assert!(
        !served.stdout.contains(&s.keys[0].line),
        "{}",
        served.stdout
    );
    assert!(served.stdout.contains(&s.keys[1].line), "{}", served.stdout);
}

#[test]
fn a_file_with_anything_but_keys_adds_nothing() {
    let s = setup(true);
    let bad = s.keys[4].file.with_extension("bad");
    std::fs::write(
        &bad,
        format!(
            "{}\ncommand=\"/bin/sh\" {}\n",
            s.keys[4].line, s.keys[4].line
        ),
    )
    .expect("write");
    let run = pam_crowd(
        &s.host,
        &["keys", "add", "alice", &bad.display().to_string()],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2") && run.stderr.contains("nothing added"),
        "{}",
        run.stderr
    );
    assert!(!s.double.asked().iter().any(|op| op == "store-attribute"));
    // A private key is not a public key, and is not echoed.
    let private = s.keys[4].file.with_extension("");
    let run = pam_crowd(
        &s.host,
        &["keys", "add", "alice", &private.display().to_string()],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains("PRIVATE KEY-----\n"), "{}", run.stderr);
}

#[test]
fn an_application_without_write_permission_is_explained() {
    let s = setup(false);
    let run = pam_crowd(
        &s.host,
        &[
            "keys",
            "add",
            "alice",
            &s.keys[4].file.display().to_string(),
        ],
        "",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("may not change users"),
        "{}",
        run.stderr
    );
}

#[test]
fn with_the_cache_on_keys_are_served_offline_for_users_crowd_admitted() {
    let s = setup(false);
    // Made by the packages, owned by the keys user (here: the test's own).
    let keys_dir = s.host.dir.join("keys-cache");
    std::fs::create_dir(&keys_dir).expect("keys cache dir");
    std::fs::set_permissions(
        &keys_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let config = std::fs::read_to_string(s.host.config_path()).expect("config");
    s.host.write_config(&format!(
        "{config}[cache]\noffline_days = 7\nkeys_dir = {:?}\n",
        keys_dir.display().to_string()
    ));
    for user in ["alice", "bob"] {
        pam_crowd(&s.host, &["authorized-keys", user], "");
    }
    s.double
        .set_fault(Fault::Respond(Canned::new(503, "text/plain", "down")));
    assert_keys(
        &s.host,
        "alice",
        &s.keys[..2],
        "served from the offline cache",
    );
    // Refused by Crowd while it answered: refused offline too.
    assert_no_keys(&s.host, "bob", 1, "offline: cached answers");
    // Never asked about: nothing to serve.
    assert_no_keys(&s.host, "erin", 2, "nothing cached for this user");
    // A key removed while Crowd answered is not served from the cache either.
    s.double.set_fault(Fault::None);
    s.double
        .set_fixture(Fixture::demo().attribute("alice", ATTRIBUTE, &[&s.keys[1].line]));
    pam_crowd(&s.host, &["authorized-keys", "alice"], "");
    s.double.set_fault(Fault::Close);
    let after = pam_crowd(&s.host, &["authorized-keys", "alice"], "");
    assert_eq!(
        after.stdout,
        format!("{}\n", s.keys[1].line),
        "{}",
        after.stderr
    );
}

#[test]
fn authorized_keys_uses_the_read_only_keys_application_and_never_reads_the_main_secret() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup(false);
    let dir = &s.host.dir;
    let main_secret = dir.join("main.secret");
    let keys_secret = dir.join("keys.secret");
    std::fs::write(&main_secret, format!("{APP_PASSWORD}\n")).expect("main secret");
    std::fs::write(&keys_secret, format!("{KEYS_APP_PASSWORD}\n")).expect("keys secret");
    for file in [&main_secret, &keys_secret] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let config = config_for(
        &[&s.double],
        &format!("ssh_keys_attribute = {ATTRIBUTE:?}\n{RULES}"),
    )
    .replace(
        &format!("password = {APP_PASSWORD:?}\n"),
        &format!(
            "password_file = \"main.secret\"\nssh_keys_application = {KEYS_APP_NAME:?}\n\
                 ssh_keys_password_file = \"keys.secret\"\n"
        ),
    );
    s.host.write_config(&config);
    s.double.clear_requests();
    assert_keys(&s.host, "alice", &s.keys[..2], "2 key(s) served from Crowd");
    let requests = s.double.requests();
    let as_keys_app = match soap() {
        // SOAP: the application is named once, when its token is asked for.
        true => requests
            .iter()
            .filter(|r| r.op() == "app-auth")
            .all(|r| r.body.contains(KEYS_APP_NAME)),
        false => requests.iter().all(|r| r.read_only),
    };
    assert!(
        !requests.is_empty() && as_keys_app,
        "every request made as the keys application: {requests:?}"
    );
    // The main secret is never read: unreadable, authorized-keys still works.
    std::fs::set_permissions(&main_secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    std::fs::remove_file(&main_secret).expect("rm");
    assert_keys(&s.host, "alice", &s.keys[..2], "2 key(s) served from Crowd");
    std::fs::write(&main_secret, format!("{APP_PASSWORD}\n")).expect("main secret");
    std::fs::set_permissions(&main_secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The main secret readable by a group is refused, for the module and every command.
    std::fs::set_permissions(&main_secret, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let check = pam_crowd(&s.host, &["auth", "alice"], "alice-pw\n");
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check.stderr.contains("password file mode 0640"),
        "{}",
        check.stderr
    );
    std::fs::set_permissions(&main_secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let check = pam_crowd(&s.host, &["check"], "");
    assert!(
        check.stdout.contains(&format!(
            "keys application: ok: {KEYS_APP_NAME:?} accepted by Crowd"
        )),
        "{}",
        check.stdout
    );
}
