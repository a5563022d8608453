//! `log-sink SOCKET FILE`: a syslog stand-in for the end-to-end tests. Binds a Unix
//! datagram socket (the test's own `/dev/log`) and appends each message to FILE as
//! one line, until killed. glibc's syslog() sends `<PRI>TIMESTAMP TAG: MESSAGE`.

// A test tool: a step that fails should stop it loudly, so expect and panic are
// allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::os::unix::net::UnixDatagram;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(socket), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: log-sink SOCKET FILE");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(&socket);
    let sink = UnixDatagram::bind(&socket).expect("bind the log socket");
    // Every process may log, as with a real /dev/log.
    let _ = std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .expect("open the log file");
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let Ok(n) = sink.recv(&mut buf) else { continue };
        let line = String::from_utf8_lossy(&buf[..n]).replace('\n', "\\n");
        let _ = writeln!(out, "{}", line.trim_end_matches('\0'));
        let _ = out.flush();
    }
}
