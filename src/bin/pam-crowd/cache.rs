//! `pam-crowd cache list | show USER | purge [USER]`: what the offline and result
//! cache holds, and removing it. Shows times, counts and verifier parameters, never a
//! verifier itself.

use clap::Subcommand;
use pam_crowd::cache::{self, Cache, Entry, verifier};
use pam_crowd::config::Config;
use serde_json::{Value, json};

use crate::{Report, Status, failure};

#[derive(Subcommand)]
pub enum CacheCommand {
    /// One line per cached user of this config.
    List,
    /// Everything cached about USER.
    Show {
        /// User name, exactly as cached (Crowd's canonical name).
        user: String,
    },
    /// Remove USER's entry, or every entry (of any config) when no USER is given.
    Purge {
        /// User name; omit to remove every entry.
        user: Option<String>,
    },
}

pub fn run(command: &CacheCommand, config: &Config) -> Report {
    let dir = &config.cache.dir;
    if !dir.exists() {
        return match command {
            CacheCommand::Show { user } => not_cached(user),
            _ => Report::new(
                Status::Ok,
                format!("{}: no cache directory, nothing cached", dir.display()),
                json!({ "entries": [], "removed": 0 }),
            ),
        };
    }
    let cache = match Cache::open_dir(dir, config) {
        Ok(Some(cache)) => cache,
        Ok(None) => {
            return failure(
                Status::Broken,
                format!(
                    "{} belongs to another user: run as root (the cache is root-only)",
                    dir.display()
                ),
            );
        }
        Err(e) => return failure(Status::Broken, e.to_string()),
    };
    match command {
        CacheCommand::List => list(&cache, config),
        CacheCommand::Show { user } => show(&cache, config, user),
        CacheCommand::Purge { user } => purge(&cache, user.as_deref()),
    }
}

fn list(cache: &Cache, config: &Config) -> Report {
    let entries = match cache.entries() {
        Ok(e) => e,
        Err(e) => return failure(Status::Broken, e.to_string()),
    };
    let now = cache::now();
    let mut text = Vec::new();
    let mut json_entries = Vec::new();
    let mut others = 0;
    let mut unusable = Vec::new();
    for (_, entry) in entries {
        match entry {
            Ok(e) if cache.is_ours(&e) => {
                text.push(format!("{}: {}", e.user, summary(&e, config, now)));
                json_entries.push(entry_json(&e, config, now));
            }
            Ok(_) => others += 1,
            Err(e) => unusable.push(e.to_string()),
        }
    }
    if text.is_empty() {
        text.push("no user of this config is cached".into());
    }
    if others > 0 {
        text.push(format!(
            "and {others} entries of other configurations (pam-crowd cache purge removes them)"
        ));
    }
    text.extend(unusable.iter().cloned());
    Report {
        status: Status::Ok,
        text,
        json: json!({ "entries": json_entries, "other_configs": others, "unusable": unusable }),
        error: false,
    }
}

fn show(cache: &Cache, config: &Config, user: &str) -> Report {
    let entry = match cache.load(user) {
        Ok(Some(e)) => e,
        Ok(None) => return not_cached(user),
        Err(e) => return failure(Status::Broken, e.to_string()),
    };
    let now = cache::now();
    let ago = |at: u64| format!("{} ago", cache::age(at, now));
    let mut text = vec![format!("user: {}", entry.user)];
    match &entry.password {
        None => text.push("password: not cached".into()),
        Some(v) => text.push(format!(
            "password: verified by Crowd {}, {}; verifier {}",
            ago(v.at),
            usable_until(v.at, config, now),
            verifier::describe(&v.phc)
        )),
    }
    text.push(format!(
        "offline failures: {} of {}{}",
        entry.failures,
        config.cache.offline_max_failures,
        if locked(&entry, config) {
            " (locked until Crowd accepts the password)"
        } else {
            ""
        }
    ));
    text.push(match entry.active_at {
        Some(at) => format!("active: confirmed by Crowd {}", ago(at)),
        None => "active: never confirmed".into(),
    });
    for (group, m) in &entry.groups {
        text.push(format!(
            "group {group}: {} ({})",
            if m.member { "member" } else { "not a member" },
            ago(m.at)
        ));
    }
    Report {
        status: Status::Ok,
        text,
        json: entry_json(&entry, config, now),
        error: false,
    }
}

fn purge(cache: &Cache, user: Option<&str>) -> Report {
    let removed = match user {
        Some(user) => cache.remove(user).map(usize::from),
        None => cache.purge_all(),
    };
    match removed {
        Ok(0) if user.is_some() => failure(Status::No, "no such entry".into()),
        Ok(n) => Report::new(
            Status::Ok,
            format!("removed {n} entries"),
            json!({ "removed": n }),
        ),
        Err(e) => failure(Status::Broken, e.to_string()),
    }
}

fn not_cached(user: &str) -> Report {
    failure(Status::No, format!("nothing cached for {user:?}"))
}

fn locked(entry: &Entry, config: &Config) -> bool {
    entry.failures >= config.cache.offline_max_failures
}

fn usable_until(at: u64, config: &Config, now: u64) -> String {
    if !config.cache.offline() {
        return "offline login is off (offline_days = 0)".into();
    }
    let window = config.cache.offline_window();
    if cache::fresh(at, now, window) {
        let left = (at + window.as_secs()).saturating_sub(now);
        format!("usable offline for {} more", cache::age(0, left))
    } else {
        "too old for offline login".into()
    }
}

fn summary(e: &Entry, config: &Config, now: u64) -> String {
    let password = match &e.password {
        None => "no password".to_string(),
        Some(v) => format!(
            "password of {} ago ({})",
            cache::age(v.at, now),
            usable_until(v.at, config, now)
        ),
    };
    let lock = if locked(e, config) {
        ", offline login locked"
    } else {
        ""
    };
    format!(
        "{password}, {} offline failures{lock}, {} group answers",
        e.failures,
        e.groups.len()
    )
}

fn entry_json(e: &Entry, config: &Config, now: u64) -> Value {
    json!({
        "user": e.user,
        "password_verified_at": e.password.as_ref().map(|v| v.at),
        "password_usable_offline": e.password.as_ref().is_some_and(|v| {
            config.cache.offline() && cache::fresh(v.at, now, config.cache.offline_window())
        }),
        "verifier": e.password.as_ref().map(|v| verifier::describe(&v.phc)),
        "failures": e.failures,
        "locked": locked(e, config),
        "active_at": e.active_at,
        "groups": e.groups.iter().map(|(g, m)| (g.clone(), json!({"member": m.member, "at": m.at}))).collect::<serde_json::Map<_, _>>(),
    })
}
