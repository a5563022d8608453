//! Crowd's events applied to what the last sync learned: a pure function of the
//! state and the events, saying what they leave to ask Crowd. Idempotent: Data
//! Center's event store gives the last five minutes again on every call.

use std::collections::BTreeSet;

use super::{FullSyncReason, SyncState};
use crate::config::NssConfig;
use crate::crowd::User;
use crate::crowd::events::{Event, Operation};

/// What applying events left to ask Crowd.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Users whose attributes are not known (new members, reactivated).
    pub users: BTreeSet<String>,
    /// (user, group): whether the user is still a nested member.
    pub recheck: BTreeSet<(String, String)>,
    /// Groups whose nesting changed: members and nested groups asked again.
    pub groups: BTreeSet<String>,
}

/// Applies `events` to `state`; what they make unknown is in the answer. `Err` says
/// why they cannot be applied (then: a full sync).
pub fn apply(
    state: &mut SyncState,
    nss: &NssConfig,
    events: &[Event],
) -> Result<Needs, FullSyncReason> {
    let mut applier = Applier {
        tracked: state.groups.keys().cloned().collect(),
        state,
        nss,
        needs: Needs::default(),
    };
    for event in events {
        match event {
            Event::User {
                operation, user, ..
            } => applier.user(*operation, user),
            Event::Group {
                operation, group, ..
            } => applier.group(*operation, group)?,
            Event::UserMembership {
                operation,
                user,
                parents,
            } => applier.user_membership(*operation, user, parents),
            Event::GroupMembership {
                operation,
                group,
                parents,
                children,
            } => applier.group_membership(*operation, group, parents, children),
        }
    }
    Ok(applier.needs)
}

/// Events applied one at a time to the state.
struct Applier<'a> {
    state: &'a mut SyncState,
    nss: &'a NssConfig,
    /// The synced and exposed groups.
    tracked: Vec<String>,
    needs: Needs,
}

impl Applier<'_> {
    /// Whether `group` is `root` or nested in it.
    fn within(&self, root: &str, group: &str) -> bool {
        group == root
            || self
                .state
                .groups
                .get(root)
                .is_some_and(|r| r.nested.contains(group))
    }

    /// A user deleted leaves every group, one deactivated is dropped; any other
    /// change of a synced member reads them again. The event's attributes are not
    /// patched in: Crowd stores few attribute changes as events (only `synch.*`
    /// ones), and Data Center's store sends a changed user with none.
    fn user(&mut self, operation: Operation, user: &User) {
        let state = &mut *self.state;
        if operation == Operation::Deleted {
            state.users.remove(&user.name);
            for record in state.groups.values_mut() {
                record.members.remove(&user.name);
            }
            return;
        }
        if !state.is_synced_member(self.nss, &user.name) {
            return;
        }
        if user.active {
            self.needs.users.insert(user.name.clone());
        } else {
            state.users.remove(&user.name);
            self.needs.users.remove(&user.name);
        }
    }

    /// A synced group deleted cannot be applied; any other change to a group within a
    /// synced one asks that one again.
    fn group(&mut self, operation: Operation, group: &str) -> Result<(), FullSyncReason> {
        // A nested group's attributes are nobody's concern here.
        if operation != Operation::Deleted && !self.tracked.iter().any(|t| t == group) {
            return Ok(());
        }
        for root in &self.tracked {
            if operation == Operation::Deleted && root == group {
                return Err(FullSyncReason::SyncedGroupDeleted(group.to_owned()));
            }
            if self.within(root, group) {
                self.needs.groups.insert(root.clone());
            }
        }
        Ok(())
    }

    /// A user joining a group within a synced one joins it; one leaving is asked
    /// about (another path may keep them in). `Updated` lists every direct group of
    /// the user (Crowd's cache refresher reads it so): in a synced group through one
    /// of them, or out of it.
    fn user_membership(&mut self, operation: Operation, user: &str, parents: &[String]) {
        for root in self.tracked.clone() {
            let touched = parents.iter().any(|p| self.within(&root, p));
            let member = self
                .state
                .groups
                .get(&root)
                .is_some_and(|r| r.members.contains(user));
            match operation {
                Operation::Created | Operation::Updated if touched => self.joined(user, &root),
                Operation::Updated if member => {
                    if let Some(record) = self.state.groups.get_mut(&root) {
                        record.members.remove(user);
                    }
                }
                Operation::Deleted if touched && member => {
                    self.needs.recheck.insert((user.to_owned(), root));
                }
                _ => {}
            }
        }
    }

    /// `user` is a member of `root` now; a synced member not known yet is read.
    fn joined(&mut self, user: &str, root: &str) {
        if let Some(record) = self.state.groups.get_mut(root) {
            record.members.insert(user.to_owned());
        }
        if self.nss.groups.iter().any(|g| g == root) && !self.state.users.contains_key(user) {
            self.needs.users.insert(user.to_owned());
        }
    }

    /// A group nested into or out of a group within a synced one changes its
    /// members: that one is asked again. `Updated` gives the complete sets: any such
    /// event about a group within a synced one may have changed it.
    fn group_membership(
        &mut self,
        operation: Operation,
        group: &str,
        parents: &[String],
        children: &[String],
    ) {
        for root in &self.tracked {
            let parent_within = parents.iter().any(|p| self.within(root, p));
            let changes_within = self.within(root, group)
                && (operation == Operation::Updated || !children.is_empty());
            if parent_within || changes_within {
                self.needs.groups.insert(root.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{GroupRecord, UserRecord};
    use super::*;
    use crate::crowd::Attributes;

    /// A state syncing `linux-users` (with `developers` nested in it): alice and bob
    /// members, both recorded.
    fn state() -> (SyncState, NssConfig) {
        let nss = NssConfig {
            groups: vec!["linux-users".into()],
            ..NssConfig::default()
        };
        let mut state = SyncState::default();
        state.groups.insert(
            "linux-users".into(),
            GroupRecord {
                members: ["alice", "bob"].map(String::from).into(),
                nested: ["developers".to_string()].into(),
                attributes: Attributes::new(),
            },
        );
        for name in ["alice", "bob"] {
            let user = User {
                name: name.into(),
                active: true,
                display_name: None,
                email: None,
                key: None,
            };
            state
                .users
                .insert(name.into(), UserRecord::new(&user, Attributes::new()));
        }
        (state, nss)
    }

    fn membership(operation: Operation, user: &str, parents: &[&str]) -> Event {
        Event::UserMembership {
            operation,
            user: user.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn user_event(operation: Operation, name: &str, active: bool) -> Event {
        Event::User {
            operation,
            user: User {
                name: name.into(),
                active,
                display_name: None,
                email: None,
                key: None,
            },
            stored: Attributes::new(),
            deleted: Vec::new(),
        }
    }

    #[test]
    fn a_membership_update_is_the_complete_set_of_direct_groups() {
        let (mut state, nss) = state();
        let events = [
            // bob's direct groups: none within linux-users any more.
            membership(Operation::Updated, "bob", &["contractors"]),
            // carol's: developers, nested in it.
            membership(Operation::Updated, "carol", &["developers", "other"]),
        ];
        let needs = apply(&mut state, &nss, &events).unwrap();
        let members = &state.groups["linux-users"].members;
        assert!(!members.contains("bob") && members.contains("carol"));
        assert!(members.contains("alice"), "untouched");
        assert_eq!(needs.users, ["carol".to_string()].into());
        assert!(needs.recheck.is_empty() && needs.groups.is_empty());
    }

    #[test]
    fn a_changed_user_is_read_again_and_a_deactivated_one_dropped() {
        let (mut state, nss) = state();
        let events = [
            user_event(Operation::Updated, "alice", true),
            user_event(Operation::Updated, "bob", true),
            user_event(Operation::Updated, "bob", false),
            user_event(Operation::Updated, "stranger", true),
        ];
        let needs = apply(&mut state, &nss, &events).unwrap();
        assert_eq!(needs.users, ["alice".to_string()].into());
        assert!(!state.users.contains_key("bob"));
        // A deletion by name alone leaves every group.
        apply(
            &mut state,
            &nss,
            &[user_event(Operation::Deleted, "alice", false)],
        )
        .unwrap();
        assert!(!state.groups["linux-users"].members.contains("alice"));
    }

    #[test]
    fn the_same_events_twice_leave_the_same_state() {
        let (mut once, nss) = state();
        let events = [
            membership(Operation::Created, "carol", &["developers"]),
            membership(Operation::Deleted, "alice", &["linux-users"]),
            membership(Operation::Updated, "bob", &["other"]),
            user_event(Operation::Updated, "carol", false),
        ];
        apply(&mut once, &nss, &events).unwrap();
        let mut twice = once.clone();
        apply(&mut twice, &nss, &events).unwrap();
        assert_eq!(once, twice);
    }
}
