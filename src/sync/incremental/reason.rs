//! Why a sync was a full one: each reason a variant, so the report, `--json` and
//! the tests read the same words and nothing decides by matching text.

use std::path::PathBuf;

use crate::crowd::Reason;

/// Why a sync asked Crowd for everything instead of the events since the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullSyncReason {
    /// `pam-crowd sync --full`.
    Asked,
    /// No state from an earlier sync.
    NoState,
    /// The state file is there but cannot be read.
    StateUnreadable(StateUnreadable),
    /// `[nss] groups`, `expose_groups` or `local_groups` changed since the last sync.
    GroupsChanged,
    /// The last full sync is older than `full_sync_hours`.
    Due { full_sync_hours: u64 },
    /// Crowd refused the events since the token (410 expired, 400 not available).
    Refused { reason: Reason, message: String },
    /// Crowd's answer to the events request was not its events.
    NotUnderstood(String),
    /// A group that is synced was deleted in Crowd: not an event to apply.
    SyncedGroupDeleted(String),
}

impl std::fmt::Display for FullSyncReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FullSyncReason::Asked => f.write_str("--full"),
            FullSyncReason::NoState => f.write_str("no earlier sync state"),
            FullSyncReason::StateUnreadable(e) => e.fmt(f),
            FullSyncReason::GroupsChanged => {
                f.write_str("[nss] groups, expose_groups or local_groups changed")
            }
            FullSyncReason::Due { full_sync_hours } => write!(
                f,
                "the last full sync is older than full_sync_hours = {full_sync_hours}"
            ),
            FullSyncReason::Refused { reason, message } => {
                write!(f, "Crowd: {} ({message})", reason.as_str())
            }
            FullSyncReason::NotUnderstood(detail) => write!(f, "events not understood: {detail}"),
            FullSyncReason::SyncedGroupDeleted(group) => {
                write!(f, "group {group:?}, which is synced, was deleted")
            }
        }
    }
}

/// The sync state file could not be read: a reason for a full sync, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateUnreadable {
    pub path: PathBuf,
    /// The reader's or the system's words.
    pub detail: String,
}

impl std::fmt::Display for StateUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} unreadable ({})", self.path.display(), self.detail)
    }
}
