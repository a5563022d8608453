//! A host: a PAM service directory and a config for the module, and pamtester runs
//! through the real libpam (under pam_wrapper, which redirects the service directory
//! and copies `pam_syslog` output to stderr). Every run checks that each decision
//! line the module logged says the code libpam returned.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pam_crowd::PamCode;

/// The module's own reader of its decision lines (test code, not in the .so).
#[path = "../../../src/outcome/read_back.rs"]
mod read_back;
use read_back::DecisionLine;

use super::{APP_PASSWORD, Double, Finished, config_for, module, run_bounded, with_protocol};

/// The PAM result of one operation: the module's own code table.
pub use pam_crowd::PamCode as Code;

/// The code of a message pamtester prints: `pam_strerror` of the code (Linux-PAM's
/// words), or its own success line.
fn code_from_message(m: &str) -> Code {
    match m {
        "successfully authenticated"
        | "account management done."
        | "authentication token altered successfully."
        | "successfully opened a session"
        | "session has successfully been closed."
        | "credential info has successfully been set." => Code::Success,
        "Error in service module" => Code::ServiceErr,
        "System error" => Code::SystemErr,
        "Memory buffer error" => Code::BufErr,
        "Permission denied" => Code::PermDenied,
        "Authentication failure" => Code::AuthErr,
        "Authentication service cannot retrieve authentication info" => Code::AuthinfoUnavail,
        "User not known to the underlying authentication module" => Code::UserUnknown,
        "Authentication token is no longer valid; new one required" => Code::NewAuthtokReqd,
        "User account has expired" => Code::AcctExpired,
        "Cannot make/remove an entry for the specified session" => Code::SessionErr,
        "Failure setting user credentials" => Code::CredErr,
        "Conversation error" => Code::ConvErr,
        "Authentication token manipulation error" => Code::AuthtokErr,
        "The return value should be ignored by PAM dispatch" => Code::Ignore,
        "Critical error - immediate abort" => Code::Abort,
        other => panic!("pamtester said {other:?}: not in the code table"),
    }
}

/// A decision line of the module, if `message` (one syslog message, with or without
/// the `pam_crowd(service:type): ` prefix) is one; any other line starting as a
/// decision line does is a test failure.
fn decision(message: &str) -> Option<DecisionLine> {
    let message = match message.split_once("): ") {
        Some((prefix, rest)) if prefix.starts_with("pam_crowd(") => rest,
        _ => message,
    };
    let looks = ["granted user=", "ignored user=", "denied user="]
        .iter()
        .any(|start| message.starts_with(start));
    let parsed = DecisionLine::parse(message);
    assert_eq!(
        looks,
        parsed.is_some(),
        "a decision line that does not parse: {message}"
    );
    parsed
}

/// What one pamtester run showed.
#[derive(Debug)]
pub struct Run {
    /// One code per operation performed; pamtester stops at the first failure.
    pub codes: Vec<Code>,
    /// The module's syslog lines, one per line.
    pub log: String,
    /// The module's decision lines, read back, in order.
    pub decisions: Vec<DecisionLine>,
    /// Wall time of the whole run (process start to exit).
    pub elapsed: Duration,
    /// What the application showed the user: pamtester's standard output and error,
    /// where the conversation's messages go.
    pub shown: String,
}

impl Run {
    /// The code of the last operation performed.
    pub fn last(&self) -> Code {
        *self.codes.last().expect("pamtester performed no operation")
    }

    /// The last decision line the module logged.
    pub fn decision(&self) -> &DecisionLine {
        self.decisions
            .last()
            .expect("the module logged no decision")
    }
}

/// A PAM host: a private directory with `pam_crowd.toml` and service files.
pub struct Host {
    pub dir: PathBuf,
    /// Extra environment for pamtester, as a hostile invoking user might set it.
    pub env: Vec<(String, String)>,
    /// Shell lines that make a private mount namespace (as root) for pamtester and
    /// `pam-crowd` to run in: a host of the test's own ([`Host::own_etc`]).
    pub namespace: Option<String>,
}

impl Host {
    /// A host whose config is `config` (written to `pam_crowd.toml`), with a
    /// service `crowd-test` running auth and account through the module with `debug`.
    pub fn new(config: &str) -> Host {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pam_crowd_test_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("pam.d")).expect("temp dir");
        let host = Host {
            dir,
            env: Vec::new(),
            namespace: None,
        };
        host.write_config(config);
        host.service(
            "crowd-test",
            "auth required {module} config={config} debug\n\
             account required {module} config={config} debug\n\
             password required {module} config={config} debug\n",
        );
        host
    }

    /// A host pointed at `double` with the right credentials and trust, plus `extra`
    /// config lines.
    pub fn for_double(double: &Double, extra: &str) -> Host {
        Host::new(&config_for(&[double], extra))
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("pam_crowd.toml")
    }

    /// Writes the config root-only (mode 0600), as the module requires, speaking
    /// this run's [`protocol`] unless the config names one.
    pub fn write_config(&self, config: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(self.config_path(), with_protocol(config)).expect("write config");
        std::fs::set_permissions(self.config_path(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod config");
    }

    /// Writes service file `name`; `{module}` and `{config}` are filled in.
    pub fn service(&self, name: &str, lines: &str) {
        let text = lines
            .replace("{module}", &module().display().to_string())
            .replace("{config}", &self.config_path().display().to_string());
        std::fs::write(self.dir.join("pam.d").join(name), text).expect("write service");
    }

    /// Runs `ops` (`authenticate`, `acct_mgmt`) for `user` on service `crowd-test`,
    /// answering the password prompt with `password`.
    pub fn run(&self, user: &str, password: &str, ops: &[&str]) -> Run {
        self.run_service("crowd-test", user, password, ops)
    }

    pub fn run_service(&self, service: &str, user: &str, password: &str, ops: &[&str]) -> Run {
        self.run_answering(service, user, &[password], ops)
    }

    /// Runs `ops`, answering successive prompts with `answers` (then end of input).
    pub fn run_answering(&self, service: &str, user: &str, answers: &[&str], ops: &[&str]) -> Run {
        // One pamtester at a time: pam_wrapper picks its temp dir (/tmp/pam.X) by
        // lstat and then mkdir, ignoring a failed mkdir, so two starting together can
        // share a dir and read each other's service file, with another test's config.
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let mut pamtester = self.command("pamtester");
        pamtester
            .arg("-v")
            .arg("-I")
            .arg("rhost=203.0.113.9")
            .arg(service)
            .arg(user)
            .args(ops)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", self.dir.join("pam.d"))
            .env("PAM_WRAPPER_DEBUGLEVEL", "2")
            .env("LD_PRELOAD", "libpam_wrapper.so")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let input: String = answers.iter().map(|a| format!("{a}\n")).collect();
        let Finished {
            status,
            stdout: out,
            stderr: err,
            elapsed,
        } = run_bounded(&mut pamtester, &input);
        let (codes, per_op, decisions) = read_pamtester(&out, &err);
        // With the module alone in the stack, what it logged is what libpam returned
        // (PAM_IGNORE aside: libpam decides without it).
        if self.only_the_module(service) {
            for (code, logged) in codes.iter().zip(&per_op) {
                if let Some(d) = logged.as_ref().filter(|d| d.code != Code::Ignore) {
                    assert_eq!(
                        d.code, *code,
                        "the log says {d:?}, libpam returned {code:?}\n{err}"
                    );
                }
            }
        }
        assert_eq!(
            status.success(),
            codes.iter().all(|c| *c == Code::Success),
            "pamtester exit status disagrees with its output:\n{out}\n{err}"
        );
        let log: Vec<&str> = err
            .lines()
            .filter_map(syslog_message)
            .filter(|m| !m.contains("_pam_init_handlers"))
            .collect();
        let log = log.join("\n");
        assert!(
            !log.contains(APP_PASSWORD),
            "the application secret was logged:\n{log}"
        );
        for password in answers.iter().filter(|a| a.len() >= 4) {
            assert!(!log.contains(password), "the password was logged:\n{log}");
        }
        Run {
            codes,
            log,
            decisions,
            elapsed,
            shown: format!("{out}{err}"),
        }
    }
}

impl Host {
    /// `program`, to run in this host's namespace when it has one.
    pub fn command(&self, program: &str) -> Command {
        let Some(setup) = &self.namespace else {
            return Command::new(program);
        };
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("{setup}\nexec \"$0\" \"$@\""))
            .arg(program)
            .env("LD_LIBRARY_PATH", super::nss_module_dir());
        command
    }

    /// From now on pamtester and `pam-crowd` run in a private mount namespace where
    /// this host has files of its own: `/etc` an overlay with `etc`'s files (name,
    /// contents) written over the real ones, `passwd: files crowd` and `group: files
    /// crowd` in nsswitch.conf, `/var/lib/pam_crowd` this host's `nss` directory, and
    /// `/home` this host's `home` directory. The host's own /etc is never touched.
    pub fn own_etc(&mut self, etc: &[(&str, &str)]) {
        let files = self.dir.join("etc-files");
        std::fs::create_dir_all(&files).expect("etc-files");
        std::fs::create_dir_all(self.dir.join("nss")).expect("nss dir");
        let mut etc: Vec<(&str, &str)> = etc.to_vec();
        etc.push((
            "nsswitch.conf",
            "passwd: files crowd\ngroup: files crowd\nshadow: files\nhosts: files\n",
        ));
        for (name, text) in &etc {
            std::fs::write(files.join(name), text).expect("etc file");
        }
        // /home: root's, 0755, kept between runs (the session phase's homes).
        let home = self.dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod home");
        let d = self.dir.display();
        self.namespace = Some(format!(
            "set -e\n\
             mkdir -p {d}/etc-up {d}/etc-work\n\
             mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc-up,workdir={d}/etc-work /etc\n\
             cp {d}/etc-files/* /etc/\n\
             mount --bind {d}/home /home\n\
             mount -t tmpfs tmpfs /var/lib\n\
             mkdir /var/lib/pam_crowd\n\
             mount --bind {d}/nss /var/lib/pam_crowd\n\
             set +e"
        ));
    }

    /// Whether every line of `service`'s stack is the module's.
    fn only_the_module(&self, service: &str) -> bool {
        let module = module().display().to_string();
        std::fs::read_to_string(self.dir.join("pam.d").join(service))
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .all(|l| l.contains(&module))
            })
            .unwrap_or(false)
    }
}

/// What pamtester printed: the code of each operation performed, the module's last
/// decision line in each, and all its decision lines.
///
/// pamtester says on stderr, in order, which operation it performs, with pam_wrapper's
/// copy of each syslog line; successes go to stdout, the failure that ends the run to
/// stderr. So each operation's decision lines are those after its "performing
/// operation" on stderr.
fn read_pamtester(
    out: &str,
    err: &str,
) -> (Vec<Code>, Vec<Option<DecisionLine>>, Vec<DecisionLine>) {
    let mut per_op: Vec<Option<DecisionLine>> = Vec::new();
    let mut decisions = Vec::new();
    let mut failure = None;
    for line in err.lines() {
        if let Some(d) = syslog_message(line).and_then(decision) {
            if let Some(last) = per_op.last_mut() {
                *last = Some(d.clone());
            }
            decisions.push(d);
        }
        // A prompt ("Password: ") may precede the message on the same line.
        let Some((_, m)) = line.split_once("pamtester: ") else {
            continue;
        };
        if m.starts_with("performing operation") {
            per_op.push(None);
        } else if !m.starts_with("invoking") {
            failure = Some(code_from_message(m.trim()));
        }
    }
    let mut codes: Vec<Code> = out
        .lines()
        .filter_map(|line| line.split_once("pamtester: "))
        .map(|(_, m)| code_from_message(m.trim()))
        .collect();
    codes.extend(failure);
    (codes, per_op, decisions)
}

/// The message of a syslog line pam_wrapper copied to stderr.
fn syslog_message(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("SYSLOG(")?;
    rest.split_once("): ").map(|(_, msg)| msg)
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
