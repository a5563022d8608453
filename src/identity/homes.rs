//! One home per user: the session phase makes a missing home and hands it to its
//! user, so two entries sharing a home, or one home inside or above another's, would
//! give one user the other's startup files (`homeDirectory=/home/alice` for mallory)
//! or a root-owned parent (`/home/alice/x`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Who holds a home path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A local account's home, in /etc/passwd.
    Local(String),
    /// The `home` template's path for a synced name, kept for that name.
    Template(String),
    /// A synced user's `homeDirectory`, taken earlier in this sync.
    Crowd(String),
}

impl Holder {
    fn user(&self) -> &str {
        match self {
            Holder::Local(u) | Holder::Template(u) | Holder::Crowd(u) => u,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Local(u) => write!(f, "local account {u:?}'s home"),
            Holder::Template(u) => write!(f, "the home template's path for {u:?}"),
            Holder::Crowd(u) => write!(f, "{u:?}'s homeDirectory"),
        }
    }
}

/// Why a home path is not free for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// The path held.
    pub path: String,
    /// Who holds it.
    pub holder: Holder,
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it is, is inside or holds {:?}, {}",
            self.path, self.holder
        )
    }
}

/// The home paths held so far, by path.
#[derive(Debug, Default)]
pub struct Homes {
    held: BTreeMap<String, Vec<Holder>>,
}

impl Homes {
    /// Local accounts' homes, except those that are `/` or one of `bases` (a home
    /// base is everyone's parent by design, and `/` is the home of daemons).
    pub fn new<'a>(
        local: impl IntoIterator<Item = &'a (String, String)>,
        bases: &[std::path::PathBuf],
    ) -> Homes {
        let mut homes = Homes::default();
        for (user, home) in local {
            let path = Path::new(home);
            if home != "/" && !bases.iter().any(|b| b == path) {
                homes.hold(home, Holder::Local(user.clone()));
            }
        }
        homes
    }

    /// Records `path` as `holder`'s.
    pub fn hold(&mut self, path: &str, holder: Holder) {
        self.held.entry(path.to_owned()).or_default().push(holder);
    }

    /// The first holder other than `user` of `path`, of a directory above it, or of
    /// one below it.
    pub fn clash(&self, path: &str, user: &str) -> Option<Clash> {
        let other = |p: &str| {
            self.held.get(p).and_then(|holders| {
                holders
                    .iter()
                    .find(|h| h.user() != user || matches!(h, Holder::Local(_)))
                    .map(|h| Clash {
                        path: p.to_owned(),
                        holder: h.clone(),
                    })
            })
        };
        // The path itself and every directory above it.
        let mut at = Some(Path::new(path));
        while let Some(p) = at.filter(|p| *p != Path::new("/")) {
            if let Some(found) = p.to_str().and_then(other) {
                return Some(found);
            }
            at = p.parent();
        }
        // Below it: every held path starting with "path/" ('0' follows '/').
        let below = format!("{path}/");
        let end = format!("{path}0");
        self.held.range(below..end).find_map(|(p, _)| other(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_home_clashes_with_the_same_path_and_with_what_is_above_or_below_it() {
        let local = [
            ("root".to_string(), "/root".to_string()),
            ("daemon".into(), "/usr/sbin".into()),
            ("nobody".into(), "/".into()),
            ("admin".into(), "/home/admin".into()),
            ("odd".into(), "/home".into()),
        ];
        let mut homes = Homes::new(&local, &[PathBuf::from("/home")]);
        homes.hold("/home/alice", Holder::Template("alice".into()));
        assert_eq!(
            homes.clash("/home/alice", "alice"),
            None,
            "one's own template"
        );
        let taken = homes.clash("/home/alice", "mallory").unwrap();
        assert_eq!(taken.holder, Holder::Template("alice".into()));
        assert!(homes.clash("/home/alice/x", "mallory").is_some(), "inside");
        assert!(
            homes.clash("/home/admin", "admin").is_some(),
            "a local home is the host's"
        );
        assert!(homes.clash("/usr/sbin/x", "m").is_some());
        assert!(homes.clash("/usr", "m").is_some(), "above");
        assert_eq!(
            homes.clash("/home/alice2", "m"),
            None,
            "a prefix is not a parent"
        );
        assert_eq!(
            homes.clash("/home/bob", "bob"),
            None,
            "/ and the base are nobody's"
        );
        homes.hold("/srv/m", Holder::Crowd("m".into()));
        assert!(homes.clash("/srv", "x").is_some());
        assert_eq!(homes.clash("/srv/m", "m"), None);
    }
}
