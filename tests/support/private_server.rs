//! Private database servers for fault tests: a PostgreSQL, MariaDB,
//! ZooKeeper or etcd instance of the test's own, in a temporary directory,
//! on a free port, that a test may pause (SIGSTOP) and continue (SIGCONT) —
//! never the machine's shared servers (5432, 3306, 2181, 2379).
//!
//! ```ignore
//! let pg = PrivatePostgres::start().expect("a private PostgreSQL");
//! let url = pg.url("postgres", "timeout=2s");
//! pg.stop(); // the server (every process of it) stops answering
//! pg.cont(); // and answers again
//! // Dropped: killed (SIGKILL to its process group) and its directory removed,
//! // also when the test fails.
//! ```
//!
//! The server runs in a process group of its own; `stop`/`cont` signal the
//! server and every process it forked (PostgreSQL's backends each start a
//! session of their own, so the group alone would not do), and the final
//! kill signals both the group and those processes. As root, PostgreSQL runs as the
//! `postgres` user (it refuses root) and MariaDB with `--user=root`.
//!
//! Binaries: PostgreSQL's from `TASKWIRE_PG_BIN` (default
//! `/usr/lib/postgresql/15/bin`); MariaDB's `mariadb-install-db` and
//! `mariadbd` from `PATH` (or `/usr/sbin`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long a server may take to start answering.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A server process of the test's own; killed and cleaned up when dropped.
#[derive(Debug)]
pub(crate) struct PrivateServer {
    what: &'static str,
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl PrivateServer {
    /// The server's pid (also its process group's id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The TCP port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Its temporary directory (data, socket, log).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to every process of the
    /// server; panics if `kill` fails.
    pub(crate) fn signal(&self, signal: &str) {
        signal_server(self.pid(), signal).unwrap_or_else(|e| panic!("{}: {e}", self.what));
    }

    /// Pauses every process of the server: connections stay open, the
    /// kernel still ACKs, nothing answers. Returns once every thread of the
    /// server is stopped.
    pub(crate) fn stop(&self) {
        self.signal("STOP");
    }

    /// Lets the server go on after [`PrivateServer::stop`].
    pub(crate) fn cont(&self) {
        self.signal("CONT");
    }

    /// The server's log (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = signal_server(self.pid(), "KILL");
        let _ = signal_group(self.pid(), "KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `signal` to a server process and all its descendants (read from
/// `/proc`), the server first when stopping (so that it forks no more) and
/// last otherwise. PostgreSQL's backends each call `setsid()`, so that
/// signalling the server's process group alone would leave them running.
pub(crate) fn signal_server(pid: u32, signal: &str) -> Result<(), String> {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    if signal != "STOP" {
        pids.reverse();
    }
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if !status.success() {
        return Err(format!("kill -{signal} {pids:?} failed: {status}"));
    }
    if signal == "STOP" {
        wait_stopped(&pids)?;
    }
    Ok(())
}

/// Waits until every thread of `pids` is stopped. A stop is not immediate:
/// the kernel wakes one thread of a process, which then stops the others;
/// until it runs (a busy machine), another thread may still serve a request.
fn wait_stopped(pids: &[u32]) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let running: Vec<u32> = pids
            .iter()
            .flat_map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/task"))
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                    .filter(move |tid| {
                        // Gone (exited) counts as stopped.
                        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
                            .ok()
                            .and_then(|stat| {
                                let state = stat[stat.rfind(')')? + 1..].trim_start();
                                Some(!state.starts_with(['T', 't', 'Z', 'X']))
                            })
                            .unwrap_or(false)
                    })
            })
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(5) {
            return Err(format!("threads {running:?} did not stop within 5s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// `kill -SIGNAL -- -PGID`.
pub(crate) fn signal_group(pgid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("kill -{signal} -{pgid} failed: {status}")),
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh temporary directory, readable by other users (PostgreSQL runs
/// as `postgres`).
fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tw_{what}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The uid and gid of a user, from `id`.
fn ids_of(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("no user `{user}`"))
    };
    Ok((id("-u")?, id("-g")?))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Starts `command` as the leader of a new process group, logging to
/// `dir/server.log`.
fn spawn(mut command: Command, dir: &Path, what: &'static str) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))
}

/// Polls `data_dir` (the data directory of the server answering on the
/// port, `None` while nothing answers) until our server answers, it exits,
/// another server answers on its port (ports are picked free, but another
/// process may take one meanwhile), or [`READY_WITHIN`].
fn wait_ready(
    server: &mut PrivateServer,
    data_dir: impl Fn(u16) -> Option<String>,
) -> Result<(), String> {
    let ours = server.dir.join("data");
    let start = Instant::now();
    while start.elapsed() < READY_WITHIN {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "{} exited ({status}): {}",
                server.what,
                server.log()
            ));
        }
        if let Some(found) = data_dir(server.port) {
            if Path::new(found.trim_end_matches('/')) == ours {
                return Ok(());
            }
            return Err(format!(
                "another server (data in {found}) answers on port {}",
                server.port
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{} did not answer within {READY_WITHIN:?}: {}",
        server.what,
        server.log()
    ))
}

/// Starts a server on a free port of 127.0.0.1 with `start`, until it
/// answers as `data_dir` says ([`wait_ready`]); tries three ports. A try that
/// failed is killed, its directory kept for the next; after the third the
/// directory goes too.
fn start_on_a_free_port(
    what: &'static str,
    dir: &Path,
    mut start: impl FnMut(u16) -> Result<Child, String>,
    data_dir: impl Fn(u16) -> Option<String>,
) -> Result<PrivateServer, String> {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let child = start(port)?;
        let mut server = PrivateServer {
            what,
            dir: dir.to_path_buf(),
            child,
            port,
        };
        match wait_ready(&mut server, &data_dir) {
            Ok(()) => return Ok(server),
            Err(e) => {
                last = e;
                let _ = signal_group(server.pid(), "KILL");
                let _ = server.child.wait();
                std::mem::forget(server);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    Err(last)
}

/// A private PostgreSQL server: user `postgres`, trust authentication.
#[derive(Debug)]
pub(crate) struct PrivatePostgres {
    /// The server process.
    pub(crate) server: PrivateServer,
}

impl PrivatePostgres {
    /// `initdb`s a cluster in a temporary directory and starts it on a free
    /// port of 127.0.0.1 (its socket in the directory); waits until it
    /// answers. Tries three ports before giving up.
    pub(crate) fn start() -> Result<PrivatePostgres, String> {
        let bin = PathBuf::from(
            std::env::var("TASKWIRE_PG_BIN")
                .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned()),
        );
        let as_user = if is_root() {
            Some(ids_of("postgres")?)
        } else {
            None
        };
        let dir = temp_dir("pg");
        if let Some((uid, gid)) = as_user {
            run(
                Command::new("chown").arg(format!("{uid}:{gid}")).arg(&dir),
                "chown",
            )?;
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.arg("-D").arg(dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-N",
            "-E",
            "UTF8",
        ]);
        if let Some((uid, gid)) = as_user {
            initdb.uid(uid).gid(gid);
        }
        if let Err(e) = run(&mut initdb, "initdb") {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let server = start_on_a_free_port(
            "private postgres",
            &dir,
            |port| {
                let mut command = Command::new(bin.join("postgres"));
                command
                    .arg("-D")
                    .arg(dir.join("data"))
                    .arg("-k")
                    .arg(&dir)
                    .args(["-p", &port.to_string()])
                    .args(["-c", "listen_addresses=127.0.0.1"])
                    .args(["-c", "fsync=off", "-c", "max_connections=20"]);
                if let Some((uid, gid)) = as_user {
                    command.uid(uid).gid(gid);
                }
                spawn(command, &dir, "postgres")
            },
            |port| {
                postgres::Config::new()
                    .host("127.0.0.1")
                    .port(port)
                    .user("postgres")
                    .dbname("postgres")
                    .connect_timeout(Duration::from_secs(2))
                    .connect(postgres::NoTls)
                    .and_then(|mut c| c.query_one("SHOW data_directory", &[]))
                    .ok()
                    .map(|row| row.get(0))
            },
        )?;
        Ok(PrivatePostgres { server })
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`, with `query` (`timeout=2s`)
    /// as its query string unless empty.
    pub(crate) fn url(&self, db: &str, query: &str) -> String {
        let base = format!("postgres://postgres@127.0.0.1:{}/{db}", self.server.port);
        match query {
            "" => base,
            q => format!("{base}?{q}"),
        }
    }
}

/// A private MariaDB server: user `root` without password.
#[derive(Debug)]
pub(crate) struct PrivateMariadb {
    /// The server process.
    pub(crate) server: PrivateServer,
}

impl PrivateMariadb {
    /// Installs a data directory in a temporary directory and starts
    /// `mariadbd` on a free port of 127.0.0.1 (its socket in the directory);
    /// waits until it answers. Tries three ports before giving up.
    pub(crate) fn start() -> Result<PrivateMariadb, String> {
        let dir = temp_dir("mariadb");
        let root = is_root();
        // A temporary directory of its own: two servers bootstrapping at
        // once in the shared one collide on their temporary tables.
        let tmp = format!("--tmpdir={}", dir.join("tmp").display());
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(&tmp);
        if root {
            install.arg("--user=root");
        }
        if let Err(e) = run(&mut install, "mariadb-install-db") {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let mariadbd = ["/usr/sbin/mariadbd", "mariadbd"]
            .into_iter()
            .find(|p| !p.starts_with('/') || Path::new(p).exists())
            .unwrap_or("mariadbd");
        let server = start_on_a_free_port(
            "private mariadb",
            &dir,
            |port| {
                let mut command = Command::new(mariadbd);
                command
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", dir.join("data").display()))
                    .arg(format!("--socket={}", dir.join("sock").display()))
                    .arg(format!("--pid-file={}", dir.join("pid").display()))
                    .arg(format!("--port={port}"))
                    .arg(&tmp)
                    .args([
                        "--bind-address=127.0.0.1",
                        "--skip-log-bin",
                        "--skip-name-resolve",
                        "--innodb-buffer-pool-size=16M",
                        "--innodb-flush-log-at-trx-commit=2",
                    ]);
                if root {
                    command.arg("--user=root");
                }
                spawn(command, &dir, "mariadbd")
            },
            |port| {
                let opts = mysql::OptsBuilder::new()
                    .ip_or_hostname(Some("127.0.0.1"))
                    .tcp_port(port)
                    .user(Some("root"))
                    .prefer_socket(false)
                    .tcp_connect_timeout(Some(Duration::from_secs(2)))
                    .read_timeout(Some(Duration::from_secs(2)));
                use mysql::prelude::Queryable;
                mysql::Conn::new(opts)
                    .and_then(|mut c| c.query_first::<String, _>("SELECT @@datadir"))
                    .ok()
                    .flatten()
            },
        )?;
        Ok(PrivateMariadb { server })
    }

    /// Creates a database.
    pub(crate) fn create_database(&self, db: &str) {
        use mysql::prelude::Queryable;
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.server.port)
            .user(Some("root"))
            .prefer_socket(false);
        mysql::Conn::new(opts)
            .and_then(|mut c| c.query_drop(format!("CREATE DATABASE `{db}`")))
            .unwrap_or_else(|e| panic!("create database {db}: {e}"));
    }

    /// `mysql://root@127.0.0.1:PORT/DB`, with `query` (`timeout=2s`) as its
    /// query string unless empty.
    pub(crate) fn url(&self, db: &str, query: &str) -> String {
        let base = format!("mysql://root@127.0.0.1:{}/{db}", self.server.port);
        match query {
            "" => base,
            q => format!("{base}?{q}"),
        }
    }
}

/// A private ZooKeeper server (standalone), from Debian's `zookeeper`
/// package: its jar at `TASKWIRE_ZOOKEEPER_JAR` (default
/// `/usr/share/java/zookeeper.jar`), run by `java` from `PATH`.
#[derive(Debug)]
pub(crate) struct PrivateZookeeper {
    /// The server process.
    pub(crate) server: PrivateServer,
}

impl PrivateZookeeper {
    /// Writes a configuration in a temporary directory and starts the
    /// server on a free port of 127.0.0.1; waits until it answers. Tries
    /// three ports before giving up.
    pub(crate) fn start() -> Result<PrivateZookeeper, String> {
        let dir = temp_dir("zookeeper");
        let server = start_on_a_free_port(
            "private zookeeper",
            &dir,
            |port| Self::spawn(&dir, port),
            zookeeper_data_dir,
        )?;
        Ok(PrivateZookeeper { server })
    }

    fn spawn(dir: &Path, port: u16) -> Result<Child, String> {
        let config = dir.join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n\
                 4lw.commands.whitelist=conf\n",
                dir.join("data").display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let jar = std::env::var("TASKWIRE_ZOOKEEPER_JAR")
            .unwrap_or_else(|_| "/usr/share/java/zookeeper.jar".to_owned());
        let mut command = Command::new("java");
        command
            .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
            .args(["-Xmx128m", "-cp", &jar])
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&config);
        spawn(command, dir, "zookeeper")
    }

    /// Kills the server (SIGKILL): its sessions are not closed, its data
    /// stays in its directory.
    pub(crate) fn kill(&mut self) {
        let _ = signal_group(self.server.pid(), "KILL");
        let _ = self.server.child.wait();
    }

    /// Starts the server again on the same port and data, after
    /// [`PrivateZookeeper::kill`]; waits until it answers.
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        self.server.child = Self::spawn(&self.server.dir, self.server.port)?;
        wait_ready(&mut self.server, zookeeper_data_dir)
    }

    /// `zookeeper://127.0.0.1:PORT/CHROOT`, with `query` as its query string
    /// unless empty.
    pub(crate) fn url(&self, chroot: &str, query: &str) -> String {
        let base = format!("zookeeper://127.0.0.1:{}/{chroot}", self.server.port);
        match query {
            "" => base,
            q => format!("{base}?{q}"),
        }
    }
}

/// The data directory of the ZooKeeper server on `port`, from its `conf`
/// four-letter command (`dataDir=…/data/version-2`).
fn zookeeper_data_dir(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(1),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"conf").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let dir = text.lines().find_map(|l| l.strip_prefix("dataDir="))?;
    Some(dir.trim().trim_end_matches("/version-2").to_owned())
}

/// A private etcd server (a one-member cluster), from Debian's
/// `etcd-server` package: `etcd` from `TASKWIRE_ETCD_BIN` (default: the one
/// on `PATH`), its data in a temporary directory, its client and peer ports
/// free ports of 127.0.0.1.
#[derive(Debug)]
pub(crate) struct PrivateEtcd {
    /// The server process (its port: the client port).
    pub(crate) server: PrivateServer,
    peer_port: u16,
}

impl PrivateEtcd {
    /// Starts the server in a temporary directory on free client and peer
    /// ports of 127.0.0.1; waits until it answers. Tries three ports before
    /// giving up.
    pub(crate) fn start() -> Result<PrivateEtcd, String> {
        let dir = temp_dir("etcd");
        let peer = std::cell::Cell::new(0);
        let server = start_on_a_free_port(
            "private etcd",
            &dir,
            |port| {
                peer.set(free_port());
                Self::spawn(&dir, port, peer.get())
            },
            etcd_data_dir,
        )?;
        Ok(PrivateEtcd {
            server,
            peer_port: peer.get(),
        })
    }

    /// Runs etcd with its data in `dir/data`, named after that directory
    /// (which is how [`etcd_data_dir`] tells it from another etcd).
    fn spawn(dir: &Path, port: u16, peer: u16) -> Result<Child, String> {
        let data = dir.join("data");
        let name = data.display().to_string();
        let client = format!("http://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{peer}");
        let bin = std::env::var("TASKWIRE_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
        let mut command = Command::new(bin);
        command
            .args(["--name", &name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("{name}={peer}")]);
        spawn(command, dir, "etcd")
    }

    /// Kills the server (SIGKILL): its leases are not revoked, its data
    /// stays in its directory.
    pub(crate) fn kill(&mut self) {
        let _ = signal_group(self.server.pid(), "KILL");
        let _ = self.server.child.wait();
    }

    /// Starts the server again on the same ports and data, after
    /// [`PrivateEtcd::kill`]; waits until it answers.
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        self.server.child = Self::spawn(&self.server.dir, self.server.port, self.peer_port)?;
        wait_ready(&mut self.server, etcd_data_dir)
    }

    /// `etcd://127.0.0.1:PORT/PREFIX`, with `query` as its query string
    /// unless empty.
    pub(crate) fn url(&self, prefix: &str, query: &str) -> String {
        let base = format!("etcd://127.0.0.1:{}/{prefix}", self.server.port);
        match query {
            "" => base,
            q => format!("{base}?{q}"),
        }
    }
}

/// The data directory of the etcd server on `port`: the name of its member,
/// from the member list of etcd's JSON gateway.
fn etcd_data_dir(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_secs(1),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!(
        "POST /v3/cluster/member/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (_, after) = text.split_once("\"name\":\"")?;
    let (name, _) = after.split_once('"')?;
    Some(name.to_owned())
}
