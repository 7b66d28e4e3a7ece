//! A TCP relay of the test's own in front of a real server (the shared
//! RabbitMQ, say), to make that server look paused to the clients that go
//! through it without touching the server itself: [`TcpProxy::pause`] stops
//! relaying (connections stay open, bytes are held, new connections are
//! accepted and left waiting), [`TcpProxy::resume`] relays again. It is a
//! fault injector on the wire, not a stand-in: every byte comes from, and
//! goes to, the real server. Threads are stopped when the proxy is dropped.
//! Include it with `#[path = "support/tcp_proxy.rs"] mod tcp_proxy;`.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A relay from a free local port to `target`.
#[derive(Debug)]
pub struct TcpProxy {
    /// The port to connect to instead of the server's.
    pub port: u16,
    paused: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl TcpProxy {
    /// Relays a free port on 127.0.0.1 to `target` (`"127.0.0.1:5672"`).
    pub fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = TcpProxy {
            port,
            paused: Arc::default(),
            stopped: Arc::default(),
            streams: Arc::default(),
        };
        let (paused, stopped, streams) = (
            Arc::clone(&proxy.paused),
            Arc::clone(&proxy.stopped),
            Arc::clone(&proxy.streams),
        );
        let target = target.to_owned();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let (paused, stopped, streams, target) = (
                    Arc::clone(&paused),
                    Arc::clone(&stopped),
                    Arc::clone(&streams),
                    target.clone(),
                );
                std::thread::spawn(move || {
                    // A connection made while paused waits, as if the server
                    // had accepted it and said nothing.
                    while paused.load(Ordering::SeqCst) && !stopped.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        return;
                    };
                    client.set_nonblocking(false).unwrap();
                    {
                        let mut streams = streams.lock().unwrap();
                        streams.push(client.try_clone().unwrap());
                        streams.push(server.try_clone().unwrap());
                    }
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let (p2, st2) = (Arc::clone(&paused), Arc::clone(&stopped));
                    std::thread::spawn(move || relay(c2, s2, &p2, &st2));
                    relay(server, client, &paused, &stopped);
                });
            }
        });
        proxy
    }

    /// Stops relaying: the clients' peer goes silent.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Relays again, held bytes first.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what it read while paused.
fn relay(mut from: TcpStream, mut to: TcpStream, paused: &AtomicBool, stopped: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while paused.load(Ordering::SeqCst) && !stopped.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if stopped.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
