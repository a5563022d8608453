//! `pam-crowd sync [--dry-run] [--force]`: Crowd's users and groups into the files the
//! NSS module reads (`[nss]`). Run by the packages' systemd timer.

use clap::Args;
use pam_crowd::cache;
use pam_crowd::config::Config;
use pam_crowd::crowd::{Client, Deadline};
use pam_crowd::printable;
use pam_crowd::sync::incremental::{self, Kind, SyncState};
use pam_crowd::sync::{self, Holdings, Plan, SyncError};
use serde_json::json;

use crate::keys::to_syslog;
use crate::{Report, Status, failure};

#[derive(Args)]
pub struct SyncArgs {
    /// Show what would change, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write even if more than `[nss] max_drop` of the users would go.
    #[arg(long)]
    force: bool,
    /// Ask Crowd for everything, not for the changes since the last sync.
    #[arg(long)]
    full: bool,
}

/// What a sync fetched and would write.
struct Prepared {
    plan: Plan,
    diff: sync::Diff,
    state: Option<SyncState>,
    kind: Kind,
    notes: Vec<String>,
}

/// One line to standard error and syslog (authpriv, as `pam-crowd`).
fn log(severity: syslog::Severity, line: &str) {
    eprintln!("pam-crowd: {}", printable(line));
    to_syslog(severity, line);
}

/// Crowd's data fetched, the plan made from it and the host's accounts, and what it
/// would change in the files.
fn fetch_and_plan(
    args: &SyncArgs,
    config: &Config,
    client: &Client,
) -> Result<Prepared, SyncError> {
    let nss = &config.nss;
    let begin = || client.begin(Deadline::after(config.timeout));
    let previous = incremental::read_state(&nss.dir);
    let refreshed = incremental::refresh(client, nss, previous, args.full, cache::now(), &begin)
        .map_err(SyncError::Crowd)?;
    let held = Holdings::system().map_err(|e| SyncError::Files("/etc".into(), e.to_string()))?;
    let plan = sync::plan(&refreshed.fetched, &held, &sync::read_ids(&nss.dir)?, nss)?;
    let diff = plan.diff(&nss.dir)?;
    Ok(Prepared {
        plan,
        diff,
        state: refreshed.state,
        kind: refreshed.kind,
        notes: refreshed.notes,
    })
}

/// The files written, then what the next sync takes up from (none without events).
fn write(prepared: &Prepared, dir: &std::path::Path) -> Result<(), SyncError> {
    prepared.plan.write(dir)?;
    match &prepared.state {
        Some(state) => incremental::write_state(dir, state),
        None => match std::fs::remove_file(dir.join(incremental::STATE)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SyncError::Files(
                dir.join(incremental::STATE),
                e.to_string(),
            )),
        },
    }
}

/// How the data came, for the report.
fn kind_words(kind: &Kind) -> String {
    match kind {
        Kind::Full {
            why,
            no_events: None,
        } => format!("full sync ({why})"),
        Kind::Full {
            why,
            no_events: Some(no_events),
        } => format!("full sync ({why}; {no_events})"),
        Kind::Incremental {
            events,
            attributes: false,
        } => format!("incremental sync, {events} event(s)"),
        Kind::Incremental {
            events,
            attributes: true,
        } => format!("incremental sync, {events} event(s), attributes read again"),
    }
}

/// Why a sync was full, with Crowd's words when it offers no events.
fn full_why(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Full {
            why,
            no_events: None,
        } => Some(why.to_string()),
        Kind::Full {
            why,
            no_events: Some(no_events),
        } => Some(format!("{why}; {no_events}")),
        Kind::Incremental { .. } => None,
    }
}

/// The `--json` report.
fn report_json(
    dir: &std::path::Path,
    prepared: &Prepared,
    written: bool,
    refused: bool,
) -> serde_json::Value {
    let (plan, diff) = (&prepared.plan, &prepared.diff);
    json!({
        "dir": dir, "users": plan.users.len(), "groups": plan.groups.len(),
        "added": diff.users_added, "removed": diff.users_removed,
        "changed": diff.users_changed, "skipped": plan.skipped,
        "changes": diff.lines, "written": written, "refused": refused,
        "kind": match prepared.kind { Kind::Full { .. } => "full", Kind::Incremental { .. } => "incremental" },
        "why": full_why(&prepared.kind),
        "attributes_read": matches!(prepared.kind, Kind::Incremental { attributes: true, .. }),
        "notes": prepared.notes,
    })
}

/// Fetch, plan, guard, write. Exit 0 when written (or shown), 1 when the drop guard
/// refused, 2 when Crowd, the config or the files failed.
pub fn run(args: &SyncArgs, config: &Config, client: &Client) -> Report {
    let nss = &config.nss;
    if nss.groups.is_empty() {
        return failure(
            Status::Broken,
            "[nss] groups is not set in the config: nothing to sync".into(),
        );
    }
    let prepared = match fetch_and_plan(args, config, client) {
        Ok(done) => done,
        Err(e) => {
            let why = format!("sync failed, nothing written: {e}");
            to_syslog(syslog::Severity::LOG_ERR, &why);
            return failure(Status::Broken, why);
        }
    };
    let (plan, diff) = (&prepared.plan, &prepared.diff);
    if !args.dry_run {
        for skipped in &plan.skipped {
            log(syslog::Severity::LOG_NOTICE, &format!("sync: {skipped}"));
        }
        for note in &prepared.notes {
            log(syslog::Severity::LOG_WARNING, &format!("sync: {note}"));
        }
    }
    let counts = format!(
        "{}: {} users, {} groups ({} added, {} removed, {} changed users)",
        kind_words(&prepared.kind),
        plan.users.len(),
        plan.groups.len(),
        diff.users_added,
        diff.users_removed,
        diff.users_changed
    );
    let mut text: Vec<String> = diff.lines.clone();
    let json = |written: bool, refused: bool| report_json(&nss.dir, &prepared, written, refused);
    if args.dry_run {
        text.extend(plan.skipped.iter().map(|s| format!("! {s}")));
        text.extend(prepared.notes.iter().map(|n| format!("! {n}")));
        text.push(format!("dry run, nothing written: {counts}"));
        return Report {
            status: Status::Ok,
            text,
            json: json(false, false),
            error: false,
        };
    }
    if Plan::drops_too_many(diff, nss.max_drop) && !args.force {
        let why = format!(
            "sync refused: it would remove {} of the {} users synced before, more than \
             [nss] max_drop = {}; check [nss] groups in Crowd, see `pam-crowd sync --dry-run`, \
             and run with --force if this is meant",
            diff.users_removed, diff.users_before, nss.max_drop
        );
        to_syslog(syslog::Severity::LOG_ERR, &why);
        return Report {
            json: json(false, true),
            ..failure(Status::No, why)
        };
    }
    if let Err(e) = write(&prepared, &nss.dir) {
        let why = format!("sync failed: {e}");
        to_syslog(syslog::Severity::LOG_ERR, &why);
        return failure(Status::Broken, why);
    }
    let line = format!("synced to {}: {counts}", nss.dir.display());
    to_syslog(syslog::Severity::LOG_INFO, &line);
    Report {
        status: Status::Ok,
        text: vec![line],
        json: json(true, false),
        error: false,
    }
}
