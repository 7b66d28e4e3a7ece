//! A Redis server of the test's own, for fault tests: started on a free port
//! with its data in a scratch directory, paused (SIGSTOP) and resumed
//! (SIGCONT), killed (SIGKILL) and started again on the same port, and
//! stopped by its pid when the test ends, whether it passed or not (the
//! guard's `Drop`). The shared Redis (6379) is never touched.
//!
//! Its append-only file is written on every change (`--appendonly yes
//! --appendfsync always`), so that what the board held survives a kill and
//! a restart, as on a production server. Include it with
//! `#[path = "support/private_redis.rs"] mod private_redis;`.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A private `redis-server`; see the [module documentation](self).
#[derive(Debug)]
pub struct PrivateRedis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its password (`requirepass`), so that messages show it redacted.
    pub password: &'static str,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl PrivateRedis {
    /// Starts one on a free port, its files in a new scratch directory.
    pub fn start(test: &str) -> PrivateRedis {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "taskwire-redis-{test}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Port 0: the kernel picks a free one; it is released at once for
        // the server (a tiny race with other processes, acceptable here).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = PrivateRedis {
            port,
            password: "s3cret",
            dir,
            child: None,
            paused: false,
        };
        redis.spawn();
        redis
    }

    /// `redis://:***@127.0.0.1:{port}/0` with the password, and `query`
    /// appended (`"?timeout=1s"`, or `""`).
    pub fn url(&self, query: &str) -> String {
        format!(
            "redis://:{}@127.0.0.1:{}/0{query}",
            self.password, self.port
        )
    }

    /// The URL as messages show it: the password replaced with `***`.
    pub fn shown_url(&self, query: &str) -> String {
        format!("redis://:***@127.0.0.1:{}/0{query}", self.port)
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--requirepass", self.password])
            .args(["--save", ""])
            .args(["--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        self.child = Some(child);
        self.paused = false;
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = ::redis::Client::open(self.url(""))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| ::redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}", self.pid());
    }

    /// Pauses the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    /// Kills the server (SIGKILL): connections are reset, new ones refused.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Starts the killed server again on the same port, with its data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        self.spawn();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
