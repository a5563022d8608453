//! Runs the built `pam_crowd.so` through the real libpam: `pamtester` under
//! pam_wrapper (which only redirects the service directory and copies `pam_syslog`
//! output to stderr), against a Crowd double on loopback.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use crowd_double::{
    APP_NAME, APP_PASSWORD, Canned, Double, Fault, Fixture, KEYS_APP_NAME, KEYS_APP_PASSWORD,
    Transport,
};

/// No pamtester run may take longer than this; the module's own bound is far lower.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The PAM result of one operation, as pamtester reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Success,
    AuthErr,
    UserUnknown,
    AuthinfoUnavail,
    PermDenied,
    AcctExpired,
    ServiceErr,
    SystemErr,
    CredErr,
    AuthtokErr,
    NewAuthtokReqd,
    Other(String),
}

impl Code {
    /// pamtester prints `pam_strerror` of the code; these strings are Linux-PAM's.
    fn from_message(m: &str) -> Code {
        match m {
            "successfully authenticated"
            | "account management done."
            | "authentication token altered successfully." => Code::Success,
            "Authentication token manipulation error" => Code::AuthtokErr,
            "Authentication token is no longer valid; new one required" => Code::NewAuthtokReqd,
            "Authentication failure" => Code::AuthErr,
            "User not known to the underlying authentication module" => Code::UserUnknown,
            "Authentication service cannot retrieve authentication info" => Code::AuthinfoUnavail,
            "Permission denied" => Code::PermDenied,
            "User account has expired" => Code::AcctExpired,
            "Error in service module" => Code::ServiceErr,
            "System error" => Code::SystemErr,
            "Failure setting user credentials" => Code::CredErr,
            other => Code::Other(other.to_owned()),
        }
    }
}

/// What one pamtester run showed.
#[derive(Debug)]
pub struct Run {
    /// One code per operation performed; pamtester stops at the first failure.
    pub codes: Vec<Code>,
    /// The module's syslog lines, one per line.
    pub log: String,
    /// Wall time of the whole run (process start to exit).
    pub elapsed: Duration,
    /// What the application showed the user: pamtester's standard output and error,
    /// where the conversation's messages go.
    pub shown: String,
}

impl Run {
    /// The code of the last operation performed.
    pub fn last(&self) -> Code {
        self.codes
            .last()
            .cloned()
            .unwrap_or(Code::Other("no operation".into()))
    }
}

/// The module, built once per test run into this profile's target directory.
pub fn module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        // target/<profile>/deps/<this test> → target/<profile>
        let exe = std::env::current_exe().expect("test exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("profile dir")
            .to_owned();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--lib", "--quiet"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --lib failed");
        let so = profile_dir.join("libpam_crowd.so");
        assert!(so.exists(), "{} missing", so.display());
        so
    })
}

/// `cargo build --quiet ARGS` in the module's profile; the profile directory.
fn build_in_profile(args: &[&str]) -> PathBuf {
    let profile_dir = module().parent().expect("profile dir").to_owned();
    let mut build = Command::new(env!("CARGO"));
    build
        .arg("build")
        .arg("--quiet")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("run cargo build").success(),
        "cargo build {args:?} failed"
    );
    profile_dir
}

/// The double's `pam-login` (a one-login PAM application), built once like the module.
pub fn pam_login() -> &'static Path {
    static PAM_LOGIN: OnceLock<PathBuf> = OnceLock::new();
    PAM_LOGIN.get_or_init(|| {
        build_in_profile(&["-p", "crowd-double", "--bin", "pam-login"]).join("pam-login")
    })
}

/// A PAM host: a private directory with `pam_crowd.toml` and service files.
pub struct Host {
    pub dir: PathBuf,
    /// Extra environment for pamtester, as a hostile invoking user might set it.
    pub env: Vec<(String, String)>,
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
        let mut pamtester = Command::new("pamtester");
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
        let mut codes = Vec::new();
        for line in out.lines().chain(err.lines()) {
            // A prompt ("Password: ") may precede the message on the same line.
            if let Some((_, m)) = line.split_once("pamtester: ") {
                if !m.starts_with("performing operation") && !m.starts_with("invoking") {
                    codes.push(Code::from_message(m.trim()));
                }
            }
        }
        // Successes first, then the failure that stopped the run (if any).
        codes.sort_by_key(|c| *c != Code::Success);
        assert_eq!(
            status.success(),
            codes.iter().all(|c| *c == Code::Success),
            "pamtester exit status disagrees with its output:\n{out}\n{err}"
        );
        let log: Vec<&str> = err
            .lines()
            .filter_map(|l| l.split_once("SYSLOG(").map(|(_, rest)| rest))
            .filter_map(|l| l.split_once("): ").map(|(_, msg)| msg))
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
            elapsed,
            shown: format!("{out}{err}"),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let mut command = Command::new(env!("CARGO_BIN_EXE_pam-crowd"));
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

/// A finished process.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `command` with `input` on stdin, killing it if it outlives `RUN_LIMIT`.
pub fn run_bounded(command: &mut Command, input: &str) -> Finished {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn (for pamtester: apt-get install pamtester libpam-wrapper)");
    let mut stdin = child.stdin.take().expect("stdin");
    // A closed pipe just means the program did not read all of its input.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} ran longer than {RUN_LIMIT:?}: it hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        elapsed: started.elapsed(),
    }
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// The protocol the module speaks to the double in this run: `rest`, or `soap` when
/// `PAM_CROWD_TEST_PROTOCOL=soap` (the README's test command runs the suite both ways).
pub fn protocol() -> &'static str {
    static PROTOCOL: OnceLock<String> = OnceLock::new();
    PROTOCOL
        .get_or_init(|| std::env::var("PAM_CROWD_TEST_PROTOCOL").unwrap_or_else(|_| "rest".into()))
}

/// Whether this run speaks SOAP.
pub fn soap() -> bool {
    protocol() == "soap"
}

/// `config` with `protocol = ...` among its top-level keys (before the first table,
/// so the line numbers of earlier keys stay), unless it names one or is no config.
fn with_protocol(config: &str) -> String {
    if protocol() == "rest" || !config.contains("url = ") || config.contains("protocol = ") {
        return config.to_owned();
    }
    let line = format!("protocol = {:?}\n", protocol());
    let mut out = String::new();
    let mut placed = false;
    for l in config.split_inclusive('\n') {
        if !placed && l.trim_start().starts_with('[') {
            out.push_str(&line);
            placed = true;
        }
        out.push_str(l);
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

/// Crowd's refusal with `reason`, as this run's protocol words it: REST's JSON error
/// body with `status`, or the SOAP fault Crowd throws for it.
pub fn crowd_refusal(status: u16, reason: &str, message: &str) -> Canned {
    if soap() {
        return crowd_double::soap_fault_for(reason, message);
    }
    Canned::new(
        status,
        "application/json",
        serde_json::json!({ "reason": reason, "message": message }).to_string(),
    )
}

/// What a transaction asking `ops` (in [`crowd_double::Request::op`] words, one per
/// REST request) costs in this run's protocol. SOAP first authenticates the
/// application, and checks a password in three calls: authenticate, look the user
/// up for the canonical name, end the principal token Crowd opened.
pub fn expected_ops(ops: &[&str]) -> Vec<String> {
    if !soap() {
        return ops.iter().map(|o| o.to_string()).collect();
    }
    let mut out = vec!["app-auth".to_string()];
    for op in ops {
        match *op {
            "authenticate" => out.extend(["authenticate", "user", "end-session"].map(String::from)),
            other => out.push(other.to_string()),
        }
    }
    out
}

/// Config text for `doubles` (tried in order) with `extra` lines appended.
pub fn config_for(doubles: &[&Double], extra: &str) -> String {
    let urls: Vec<String> = doubles.iter().map(|d| format!("{:?}", d.url())).collect();
    let ca = doubles
        .iter()
        .find_map(|d| d.ca_file())
        .map(|ca| format!("ca_file = {:?}\n", ca.display().to_string()))
        .unwrap_or_default();
    let http = if doubles.iter().any(|d| d.url().starts_with("http://")) {
        "allow_http = true\n"
    } else {
        ""
    };
    format!(
        "url = [{}]\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\n{ca}{http}timeout = 5\n{extra}",
        urls.join(", ")
    )
}

/// The usual rules of the tests: linux-users may log in, contractors may not.
pub const RULES: &str = "allow_groups = [\"linux-users\"]\ndeny_groups = [\"contractors\"]\n";

/// An HTTPS double with the demo directory and a host configured for it.
pub fn https_setup(extra: &str) -> (Double, Host) {
    let double = Double::start(Fixture::demo(), Transport::Https);
    let host = Host::for_double(&double, extra);
    (double, host)
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

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
