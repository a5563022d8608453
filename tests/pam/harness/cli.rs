//! The `pam-crowd` command, run as an admin would.

use super::{APP_PASSWORD, Host, KEYS_APP_PASSWORD, run_bounded};

/// What one `pam-crowd` run printed and returned.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }
}

/// Runs `pam-crowd --config HOST_CONFIG ARGS` with `stdin`; fails the test if it
/// prints a secret.
pub fn pam_crowd(host: &Host, args: &[&str], stdin: &str) -> Out {
    let mut command = host.command(env!("CARGO_BIN_EXE_pam-crowd"));
    command.arg("--config").arg(host.config_path()).args(args);
    let done = run_bounded(&mut command, stdin);
    let out = Out {
        code: done.status.code().unwrap_or(-1),
        stdout: done.stdout,
        stderr: done.stderr,
    };
    for secret in [APP_PASSWORD, KEYS_APP_PASSWORD, "alice-pw"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} printed"
        );
    }
    out
}
