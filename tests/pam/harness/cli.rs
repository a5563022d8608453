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

/// A key pair made by ssh-keygen in `dir` (`id_NAME`, comment NAME): the public key
/// line.
pub fn ssh_public_key(dir: &std::path::Path, name: &str) -> String {
    let file = dir.join(format!("id_{name}"));
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&file)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    std::fs::read_to_string(file.with_extension("pub"))
        .expect("public key")
        .trim()
        .to_owned()
}
