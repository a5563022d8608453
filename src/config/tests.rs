//! Unit tests of config parsing, validation and file ownership checks.
use super::files::{group_id, only_keys_group_reads};
use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/pam_crowd.toml"), text)
}

const MINIMAL: &str = r#"
url = "https://crowd.example.com/crowd/"
application = "linux-hosts"
password = "s3cret"
"#;

#[test]
fn minimal_config_has_safe_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.urls, vec!["https://crowd.example.com/crowd"]);
    assert_eq!(c.application, "linux-hosts");
    assert_eq!(c.app_password.expose(), "s3cret");
    assert_eq!(c.timeout, Duration::from_secs(10));
    assert_eq!(c.ca_file, None);
    assert_eq!(c.rules, AccessRules::default());
}

#[test]
fn url_may_be_a_list() {
    let c = parse(
        r#"url = ["https://a.example/crowd", "https://b.example"]
application = "x"
password = "y""#,
    )
    .unwrap();
    assert_eq!(c.urls, vec!["https://a.example/crowd", "https://b.example"]);
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = parse(&format!("{MINIMAL}colour = \"blue\"\n")).unwrap_err();
    assert_eq!(e.line, Some(5));
    assert_eq!(e.key.as_deref(), Some("colour"));
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(
        e.to_string()
            .starts_with("config /etc/pam_crowd.toml line 5 key `colour`")
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let e = parse(&format!("{MINIMAL}timeout = \"ten\"\n")).unwrap_err();
    assert_eq!(e.line, Some(5));
    assert_eq!(e.key.as_deref(), Some("timeout"));
}

#[test]
fn syntax_error_never_quotes_the_secret() {
    let e = parse("url = \"https://x\"\napplication = \"a\"\npassword = \"hunter2\n").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn http_is_refused_unless_allowed() {
    let text = "url = \"http://crowd:8095/crowd\"\napplication = \"a\"\npassword = \"p\"\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("url"));
    assert_eq!(e.line, Some(1));
    let c = parse(&format!("{text}allow_http = true\n")).unwrap();
    assert_eq!(c.urls, vec!["http://crowd:8095/crowd"]);
}

#[test]
fn bad_urls_are_refused() {
    for url in [
        "",
        "crowd.example.com",
        "https://",
        "https://h/x?y=1",
        "ftp://h",
    ] {
        let text = format!("url = {url:?}\napplication = \"a\"\npassword = \"p\"\n");
        assert!(parse(&text).is_err(), "{url} accepted");
    }
    let e = parse("url = []\napplication = \"a\"\npassword = \"p\"\n").unwrap_err();
    assert!(e.message.contains("at least one"), "{e}");
}

#[test]
fn timeout_out_of_range_is_refused() {
    for t in ["0", "61", "-1"] {
        assert!(parse(&format!("{MINIMAL}timeout = {t}\n")).is_err(), "{t}");
    }
    assert_eq!(
        parse(&format!("{MINIMAL}timeout = 3\n")).unwrap().timeout,
        Duration::from_secs(3)
    );
}

#[test]
fn password_and_password_file_are_exclusive_and_one_is_required() {
    let e = parse("url = \"https://x\"\napplication = \"a\"\n").unwrap_err();
    assert!(e.message.contains("missing"), "{e}");
    let e = parse(&format!("{MINIMAL}password_file = \"/x\"\n")).unwrap_err();
    assert!(e.message.contains("not both"), "{e}");
    let e = parse("url = \"https://x\"\napplication = \"a\"\npassword = \"\"\n").unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
}

#[test]
fn password_file_is_read_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("pam_crowd_cfg_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "from-file\n").unwrap();
    let c = Config::parse(
        &dir.join("pam_crowd.toml"),
        "url = \"https://x\"\napplication = \"a\"\npassword_file = \"secret\"\n",
    )
    .unwrap();
    assert_eq!(c.app_password.expose(), "from-file");
    let e = Config::parse(
        &dir.join("pam_crowd.toml"),
        "url = \"https://x\"\napplication = \"a\"\npassword_file = \"missing\"\n",
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("password_file"));
    assert_eq!(e.line, Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_refuses_files_others_can_read_or_change() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pam_crowd_perm_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pam_crowd.toml");
    let chmod = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    std::fs::write(&config, MINIMAL).unwrap();
    chmod(&config, 0o644);
    let e = Config::load(&config).unwrap_err();
    assert!(
        e.message.contains("mode 0644") && e.message.contains("chmod go-rwx"),
        "{e}"
    );
    chmod(&config, 0o600);
    assert!(Config::load(&config).is_ok());

    // With password_file, the config may be world-readable but the secret not.
    let secret = dir.join("secret");
    std::fs::write(&secret, "s\n").unwrap();
    std::fs::write(
        &config,
        "url = \"https://x\"\napplication = \"a\"\npassword_file = \"secret\"\n",
    )
    .unwrap();
    chmod(&config, 0o644);
    chmod(&secret, 0o640);
    let e = Config::load(&config).unwrap_err();
    assert_eq!(e.path, secret, "{e}");
    chmod(&secret, 0o600);
    assert!(Config::load(&config).is_ok());
    // The CA file: whoever may change it may impersonate Crowd.
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    std::fs::write(
        &config,
        "url = \"https://x\"\napplication = \"a\"\npassword_file = \"secret\"\nca_file = \"ca.pem\"\n",
    )
    .unwrap();
    chmod(&ca, 0o666);
    let e = Config::load(&config).unwrap_err();
    assert!(e.path == ca && e.message.contains("writable"), "{e}");
    chmod(&ca, 0o644);
    assert!(Config::load(&config).is_ok());
    chmod(&config, 0o666);
    assert!(
        Config::load(&config)
            .unwrap_err()
            .message
            .contains("writable")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_is_a_clear_error() {
    let e = Config::load(Path::new("/nonexistent/pam_crowd.toml")).unwrap_err();
    assert!(e.message.contains("cannot open config file"), "{e}");
}

#[test]
fn service_tables_replace_only_the_keys_they_set() {
    let c = parse(&format!(
        "{MINIMAL}allow_groups = [\"linux-users\"]\ndeny_groups = [\"contractors\"]\n\
         [service.sudo]\nallow_groups = [\"sudo-admins\"]\n\
         [service.login]\ndeny_groups = []\n\
         [service.su]\nallow_groups = []\n"
    ))
    .unwrap();
    let sshd = c.rules_for("sshd");
    assert_eq!(sshd.allow_groups, Some(vec!["linux-users".to_string()]));
    assert_eq!(sshd.deny_groups, vec!["contractors".to_string()]);
    let sudo = c.rules_for("sudo");
    assert_eq!(sudo.allow_groups, Some(vec!["sudo-admins".to_string()]));
    assert_eq!(sudo.deny_groups, vec!["contractors".to_string()]);
    let login = c.rules_for("login");
    assert_eq!(login.allow_groups, Some(vec!["linux-users".to_string()]));
    assert!(login.deny_groups.is_empty());
    assert_eq!(c.rules_for("su").allow_groups, Some(vec![]));
}

#[test]
fn unknown_key_in_service_table_is_refused() {
    let e = parse(&format!("{MINIMAL}[service.sudo]\nallow_group = [\"x\"]\n")).unwrap_err();
    assert_eq!(e.line, Some(6));
    assert_eq!(e.key.as_deref(), Some("allow_group"));
}

#[test]
fn empty_group_name_is_refused() {
    let e = parse(&format!("{MINIMAL}allow_groups = [\"\"]\n")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("allow_groups"));
}

#[test]
fn secret_is_not_debug_printed() {
    let c = parse(MINIMAL).unwrap();
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn the_cache_is_off_unless_configured() {
    let c = parse(MINIMAL).unwrap();
    assert!(!c.cache.enabled());
    assert_eq!(c.cache.dir, Path::new("/var/cache/pam_crowd"));
    let c = parse(&format!(
        "{MINIMAL}[cache]\noffline_days = 7\noffline_max_failures = 3\npositive_ttl = 300\ndir = \"/srv/cache\"\n"
    ))
    .unwrap();
    assert!(c.cache.enabled() && c.cache.offline());
    assert_eq!(c.cache.offline_window(), Duration::from_secs(7 * 86_400));
    assert_eq!(c.cache.offline_max_failures, 3);
    assert_eq!(c.cache.positive_ttl, Duration::from_secs(300));
    assert_eq!(c.cache.dir, Path::new("/srv/cache"));
    let positive_only = parse(&format!("{MINIMAL}[cache]\npositive_ttl = 60\n")).unwrap();
    assert!(positive_only.cache.enabled() && !positive_only.cache.offline());
}

#[test]
fn cache_values_out_of_range_name_line_and_key() {
    let cases = [
        (
            "offline_days = 400",
            "cache.offline_days",
            "between 0 (off) and 366",
        ),
        ("offline_days = -1", "offline_days", "invalid value"),
        (
            "offline_max_failures = 0",
            "cache.offline_max_failures",
            "at least 1",
        ),
        ("positive_ttl = 90000", "cache.positive_ttl", "86400"),
        ("dir = \"cache\"", "cache.dir", "absolute"),
        ("colour = 1", "colour", "unknown field"),
    ];
    for (line, key, says) in cases {
        let e = parse(&format!("{MINIMAL}[cache]\n{line}\n")).unwrap_err();
        assert_eq!(e.line, Some(6), "{line}: {e}");
        assert_eq!(e.key.as_deref(), Some(key), "{line}: {e}");
        assert!(e.message.contains(says), "{line}: {e}");
    }
}

#[test]
fn named_groups_cover_every_service() {
    let c = parse(&format!(
        "{MINIMAL}allow_groups = [\"users\"]\ndeny_groups = [\"contractors\"]\n\
         [service.sudo]\nallow_groups = [\"admins\", \"users\"]\n"
    ))
    .unwrap();
    assert_eq!(c.named_groups(), vec!["admins", "contractors", "users"]);
}

#[test]
fn only_the_keys_group_may_read_the_secret() {
    let keys = || Some(990);
    assert!(only_keys_group_reads(0o100640, 990, keys));
    assert!(only_keys_group_reads(0o440, 990, keys));
    assert!(!only_keys_group_reads(0o640, 0, keys), "another group");
    assert!(!only_keys_group_reads(0o660, 990, keys), "group-writable");
    assert!(!only_keys_group_reads(0o644, 990, keys), "others read");
    assert!(
        !only_keys_group_reads(0o650, 990, keys),
        "group may execute"
    );
    assert!(!only_keys_group_reads(0o640, 990, || None), "no such group");
    assert_eq!(group_id("root"), Some(0));
    assert_eq!(group_id("no-such-group-here"), None);
}

#[test]
fn a_value_is_never_echoed_in_an_error() {
    for (text, key) in [
        (
            "url = \"https://x\"\napplication = \"a\"\npassword = 8675309123\n",
            "password",
        ),
        (
            "url = \"https://x\"\napplication = \"a\"\npassword = [\"8675309123\"]\n",
            "password",
        ),
        (
            "url = \"https://x\"\napplication = \"a\"\npassword = \"p\"\ntimeout = \"8675309123\"\n",
            "timeout",
        ),
        (
            "url = \"https://x\"\napplication = \"a\"\npassword = \"p\"\nallow_http = 8675309123\n",
            "allow_http",
        ),
    ] {
        let e = parse(text).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("8675309123"), "{shown}");
        assert_eq!(e.key.as_deref(), Some(key), "{shown}");
        assert!(shown.contains("expected"), "{shown}");
    }
}

#[test]
fn a_url_in_error_is_never_quoted() {
    for url in [
        "https://admin:8675309123@crowd.example.com/crowd",
        "ftp://8675309123",
        "http://8675309123",
    ] {
        let e = parse(&format!(
            "url = [\"https://ok.example\", {url:?}]\napplication = \"a\"\npassword = \"p\"\n"
        ))
        .unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("8675309123"), "{shown}");
        assert!(
            shown.contains("key `url`") && shown.contains("entry 2"),
            "{shown}"
        );
    }
}

#[test]
fn min_uid_and_home_bases() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!((c.min_uid, c.nss.min_uid), (1000, 1000));
    let c = parse(&format!("{MINIMAL}min_uid = 500\n")).unwrap();
    assert_eq!((c.min_uid, c.nss.min_uid), (500, 1000));
    let c = parse(&format!("{MINIMAL}min_uid = 5000\n")).unwrap();
    assert_eq!(c.nss.min_uid, 5000);
    for bad in ["min_uid = 0", "min_uid = 250000"] {
        let e = parse(&format!("{MINIMAL}{bad}\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("min_uid"), "{e}");
    }
    assert_eq!(c.nss.home_bases, [PathBuf::from("/home")]);
    let c = parse(&format!("{MINIMAL}[nss]\nhome = \"/srv/users/{{name}}\"\n")).unwrap();
    assert_eq!(c.nss.home_bases, [PathBuf::from("/srv/users")]);
    let c = parse(&format!(
        "{MINIMAL}[nss]\nhome_bases = [\"/home\", \"/export/home\"]\n"
    ))
    .unwrap();
    assert_eq!(c.nss.home_bases.len(), 2);
    for bad in [
        "home_bases = [\"/\"]",
        "home_bases = [\"/home/../etc\"]",
        "home_bases = [\"home\"]",
        "home = \"/home/../{name}\"",
    ] {
        assert!(parse(&format!("{MINIMAL}[nss]\n{bad}\n")).is_err(), "{bad}");
    }
}

#[test]
fn attributes_minutes_is_bounded() {
    assert_eq!(parse(MINIMAL).unwrap().nss.attributes_minutes, 60);
    let c = parse(&format!("{MINIMAL}[nss]\nattributes_minutes = 5\n")).unwrap();
    assert_eq!(c.nss.attributes_minutes, 5);
    for bad in ["4", "1441", "0"] {
        let e = parse(&format!("{MINIMAL}[nss]\nattributes_minutes = {bad}\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("nss.attributes_minutes"), "{e}");
    }
}

#[test]
fn ssh_principals_map_plain_names_to_crowd_groups() {
    let c = parse(&format!(
        "{MINIMAL}[ssh_principals]\nprod = [\"prod-admins\", \"sre\"]\n\"db.read\" = [\"dba\"]\n"
    ))
    .unwrap();
    assert_eq!(c.ssh_principals["prod"], ["prod-admins", "sre"]);
    assert_eq!(c.ssh_principals["db.read"], ["dba"]);
    // Their groups are asked about (and cached) with the rules' groups.
    assert!(c.named_groups().contains(&"sre".to_owned()));
    assert_eq!(c.configured_groups()["dba"], ["ssh_principals.db.read"]);
    assert!(parse(MINIMAL).unwrap().ssh_principals.is_empty());
    for (table, says) in [
        ("\"two words\" = [\"g\"]", "one word"),
        ("\"a,b\" = [\"g\"]", "one word"),
        ("\"\" = [\"g\"]", "one word"),
        ("prod = []", "names no Crowd group"),
        ("prod = [\" \"]", "must not be empty"),
    ] {
        let e = parse(&format!("{MINIMAL}[ssh_principals]\n{table}\n")).unwrap_err();
        assert!(e.message.contains(says), "{table}: {e}");
        assert!(
            e.key
                .as_deref()
                .is_some_and(|k| k.starts_with("ssh_principals.")),
            "{table}: {e}"
        );
    }
}
