//! A ZooKeeper session whose every wait is bounded, shared by the
//! `zookeeper://` logbook and jobboard (as `pg` is by the PostgreSQL ones).
//!
//! The client (`zookeeper-client`) is async; the backends are synchronous.
//! A session lives on a private runtime thread, which sends its heartbeats
//! between calls, so that the ensemble keeps the session (and its ephemeral
//! nodes) exactly as long as the backend lives and can reach it. Each call
//! blocks the caller on that runtime, bounded by `query_timeout` (and
//! `connect_timeout` when the session must first be established). A session
//! that ended, or a call left without an answer, drops the client: the next
//! call starts a new session.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::runtime::Runtime;
use zookeeper_client as zk;

use crate::url_options::{parse_duration, take_options};

/// The URL keys a ZooKeeper URL may carry.
pub(crate) const KEYS: &[&str] = &[
    "session_timeout",
    "connect_timeout",
    "query_timeout",
    "timeout",
    "max_request",
];

/// ZooKeeper's default `jute.maxbuffer`: the largest request a server takes.
const DEFAULT_MAX_REQUEST: usize = 0xfffff;

/// What a request costs besides its nodes' data and paths (headers), per
/// operation, rounded up.
const OP_OVERHEAD: usize = 64;

/// How often a write is tried again when another writer changed a node
/// between reading it and writing it (the `multi` failed as a whole).
pub(crate) const CONFLICT_TRIES: usize = 32;

/// What went wrong inside one call.
#[derive(Debug)]
pub(crate) enum Fail {
    /// ZooKeeper's answer (or the client's).
    Zk(zk::Error),
    /// No answer within the bound named by its URL key.
    TimedOut {
        bound: &'static str,
        after: Duration,
    },
    /// A write larger than `max_request`, refused before it was sent.
    TooLarge { bytes: usize, max: usize },
    /// The caller's own verdict (a `PersistenceError` of the logbook, a
    /// `JobBoardError` of the jobboard), handed back as it is.
    Own(crate::persistence::DriverError),
}

impl From<zk::Error> for Fail {
    fn from(e: zk::Error) -> Fail {
        Fail::Zk(e)
    }
}

impl From<super::PersistenceError> for Fail {
    fn from(e: super::PersistenceError) -> Fail {
        Fail::Own(Box::new(e))
    }
}

impl Fail {
    /// Whether trying again later may succeed (the server was away).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Fail::TimedOut { .. }
                | Fail::Zk(
                    zk::Error::ConnectionLoss
                        | zk::Error::SessionExpired
                        | zk::Error::NoHosts
                        | zk::Error::ClientClosed
                        | zk::Error::Timeout
                )
        )
    }

    /// The message of a write over `max_request`.
    pub(crate) fn too_large(bytes: usize, max: usize) -> String {
        format!(
            "the write is {bytes} bytes, more than `max_request` ({max} bytes): a ZooKeeper server refuses requests larger than its `jute.maxbuffer`; raise both (`-Djute.maxbuffer=` on the servers, `?max_request=` in the URL) or keep values this big out of it"
        )
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

/// `Ok(None)` for a node that does not exist.
pub(crate) fn absent<T>(result: Result<T, zk::Error>) -> Res<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(Fail::Zk(e)),
    }
}

/// Whether the node at `path` exists.
pub(crate) async fn exists(c: &zk::Client, path: &str) -> Res<bool> {
    Ok(absent(c.check_stat(path).await)?.flatten().is_some())
}

pub(crate) fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub(crate) fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// A `multi` being built, with what each of its operations means (`L`, to
/// explain a failure), and its size.
pub(crate) struct Batch<'c, L> {
    writer: zk::MultiWriter<'c>,
    ops: Vec<L>,
    bytes: usize,
}

impl<'c, L: Copy> Batch<'c, L> {
    pub(crate) fn new(client: &'c zk::Client) -> Batch<'c, L> {
        Batch {
            writer: client.new_multi_writer(),
            ops: Vec::new(),
            bytes: 0,
        }
    }

    pub(crate) fn check(&mut self, path: &str, version: i32, op: L) -> Res<()> {
        self.writer.add_check_version(path, version)?;
        self.bytes += path.len() + OP_OVERHEAD;
        self.ops.push(op);
        Ok(())
    }

    pub(crate) fn create(
        &mut self,
        path: &str,
        data: &[u8],
        options: &zk::CreateOptions<'_>,
        op: L,
    ) -> Res<()> {
        self.writer.add_create(path, data, options)?;
        self.bytes += path.len() + data.len() + OP_OVERHEAD;
        self.ops.push(op);
        Ok(())
    }

    pub(crate) fn set(&mut self, path: &str, data: &[u8], version: Option<i32>, op: L) -> Res<()> {
        self.writer.add_set_data(path, data, version)?;
        self.bytes += path.len() + data.len() + OP_OVERHEAD;
        self.ops.push(op);
        Ok(())
    }

    pub(crate) fn delete(&mut self, path: &str, version: Option<i32>, op: L) -> Res<()> {
        self.writer.add_delete(path, version)?;
        self.bytes += path.len() + OP_OVERHEAD;
        self.ops.push(op);
        Ok(())
    }

    /// Commits, unless larger than `max` bytes ([`Fail::TooLarge`]);
    /// `Ok(Err((op, error)))` names the operation that failed the whole
    /// `multi` (nothing was written).
    pub(crate) async fn commit(mut self, max: usize) -> Res<Result<(), (L, zk::Error)>> {
        if self.bytes > max {
            return Err(Fail::TooLarge {
                bytes: self.bytes,
                max,
            });
        }
        match self.writer.commit().await {
            Ok(_) => Ok(Ok(())),
            Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                match self.ops.get(index) {
                    Some(op) => Ok(Err((*op, source))),
                    None => Err(Fail::Zk(source)),
                }
            }
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(Fail::Zk(source)),
        }
    }
}

/// A session to an ensemble, under a chroot.
#[derive(Debug)]
pub(crate) struct Session {
    /// The ensemble: `host:port[,host:port…]`.
    pub(crate) servers: String,
    /// The path under which everything goes (no trailing `/`).
    pub(crate) chroot: String,
    pub(crate) session_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) query_timeout: Duration,
    /// The largest write this session sends.
    pub(crate) max_request: usize,
    rt: Runtime,
    client: Mutex<Option<zk::Client>>,
    /// How many times the client was dropped, to be replaced by a new
    /// session: a watch set on an older one watches nothing that counts.
    generation: AtomicU64,
}

impl Session {
    /// Parses `zookeeper://host:port[,host:port…]/chroot[?key=value…]`
    /// (keys: [`KEYS`]); `Err` says what is wrong with the URL, or that the
    /// runtime could not start.
    pub(crate) fn parse(url: &str) -> Result<Session, String> {
        let rest = url
            .strip_prefix("zookeeper://")
            .ok_or("expected `zookeeper://host:port/chroot`")?;
        let (rest, options) = take_options(rest, KEYS);
        if let Some((_, query)) = rest.split_once('?') {
            let key = query.split(['=', '&']).next().unwrap_or(query);
            return Err(format!(
                "unknown key `{key}`; known keys: {}",
                KEYS.join(", ")
            ));
        }
        let (servers, chroot) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest.as_str(), ""),
        };
        if servers.is_empty() {
            return Err("no server: write zookeeper://host:port[,host:port…]/chroot".into());
        }
        if chroot.is_empty() {
            return Err(format!(
                "no chroot: write zookeeper://{servers}/taskwire (the path under which taskwire's nodes go; the ensemble's root is not used)"
            ));
        }
        if chroot
            .split('/')
            .skip(1)
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(format!(
                "chroot `{chroot}` is not a ZooKeeper path (empty, `.` or `..` part)"
            ));
        }
        let mut session_timeout = Duration::from_secs(10);
        let mut connect_timeout = Duration::from_secs(10);
        let mut query_timeout = Duration::from_secs(30);
        let (mut connect_set, mut query_set) = (false, false);
        let mut max_request = DEFAULT_MAX_REQUEST;
        for (key, value) in &options {
            if key == "max_request" {
                max_request = parse_size(key, value)?;
                continue;
            }
            let d = parse_duration(key, value)?;
            match key.as_str() {
                "session_timeout" => session_timeout = d,
                "connect_timeout" => (connect_timeout, connect_set) = (d, true),
                "query_timeout" => (query_timeout, query_set) = (d, true),
                _ => {
                    if !connect_set {
                        connect_timeout = d;
                    }
                    if !query_set {
                        query_timeout = d;
                    }
                }
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("taskwire-zookeeper")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ZooKeeper client's runtime: {e}"))?;
        Ok(Session {
            servers: servers.to_owned(),
            chroot: chroot.to_owned(),
            session_timeout,
            connect_timeout,
            query_timeout,
            max_request,
            rt,
            client: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// The session's client, connected (and the chroot made) if needed.
    pub(crate) async fn client(&self) -> Res<zk::Client> {
        if let Some(client) = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(client);
        }
        let root = zk::Client::connector()
            .with_session_timeout(self.session_timeout)
            .with_connection_timeout(self.connect_timeout)
            .with_fail_eagerly()
            .connect(&self.servers)
            .await?;
        root.mkdir(&self.chroot, &persistent()).await?;
        let client = root
            .chroot(self.chroot.as_str())
            .map_err(|_| zk::Error::BadArguments(&"invalid chroot"))?;
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        Ok(client)
    }

    /// Runs one call against the ensemble, bounded; a session that ended or
    /// a call without an answer drops the client, to be replaced.
    pub(crate) fn call<T, F, Fut>(&self, f: F) -> Res<T>
    where
        F: FnOnce(zk::Client) -> Fut,
        Fut: Future<Output = Res<T>>,
    {
        let bound = self.query_timeout + self.connect_timeout;
        let result = self.rt.block_on(async {
            match tokio::time::timeout(bound, async { f(self.client().await?).await }).await {
                Ok(result) => result,
                Err(_) => Err(Fail::TimedOut {
                    bound: "query_timeout",
                    after: self.query_timeout,
                }),
            }
        });
        match result {
            // The client gives up on a connection that stays silent for
            // `connect_timeout` (its "connection timeout"), and says so only
            // in words.
            Err(Fail::Zk(zk::Error::Custom(e)))
                if e.to_string().starts_with("no response from connection") =>
            {
                Err(Fail::TimedOut {
                    bound: "connect_timeout",
                    after: self.connect_timeout,
                })
            }
            Err(Fail::Zk(zk::Error::Timeout)) => {
                self.drop_client();
                Err(Fail::TimedOut {
                    bound: "connect_timeout",
                    after: self.connect_timeout,
                })
            }
            Err(e) if e.is_transient() => {
                // The session may be gone or stuck: start a new one on the
                // next call (the ensemble ends this one's ephemeral nodes
                // when it expires).
                self.drop_client();
                Err(e)
            }
            other => other,
        }
    }

    fn drop_client(&self) {
        if self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
        {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// How many times the client was replaced by a new session so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Runs `f` on the session's runtime (for watches).
    pub(crate) fn spawn<F>(&self, f: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(f)
    }

    /// Closes the session now, so that its ephemeral nodes go at once rather
    /// than when the session times out.
    pub(crate) fn close(&mut self) {
        if let Some(client) = self
            .client
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), close_client(client)).await
            });
        }
    }
}

/// Drops the last handle of a session, and waits until the session task has
/// sent its close request and seen the session end.
async fn close_client(client: zk::Client) {
    let mut state = client.state_watcher();
    drop(client);
    while !state.peek_state().is_terminated() {
        state.changed().await;
    }
}

/// A size in bytes: a whole number, or with a unit (`KiB`, `MiB`, `KB`,
/// `MB`); more than zero.
fn parse_size(key: &str, value: &str) -> Result<usize, String> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let scale: usize = match &value[digits.len()..] {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        _ => 0,
    };
    match digits.parse::<usize>() {
        Ok(n) if n > 0 && scale > 0 => n
            .checked_mul(scale)
            .ok_or_else(|| format!("`{key}={value}` is too large")),
        _ => Err(format!(
            "`{key}={value}` is not a size: write a whole number of bytes, or with a unit (`16MiB`, `512KiB`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_units_and_bad_ones_are_named() {
        assert_eq!(parse_size("m", "1048575"), Ok(1_048_575));
        assert_eq!(parse_size("m", "32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("m", "512KB"), Ok(512_000));
        for bad in ["", "0", "big", "12GiB", "-1"] {
            let err = parse_size("max_request", bad).unwrap_err();
            assert!(err.contains(&format!("`max_request={bad}`")), "{err}");
        }
    }
}
