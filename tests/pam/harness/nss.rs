//! The NSS module through glibc, in a private mount namespace.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{Finished, RUN_LIMIT, build_in_profile, run_bounded};

/// A directory holding the built NSS module under its soname, `libnss_crowd.so.2`,
/// for `LD_LIBRARY_PATH` (glibc loads NSS modules by that name). Built once.
pub fn nss_module_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile_dir = build_in_profile(&["-p", "nss_crowd"]);
        let dir = profile_dir.join("nss-lib");
        std::fs::create_dir_all(&dir).expect("nss-lib dir");
        std::fs::copy(
            profile_dir.join("libnss_crowd.so"),
            dir.join("libnss_crowd.so.2"),
        )
        .expect("copy libnss_crowd.so");
        dir
    })
}

/// Whether this run may use root's tools (mount namespaces). Off CI a non-root run
/// skips such tests with a line saying so; on CI (`CI` set) it must be root.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if rustix::process::geteuid().as_raw() == 0 {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root (a mount namespace), and CI runs as root"
    );
    eprintln!("{test}: skipped, needs root for a mount namespace");
    false
}

/// The shell lines that make a private mount namespace's glibc read
/// `passwd: files crowd` and `group: files crowd`, with `/var/lib/pam_crowd` being
/// `synced` (the host's files are untouched), then run `then`.
fn nss_namespace(synced: &Path, then: &str) -> Command {
    let setup = format!(
        "set -e\n\
         printf 'passwd: files crowd\\ngroup: files crowd\\nshadow: files\\nhosts: files\\n' > {ns}/nsswitch.conf\n\
         mount --bind {ns}/nsswitch.conf /etc/nsswitch.conf\n\
         mount -t tmpfs tmpfs /var/lib\n\
         mkdir /var/lib/pam_crowd\n\
         mount --bind {synced} /var/lib/pam_crowd\n\
         set +e\n\
         {then}",
        ns = synced.parent().expect("parent").display(),
        synced = synced.display(),
    );
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c", &setup])
        .env("LD_LIBRARY_PATH", nss_module_dir());
    command
}

/// Runs `script` (sh) in a namespace set up by [`nss_namespace`]: this build's
/// module answering from `synced` through glibc.
pub fn with_nss(synced: &Path, script: &str) -> Finished {
    run_bounded(&mut nss_namespace(synced, script), "")
}

/// The double's `nss-probe`, calling the module's entry points directly, running in
/// a namespace like [`with_nss`]'s: one long-lived process, one command per call.
pub struct NssProbe {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl NssProbe {
    pub fn start(synced: &Path) -> NssProbe {
        let probe =
            build_in_profile(&["-p", "crowd-double", "--bin", "nss-probe"]).join("nss-probe");
        let mut child = nss_namespace(synced, &format!("exec {}", probe.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nss-probe");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        NssProbe {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one command and returns the probe's answer line.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write to nss-probe");
        self.stdin.flush().expect("flush");
        self.lines
            .recv_timeout(RUN_LIMIT)
            .unwrap_or_else(|e| panic!("nss-probe did not answer {command:?}: {e}"))
    }
}

impl Drop for NssProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
