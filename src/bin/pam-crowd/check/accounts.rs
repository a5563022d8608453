//! `pam-crowd check`'s view of the line between the host's accounts and Crowd's:
//! local accounts Crowd also knows (and which rule applies to each), and `[nss]` id
//! ranges a local user's subordinate ids could come to cover.

use std::path::Path;

use pam_crowd::config::Config;
use pam_crowd::crowd::{Client, ClientSettings, CrowdError, Deadline, UserDirectory};
use pam_crowd::{HostFiles, local_accounts, subordinate_windows};

use super::Step;

/// Which local accounts Crowd also has users for, and what each is here: root and
/// uids below `min_uid` are always the host's; the others as `local_users` says. A
/// Crowd user named like a local account says someone can create Crowd users with
/// such names, which other applications may trust.
pub(super) fn check_local_accounts(config: &Config) -> Step {
    let accounts = match local_accounts(Path::new("/etc/passwd")) {
        Ok(accounts) => accounts,
        Err(e) => {
            return Step::warning(
                "local accounts",
                format!("/etc/passwd: {e}"),
                "cannot tell which local accounts Crowd must not name",
            );
        }
    };
    let client = match Client::new(
        &ClientSettings::from(config),
        Deadline::after(config.timeout),
    ) {
        Ok(client) => client,
        Err(e) => return Step::warning("local accounts", e.to_string(), "see the steps above"),
    };
    let mut known = Vec::new();
    for (name, uid) in &accounts {
        client.begin(Deadline::after(config.timeout));
        match client.user(name) {
            Ok(_) => known.push(rule_for(config, name, *uid)),
            Err(CrowdError::Refused { .. }) => {}
            Err(e) => {
                return Step::warning(
                    "local accounts",
                    format!("could not ask Crowd about {name:?}: {e}"),
                    "run pam-crowd check again when Crowd answers",
                );
            }
        }
    }
    if known.is_empty() {
        return Step::ok(
            None,
            "local accounts",
            format!(
                "none of the {} local accounts in /etc/passwd is a Crowd user (local_users = {})",
                accounts.len(),
                config.local_users
            ),
        );
    }
    Step::warning(
        "local accounts",
        format!(
            "Crowd has users named like local accounts: {}",
            known.join("; ")
        ),
        "rename them in Crowd, or set local_users to hand the account to Crowd on purpose",
    )
}

/// What `name` (uid `uid`) is here, in words.
fn rule_for(config: &Config, name: &str, uid: Option<u32>) -> String {
    let uid_text = uid.map_or("no uid".into(), |u| format!("uid {u}"));
    // An entry without a usable uid is counted as the host's, as the module does.
    let system = uid.is_none_or(|u| pam_crowd::is_system(name, u, config.min_uid));
    let rule = match (system, config.local_users.hands_over(name)) {
        (true, _) => format!(
            "the host's: a system account (below min_uid {})",
            config.min_uid
        ),
        (false, true) => format!(
            "Crowd's: local_users = {} hands it over, the Crowd password logs in as it",
            config.local_users
        ),
        (false, false) => format!(
            "the host's: local_users = {}, Crowd not asked",
            config.local_users
        ),
    };
    format!("{name} ({uid_text}): {rule}")
}

/// A warning when the `[nss]` id ranges overlap the window useradd hands subordinate
/// ranges out of (login.defs' `SUB_UID_MIN`..`SUB_UID_MAX`, `SUB_GID_*`): a local
/// user added later would get subordinate ids that synced users hold. Nothing when
/// no sync is configured.
pub(super) fn check_id_ranges(config: &Config) -> Option<Step> {
    let nss = &config.nss;
    if nss.groups.is_empty() {
        return None;
    }
    let (sub_uids, sub_gids) = subordinate_windows(&HostFiles::system().login_defs);
    let overlap = |a: (u32, u32), b: (u32, u32)| a.0 <= b.1 && b.0 <= a.1;
    let mut overlaps = Vec::new();
    for (word, range, window) in [("uid", nss.uids, sub_uids), ("gid", nss.gids, sub_gids)] {
        if overlap(range, window) {
            overlaps.push(format!(
                "[nss] {word}_min..{word}_max {}..{} overlaps SUB_{}_MIN..SUB_{}_MAX {}..{}",
                range.0,
                range.1,
                word.to_uppercase(),
                word.to_uppercase(),
                window.0,
                window.1
            ));
        }
    }
    Some(match overlaps.is_empty() {
        true => Step::ok(
            None,
            "id ranges",
            format!(
                "uids {}..{}, gids {}..{}: outside the subordinate id windows of /etc/login.defs",
                nss.uids.0, nss.uids.1, nss.gids.0, nss.gids.1
            ),
        ),
        false => Step::warning(
            "id ranges",
            format!(
                "{}: a local user added later gets subordinate ids there, and its user \
                 namespaces could act as the synced users who hold them",
                overlaps.join("; ")
            ),
            "choose [nss] ranges outside the window (docs/sync-and-nss.md, \"Choosing id ranges\"), or move the window in /etc/login.defs",
        ),
    })
}

/// `[nss.local_groups]`: every local group it maps must exist here (a sync refuses
/// the config otherwise), and what each grants is said, for the admin to weigh.
pub(super) fn check_local_groups(config: &Config) -> Option<Step> {
    let mapped = &config.nss.local_groups;
    if mapped.is_empty() {
        return None;
    }
    let held = match pam_crowd::sync::Holdings::system() {
        Ok(held) => held,
        Err(e) => {
            return Some(Step::failed(
                None,
                "local groups",
                format!("cannot read the host's groups: {e}"),
                "the sync reads /etc/group too",
            ));
        }
    };
    let missing: Vec<&str> = mapped
        .keys()
        .filter(|name| !held.group_gids.contains_key(*name))
        .map(String::as_str)
        .collect();
    Some(match missing.is_empty() {
        true => Step::ok(
            None,
            "local groups",
            mapped
                .iter()
                .map(|(local, groups)| {
                    format!(
                        "{local} (gid {}) for {}",
                        held.group_gids[local],
                        groups.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        false => Step::failed(
            None,
            "local groups",
            format!(
                "[nss.local_groups] names {}, which the host has no group of",
                missing.join(", ")
            ),
            "only existing local groups may be mapped: create the group (groupadd) or remove the key",
        ),
    })
}
