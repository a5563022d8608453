//! The man pages and README keep up with the code: every config key, module argument,
//! subcommand and flag the code knows is documented. The lists come from the code.

use std::path::Path;
use std::process::Command;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Names between backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_config_key_is_documented() {
    // The parser lists the keys it knows when it meets one it does not.
    let e = pam_crowd::config::Config::parse(Path::new("x"), "no_such_key = 1\n").unwrap_err();
    let keys = backticked(e.message.split("expected one of").nth(1).expect("key list"));
    assert!(keys.len() >= 10, "{keys:?}");
    let man = read("packaging/man/pam_crowd.toml.5");
    let readme = read("README.md");
    for key in keys {
        assert!(
            man.contains(&format!(".B {key}\n")),
            "{key} missing from pam_crowd.toml.5"
        );
        assert!(
            readme.contains(&format!("`{key}`"))
                || readme.contains(&format!("`[{key}]`"))
                || key == "service",
            "{key} missing from README"
        );
    }
}

#[test]
fn every_key_of_every_table_is_documented() {
    for (table, count) in [("cache", 5), ("nss", 14), ("session", 3)] {
        let e = pam_crowd::config::Config::parse(
            Path::new("x"),
            &format!(
                "url = \"https://x\"\napplication = \"a\"\npassword = \"p\"\n[{table}]\nno_such_key = 1\n"
            ),
        )
        .unwrap_err();
        let keys = backticked(e.message.split("expected one of").nth(1).expect("key list"));
        assert_eq!(keys.len(), count, "[{table}]: {keys:?}");
        let man = read("packaging/man/pam_crowd.toml.5");
        let readme = read("README.md");
        let example = read("conf/pam_crowd.toml");
        for key in keys {
            assert!(
                man.contains(&format!(".B {key}\n")),
                "[{table}] {key} missing from pam_crowd.toml.5"
            );
            assert!(
                readme.contains(&format!("`{key}`")),
                "[{table}] {key} missing from README"
            );
            assert!(
                example.contains(&format!("# {key} = ")),
                "[{table}] {key} missing from conf/pam_crowd.toml"
            );
        }
    }
}

#[test]
fn every_module_argument_is_documented() {
    let e = pam_crowd::Options::parse(&["no_such_argument"])
        .unwrap_err()
        .to_string();
    let known = e
        .split("known: ")
        .nth(1)
        .expect("argument list")
        .trim_end_matches(')');
    let man = read("packaging/man/pam_crowd.8");
    let readme = read("README.md");
    for arg in known.split(", ") {
        let name = arg.split('=').next().unwrap_or(arg);
        assert!(
            man.contains(&format!(".B {name}")) || man.contains(&format!(".BI {name}=")),
            "{arg} missing from pam_crowd.8"
        );
        assert!(
            readme.contains(&format!("`{arg}`")),
            "{arg} missing from README"
        );
    }
}

#[test]
fn every_subcommand_and_flag_is_documented() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pam-crowd"))
            .args(args)
            .arg("--help")
            .output()
            .expect("run");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let man = read("packaging/man/pam-crowd.1");
    let readme = read("README.md");
    let top = help(&[]);
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .expect("commands")
        .split("Options:")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 7, "{commands:?}");
    for command in &commands {
        // roff writes a hyphen in a command name as `\-`.
        let roff = command.replace('-', "\\-");
        assert!(
            [".B", ".BR", ".BI"]
                .iter()
                .any(|m| man.contains(&format!("{m} {roff}\n"))
                    || man.contains(&format!("{m} {roff} "))),
            "{command} missing from pam-crowd.1"
        );
        assert!(
            readme.contains(&format!("`pam-crowd {command}")),
            "{command} missing from README"
        );
        let mut all = vec![command.as_str()];
        if command == "session" {
            all.push("create");
        }
        for word in help(&all)
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
        {
            let flag = word
                .trim_end_matches([',', '.'])
                .split('=')
                .next()
                .unwrap_or(word);
            let roff = flag.replace('-', "\\-");
            assert!(
                man.contains(&roff),
                "{flag} of {command} missing from pam-crowd.1"
            );
        }
    }
}
