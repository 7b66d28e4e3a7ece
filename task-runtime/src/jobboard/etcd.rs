//! `etcd://host:port[,host:port…]/prefix`: a jobboard in etcd (v3 API).
//!
//! ```text
//! <prefix>/boards/<board>/schema           the layout's version ("1")
//! <prefix>/boards/<board>/jobs/<uuid>      a job (JSON): spec, state, owner, token, …
//! <prefix>/boards/<board>/claims/<uuid>    the claim's owner and token, attached to
//!                                          the claiming board's etcd lease
//! <prefix>/boards/<board>/ready/<key>-<uuid>   (empty) the ready jobs, in claiming
//!                                          order: key = inverted priority, posting number
//! <prefix>/boards/<board>/claimed/<uuid>   (empty) the claimed jobs
//! <prefix>/boards/<board>/posted           written once per post: its revision is the
//!                                          job's posting number
//! ```
//!
//! Every change of a job is one transaction that compares the job key's
//! `mod_revision` with the one read, so two conductors never both change the
//! same job: one transaction wins and the other reads again; the indexes of
//! ready and claimed jobs change in the same transaction. A claim reads the
//! claimed jobs (to find an expired claim) and the first key of the ready
//! index, then the one job it takes: its cost grows with the jobs being run,
//! not with the jobs done. Jobs are ordered by priority, then by posting
//! number (the etcd revision of a write made when the job was posted), a
//! place that requeueing keeps.
//!
//! A claim is held twice: by its expiry, as on the other boards, and by a
//! key attached to the board's etcd lease, which the board keeps alive from
//! a task of its own. When the conductor dies its lease is no longer kept
//! alive; etcd deletes the lease's keys when it expires (`lease_ttl`), and the
//! next claim takes the job over then (recording the failure as for an
//! expired claim) rather than when the claim would have expired. Times are
//! the conductors' clocks.
//!
//! The board watches its keys: a conductor waiting for work wakes up when a
//! job is posted or given back, or a dead conductor's lease let go of its
//! claims, instead of polling (see [`JobBoard::wait_for_change`]).
//!
//! Every call is bounded: the URL's `connect_timeout` (opening the
//! connection and its first answer, default 10 s), `query_timeout` (each
//! call, default 30 s), `timeout` (both), and `lease_ttl` (how long the
//! claims of a board that stopped keeping its lease alive last, default 10 s;
//! etcd raises values under its minimum, about 2 s). The board never
//! compacts etcd's history: run etcd with `--auto-compaction-retention`.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client as etcd;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use super::changes::Changes;
use super::rewrite::{self, Rewrite, Took};
use super::{states_in_words, Claim, Job, JobBoard, JobBoardError, JobFailure, JobState, NewJob};
use crate::persistence::{now_ms, redact_url, Uuid};
use crate::state::FlowState;
use crate::url_options::{parse_duration, take_options};

/// The layout version this code writes and reads.
const LAYOUT_VERSION: u32 = 1;

/// The URL keys an etcd URL may carry.
const KEYS: &[&str] = &["connect_timeout", "query_timeout", "timeout", "lease_ttl"];

/// How often a write is tried again when another writer changed the job
/// between reading it and writing it.
const CONFLICT_TRIES: usize = 32;

/// How many ready entries a claim reads at once: those that other claimers
/// take meanwhile are passed over without reading the index again.
const READY_WALK: i64 = 8;

/// A job as stored in its key.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    /// Its place in the ready index: priority (inverted), posting number.
    key: String,
    spec: NewJob,
    state: JobState,
    owner: Option<String>,
    token: u64,
    expires_at: i64,
    flow: Option<Uuid>,
    failures: Vec<JobFailure>,
    outcome: Option<FlowState>,
    created_at: i64,
    updated_at: i64,
}

/// A claim key's content.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimKey {
    owner: String,
    token: u64,
}

/// A job read with its key's revisions.
struct Read {
    job: Job,
    /// Its state as read (the job may be changed since).
    was: JobState,
    key: String,
    mod_revision: i64,
    create_revision: i64,
    /// The `mod_revision` of its claim key, read in the same snapshot (0:
    /// none, its lease went or the job is not claimed).
    holder: i64,
}

/// What went wrong inside one call.
#[derive(Debug)]
enum Fail {
    /// etcd's answer (or the client's).
    Etcd(etcd::Error),
    /// No answer within the bound named by its URL key.
    TimedOut {
        bound: &'static str,
        after: Duration,
    },
    /// The board's own verdict, handed back as it is.
    Own(Box<JobBoardError>),
}

impl From<etcd::Error> for Fail {
    fn from(e: etcd::Error) -> Fail {
        Fail::Etcd(e)
    }
}

impl From<JobBoardError> for Fail {
    fn from(e: JobBoardError) -> Fail {
        Fail::Own(Box::new(e))
    }
}

type Res<T> = Result<T, Fail>;

/// gRPC status codes (numbers, as `tonic::Code` converts to).
const CANCELLED: i32 = 1;
const UNKNOWN: i32 = 2;
const DEADLINE_EXCEEDED: i32 = 4;
const NOT_FOUND: i32 = 5;
const RESOURCE_EXHAUSTED: i32 = 8;
const ABORTED: i32 = 10;
const UNAVAILABLE: i32 = 14;

/// Whether trying again later may succeed (the server was away).
fn is_transient(e: &etcd::Error) -> bool {
    match e {
        etcd::Error::IoError(_)
        | etcd::Error::TransportError(_)
        | etcd::Error::WatchError(_)
        | etcd::Error::LeaseKeepAliveError(_) => true,
        etcd::Error::GRpcStatus(s) => matches!(
            i32::from(s.code()),
            CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | RESOURCE_EXHAUSTED | ABORTED | UNAVAILABLE
        ),
        other => super::has_io_error(other),
    }
}

/// Whether etcd refused a write because its lease is gone.
fn is_lease_gone(e: &Fail) -> bool {
    matches!(e, Fail::Etcd(etcd::Error::GRpcStatus(s))
        if i32::from(s.code()) == NOT_FOUND && s.message().contains("lease not found"))
}

/// The board's lease: its id while it is kept alive.
type LeaseSlot = Arc<Mutex<Option<i64>>>;

/// A connection to an etcd cluster, whose every wait is bounded.
struct Conn {
    /// `host:port[,host:port…]`, for messages.
    servers: String,
    endpoints: Vec<String>,
    connect_timeout: Duration,
    query_timeout: Duration,
    lease_ttl: Duration,
    rt: Runtime,
    client: Mutex<Option<etcd::Client>>,
    lease: LeaseSlot,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("servers", &self.servers)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Parses `etcd://host:port[,host:port…]/prefix[?key=value…]`: the
    /// connection and the prefix (with its leading `/`); `Err` says what is
    /// wrong with the URL.
    fn parse(url: &str) -> Result<(Conn, String), String> {
        let rest = url
            .strip_prefix("etcd://")
            .ok_or("expected `etcd://host:port/prefix`")?;
        let (rest, options) = take_options(rest, KEYS);
        if let Some((_, query)) = rest.split_once('?') {
            let key = query.split(['=', '&']).next().unwrap_or(query);
            return Err(format!(
                "unknown key `{key}`; known keys: {}",
                KEYS.join(", ")
            ));
        }
        let (servers, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest.as_str(), ""),
        };
        if servers.is_empty() {
            return Err("no server: write etcd://host:port[,host:port…]/prefix".into());
        }
        if prefix.is_empty() {
            return Err(format!(
                "no prefix: write etcd://{servers}/taskwire (the key prefix under which taskwire's keys go)"
            ));
        }
        let mut endpoints = Vec::new();
        for server in servers.split(',') {
            let (host, port) = match server.rsplit_once(':') {
                Some((host, port)) => (host, port),
                None => (server, "2379"),
            };
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!(
                    "server `{server}` is not `host:port` (etcd's client port, 2379 by default)"
                ));
            }
            endpoints.push(format!("http://{host}:{port}"));
        }
        let mut connect_timeout = Duration::from_secs(10);
        let mut query_timeout = Duration::from_secs(30);
        let mut lease_ttl = Duration::from_secs(10);
        let (mut connect_set, mut query_set) = (false, false);
        for (key, value) in &options {
            let d = parse_duration(key, value)?;
            match key.as_str() {
                "connect_timeout" => (connect_timeout, connect_set) = (d, true),
                "query_timeout" => (query_timeout, query_set) = (d, true),
                "lease_ttl" => {
                    if d < Duration::from_secs(1) {
                        return Err(format!(
                            "`lease_ttl={value}` is under a second: etcd leases count whole seconds"
                        ));
                    }
                    lease_ttl = d;
                }
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
            .thread_name("taskwire-etcd")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the etcd client's runtime: {e}"))?;
        let conn = Conn {
            servers: servers.to_owned(),
            endpoints,
            connect_timeout,
            query_timeout,
            lease_ttl,
            rt,
            client: Mutex::new(None),
            lease: Arc::new(Mutex::new(None)),
        };
        Ok((conn, prefix.to_owned()))
    }

    /// The client, connected if needed: a new client has answered a first
    /// request within `connect_timeout` (the client connects lazily, and a
    /// cluster that is not there would otherwise only show as a timeout of
    /// the first call).
    async fn client(&self) -> Res<etcd::Client> {
        if let Some(client) = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(client);
        }
        let options = etcd::ConnectOptions::new()
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.query_timeout)
            .with_keep_alive(Duration::from_secs(10), self.connect_timeout)
            .with_tcp_keepalive(Duration::from_secs(10));
        let first = async {
            let mut client = etcd::Client::connect(&self.endpoints, Some(options)).await?;
            client.status().await?;
            Ok::<_, etcd::Error>(client)
        };
        let client = match tokio::time::timeout(self.connect_timeout, first).await {
            Ok(client) => client?,
            Err(_) => {
                return Err(Fail::TimedOut {
                    bound: "connect_timeout",
                    after: self.connect_timeout,
                })
            }
        };
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        Ok(client)
    }

    /// Runs one call against the cluster, bounded; a call that failed for
    /// want of an answer drops the client, to be replaced.
    fn call<T, F, Fut>(&self, f: F) -> Res<T>
    where
        F: FnOnce(etcd::Client) -> Fut,
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
        match &result {
            Err(Fail::TimedOut { .. }) => self.drop_client(),
            Err(Fail::Etcd(e)) if is_transient(e) => self.drop_client(),
            _ => {}
        }
        result
    }

    fn drop_client(&self) {
        self.client.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The board's lease, granted (and a task started that keeps it alive)
    /// if it has none.
    async fn lease(&self, c: &mut etcd::Client) -> Res<i64> {
        if let Some(id) = *self.lease.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(id);
        }
        let ttl = i64::try_from(self.lease_ttl.as_secs()).unwrap_or(i64::MAX);
        let granted = c.lease_grant(ttl, None).await?;
        let id = granted.id();
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
        self.rt.spawn(keep_alive(
            c.clone(),
            id,
            Arc::clone(&self.lease),
            self.lease_ttl,
        ));
        Ok(id)
    }

    /// Forgets the lease (etcd said it is gone): the next write takes a new
    /// one.
    fn forget_lease(&self) {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Revokes the lease now, so that its claims go at once rather than when
    /// it expires.
    fn close(&mut self) {
        let id = self.lease.lock().unwrap_or_else(|e| e.into_inner()).take();
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let (Some(id), Some(mut client)) = (id, client) {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), client.lease_revoke(id)).await
            });
        }
    }
}

/// Keeps the lease `id` alive every third of its time to live, while `slot`
/// holds it. A keep-alive that fails is tried again (on a new stream) until
/// the lease's time to live has passed since the last one that etcd
/// answered; then, or when etcd says the lease is gone, `slot` is emptied.
async fn keep_alive(mut client: etcd::Client, id: i64, slot: LeaseSlot, ttl: Duration) {
    let period = (ttl / 3).max(Duration::from_millis(300));
    let held = || *slot.lock().unwrap_or_else(|e| e.into_inner()) == Some(id);
    let mut last_ok = Instant::now();
    'open: while held() && last_ok.elapsed() < ttl {
        let (mut keeper, mut stream) =
            match tokio::time::timeout(period, client.lease_keep_alive(id)).await {
                Ok(Ok(pair)) => pair,
                Ok(Err(etcd::Error::LeaseKeepAliveError(_))) => break,
                _ => {
                    tokio::time::sleep(period / 3).await;
                    continue;
                }
            };
        last_ok = Instant::now();
        loop {
            tokio::time::sleep(period).await;
            if !held() {
                return;
            }
            let answer = tokio::time::timeout(period, async {
                keeper.keep_alive().await?;
                stream.message().await
            })
            .await;
            match answer {
                Ok(Ok(Some(resp))) if resp.ttl() > 0 => last_ok = Instant::now(),
                // etcd no longer knows the lease: it expired.
                Ok(Ok(Some(_))) => break 'open,
                _ => continue 'open,
            }
        }
    }
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if *slot == Some(id) {
        *slot = None;
    }
}

/// A jobboard in etcd (`etcd://host:port/prefix`).
#[derive(Debug)]
pub struct EtcdJobBoard {
    describe: String,
    conn: Conn,
    /// `<prefix>/boards/<board>/`.
    root: String,
    /// What the watch has seen, for the waiters.
    changes: Arc<Changes>,
}

impl EtcdJobBoard {
    /// Opens the board named `board` under the URL's prefix, creating its
    /// schema key if needed. The URL's query may bound the waits:
    /// `connect_timeout`, `query_timeout`, `timeout` (both) and `lease_ttl`
    /// (how long a dead conductor's claims outlive it), each `500ms`, `5s`,
    /// `1m` or whole seconds: `etcd://127.0.0.1:2379/taskwire?timeout=2s`.
    pub fn open(url: &str, board: &str) -> Result<EtcdJobBoard, JobBoardError> {
        let shown = redact_url(url);
        let (conn, prefix) = Conn::parse(url).map_err(|reason| JobBoardError::InvalidUrl {
            url: shown.clone(),
            reason,
        })?;
        let this = EtcdJobBoard {
            describe: format!("jobboard `{board}` at {shown}"),
            conn,
            root: format!("{prefix}/boards/{board}/"),
            changes: Arc::default(),
        };
        let me = &this;
        me.call("create the jobboard", |mut c| async move {
            let this = me;
            let schema = format!("{}schema", this.root);
            let version = LAYOUT_VERSION.to_string();
            // Writes the version unless the key exists; reads it otherwise.
            let txn = etcd::Txn::new()
                .when([etcd::Compare::create_revision(
                    schema.as_str(),
                    etcd::CompareOp::Equal,
                    0,
                )])
                .and_then([etcd::TxnOp::put(schema.as_str(), version, None)])
                .or_else([etcd::TxnOp::get(schema.as_str(), None)]);
            let resp = c.txn(txn).await?;
            if resp.succeeded() {
                return Ok(());
            }
            let kvs = gets(&resp).into_iter().next().unwrap_or_default();
            let text = kvs
                .first()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
                .unwrap_or_default();
            let found: u32 = text.trim().parse().map_err(|_| JobBoardError::Corrupt {
                board: this.describe.clone(),
                job: String::new(),
                field: "schema",
                reason: format!("`{schema}` holds {:?}, not a version number", text.trim()),
            })?;
            if found > LAYOUT_VERSION {
                return Err(JobBoardError::SchemaTooNew {
                    board: this.describe.clone(),
                    found,
                    known: LAYOUT_VERSION,
                }
                .into());
            }
            Ok(())
        })?;
        this.watch();
        Ok(this)
    }

    /// Deletes every key of this board (its jobs, claims and schema).
    pub fn purge(&self) -> Result<(), JobBoardError> {
        self.call("purge the jobboard", |mut c| async move {
            let options = etcd::DeleteOptions::new().with_prefix();
            c.delete(self.root.as_str(), Some(options)).await?;
            Ok(())
        })
    }

    /// Watches the board's keys, unless a watch is set: a task of the
    /// board's runtime counts the changes that may give a conductor work (a
    /// job put in the ready index, a claim key gone with its lease while its
    /// job stays claimed), until the stream ends (the next wait sets a new
    /// watch).
    fn watch(&self) {
        if !self.changes.should_watch() {
            return;
        }
        let root = self.root.clone();
        let stream = self.conn.call(|mut c| async move {
            let options = etcd::WatchOptions::new().with_prefix();
            Ok(c.watch(root.as_str(), Some(options)).await?)
        });
        let Ok(mut stream) = stream else {
            // The cluster is away: waiting falls back to the poll interval.
            self.changes.unset();
            return;
        };
        self.changes.set();
        let changes = Arc::clone(&self.changes);
        let ready = format!("{}ready/", self.root).into_bytes();
        let claims = format!("{}claims/", self.root).into_bytes();
        let claimed = format!("{}claimed/", self.root).into_bytes();
        self.conn.rt.spawn(async move {
            while let Ok(Some(resp)) = stream.message().await {
                if resp.canceled() {
                    break;
                }
                let events = resp.events();
                // The claimed index entries deleted in this answer: a claim
                // key deleted with them went because its job ended.
                let ended: HashSet<&[u8]> = events
                    .iter()
                    .filter(|e| e.event_type() == etcd::EventType::Delete)
                    .filter_map(|e| e.kv()?.key().strip_prefix(claimed.as_slice()))
                    .collect();
                let news = events.iter().any(|e| {
                    let Some(key) = e.kv().map(|kv| kv.key()) else {
                        return false;
                    };
                    match e.event_type() {
                        etcd::EventType::Put => key.starts_with(&ready),
                        etcd::EventType::Delete => key
                            .strip_prefix(claims.as_slice())
                            .is_some_and(|id| !ended.contains(id)),
                    }
                });
                if news {
                    changes.note();
                }
            }
            // The stream ended (the cluster went away, or cancelled the
            // watch): the waiters look for themselves.
            changes.lost();
        });
    }

    /// Runs one call (see `Conn::call`), naming `operation` in errors.
    fn call<T, F, Fut>(&self, operation: &str, f: F) -> Result<T, JobBoardError>
    where
        F: FnOnce(etcd::Client) -> Fut,
        Fut: Future<Output = Res<T>>,
    {
        self.conn.call(f).map_err(|fail| match fail {
            Fail::Own(e) => *e,
            Fail::TimedOut { bound, after } => JobBoardError::TimedOut {
                board: self.describe.clone(),
                operation: operation.to_owned(),
                bound,
                after,
            },
            Fail::Etcd(e) => JobBoardError::Backend {
                board: self.describe.clone(),
                operation: format!("{operation} (etcd {})", self.conn.servers),
                transient: is_transient(&e),
                source: Box::new(e),
            },
        })
    }

    fn job_key(&self, id: Uuid) -> String {
        format!("{}jobs/{id}", self.root)
    }

    fn claim_key(&self, id: Uuid) -> String {
        format!("{}claims/{id}", self.root)
    }

    fn claimed_key(&self, id: Uuid) -> String {
        format!("{}claimed/{id}", self.root)
    }

    /// A ready job's entry in the ready index: its key, then its id, so that
    /// the keys sort in claiming order.
    fn ready_key(&self, key: &str, id: Uuid) -> String {
        format!("{}ready/{key}-{id}", self.root)
    }

    fn not_found(&self, job: Uuid) -> Fail {
        JobBoardError::NotFound {
            board: self.describe.clone(),
            job,
        }
        .into()
    }

    fn encode(&self, job: &Job, key: &str) -> Res<Vec<u8>> {
        let stored = Stored {
            key: key.to_owned(),
            spec: job.spec.clone(),
            state: job.state,
            owner: job.owner.clone(),
            token: job.token,
            expires_at: job.expires_at,
            flow: job.flow,
            failures: job.failures.clone(),
            outcome: job.outcome,
            created_at: job.created_at,
            updated_at: job.updated_at,
        };
        serde_json::to_vec(&stored).map_err(|e| {
            JobBoardError::Corrupt {
                board: self.describe.clone(),
                job: job.id.to_string(),
                field: "(value)",
                reason: e.to_string(),
            }
            .into()
        })
    }

    fn decode(&self, id: Uuid, kv: &etcd::KeyValue) -> Res<Read> {
        let s: Stored = serde_json::from_slice(kv.value()).map_err(|e| JobBoardError::Corrupt {
            board: self.describe.clone(),
            job: id.to_string(),
            field: "(value)",
            reason: e.to_string(),
        })?;
        Ok(Read {
            was: s.state,
            key: s.key,
            job: Job {
                id,
                spec: s.spec,
                state: s.state,
                owner: s.owner,
                token: s.token,
                expires_at: s.expires_at,
                flow: s.flow,
                failures: s.failures,
                outcome: s.outcome,
                created_at: s.created_at,
                updated_at: s.updated_at,
            },
            mod_revision: kv.mod_revision(),
            create_revision: kv.create_revision(),
            holder: 0,
        })
    }

    /// The job whose key is `kv` (its id from the key's last part).
    fn decode_kv(&self, kv: &etcd::KeyValue) -> Res<Read> {
        let key = String::from_utf8_lossy(kv.key());
        let name = key.rsplit('/').next().unwrap_or_default();
        let id = name.parse().map_err(|_| JobBoardError::Corrupt {
            board: self.describe.clone(),
            job: name.to_owned(),
            field: "(key)",
            reason: format!("`{key}` does not end in a job id"),
        })?;
        self.decode(id, kv)
    }

    async fn read(&self, c: &mut etcd::Client, id: Uuid) -> Res<Read> {
        match self.read_some(c, &[id]).await?.pop() {
            Some(read) => Ok(read),
            None => Err(self.not_found(id)),
        }
    }

    /// These jobs (those still there), each with its claim key's revision,
    /// in one snapshot (one round trip).
    async fn read_some(&self, c: &mut etcd::Client, ids: &[Uuid]) -> Res<Vec<Read>> {
        let ops: Vec<etcd::TxnOp> = ids
            .iter()
            .flat_map(|id| {
                [
                    etcd::TxnOp::get(self.job_key(*id), None),
                    etcd::TxnOp::get(self.claim_key(*id), None),
                ]
            })
            .collect();
        let resp = c.txn(etcd::Txn::new().and_then(ops)).await?;
        let mut reads = Vec::with_capacity(ids.len());
        let mut got = gets(&resp).into_iter();
        for id in ids {
            let (job, holder) = (
                got.next().unwrap_or_default(),
                got.next().unwrap_or_default(),
            );
            if let Some(kv) = job.first() {
                let mut read = self.decode(*id, kv)?;
                read.holder = holder.first().map_or(0, |kv| kv.mod_revision());
                reads.push(read);
            }
        }
        Ok(reads)
    }

    /// The job under `claim`, with its revision; `Lost` unless the claim is
    /// current.
    async fn locked(&self, c: &mut etcd::Client, claim: &Claim) -> Res<Read> {
        let read = self.read(c, claim.job.id).await?;
        super::check_claim(&self.describe, &read.job, claim)?;
        Ok(read)
    }

    /// Writes `job` over the revision read, with its claim key made to
    /// match: held by this board's lease for a claimed job, none otherwise.
    /// `false` if the job changed meanwhile (nothing was written).
    async fn write(&self, c: &mut etcd::Client, read: &Read, job: &Job) -> Res<bool> {
        for _ in 0..2 {
            let mut ops = vec![etcd::TxnOp::put(
                self.job_key(job.id),
                self.encode(job, &read.key)?,
                None,
            )];
            // The indexes follow the state, in the same transaction.
            let (was, now) = (read.was, job.state);
            if was != now {
                let ready = self.ready_key(&read.key, job.id);
                let claimed = self.claimed_key(job.id);
                match was {
                    JobState::Ready => ops.push(etcd::TxnOp::delete(ready.as_str(), None)),
                    JobState::Claimed => ops.push(etcd::TxnOp::delete(claimed.as_str(), None)),
                    _ => {}
                }
                match now {
                    JobState::Ready => ops.push(etcd::TxnOp::put(ready, "", None)),
                    JobState::Claimed => ops.push(etcd::TxnOp::put(claimed, "", None)),
                    _ => {}
                }
            }
            if job.state == JobState::Claimed {
                let lease = self.conn.lease(c).await?;
                let holder = ClaimKey {
                    owner: job.owner.clone().unwrap_or_default(),
                    token: job.token,
                };
                ops.push(etcd::TxnOp::put(
                    self.claim_key(job.id),
                    serde_json::to_vec(&holder).unwrap_or_default(),
                    Some(etcd::PutOptions::new().with_lease(lease)),
                ));
            } else {
                ops.push(etcd::TxnOp::delete(self.claim_key(job.id), None));
            }
            // The job and its claim key as read: a claim key that went with
            // its lease since is a change too.
            let txn = etcd::Txn::new()
                .when([
                    etcd::Compare::mod_revision(
                        self.job_key(job.id),
                        etcd::CompareOp::Equal,
                        read.mod_revision,
                    ),
                    etcd::Compare::mod_revision(
                        self.claim_key(job.id),
                        etcd::CompareOp::Equal,
                        read.holder,
                    ),
                ])
                .and_then(ops);
            match c.txn(txn).await.map_err(Fail::from) {
                Ok(resp) => return Ok(resp.succeeded()),
                // The lease expired (the cluster was away longer than its
                // time to live): take a new one.
                Err(e) if is_lease_gone(&e) => self.conn.forget_lease(),
                Err(e) => return Err(e),
            }
        }
        Err(conflict())
    }

    /// Claims the job read (ready, or held under an expired claim) for
    /// `owner`, unless another writer changed it first.
    async fn take(
        &self,
        c: &mut etcd::Client,
        read: &Read,
        owner: &str,
        ttl: Duration,
    ) -> Res<Took> {
        let (job, claimed) = rewrite::taken(&read.job, owner, ttl, now_ms());
        let written = self.write(c, read, &job).await?;
        Ok(rewrite::took(job, claimed, written, owner))
    }

    /// Changes the job `id` with `change` (which may refuse); read again
    /// while other writers win. Returns the job as it was.
    fn change(
        &self,
        operation: &str,
        id: Uuid,
        change: impl Fn(&mut Job) -> Result<(), JobBoardError>,
    ) -> Result<Job, JobBoardError> {
        self.call(operation, |mut c| async move {
            for _ in 0..CONFLICT_TRIES {
                let mut read = self.read(&mut c, id).await?;
                let before = read.job.clone();
                change(&mut read.job)?;
                read.job.updated_at = now_ms();
                if self.write(&mut c, &read, &read.job).await? {
                    return Ok(before);
                }
            }
            Err(conflict())
        })
    }

    /// Deletes the job `id` if `allowed` says so, with its claim key and
    /// index entry, in one transaction checked against the revision read.
    /// Returns the job.
    fn remove(
        &self,
        operation: &str,
        id: Uuid,
        allowed: impl Fn(&Job) -> Result<(), JobBoardError>,
    ) -> Result<Job, JobBoardError> {
        self.call(operation, |mut c| async move {
            for _ in 0..CONFLICT_TRIES {
                let read = self.read(&mut c, id).await?;
                allowed(&read.job)?;
                let mut ops = vec![
                    etcd::TxnOp::delete(self.job_key(id), None),
                    etcd::TxnOp::delete(self.claim_key(id), None),
                ];
                match read.was {
                    JobState::Ready => {
                        ops.push(etcd::TxnOp::delete(self.ready_key(&read.key, id), None))
                    }
                    JobState::Claimed => ops.push(etcd::TxnOp::delete(self.claimed_key(id), None)),
                    _ => {}
                }
                let txn = etcd::Txn::new()
                    .when([etcd::Compare::mod_revision(
                        self.job_key(id),
                        etcd::CompareOp::Equal,
                        read.mod_revision,
                    )])
                    .and_then(ops);
                if c.txn(txn).await?.succeeded() {
                    return Ok(read.job);
                }
            }
            Err(conflict())
        })
    }
}

/// The key-values of each get of a transaction's answer, in order.
fn gets(resp: &etcd::TxnResponse) -> Vec<Vec<etcd::KeyValue>> {
    resp.op_responses()
        .into_iter()
        .filter_map(|r| match r {
            etcd::TxnOpResponse::Get(mut g) => Some(g.take_kvs()),
            _ => None,
        })
        .collect()
}

fn conflict() -> Fail {
    Fail::Etcd(etcd::Error::Internal(format!(
        "the job kept changing under {CONFLICT_TRIES} tries"
    )))
}

impl Rewrite for EtcdJobBoard {
    fn under<T>(
        &self,
        operation: &str,
        claim: &Claim,
        change: impl Fn(&mut Job, i64) -> T,
    ) -> Result<T, JobBoardError> {
        self.call(operation, |mut c| async move {
            for _ in 0..CONFLICT_TRIES {
                let mut read = self.locked(&mut c, claim).await?;
                let now = now_ms();
                let out = change(&mut read.job, now);
                read.job.updated_at = now;
                if self.write(&mut c, &read, &read.job).await? {
                    return Ok(out);
                }
            }
            Err(conflict())
        })
    }
}

impl JobBoard for EtcdJobBoard {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn post(&self, new: &NewJob) -> Result<Job, JobBoardError> {
        let now = now_ms();
        let job = Job {
            id: Uuid::new_v4(),
            spec: new.clone(),
            state: JobState::Ready,
            owner: None,
            token: 0,
            expires_at: 0,
            flow: None,
            failures: Vec::new(),
            outcome: None,
            created_at: now,
            updated_at: now,
        };
        self.call("post a job", |mut c| async move {
            // The posting number: the revision of a write of the counter key
            // (etcd's revisions only grow). A post that fails after it only
            // leaves a gap in the numbers.
            let counter = format!("{}posted", self.root);
            let put = c.put(counter, "", None).await?;
            let n = put.header().map(|h| h.revision()).unwrap_or_default();
            // Higher priorities first: the key holds 2^31 - 1 - priority.
            let inverted = i64::from(i32::MAX) - i64::from(job.spec.priority);
            let key = format!("{inverted:010}-{n:020}");
            let txn = etcd::Txn::new()
                .when([etcd::Compare::create_revision(
                    self.job_key(job.id),
                    etcd::CompareOp::Equal,
                    0,
                )])
                .and_then([
                    etcd::TxnOp::put(self.job_key(job.id), self.encode(&job, &key)?, None),
                    etcd::TxnOp::put(self.ready_key(&key, job.id), "", None),
                ]);
            if !c.txn(txn).await?.succeeded() {
                return Err(conflict());
            }
            Ok(job)
        })
    }

    fn claim(&self, owner: &str, ttl: Duration) -> Result<Option<Claim>, JobBoardError> {
        self.changes.claiming();
        self.call("claim a job", |mut c| async move {
            let mut tries = 0;
            let keys = || Some(etcd::GetOptions::new().with_prefix().with_keys_only());
            while tries < CONFLICT_TRIES {
                // The claimed jobs (few: those being run), to find an
                // expired claim; the first entries of the ready index.
                let txn = etcd::Txn::new().and_then([
                    etcd::TxnOp::get(format!("{}claimed/", self.root), keys()),
                    etcd::TxnOp::get(
                        format!("{}ready/", self.root),
                        Some(
                            etcd::GetOptions::new()
                                .with_prefix()
                                .with_keys_only()
                                .with_limit(READY_WALK),
                        ),
                    ),
                ]);
                let mut lists = gets(&c.txn(txn).await?).into_iter();
                let id_of = |kv: &etcd::KeyValue| -> Option<Uuid> {
                    String::from_utf8_lossy(kv.key())
                        .rsplit('/')
                        .next()?
                        .parse()
                        .ok()
                };
                let claimed: Vec<Uuid> = lists
                    .next()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(id_of)
                    .collect();
                let mut ready = Vec::new();
                for kv in lists.next().unwrap_or_default() {
                    let name = String::from_utf8_lossy(kv.key())
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    ready.push(
                        name.get(32..)
                            .and_then(|id| id.parse().ok())
                            .ok_or_else(|| JobBoardError::Corrupt {
                                board: self.describe.clone(),
                                job: name.clone(),
                                field: "ready index",
                                reason: "not `<priority>-<number>-<job id>`".into(),
                            })?,
                    );
                }
                // The claimed jobs and the first ready ones, with their
                // claim keys, in one round trip.
                let wanted: Vec<Uuid> = claimed.iter().chain(&ready).copied().collect();
                if wanted.is_empty() {
                    return Ok(None);
                }
                let reads = self.read_some(&mut c, &wanted).await?;
                let now = now_ms();
                // An expired claim first (its conductor died: its lease
                // expired, or it stopped renewing).
                let expired = reads
                    .iter()
                    .filter(|r| {
                        r.job.state == JobState::Claimed
                            && (r.job.expires_at <= now || r.holder == 0)
                    })
                    .min_by_key(|r| (r.job.expires_at, r.create_revision));
                if let Some(read) = expired {
                    match self.take(&mut c, read, owner, ttl).await? {
                        Took::Claim(claim) => return Ok(Some(*claim)),
                        Took::Buried => {}
                        Took::Lost => tries += 1,
                    }
                    continue;
                }
                if ready.is_empty() {
                    return Ok(None);
                }
                // Then the ready entries, in order. One another claimer
                // took since the listing is passed over; the index is read
                // again only when every entry was.
                for id in &ready {
                    let Some(read) = reads.iter().find(|r| r.job.id == *id) else {
                        continue; // deleted meanwhile
                    };
                    if read.job.state != JobState::Ready {
                        continue; // claimed (or ended) meanwhile
                    }
                    if let Took::Claim(claim) = self.take(&mut c, read, owner, ttl).await? {
                        return Ok(Some(*claim));
                    }
                }
                tries += 1;
            }
            Err(conflict())
        })
    }

    fn renew(&self, claim: &Claim, ttl: Duration) -> Result<Claim, JobBoardError> {
        rewrite::renew(self, claim, ttl)
    }

    fn set_flow(&self, claim: &Claim, flow: Uuid) -> Result<(), JobBoardError> {
        rewrite::set_flow(self, claim, flow)
    }

    fn complete(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        rewrite::complete(self, claim, outcome)
    }

    fn complete_ended(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        rewrite::complete_ended(self, claim, outcome)
    }

    fn fail(&self, claim: &Claim, message: &str) -> Result<JobState, JobBoardError> {
        rewrite::fail(self, claim, message)
    }

    fn release(&self, claim: &Claim) -> Result<(), JobBoardError> {
        rewrite::release(self, claim)
    }

    fn get(&self, id: Uuid) -> Result<Job, JobBoardError> {
        self.call("read a job", |mut c| async move {
            Ok(self.read(&mut c, id).await?.job)
        })
    }

    fn list(&self, state: Option<JobState>) -> Result<Vec<Job>, JobBoardError> {
        self.call("list jobs", |mut c| async move {
            let options = etcd::GetOptions::new().with_prefix();
            let resp = c.get(format!("{}jobs/", self.root), Some(options)).await?;
            let mut reads = Vec::with_capacity(resp.kvs().len());
            for kv in resp.kvs() {
                reads.push(self.decode_kv(kv)?);
            }
            // Posting order.
            reads.sort_by_key(|r| r.create_revision);
            Ok(reads
                .into_iter()
                .map(|r| r.job)
                .filter(|j| state.is_none_or(|s| j.state == s))
                .collect())
        })
    }

    fn delete(&self, id: Uuid) -> Result<(), JobBoardError> {
        self.remove("delete a job", id, |_| Ok(())).map(drop)
    }

    fn cancel(&self, id: Uuid, states: &[JobState]) -> Result<Job, JobBoardError> {
        self.remove("cancel a job", id, |job| {
            if states.contains(&job.state) {
                Ok(())
            } else {
                Err(JobBoardError::NotCancelled {
                    board: self.describe.clone(),
                    job: id,
                    state: job.state,
                    allowed: states_in_words(states),
                })
            }
        })
    }

    fn requeue(&self, id: Uuid) -> Result<Job, JobBoardError> {
        self.change("requeue a job", id, |job| {
            if job.state != JobState::Dead {
                return Err(JobBoardError::NotDead {
                    board: self.describe.clone(),
                    job: id,
                    state: job.state,
                });
            }
            job.state = JobState::Ready;
            job.expires_at = 0;
            job.failures.clear();
            job.outcome = None;
            Ok(())
        })
    }

    fn watches(&self) -> bool {
        true
    }

    fn wait_for_change(&self, within: Duration) -> bool {
        self.watch();
        self.changes.wait(within)
    }
}

impl Drop for EtcdJobBoard {
    fn drop(&mut self) {
        // Its claims' keys go now, not when the lease expires.
        self.conn.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        Conn::parse(url).map(drop).unwrap_err()
    }

    #[test]
    fn urls_are_read_and_bad_ones_named() {
        let (conn, prefix) =
            Conn::parse("etcd://a:1,b/tw/x/?timeout=2s&lease_ttl=5s&query_timeout=3s").unwrap();
        assert_eq!(prefix, "/tw/x");
        assert_eq!(conn.endpoints, ["http://a:1", "http://b:2379"]);
        assert_eq!(conn.connect_timeout, Duration::from_secs(2));
        assert_eq!(conn.query_timeout, Duration::from_secs(3));
        assert_eq!(conn.lease_ttl, Duration::from_secs(5));
        assert!(reason("etcd://h:2379").starts_with("no prefix"));
        assert!(reason("etcd:///tw").starts_with("no server"));
        assert_eq!(
            reason("etcd://h:port/tw"),
            "server `h:port` is not `host:port` (etcd's client port, 2379 by default)"
        );
        assert_eq!(
            reason("etcd://h/tw?ttl=5s"),
            "unknown key `ttl`; known keys: connect_timeout, query_timeout, timeout, lease_ttl"
        );
        assert!(reason("etcd://h/tw?lease_ttl=500ms").contains("under a second"));
        assert!(reason("etcd://h/tw?timeout=0").contains("more than zero"));
    }
}
