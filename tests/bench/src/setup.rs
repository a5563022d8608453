//! The benchmark's world: the Crowd double over HTTPS with the benchmark's users, a
//! PAM service directory and configuration, and the commands each row runs.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crowd_double::{APP_NAME, APP_PASSWORD, Double, Fixture, Transport};

use std::time::Duration;

use crate::measure::{Stats, WARMUP, spawn_timed};

pub const BENCH_USER: &str = "bench";
pub const BENCH_PASSWORD: &str = "bench-pw";
/// The rule names two groups; the user is in the second, so a login asks both.
pub const BENCH_GROUPS: [&str; 2] = ["ops", "linux-users"];
/// Group counts of the account-phase rows.
pub const GROUP_COUNTS: [usize; 3] = [10, 1_000, 5_000];

pub fn user_in_groups(groups: usize) -> String {
    format!("in{groups}")
}

/// A user in `groups` nested groups: half direct, half their parents; the first
/// direct group sits inside linux-users.
fn with_user_in_groups(fixture: Fixture, user: &str, groups: usize) -> Fixture {
    let mut f = fixture
        .user(user, BENCH_PASSWORD, true)
        .nest("linux-users", &format!("{user}-team-0"));
    for i in 0..groups / 2 {
        let team = format!("{user}-team-{i}");
        f = f
            .member(&team, user)
            .nest(&format!("{user}-dept-{i}"), &team);
    }
    f
}

pub fn fixture() -> Fixture {
    let mut f = with_user_in_groups(Fixture::demo(), BENCH_USER, 10).nest("ops", "ops-oncall");
    for groups in GROUP_COUNTS {
        f = with_user_in_groups(f, &user_in_groups(groups), groups);
    }
    f
}

pub struct Bench {
    pub double: Double,
    pub addr: SocketAddr,
    pub ca_file: PathBuf,
    pub confdir: PathBuf,
    dir: PathBuf,
    bin: PathBuf,
    module: PathBuf,
}

impl Bench {
    pub fn start() -> Bench {
        let bin = std::env::current_exe()
            .expect("own path")
            .parent()
            .expect("bin dir")
            .to_path_buf();
        let module = bin.join("libpam_crowd.so");
        for needed in [
            module.as_path(),
            &bin.join("pam-login"),
            &bin.join("floor-client"),
        ] {
            assert!(
                needed.exists(),
                "{} is missing: build with `cargo build --release --workspace` (tests/bench/run does)",
                needed.display()
            );
        }
        let double = Double::start(fixture(), Transport::Https);
        let addr: SocketAddr = format!("127.0.0.1:{}", double.port())
            .parse()
            .expect("addr");
        let ca_file = double
            .ca_file()
            .expect("HTTPS double has a CA")
            .to_path_buf();
        let dir = std::env::temp_dir().join(format!("login-bench-{}", std::process::id()));
        let confdir = dir.join("pam.d");
        std::fs::create_dir_all(&confdir).expect("confdir");
        let bench = Bench {
            addr,
            ca_file,
            confdir,
            dir,
            bin,
            module,
            double,
        };
        let (ip_url, url) = (bench.double.ip_url(), bench.double.url());
        bench.write_service("bench", &ip_url, &bench.ca_file, "");
        // The same Crowd over its SOAP service (rows S1/S2).
        bench.write_service(
            "bench-soap",
            &ip_url,
            &bench.ca_file,
            "protocol = \"soap\"\n",
        );
        bench.write_service("bench-hostname", &url, &bench.ca_file, "");
        // The module loaded and refusing at once (no such config): what loading it costs.
        std::fs::write(
            bench.confdir.join("bench-load"),
            format!(
                "auth required {} config=/nonexistent/pam_crowd.toml\naccount required pam_permit.so\n",
                bench.module.display()
            ),
        )
        .expect("load service");
        std::fs::write(
            bench.confdir.join("bench-permit"),
            "auth required pam_permit.so\naccount required pam_permit.so\n",
        )
        .expect("permit service");
        bench
    }

    /// A PAM service and its pam_crowd configuration (mode 0600, as the module insists),
    /// for Crowd at `url` trusted through `ca`, with `extra` lines (tables) at the end.
    pub fn write_service(&self, service: &str, url: &str, ca: &Path, extra: &str) {
        let config = self.dir.join(format!("{service}.toml"));
        let groups: Vec<String> = BENCH_GROUPS.iter().map(|g| format!("{g:?}")).collect();
        std::fs::write(
            &config,
            format!(
                "url = {url:?}\napplication = {APP_NAME:?}\npassword = {APP_PASSWORD:?}\n\
                 ca_file = {:?}\ntimeout = 10\nallow_groups = [{}]\n{extra}",
                ca.display().to_string(),
                groups.join(", ")
            ),
        )
        .expect("config");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let line = format!("{} config={}", self.module.display(), config.display());
        std::fs::write(
            self.confdir.join(service),
            format!("auth required {line}\naccount required {line}\n"),
        )
        .expect("service file");
    }

    /// The scratch directory (configs, the cache of the cache rows).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pam_login(&self, service: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("pam-login"));
        cmd.arg(&self.confdir)
            .arg(service)
            .arg(BENCH_USER)
            .args(["auth", "account"]);
        cmd
    }

    pub fn pam_login_stdin(&self) -> Vec<u8> {
        format!("{BENCH_PASSWORD}\n").into_bytes()
    }

    /// The application's and the user's password, one per line.
    pub fn two_passwords(&self) -> Vec<u8> {
        format!("{APP_PASSWORD}\n{BENCH_PASSWORD}\n").into_bytes()
    }

    /// A process that starts and exits: the floor client's `--exit`.
    pub fn empty_process(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("floor-client"));
        cmd.arg("--exit");
        cmd
    }

    pub fn floor_client(&self) -> Command {
        let mut cmd = Command::new(self.bin.join("floor-client"));
        cmd.arg(&self.ca_file)
            .arg(self.addr.to_string())
            .arg(APP_NAME)
            .arg(BENCH_USER)
            .args(BENCH_GROUPS);
        cmd
    }

    /// curl asking the module's questions over one connection (authenticate, then
    /// one page of the user's nested groups, Crowd's session cookie kept in between):
    /// each URL prints its status and how many new connections it opened.
    pub fn curl(&self) -> Command {
        let api = format!("{}/rest/usermanagement/1", self.double.ip_url());
        let mut cmd = Command::new("curl");
        let common = |cmd: &mut Command| {
            cmd.args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{num_connects}\\n",
                // The cookie engine on, with no file: the session cookie is kept.
                "-b",
                "",
            ])
            .arg("--cacert")
            .arg(&self.ca_file)
            .args(["-u", &format!("{APP_NAME}:{APP_PASSWORD}")])
            .args(["-H", "Accept: application/json"]);
        };
        common(&mut cmd);
        cmd.args(["-H", "Content-Type: application/json"])
            .args(["--data", &format!("{{\"value\":\"{BENCH_PASSWORD}\"}}")])
            .arg(format!("{api}/authentication?username={BENCH_USER}"))
            .arg("--next");
        common(&mut cmd);
        cmd.arg(format!(
            "{api}/user/group/nested?username={BENCH_USER}&start-index=0&max-results=1000"
        ));
        cmd
    }

    pub fn python_crowd(&self, python: &Path) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python_crowd_login.py");
        let mut cmd = Command::new(python);
        // requests lets these override the CA the script asks for.
        cmd.env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .arg(script)
            .arg(self.double.ip_url())
            .arg(APP_NAME)
            .arg(&self.ca_file)
            .arg(BENCH_USER)
            .args(BENCH_GROUPS);
        cmd
    }

    /// Runs `f` WARMUP times, then `n` times measured, with the double's connections
    /// and requests counted per measured iteration.
    pub fn series(&self, n: usize, mut f: impl FnMut() -> Duration) -> Stats {
        for _ in 0..WARMUP {
            f();
        }
        self.counted(|| (0..n).map(|_| f()).collect())
    }

    /// Several series measured in turns (a b c, b c a, c a b, ...), so that a drift of
    /// the machine's speed during the run weighs on all alike: for the ratio targets.
    pub fn interleaved(&self, n: usize, series: &mut [&mut dyn FnMut() -> Duration]) -> Vec<Stats> {
        for f in series.iter_mut() {
            for _ in 0..WARMUP {
                f();
            }
        }
        let k = series.len();
        let mut samples = vec![Vec::with_capacity(n); k];
        let mut counts = vec![(0, 0, 0); k];
        for i in 0..n {
            for j in 0..k {
                let which = (i + j) % k;
                let before = (
                    self.double.connections(),
                    self.double.request_count(),
                    self.double.app_checks(),
                );
                samples[which].push(series[which]());
                counts[which].0 += self.double.connections() - before.0;
                counts[which].1 += self.double.request_count() - before.1;
                counts[which].2 += self.double.app_checks() - before.2;
            }
        }
        samples
            .into_iter()
            .zip(counts)
            .map(|(samples, (connections, requests, checks))| {
                let mut s = Stats::from_samples(samples);
                s.connections = connections as f64 / n.max(1) as f64;
                s.requests = requests as f64 / n.max(1) as f64;
                s.app_checks = checks as f64 / n.max(1) as f64;
                s
            })
            .collect()
    }

    /// Samples from `f`, with the double's connections and requests per sample.
    pub fn counted(&self, f: impl FnOnce() -> Vec<Duration>) -> Stats {
        let connections = self.double.connections();
        let requests = self.double.request_count();
        let checks = self.double.app_checks();
        let mut stats = Stats::from_samples(f());
        let samples = stats.len().max(1) as f64;
        stats.connections = (self.double.connections() - connections) as f64 / samples;
        stats.requests = (self.double.request_count() - requests) as f64 / samples;
        stats.app_checks = (self.double.app_checks() - checks) as f64 / samples;
        stats
    }

    /// Size, memory and thread facts measured once.
    pub fn extras(&self, n: usize) -> Extras {
        let so_bytes = std::fs::metadata(&self.module)
            .map(|m| m.len())
            .unwrap_or(0);
        let rss = |service: &str| {
            let mut peaks: Vec<i64> = (0..n.min(50))
                .map(|_| {
                    let mut cmd = self.pam_login(service);
                    cmd.env("PAM_LOGIN_REPORT_MEMORY", "1");
                    let run = spawn_timed(&mut cmd, &self.pam_login_stdin());
                    run.expect_stdout("auth=0 account=0\n");
                    run.stderr
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        .expect("pam-login reports VmHWM")
                })
                .collect();
            peaks.sort();
            peaks[peaks.len() / 2]
        };
        let with_crowd = rss("bench");
        let with_permit = rss("bench-permit");
        Extras {
            so_bytes,
            rss_crowd_kib: with_crowd,
            rss_permit_kib: with_permit,
            threads_ip: self.threads_started("bench"),
            threads_hostname: self.threads_started("bench-hostname"),
        }
    }

    /// Threads (clone calls with CLONE_THREAD) one login starts, by strace; `None`
    /// without strace.
    fn threads_started(&self, service: &str) -> Option<usize> {
        let trace = self.dir.join(format!("strace-{service}"));
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
            .arg(&trace)
            .arg(self.bin.join("pam-login"))
            .arg(&self.confdir)
            .arg(service)
            .arg(BENCH_USER)
            .args(["auth", "account"]);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            spawn_timed(&mut cmd, &self.pam_login_stdin())
        }))
        .ok()?;
        if run.status != 0 {
            return None;
        }
        let text = std::fs::read_to_string(&trace).ok()?;
        Some(text.lines().filter(|l| l.contains("CLONE_THREAD")).count())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Extras {
    pub so_bytes: u64,
    pub rss_crowd_kib: i64,
    pub rss_permit_kib: i64,
    pub threads_ip: Option<usize>,
    pub threads_hostname: Option<usize>,
}
