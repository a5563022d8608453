//! SSH certificate principals from Crowd groups: `pam-crowd authorized-principals`
//! (sshd's AuthorizedPrincipalsCommand) against the double.

use crate::harness::*;

/// prod for sudo-admins (alice), staging for developers (alice) and contractors
/// (dave, whom the deny group refuses), linux for linux-users, nested (alice through
/// developers, erin directly).
const PRINCIPALS: &str = "[ssh_principals]\nprod = [\"sudo-admins\"]\n\
                          staging = [\"developers\", \"contractors\"]\nlinux = [\"linux-users\"]\n";

/// Runs `authorized-principals USER`: exit status, standard output, standard error.
fn principals(host: &Host, user: &str) -> (i32, String, String) {
    let run = pam_crowd(host, &["authorized-principals", user], "");
    (run.code, run.stdout, run.stderr)
}

#[test]
fn principals_go_to_admitted_users_by_nested_group() {
    let (double, host) = https_setup(&format!("{RULES}{PRINCIPALS}"));
    let (code, out, err) = principals(&host, "alice");
    assert_eq!(
        (code, out.as_str()),
        (0, "alice\nlinux\nprod\nstaging\n"),
        "{err}"
    );
    assert!(err.contains("served from Crowd"), "{err}");
    assert_eq!(principals(&host, "erin").1, "erin\nlinux\n");
    // Refused by sshd's rules (no group, a deny group, inactive, unknown, another
    // spelling): nothing at all, not even the name.
    for (user, says) in [
        ("bob", "in none of allow_groups"),
        ("dave", "deny group"),
        ("carol", "inactive"),
        ("nobody-here", "unknown user"),
        ("Alice", "Crowd knows this user as \"alice\""),
    ] {
        let (code, out, err) = principals(&host, user);
        assert_eq!((code, out.as_str()), (1, ""), "{user}: {err}");
        assert!(err.contains(says), "{user}: {err}");
    }
    // The host's own accounts are never Crowd's to grant.
    let (code, out, _) = principals(&host, "root");
    assert_eq!((code, out.as_str()), (1, ""));
    let json = pam_crowd(&host, &["--json", "authorized-principals", "erin"], "").json();
    assert_eq!(json["principals"], serde_json::json!(["erin", "linux"]));
    double.set_fault(Fault::Close);
    let (code, out, err) = principals(&host, "alice");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
}

#[test]
fn with_the_cache_on_principals_are_granted_offline_from_crowd_s_last_answers() {
    let (double, host) = https_setup(&format!("{RULES}{PRINCIPALS}"));
    let keys_dir = host.dir.join("keys-cache");
    std::fs::create_dir(&keys_dir).expect("keys cache dir");
    std::fs::set_permissions(
        &keys_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let config = std::fs::read_to_string(host.config_path()).expect("config");
    host.write_config(&format!(
        "{config}[cache]\noffline_days = 7\nkeys_dir = {:?}\n",
        keys_dir.display().to_string()
    ));
    for user in ["alice", "bob"] {
        principals(&host, user);
    }
    // alice leaves sudo-admins while Crowd still answers: prod is hers no more.
    double.set_fixture(
        Fixture::demo()
            .leave("sudo-admins", "alice")
            .member("sudo-admins", "erin"),
    );
    assert_eq!(principals(&host, "alice").1, "alice\nlinux\nstaging\n");
    double.set_fault(Fault::Respond(Canned::new(503, "text/plain", "down")));
    let (code, out, err) = principals(&host, "alice");
    assert_eq!(
        (code, out.as_str()),
        (0, "alice\nlinux\nstaging\n"),
        "{err}"
    );
    assert!(err.contains("served from the offline cache"), "{err}");
    // Refused by Crowd while it answered: refused offline too; never asked: nothing.
    assert_eq!(principals(&host, "bob").0, 1);
    assert_eq!(principals(&host, "erin").0, 2);
}
