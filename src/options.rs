//! Module arguments from the PAM service file (`auth required pam_crowd.so debug ...`).

use std::path::PathBuf;

use crate::config::DEFAULT_PATH;
use crate::host::LocalUsers;

/// Parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `config=PATH`: the configuration file.
    pub config_path: PathBuf,
    /// `debug`: log each Crowd request too (never a password or secret).
    pub debug: bool,
    /// `service=NAME`: apply the rules of `[service.NAME]` instead of PAM_SERVICE's.
    pub rules_service: Option<String>,
    /// `local_users=host|crowd|NAME,NAME`: the config's `local_users`, for this line.
    pub local_users: Option<LocalUsers>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_path: PathBuf::from(DEFAULT_PATH),
            debug: false,
            rules_service: None,
            local_users: None,
        }
    }
}

/// A module argument this module does not know: the line in the PAM stack is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownArgument(pub String);

impl std::fmt::Display for UnknownArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown module argument {:?} (known: config=PATH, service=NAME, \
             local_users=host|crowd|NAME,..., debug, use_first_pass, try_first_pass, use_authtok)",
            self.0
        )
    }
}

impl std::error::Error for UnknownArgument {}

impl Options {
    /// Parses the arguments. An unknown argument is an error: a misspelt option must
    /// not silently weaken a login rule.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Options, UnknownArgument> {
        let mut options = Options::default();
        for arg in args {
            let arg = arg.as_ref();
            match arg.split_once('=') {
                Some(("config", path)) if !path.is_empty() => {
                    options.config_path = PathBuf::from(path)
                }
                Some(("service", name)) if !name.is_empty() => {
                    options.rules_service = Some(name.to_owned())
                }
                Some(("local_users", value)) => {
                    options.local_users = Some(
                        LocalUsers::parse_argument(value)
                            .ok_or_else(|| UnknownArgument(arg.to_owned()))?,
                    )
                }
                None if arg == "debug" => options.debug = true,
                // Read by libpam's pam_get_authtok itself.
                None if ["use_first_pass", "try_first_pass", "use_authtok"].contains(&arg) => {}
                _ => return Err(UnknownArgument(arg.to_owned())),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = Options::parse::<&str>(&[]).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.config_path, PathBuf::from("/etc/pam_crowd.toml"));
    }

    #[test]
    fn known_arguments() {
        let o = Options::parse(&[
            "config=/etc/crowd/other.toml",
            "debug",
            "use_first_pass",
            "try_first_pass",
            "service=sshd",
            "local_users=crowd",
        ])
        .unwrap();
        assert_eq!(o.local_users, Some(LocalUsers::Crowd));
        assert_eq!(o.config_path, PathBuf::from("/etc/crowd/other.toml"));
        assert!(o.debug);
        assert_eq!(o.rules_service.as_deref(), Some("sshd"));
    }

    #[test]
    fn unknown_or_malformed_arguments_are_errors() {
        for bad in [
            "use_frist_pass",
            "config=",
            "config",
            "debug=1",
            "service=",
            "local_users=",
            "",
        ] {
            let e = Options::parse(&[bad]).unwrap_err();
            assert_eq!(e, UnknownArgument(bad.into()));
            assert!(
                e.to_string().contains("unknown module argument"),
                "{bad}: {e}"
            );
        }
    }
}
