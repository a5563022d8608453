//! Which groups a service requires, and the decision itself: pure functions over a
//! membership oracle, so the rule logic is tested without Crowd.

/// Group rules for one PAM service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Nested membership in any of these admits; `None` admits any active user,
    /// `Some(empty)` admits nobody.
    pub allow_groups: Option<Vec<String>>,
    /// Nested membership in any of these denies, whatever `allow_groups` says.
    pub deny_groups: Vec<String>,
}

/// The result of checking a user against [`AccessRules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The user may log in.
    Granted,
    /// The user is a member of this deny group.
    InDenyGroup(String),
    /// The user is in none of these allow groups.
    NotInAllowGroups(Vec<String>),
    /// `allow_groups` is present but empty: nobody is admitted.
    NobodyAllowed,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::InDenyGroup(g) => write!(f, "member of deny group {g:?}"),
            Access::NotInAllowGroups(groups) => write!(f, "in none of allow_groups {groups:?}"),
            Access::NobodyAllowed => f.write_str("allow_groups is empty"),
            Access::Granted => f.write_str("granted"),
        }
    }
}

impl AccessRules {
    /// Every group name the rules mention, deny groups first (the order they are asked in).
    pub fn named_groups(&self) -> impl Iterator<Item = &str> {
        self.deny_groups
            .iter()
            .chain(self.allow_groups.iter().flatten())
            .map(String::as_str)
    }

    /// Decides access, asking `is_member` only as much as needed: deny groups first,
    /// then allow groups until one matches. An oracle error stops the check.
    pub fn check<E>(
        &self,
        mut is_member: impl FnMut(&str) -> Result<bool, E>,
    ) -> Result<Access, E> {
        for group in &self.deny_groups {
            if is_member(group)? {
                return Ok(Access::InDenyGroup(group.clone()));
            }
        }
        match &self.allow_groups {
            None => Ok(Access::Granted),
            Some(allow) if allow.is_empty() => Ok(Access::NobodyAllowed),
            Some(allow) => {
                for group in allow {
                    if is_member(group)? {
                        return Ok(Access::Granted);
                    }
                }
                Ok(Access::NotInAllowGroups(allow.clone()))
            }
        }
    }
}

/// Crowd compares group names without regard to case; so do we.
pub fn same_group(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: Option<&[&str]>, deny: &[&str]) -> AccessRules {
        AccessRules {
            allow_groups: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            deny_groups: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn check(r: &AccessRules, member_of: &[&str]) -> (Access, Vec<String>) {
        let mut asked = Vec::new();
        let access = r
            .check(|g| {
                asked.push(g.to_string());
                Ok::<_, ()>(member_of.iter().any(|m| same_group(m, g)))
            })
            .unwrap();
        (access, asked)
    }

    #[test]
    fn every_combination_of_rules_and_memberships() {
        let groups = ["a", "b", "d"];
        // All subsets of memberships against a representative set of rules.
        for mask in 0..(1 << groups.len()) {
            let member_of: Vec<&str> = (0..groups.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| groups[i])
                .collect();
            let in_ = |g: &str| member_of.contains(&g);
            let cases: [(AccessRules, Access); 5] = [
                (rules(None, &[]), Access::Granted),
                (rules(Some(&[]), &[]), Access::NobodyAllowed),
                (
                    rules(Some(&["a", "b"]), &[]),
                    if in_("a") || in_("b") {
                        Access::Granted
                    } else {
                        Access::NotInAllowGroups(vec!["a".into(), "b".into()])
                    },
                ),
                (
                    rules(None, &["d"]),
                    if in_("d") {
                        Access::InDenyGroup("d".into())
                    } else {
                        Access::Granted
                    },
                ),
                (
                    rules(Some(&["a"]), &["d"]),
                    if in_("d") {
                        Access::InDenyGroup("d".into())
                    } else if in_("a") {
                        Access::Granted
                    } else {
                        Access::NotInAllowGroups(vec!["a".into()])
                    },
                ),
            ];
            for (r, want) in cases {
                assert_eq!(
                    check(&r, &member_of).0,
                    want,
                    "{r:?} member of {member_of:?}"
                );
            }
        }
    }

    #[test]
    fn deny_wins_over_allow_and_is_asked_first() {
        let (access, asked) = check(&rules(Some(&["a"]), &["d"]), &["a", "d"]);
        assert_eq!(access, Access::InDenyGroup("d".into()));
        assert_eq!(asked, vec!["d"]);
    }

    #[test]
    fn stops_at_the_first_matching_allow_group() {
        let (access, asked) = check(&rules(Some(&["a", "b", "c"]), &[]), &["b"]);
        assert_eq!(access, Access::Granted);
        assert_eq!(asked, vec!["a", "b"]);
    }

    #[test]
    fn no_rules_ask_nothing() {
        let (access, asked) = check(&rules(None, &[]), &[]);
        assert_eq!(access, Access::Granted);
        assert!(asked.is_empty());
    }

    #[test]
    fn oracle_errors_propagate() {
        let r = rules(Some(&["a"]), &["d"]);
        assert_eq!(r.check(|_| Err::<bool, _>("down")), Err("down"));
    }

    #[test]
    fn group_names_compare_without_case() {
        assert!(same_group("Linux-Users", "linux-users"));
        assert!(same_group("ÄRZTE", "ärzte"));
        assert!(!same_group("linux-users", "linux-user"));
    }

    #[test]
    fn named_groups_lists_deny_then_allow() {
        let r = rules(Some(&["a", "b"]), &["d"]);
        assert_eq!(r.named_groups().collect::<Vec<_>>(), vec!["d", "a", "b"]);
    }
}
