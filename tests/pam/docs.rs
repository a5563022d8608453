//! The man pages and the guide (the README and `docs/`) keep up with the code: every
//! config key, module argument, subcommand and flag the code knows is documented. The
//! lists come from the code. And every relative link in the project's Markdown, and
//! every anchor it names, resolves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    let full = root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The guide: the README, the front door, and the pages of `docs/`.
fn guide() -> String {
    let mut text = read("README.md");
    for page in markdown_in(&root().join("docs")) {
        text.push_str(&std::fs::read_to_string(&page).unwrap_or_default());
    }
    text
}

/// The Markdown files directly in `dir`, sorted.
fn markdown_in(dir: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
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
    let readme = guide();
    for key in keys {
        assert!(
            man.contains(&format!(".B {key}\n")),
            "{key} missing from pam_crowd.toml.5"
        );
        assert!(
            readme.contains(&format!("`{key}`"))
                || readme.contains(&format!("`[{key}]`"))
                || key == "service",
            "{key} missing from the guide (README, docs/)"
        );
    }
}

#[test]
fn every_key_of_every_table_is_documented() {
    for (table, count) in [("cache", 5), ("nss", 15), ("session", 3)] {
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
        let readme = guide();
        let example = read("conf/pam_crowd.toml");
        for key in keys {
            assert!(
                man.contains(&format!(".B {key}\n")),
                "[{table}] {key} missing from pam_crowd.toml.5"
            );
            assert!(
                readme.contains(&format!("`{key}`")),
                "[{table}] {key} missing from the guide (README, docs/)"
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
    let readme = guide();
    for arg in known.split(", ") {
        let name = arg.split('=').next().unwrap_or(arg);
        assert!(
            man.contains(&format!(".B {name}")) || man.contains(&format!(".BI {name}=")),
            "{arg} missing from pam_crowd.8"
        );
        assert!(
            readme.contains(&format!("`{arg}`")),
            "{arg} missing from the guide (README, docs/)"
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
    let readme = guide();
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
            "{command} missing from the guide (README, docs/)"
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

/// GitHub's anchor for a heading: lower case, punctuation dropped (hyphens and
/// underscores kept), spaces made hyphens.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor_of(line.trim_start_matches('#')));
        }
    }
    found
}

/// The targets of `[text](target)` links outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans are not links: drop what is between backticks.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut files = vec![
        "README.md",
        "BENCHMARKS.md",
        "RELIABILITY.md",
        "packaging/README.md",
        "tests/crowd-double/REAL-CROWD.md",
        "tests/pam/published/SOURCES.md",
    ]
    .into_iter()
    .map(|f| root().join(f))
    .collect::<Vec<_>>();
    files.extend(markdown_in(&root().join("docs")));
    assert!(files.len() >= 15, "the guide's pages: {files:?}");
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let dir = file.parent().unwrap_or(root());
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !target.exists() {
                broken.push(format!(
                    "{}: {link}: no {}",
                    file.display(),
                    target.display()
                ));
                continue;
            }
            if !anchor.is_empty() {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {link}: no heading #{anchor}", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked >= 40,
        "only {checked} links checked: is the reader right?"
    );
}

#[test]
fn the_link_reader_finds_links_and_anchors() {
    assert_eq!(
        anchor_of(" Crowd users without local accounts: `pam-crowd sync` and NSS"),
        "crowd-users-without-local-accounts-pam-crowd-sync-and-nss"
    );
    assert_eq!(
        links("see [a](docs/a.md#x) and `[b](not-a-link)`\n```\n[c](no)\n```\n[d](#y)"),
        ["docs/a.md#x", "#y"]
    );
    assert!(anchors("# Title\n```\n# not a heading\n```\n## Two words").contains("two-words"));
    assert!(!anchors("```\n# not a heading\n```").contains("not-a-heading"));
}
