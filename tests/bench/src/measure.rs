//! Timing: samples, percentiles, and child processes timed from spawn to exit (each
//! reaped by a blocking `wait4` as it exits, so nothing polls).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Warm-up iterations before each measured series (connections, page cache, CPU
/// frequency); not counted.
pub const WARMUP: usize = 5;

/// Sorted samples of one series.
#[derive(Debug, Clone)]
pub struct Stats {
    samples: Vec<Duration>,
    /// TLS connections the double accepted per measured iteration.
    pub connections: f64,
    /// Requests the double answered per measured iteration.
    pub requests: f64,
    /// Application checks Crowd made per measured iteration (requests without the
    /// session cookie of an earlier check; SOAP's authenticateApplication).
    pub app_checks: f64,
}

impl Stats {
    pub fn from_samples(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        Stats {
            samples,
            connections: 0.0,
            requests: 0.0,
            app_checks: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }
}

/// One line of the table.
pub struct Row {
    pub id: String,
    pub what: String,
    pub stats: Option<Stats>,
    pub note: String,
}

impl Row {
    pub fn new(id: &str, what: &str, stats: Stats) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            stats: Some(stats),
            note: String::new(),
        }
    }

    pub fn skipped(id: &str, what: &str, why: &str) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            stats: None,
            note: format!("skipped: {why}"),
        }
    }
}

/// A finished child: wall time from spawn to exit, exit status, output.
pub struct Run {
    pub elapsed: Duration,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    what: String,
}

impl Run {
    pub fn expect_success(&self) {
        assert_eq!(
            self.status, 0,
            "{} failed: {}{}",
            self.what, self.stdout, self.stderr
        );
    }

    pub fn expect_stdout(&self, expected: &str) {
        assert_eq!(
            self.stdout, expected,
            "{} (exit {}): {}",
            self.what, self.status, self.stderr
        );
    }
}

struct Started {
    child: Child,
    at: Instant,
    what: String,
}

fn start(cmd: &mut Command, stdin: &[u8]) -> Started {
    let what = format!("{:?}", cmd.get_program());
    let at = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        // A child that exits without reading is its own failure, seen in its status.
        let _ = input.write_all(stdin);
    }
    Started { child, at, what }
}

/// Reaps one child of this process (`pid`, or any with -1): its pid and exit status,
/// and when it exited.
#[allow(unsafe_code)]
fn reap(pid: i32) -> (i32, i32, Instant) {
    let mut status = 0;
    // SAFETY: plain waitpid on our own children.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
    let at = Instant::now();
    assert!(reaped > 0, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    (reaped, code, at)
}

fn finish(mut started: Started, status: i32, ended: Instant) -> Run {
    let mut stdout = String::new();
    let mut stderr = String::new();
    // The child has exited: its pipes hold all it wrote and then end-of-file.
    if let Some(mut out) = started.child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = started.child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Run {
        elapsed: ended - started.at,
        status,
        stdout,
        stderr,
        what: started.what,
    }
}

/// Runs `cmd` with `stdin`, timing it from spawn to exit.
pub fn spawn_timed(cmd: &mut Command, stdin: &[u8]) -> Run {
    let started = start(cmd, stdin);
    let (_, status, ended) = reap(started.child.id() as i32);
    finish(started, status, ended)
}

/// Starts `n` processes at once and times each from its spawn to its own exit
/// (children are reaped in the order they exit).
pub fn spawn_many(n: usize, mut make: impl FnMut() -> Command, stdin: &[u8]) -> Vec<Run> {
    let mut running: HashMap<i32, Started> = HashMap::new();
    for _ in 0..n {
        let started = start(&mut make(), stdin);
        running.insert(started.child.id() as i32, started);
    }
    let mut runs = Vec::with_capacity(n);
    while !running.is_empty() {
        let (pid, status, ended) = reap(-1);
        if let Some(started) = running.remove(&pid) {
            runs.push(finish(started, status, ended));
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::from_samples((1..=200).rev().map(Duration::from_millis).collect());
        assert_eq!(s.median(), Duration::from_millis(100));
        assert_eq!(s.p99(), Duration::from_millis(198));
        assert_eq!(s.percentile(100.0), Duration::from_millis(200));
    }
}
