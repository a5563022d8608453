//! SSH certificate principals from Crowd groups (`[ssh_principals]`,
//! `pam-crowd authorized-principals`, sshd's `AuthorizedPrincipalsCommand`): a user
//! may use their own name and every principal one of whose Crowd groups holds them,
//! nested. Whether they may log in at all is the account phase's, in the resolver.

use std::collections::BTreeMap;

use crate::policy::same_group;

/// The principals of `table` whose groups `member_of` says hold the user.
pub fn granted(
    table: &BTreeMap<String, Vec<String>>,
    member_of: impl Fn(&str) -> bool,
) -> Vec<&str> {
    table
        .iter()
        .filter(|(_, groups)| groups.iter().any(|g| member_of(g)))
        .map(|(principal, _)| principal.as_str())
        .collect()
}

/// The lines sshd reads: the user's own name first, then each principal granted
/// (once: a principal equal to the name is not repeated).
pub fn lines(user: &str, principals: &[&str]) -> Vec<String> {
    let mut lines = vec![user.to_owned()];
    lines.extend(
        principals
            .iter()
            .filter(|p| **p != user)
            .map(|p| (*p).to_owned()),
    );
    lines
}

/// Whether `groups` (a user's nested groups, as Crowd listed them) holds `group`.
pub fn in_groups(groups: &[String], group: &str) -> bool {
    groups.iter().any(|g| same_group(g, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_is_granted_by_any_of_its_groups_and_the_name_comes_first() {
        let table: BTreeMap<String, Vec<String>> = [
            (
                "prod".to_owned(),
                vec!["prod-admins".to_owned(), "sre".to_owned()],
            ),
            ("staging".to_owned(), vec!["developers".to_owned()]),
            ("alice".to_owned(), vec!["sre".to_owned()]),
        ]
        .into();
        let groups = ["SRE".to_owned(), "linux-users".to_owned()];
        let granted = granted(&table, |g| in_groups(&groups, g));
        assert_eq!(granted, ["alice", "prod"]);
        assert_eq!(lines("alice", &granted), ["alice", "prod"]);
        assert_eq!(lines("bob", &[]), ["bob"]);
    }
}
