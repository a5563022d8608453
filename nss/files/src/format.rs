//! The entries and their lines, in the formats of passwd(5) and group(5).

/// A passwd(5) entry. The password field is always `*`: Crowd checks passwords, and
/// with `*` (not `x`) pam_unix's account phase finds no shadow entry to require, as
/// for SSSD's users, so synced users pass the distributions' stacks with no local
/// password or shadow line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// A group(5) entry. The password field is always `x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Why a value cannot be written into a passwd or group line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// A `:` or a control character, which would split or end the line.
    Character {
        /// The value.
        value: String,
        /// The character.
        found: char,
    },
    /// A `,` in a user name, which would split a group's member list.
    Comma(String),
    /// Empty, blank, or starting with `-` or `+` (NSS compat syntax).
    Unusable(String),
    /// `.`, `..` or holding a `/`: a path, not a name.
    Path(String),
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::Character { value, found } => write!(
                f,
                "{value:?} holds {found:?}, which passwd and group lines cannot"
            ),
            NameError::Comma(name) => {
                write!(f, "{name:?} holds ',', which group member lists cannot")
            }
            NameError::Unusable(name) => write!(
                f,
                "{name:?} is not usable as a name (empty, blank, or starting with '-' or '+')"
            ),
            NameError::Path(name) => write!(f, "{name:?} is not usable as a name (a path)"),
        }
    }
}

impl std::error::Error for NameError {}

/// Whether a value can be written into a passwd or group line.
pub fn check_text(value: &str) -> Result<(), NameError> {
    match value.chars().find(|c| *c == ':' || c.is_control()) {
        Some(found) => Err(NameError::Character {
            value: value.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// Whether `name` can be a user name in these files (and in a group's member list).
pub fn check_user_name(name: &str) -> Result<(), NameError> {
    check_group_name(name)?;
    if name.contains(',') {
        return Err(NameError::Comma(name.to_owned()));
    }
    Ok(())
}

/// Whether `name` can be a group (or user) name in these files.
pub fn check_group_name(name: &str) -> Result<(), NameError> {
    check_text(name)?;
    if name.is_empty() || name.starts_with(['-', '+']) || name.contains(char::is_whitespace) {
        return Err(NameError::Unusable(name.to_owned()));
    }
    if matches!(name, "." | "..") || name.contains('/') {
        return Err(NameError::Path(name.to_owned()));
    }
    Ok(())
}

impl Passwd {
    /// The line, without its newline.
    pub fn line(&self) -> String {
        format!(
            "{}:*:{}:{}:{}:{}:{}",
            self.name, self.uid, self.gid, self.gecos, self.home, self.shell
        )
    }

    /// Reads a line written by [`Passwd::line`].
    pub fn parse(line: &str) -> Option<Passwd> {
        let mut f = line.split(':');
        let entry = Passwd {
            name: f.next()?.to_owned(),
            uid: f.nth(1)?.parse().ok()?,
            gid: f.next()?.parse().ok()?,
            gecos: f.next()?.to_owned(),
            home: f.next()?.to_owned(),
            shell: f.next()?.to_owned(),
        };
        f.next().is_none().then_some(entry)
    }
}

impl Group {
    /// The line, without its newline.
    pub fn line(&self) -> String {
        format!("{}:x:{}:{}", self.name, self.gid, self.members.join(","))
    }

    /// Reads a line written by [`Group::line`].
    pub fn parse(line: &str) -> Option<Group> {
        let mut f = line.split(':');
        let name = f.next()?.to_owned();
        let gid = f.nth(1)?.parse().ok()?;
        let members = f.next()?;
        if f.next().is_some() {
            return None;
        }
        let members = members
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Group { name, gid, members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_do_not_parse() {
        let p = Passwd {
            name: "alice".into(),
            uid: 200_001,
            gid: 100,
            gecos: "Alice Liddell".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        };
        assert_eq!(
            p.line(),
            "alice:*:200001:100:Alice Liddell:/home/alice:/bin/bash"
        );
        assert_eq!(Passwd::parse(&p.line()), Some(p));
        let g = Group {
            name: "devs".into(),
            gid: 300_000,
            members: vec!["alice".into(), "erin".into()],
        };
        assert_eq!(Group::parse(&g.line()), Some(g));
        let empty = Group::parse("empty:x:5:").unwrap();
        assert!(empty.members.is_empty());
        for bad in ["", "a:x:1", "a:x:one:2:g:/h:/s", "a:x:1:2:g:/h:/s:extra"] {
            assert_eq!(Passwd::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Group::parse("g:x:1:a:b"), None);
    }

    #[test]
    fn names_that_would_break_the_files_are_refused() {
        for bad in [
            "", "a:b", "a\nb", "a,b", "-rf", "+x", "a b", "..", "a/b", "nul\0",
        ] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "alice",
            "alice.smith@example.org",
            "jürgen",
            "o'brien",
            "a-b_c",
        ] {
            assert!(check_user_name(good).is_ok(), "{good:?}");
        }
        assert!(check_group_name("a,b").is_ok());
        assert!(check_text("Alice, Room 4").is_ok());
        assert!(check_text("a:b").is_err());
    }
}
