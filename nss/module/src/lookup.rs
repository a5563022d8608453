//! What a lookup answers, in NSS's terms, from the synced files.

use nss_crowd_files::{DIR, Error, Files, Group, Passwd};

/// A lookup's result before it is copied out.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<T> {
    Found(T),
    /// The files answer, and do not hold it.
    NotFound,
    /// The files cannot answer (missing: no sync yet; or damaged).
    Unavailable,
}

fn answer<T>(result: Result<Option<T>, Error>) -> Answer<T> {
    match result {
        Ok(Some(entry)) => Answer::Found(entry),
        Ok(None) => Answer::NotFound,
        Err(_) => Answer::Unavailable,
    }
}

fn files() -> Files {
    Files::new(DIR)
}

pub fn user_by_name(name: &str) -> Answer<Passwd> {
    answer(files().user_by_name(name))
}

pub fn user_by_uid(uid: u32) -> Answer<Passwd> {
    answer(files().user_by_uid(uid))
}

pub fn group_by_name(name: &str) -> Answer<Group> {
    answer(files().group_by_name(name))
}

pub fn group_by_gid(gid: u32) -> Answer<Group> {
    answer(files().group_by_gid(gid))
}

/// The gids of the groups listing `user`, without `primary` (the caller has it).
pub fn supplementary_gids(user: &str, primary: u32) -> Answer<Vec<u32>> {
    match files().gids_of_member(user) {
        Ok(gids) => {
            let gids: Vec<u32> = gids.into_iter().filter(|g| *g != primary).collect();
            if gids.is_empty() {
                Answer::NotFound
            } else {
                Answer::Found(gids)
            }
        }
        Err(_) => Answer::Unavailable,
    }
}

/// Every entry, for `getpwent` / `getgrent`: read once at `setpwent`, then handed out
/// one by one. A position moves only when an entry was copied out, so a caller that
/// retries with a larger buffer gets the same entry.
pub struct Enumeration<T> {
    entries: Vec<T>,
    next: usize,
}

impl<T> Enumeration<T> {
    pub fn users() -> Option<Enumeration<Passwd>> {
        files()
            .users()
            .ok()
            .map(|entries| Enumeration { entries, next: 0 })
    }

    pub fn groups() -> Option<Enumeration<Group>> {
        files()
            .groups()
            .ok()
            .map(|entries| Enumeration { entries, next: 0 })
    }

    /// The entry at the position, if any is left.
    pub fn current(&self) -> Option<&T> {
        self.entries.get(self.next)
    }

    /// Moves past the current entry.
    pub fn advance(&mut self) {
        self.next += 1;
    }
}
