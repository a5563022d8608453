//! A TCP proxy that delays every byte by a fixed time in each direction: a WAN in
//! front of the Crowd double, for the login's time in round trips. Each direction of
//! a connection is a reader that stamps what it reads with when it may go on, and a
//! writer that sends it then; so bytes in flight overlap, as on a real link, and a
//! round trip costs twice the delay whatever the sizes. TCP_NODELAY on both sides:
//! Nagle's algorithm would add delays of its own.
//!
//! The proxy accepts the client's TCP connection at once, so the TCP handshake is
//! not delayed: what is measured is TLS's and HTTP's round trips.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The WAN rows' delay in each direction: a host in another region than Crowd's.
pub const WAN_ONE_WAY: Duration = Duration::from_millis(20);

pub struct LatencyProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl LatencyProxy {
    /// Listens on 127.0.0.1 and forwards each connection to `upstream`, `one_way`
    /// later in each direction.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listen");
        let addr = listener.local_addr().expect("proxy addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    pump(from, to, one_way);
                }
            }
        });
        LatencyProxy {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        // Wake the acceptor with a connection of our own; it sees the flag and ends.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read; at end of input,
/// shuts down `to`'s writing side once everything before it went out. The threads end
/// with the connection.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let _ = from.set_nodelay(true);
    let _ = to.set_nodelay(true);
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping the sender tells the writer the input ended.
    });
    std::thread::spawn(move || {
        while let Ok((when, chunk)) = due.recv() {
            std::thread::sleep(when.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_both_ways_a_delay_later() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let delay = Duration::from_millis(30);
        let proxy = LatencyProxy::start(up_addr, delay);
        let mut client = TcpStream::connect(proxy.addr()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let t = Instant::now();
        client.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        client.read_exact(&mut back).unwrap();
        let took = t.elapsed();
        assert_eq!(&back, b"hello");
        assert!(took >= 2 * delay, "a round trip took {took:?}");
        echo.join().unwrap();
        drop(proxy);
    }
}
