//! A far link on loopback: a TCP proxy that delivers every byte `one_way` late in each direction
//! (so each request/response exchange pays a round trip of twice that, and a new connection one
//! more for its handshake) and carries at most `rate` bytes per second per connection each way,
//! as a registry across the internet behaves for one client. TCP-level on purpose: it needs no
//! knowledge of HTTP, so cargo-oci and skopeo pay exactly the same for what they send.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub struct SlowLink {
    pub port: u16,
}

impl SlowLink {
    /// Listens on 127.0.0.1 (a free port) and forwards each connection to `upstream`. The
    /// accepting thread lives as long as the process (the benchmark is short-lived).
    pub fn start(upstream: SocketAddr, one_way: Duration, rate: f64) -> std::io::Result<SlowLink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                thread::spawn(move || {
                    // The handshake's round trip, paid before the first byte can flow.
                    thread::sleep(one_way * 2);
                    let Ok(server) = TcpStream::connect(upstream) else { return };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { return };
                    let up = thread::spawn(move || pipe(client, server, one_way, rate));
                    pipe(s2, c2, one_way, rate);
                    let _ = up.join();
                });
            }
        });
        Ok(SlowLink { port })
    }
}

/// Copies `from` to `to` through a delay line with a rate cap: a chunk read at `t` is written
/// once `t + one_way` has passed and the link has had time to carry it at `rate`.
fn pipe(mut from: TcpStream, mut to: TcpStream, one_way: Duration, rate: f64) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        let mut free_at = Instant::now();
        for (read_at, chunk) in rx {
            // Transmission starts when the bytes have crossed and the link is free; they have
            // all arrived once the link has carried them.
            let start = (read_at + one_way).max(free_at);
            free_at = start + Duration::from_secs_f64(chunk.len() as f64 / rate);
            sleep_until(free_at);
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        sleep_until(free_at.max(Instant::now()));
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link adds its round trip to an exchange and caps a bulk transfer at its rate.
    #[test]
    fn adds_latency_and_caps_throughput() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = echo.local_addr().unwrap();
        thread::spawn(move || {
            for s in echo.incoming().flatten() {
                thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        let link = SlowLink::start(addr, Duration::from_millis(25), 2e6).unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", link.port)).unwrap();
        let start = Instant::now();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        // Handshake (50 ms) plus one exchange (50 ms).
        assert!(start.elapsed() >= Duration::from_millis(100), "{:?}", start.elapsed());
        let payload = vec![7u8; 400_000];
        let start = Instant::now();
        let mut w = c.try_clone().unwrap();
        let sender = thread::spawn(move || w.write_all(&payload).unwrap());
        let mut back = vec![0u8; 400_000];
        c.read_exact(&mut back).unwrap();
        sender.join().unwrap();
        // 400 kB at 2 MB/s is 0.2 s each way, pipelined: at least 0.2 s plus the round trip.
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
        assert!(back.iter().all(|&b| b == 7));
    }
}
