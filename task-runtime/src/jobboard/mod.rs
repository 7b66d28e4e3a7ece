//! Jobboards: whole flows posted as jobs, claimed and run by conductors
//! (see [`Conductor`](crate::conductor::Conductor)).
//!
//! A [`Job`] names a registered flow factory (with its parameters and the
//! engine inputs), a priority, and — once a conductor started it — the flow
//! detail its run is recorded as, so that another conductor can resume it.
//! A conductor claims the ready job of highest priority (oldest first among
//! equals); the claim is a lease that its owner renews, and every claim
//! carries a fencing token: a write under a claim that is no longer current
//! (it expired and another conductor took the job) is refused with
//! [`JobBoardError::Lost`].
//!
//! A job is not run forever: each failure to run it — the conductor's error,
//! or a claim that expired because its conductor died — is recorded on the
//! job, and once a job has failed [`Job::max_failures`] times it is moved
//! aside as [`JobState::Dead`], its failures kept for whoever looks.
//!
//! | URL                                 | board                  | feature    |
//! |-------------------------------------|------------------------|------------|
//! | `redis://host:port/db`              | `RedisJobBoard`        | `redis`    |
//! | `postgres://user@host/db`           | `PostgresJobBoard`     | `postgres` |
//! | `zookeeper://host:port/chroot`      | `ZookeeperJobBoard`    | `zookeeper` |
//! | `etcd://host:port/prefix`           | `EtcdJobBoard`         | `etcd`     |
//!
//! Several boards can share one server: each has a name (a key prefix in
//! Redis and etcd, a column in PostgreSQL, a node in ZooKeeper). A Redis URL's query bounds the waits on
//! the server (`redis://127.0.0.1/0?timeout=2s`; see `RedisJobBoard`), so
//! that a server that stops answering is an error
//! ([`JobBoardError::is_transient`]) rather than a hang.

#[cfg(any(feature = "zookeeper", feature = "etcd"))]
mod changes;
#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "zookeeper", feature = "etcd"))]
mod rewrite;
#[cfg(feature = "zookeeper")]
mod zookeeper;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::persistence::{redact_url, Uuid};
use crate::state::FlowState;
use crate::telemetry::TraceContext;

#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub use self::etcd::EtcdJobBoard;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::PostgresJobBoard;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisJobBoard;
#[cfg(feature = "zookeeper")]
#[cfg_attr(docsrs, doc(cfg(feature = "zookeeper")))]
pub use self::zookeeper::ZookeeperJobBoard;

/// How many times a job may fail before it is moved aside as dead, unless
/// the job says otherwise ([`NewJob::max_failures`]).
pub const DEFAULT_MAX_FAILURES: u32 = 3;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a conductor.
    Ready,
    /// Held by a conductor's claim (which may have expired: the next claim
    /// takes it over and records the expiry as a failure).
    Claimed,
    /// Its flow ran to an end ([`Job::outcome`] says which).
    Done,
    /// It failed [`Job::max_failures`] times and will not be run again.
    Dead,
}

impl JobState {
    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Claimed => "claimed",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    /// The state named `name`.
    pub fn from_name(name: &str) -> Option<JobState> {
        [
            JobState::Ready,
            JobState::Claimed,
            JobState::Done,
            JobState::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to post: the flow factory that builds its flow, with parameters
/// and engine inputs.
///
/// ```
/// use taskwire_runtime::jobboard::NewJob;
/// use serde_json::json;
///
/// let job = NewJob::new("storage::create_volume", json!({"size_gb": 10}))
///     .name("volume for alice")
///     .input("owner", "alice")
///     .priority(5)
///     .max_failures(2);
/// assert_eq!(job.inputs["owner"], "alice");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// A name for people (defaults to the factory's name).
    pub name: String,
    /// The registered flow factory (`flow_factory!`) that builds the flow.
    pub factory: String,
    /// The factory's parameters.
    pub params: Value,
    /// The engine's inputs.
    pub inputs: Map<String, Value>,
    /// Higher runs first; equal priorities run oldest first.
    pub priority: i32,
    /// How many failures move the job aside as dead.
    pub max_failures: u32,
    /// The logbook to record the run in (a new one if `None`); it must exist
    /// in the conductor's persistence backend.
    pub logbook: Option<Uuid>,
    /// The trace the job's run continues (W3C `traceparent`/`tracestate`):
    /// that of the span current when [`NewJob::new`] was called, with the
    /// feature `otel`. Jobs posted without it decode with none.
    #[serde(default, flatten)]
    pub trace: TraceContext,
}

impl NewJob {
    /// A job running the flow factory `factory` with `params`.
    pub fn new(factory: impl Into<String>, params: Value) -> NewJob {
        let factory = factory.into();
        NewJob {
            name: factory.clone(),
            factory,
            params,
            inputs: Map::new(),
            priority: 0,
            max_failures: DEFAULT_MAX_FAILURES,
            logbook: None,
            trace: crate::telemetry::inject(),
        }
    }

    /// A name for people.
    pub fn name(mut self, name: impl Into<String>) -> NewJob {
        self.name = name.into();
        self
    }

    /// An engine input. A value that cannot be encoded becomes `null`.
    pub fn input(mut self, name: impl Into<String>, value: impl Serialize) -> NewJob {
        self.inputs.insert(
            name.into(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// The priority (default 0; higher runs first).
    pub fn priority(mut self, priority: i32) -> NewJob {
        self.priority = priority;
        self
    }

    /// How many failures move the job aside as dead (default
    /// [`DEFAULT_MAX_FAILURES`]; at least 1).
    pub fn max_failures(mut self, n: u32) -> NewJob {
        self.max_failures = n.max(1);
        self
    }

    /// The trace the job's run continues, instead of the current span's.
    pub fn trace(mut self, trace: TraceContext) -> NewJob {
        self.trace = trace;
        self
    }

    /// Records the run in this logbook.
    pub fn logbook(mut self, logbook: Uuid) -> NewJob {
        self.logbook = Some(logbook);
        self
    }
}

/// One failure to run a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// When (unix ms, the board's clock).
    pub at: i64,
    /// The conductor that held the claim.
    pub owner: String,
    /// The claim's fencing token.
    pub token: u64,
    /// What went wrong.
    pub message: String,
}

/// A job as the board holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job's id.
    pub id: Uuid,
    /// What was posted.
    pub spec: NewJob,
    /// Where it is in its life.
    pub state: JobState,
    /// The conductor holding (or that last held) the claim.
    pub owner: Option<String>,
    /// The fencing token of the latest claim (0: never claimed).
    pub token: u64,
    /// When the claim expires (unix ms, the board's clock; 0 if unclaimed).
    pub expires_at: i64,
    /// The flow detail its run is recorded as, once a conductor started it.
    pub flow: Option<Uuid>,
    /// Its failures, oldest first.
    pub failures: Vec<JobFailure>,
    /// How its flow ended, once done.
    pub outcome: Option<FlowState>,
    /// When it was posted (unix ms).
    pub created_at: i64,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

impl Job {
    /// How many failures move the job aside as dead.
    pub fn max_failures(&self) -> u32 {
        self.spec.max_failures
    }

    /// Records a failure; the state that leaves the job in: dead once it
    /// has failed [`Job::max_failures`] times, ready otherwise.
    #[allow(dead_code)] // unused when no board decides in Rust
    pub(crate) fn record_failure(&mut self, failure: JobFailure) -> JobState {
        self.failures.push(failure);
        if self.failures.len() >= self.max_failures() as usize {
            JobState::Dead
        } else {
            JobState::Ready
        }
    }

    /// Ends its claim: `state`, with `outcome`; it has no owner's expiry
    /// any more.
    #[allow(dead_code)] // unused when no board decides in Rust
    pub(crate) fn end_claim(&mut self, state: JobState, outcome: Option<FlowState>) {
        self.state = state;
        self.expires_at = 0;
        self.outcome = outcome;
    }

    /// Drops the failure recorded when the claim before `claim` expired, if
    /// that is the last one: the flow that claim ran had ended, so the
    /// expiry cost the job nothing.
    #[allow(dead_code)] // unused when no board decides in Rust
    pub(crate) fn forget_expiry_before(&mut self, claim: &Claim) {
        if self
            .failures
            .last()
            .is_some_and(|f| f.token + 1 == claim.token && f.message.ends_with(EXPIRED_TAIL))
        {
            self.failures.pop();
        }
    }

    /// Records that its current claim expired (seen at `now`), as
    /// [`Job::record_failure`] does.
    #[allow(dead_code)] // unused when no board decides in Rust
    pub(crate) fn record_expiry(&mut self, now: i64) -> JobState {
        let owner = self.owner.clone().unwrap_or_default();
        let message = expired_message(&owner, self.token);
        let token = self.token;
        self.record_failure(JobFailure {
            at: now,
            owner,
            token,
            message,
        })
    }
}

/// A conductor's hold on a job: pass it back for every write about the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job, as it was when claimed.
    pub job: Job,
    /// Who holds it.
    pub owner: String,
    /// The claim's fencing token.
    pub token: u64,
    /// When the claim expires unless renewed (unix ms, the board's clock).
    pub expires_at: i64,
}

impl Claim {
    /// The job's id.
    pub fn job_id(&self) -> Uuid {
        self.job.id
    }

    /// A failure of the job under this claim, at `at` (unix ms).
    #[allow(dead_code)] // unused when no board decides in Rust
    pub(crate) fn failure(&self, at: i64, message: &str) -> JobFailure {
        JobFailure {
            at,
            owner: self.owner.clone(),
            token: self.token,
            message: message.to_owned(),
        }
    }
}

/// What can go wrong with a jobboard; each error names the board and the job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobBoardError {
    /// No such job on the board.
    #[error("{board}: job {job} not found")]
    NotFound {
        /// The board (URL without password, and board name).
        board: String,
        /// The job.
        job: Uuid,
    },
    /// A write carried a claim that is no longer current: the claim expired
    /// and the job was taken over, or it ended, or was released.
    #[error("{board}: job {job}: the claim with token {token} held by `{owner}` is no longer current (the job is now {now})")]
    Lost {
        /// The board.
        board: String,
        /// The job.
        job: Uuid,
        /// The stale claim's owner.
        owner: String,
        /// The stale claim's token.
        token: u64,
        /// What the job is now (`claimed by `b` with token 4`, `done`, ...).
        now: String,
    },
    /// A stored job cannot be read back. Other jobs stay readable.
    #[error("{board}: job {job}, field `{field}` is corrupt: {reason}")]
    Corrupt {
        /// The board.
        board: String,
        /// The job's id as stored.
        job: String,
        /// The field or column.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The job is not dead, and only a dead job can be requeued.
    #[error("{board}: job {job} is {state}, not dead; only a dead job can be requeued")]
    NotDead {
        /// The board.
        board: String,
        /// The job.
        job: Uuid,
        /// Its state.
        state: JobState,
    },
    /// The job is not in a state that [`JobBoard::cancel`] was allowed to
    /// cancel.
    #[error("{board}: job {job} is {state}; only a job that is {allowed} can be cancelled here")]
    NotCancelled {
        /// The board.
        board: String,
        /// The job.
        job: Uuid,
        /// Its state, checked atomically with the deletion.
        state: JobState,
        /// The states that could be cancelled, in words (`ready or dead`).
        allowed: String,
    },
    /// The URL's scheme names no board.
    #[error("unknown jobboard URL scheme `{scheme}` in `{url}`; known schemes: redis://, postgres://, postgresql://, zookeeper://, etcd://")]
    UnknownScheme {
        /// The URL (password removed).
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL's board is compiled out.
    #[error("`{url}` needs the `{feature}` cargo feature of taskwire (or taskwire-runtime), which is not enabled")]
    FeatureDisabled {
        /// The URL (password removed).
        url: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// The URL or board name cannot be used.
    #[error("invalid jobboard `{url}`: {reason}")]
    InvalidUrl {
        /// The URL (password removed).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The board's schema was written by a newer taskwire.
    #[error("{board}: the jobboard's schema is version {found}, newer than version {known} that this taskwire knows; upgrade taskwire to use it")]
    SchemaTooNew {
        /// The board.
        board: String,
        /// The stored version.
        found: u32,
        /// The newest version this code knows.
        known: u32,
    },
    /// The server failed (connection lost, server down, no answer in time,
    /// or an error of the server's own).
    #[error("{board}: {operation} failed: {source}")]
    Backend {
        /// The board.
        board: String,
        /// What was being done.
        operation: String,
        /// The driver's error.
        #[source]
        source: crate::persistence::DriverError,
        /// Whether trying again later may succeed: the connection was refused,
        /// reset or lost, or the server did not answer within the bound (see
        /// [`JobBoardError::is_transient`]).
        transient: bool,
    },
    /// The server did not answer within a bound (`connect_timeout`,
    /// `query_timeout` or `statement_timeout` of the URL's query string): the
    /// board dropped its connection and reconnects on its next call. A write
    /// that timed out may or may not have been applied; read the job again.
    #[error("{board}: {operation} timed out: no answer within {} (`{bound}`)", crate::persistence::show_duration(*after))]
    TimedOut {
        /// The board.
        board: String,
        /// What was being done.
        operation: String,
        /// The bound that ran out: its key in the URL's query string.
        bound: &'static str,
        /// Its value.
        after: std::time::Duration,
    },
}

impl JobBoardError {
    /// Whether the error may go away by itself, so that the same call is
    /// worth trying again: the server could not be reached, the connection
    /// broke, or the server did not answer within the connection's bound.
    /// Definitive answers — [`JobBoardError::Lost`], [`JobBoardError::NotFound`],
    /// a corrupt job, an error of the server's own — are not.
    ///
    /// A transient error of a write does not say whether the write was
    /// applied: the server may have applied it and the answer been lost.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            JobBoardError::Backend {
                transient: true,
                ..
            } | JobBoardError::TimedOut { .. }
        )
    }
}

/// A jobboard: jobs posted, claimed under fenced leases, finished or moved
/// aside as dead.
///
/// Object-safe and synchronous, like [`Backend`](crate::persistence::Backend):
/// hold it as `Arc<dyn JobBoard>` (what [`open`] returns). Every write has
/// been applied atomically on the server when it returns.
pub trait JobBoard: Send + Sync + fmt::Debug {
    /// The board's URL (password removed) and name, for messages.
    fn describe(&self) -> &str;

    /// Posts a job; it is ready at once.
    fn post(&self, job: &NewJob) -> Result<Job, JobBoardError>;

    /// Claims the next job for `owner`, for `ttl`: the ready job of highest
    /// priority, oldest first among equals; a claimed job whose claim expired
    /// is taken over first, its expiry recorded as a failure (and the job
    /// moved aside as dead, and skipped, if that was one failure too many).
    /// `None` when no job is waiting.
    fn claim(&self, owner: &str, ttl: Duration) -> Result<Option<Claim>, JobBoardError>;

    /// Extends a current claim to `ttl` from now; [`JobBoardError::Lost`] if
    /// the claim is no longer current.
    fn renew(&self, claim: &Claim, ttl: Duration) -> Result<Claim, JobBoardError>;

    /// Records the flow detail the job's run is recorded as (under the claim).
    fn set_flow(&self, claim: &Claim, flow: Uuid) -> Result<(), JobBoardError>;

    /// Marks the job done, its flow having ended in `outcome` (under the
    /// claim).
    fn complete(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError>;

    /// Marks the job done like [`JobBoard::complete`], for a claim that found
    /// the job's flow already ended: the conductor that ran it could not
    /// reach the board to say so before its claim expired. The failure that
    /// taking over that expired claim recorded (the last one, of the previous
    /// token, saying the claim expired) is withdrawn: the flow did not fail,
    /// the board was away.
    fn complete_ended(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError>;

    /// Records a failure to run the job (under the claim) and gives it back:
    /// ready again, or dead if it has now failed [`Job::max_failures`] times.
    /// Returns the job's new state.
    fn fail(&self, claim: &Claim, message: &str) -> Result<JobState, JobBoardError>;

    /// Gives the job back, ready, without counting a failure (a conductor
    /// shutting down).
    fn release(&self, claim: &Claim) -> Result<(), JobBoardError>;

    /// One job.
    fn get(&self, job: Uuid) -> Result<Job, JobBoardError>;

    /// The jobs in `state` (all jobs if `None`), oldest first.
    fn list(&self, state: Option<JobState>) -> Result<Vec<Job>, JobBoardError>;

    /// Deletes a job, whatever its state (a claim on it is then lost).
    fn delete(&self, job: Uuid) -> Result<(), JobBoardError>;

    /// Deletes a job if it is in one of `states`, checked in the same
    /// atomic step as the deletion (a job claimed between an operator's
    /// look and the cancel is not cancelled). Returns the job as it was;
    /// [`JobBoardError::NotCancelled`] with its state otherwise.
    fn cancel(&self, job: Uuid, states: &[JobState]) -> Result<Job, JobBoardError>;

    /// Gives a dead job another chance (an operator fixed what made it
    /// fail): it is ready again, in its old place among jobs of its priority,
    /// with its failures cleared so that it may fail [`Job::max_failures`]
    /// times again. Returns the job as it was before, with the failures
    /// dropped. [`JobBoardError::NotDead`] if the job is not dead.
    fn requeue(&self, job: Uuid) -> Result<Job, JobBoardError>;

    /// Whether the board tells of changes ([`JobBoard::wait_for_change`]):
    /// the ZooKeeper and etcd boards watch their jobs; the others are polled.
    fn watches(&self) -> bool {
        false
    }

    /// Waits up to `within` for a change of the board's jobs since the last
    /// [`JobBoard::claim`] began (a job posted, given back, requeued), and
    /// says whether one came; a board that does not watch waits the whole
    /// time and says `false`. A conductor with nothing to do waits here, so
    /// that on a watching board it claims a new job as soon as it is posted.
    fn wait_for_change(&self, within: Duration) -> bool {
        std::thread::sleep(within);
        false
    }
}

/// Opens the board named `board` at `url`, creating its schema if needed:
/// `redis://host:port/db` (feature `redis`),
/// `postgres://user@host/db` (feature `postgres`),
/// `zookeeper://host:port/chroot` (feature `zookeeper`) or
/// `etcd://host:port[,host:port…]/prefix` (feature `etcd`; its bounds:
/// `EtcdJobBoard::open`). A `postgres://` URL takes
/// the bounds on waits that [`persistence::open`](crate::persistence::open)
/// describes (`?timeout=5s`, `connect_timeout`, `query_timeout`,
/// `statement_timeout`, `keepalive`).
///
/// ```
/// # use taskwire_runtime::jobboard::open;
/// let err = open("nats://localhost", "jobs").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "unknown jobboard URL scheme `nats` in `nats://localhost`; known schemes: redis://, postgres://, postgresql://, zookeeper://, etcd://"
/// );
/// ```
pub fn open(url: &str, board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    let shown = redact_url(url);
    if board.is_empty()
        || !board
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    {
        return Err(JobBoardError::InvalidUrl {
            url: shown,
            reason: format!(
                "board name `{board}` must be non-empty ASCII letters, digits and `_-.:`"
            ),
        });
    }
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(JobBoardError::InvalidUrl {
            url: shown,
            reason: "no scheme; expected redis://, postgres://, zookeeper:// or etcd://".to_owned(),
        });
    };
    match scheme {
        "redis" => open_redis(url, board),
        "postgres" | "postgresql" => open_postgres(url, board),
        "zookeeper" => open_zookeeper(url, board),
        "etcd" => open_etcd(url, board),
        other => Err(JobBoardError::UnknownScheme {
            url: shown,
            scheme: other.to_owned(),
        }),
    }
}

#[cfg(feature = "redis")]
fn open_redis(url: &str, board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Ok(Arc::new(RedisJobBoard::open(url, board)?))
}

#[cfg(not(feature = "redis"))]
fn open_redis(url: &str, _board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Err(JobBoardError::FeatureDisabled {
        url: redact_url(url),
        feature: "redis",
    })
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str, board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Ok(Arc::new(PostgresJobBoard::open(url, board)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str, _board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Err(JobBoardError::FeatureDisabled {
        url: redact_url(url),
        feature: "postgres",
    })
}

#[cfg(feature = "zookeeper")]
fn open_zookeeper(url: &str, board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Ok(Arc::new(ZookeeperJobBoard::open(url, board)?))
}

#[cfg(not(feature = "zookeeper"))]
fn open_zookeeper(url: &str, _board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Err(JobBoardError::FeatureDisabled {
        url: redact_url(url),
        feature: "zookeeper",
    })
}

#[cfg(feature = "etcd")]
fn open_etcd(url: &str, board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Ok(Arc::new(EtcdJobBoard::open(url, board)?))
}

#[cfg(not(feature = "etcd"))]
fn open_etcd(url: &str, _board: &str) -> Result<Arc<dyn JobBoard>, JobBoardError> {
    Err(JobBoardError::FeatureDisabled {
        url: redact_url(url),
        feature: "etcd",
    })
}

/// Whether `e`'s chain of sources holds an I/O error (a connection refused,
/// reset, timed out).
#[allow(dead_code)] // unused when no board is compiled in
pub(crate) fn has_io_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// How a stale claim's job looks now, for [`JobBoardError::Lost`].
#[allow(dead_code)] // unused when no board is compiled in
pub(crate) fn describe_now(state: JobState, owner: Option<&str>, token: u64) -> String {
    match (state, owner) {
        (JobState::Claimed, Some(o)) => format!("claimed by `{o}` with token {token}"),
        (state, _) => state.to_string(),
    }
}

/// `Lost` unless `claim` is the current claim of `job` (as read by a board
/// that then writes under it).
#[allow(dead_code)] // unused when no board reads jobs in Rust
pub(crate) fn check_claim(board: &str, job: &Job, claim: &Claim) -> Result<(), JobBoardError> {
    if job.state != JobState::Claimed
        || job.owner.as_deref() != Some(claim.owner.as_str())
        || job.token != claim.token
    {
        return Err(JobBoardError::Lost {
            board: board.to_owned(),
            job: job.id,
            owner: claim.owner.clone(),
            token: claim.token,
            now: describe_now(job.state, job.owner.as_deref(), job.token),
        });
    }
    Ok(())
}

/// The message recorded when a claim expired and the job was taken over.
#[allow(dead_code)] // unused when no board is compiled in
pub(crate) fn expired_message(owner: &str, token: u64) -> String {
    format!("the claim of `{owner}` (token {token}) {EXPIRED_TAIL}")
}

/// What an expiry failure says after "(token N) ".
#[allow(dead_code)] // unused when no board is compiled in
pub(crate) const EXPIRED_TAIL: &str = "expired before the job ended; its conductor stopped renewing it (it died, hung or lost the board)";

#[allow(dead_code)] // unused when no board is compiled in
/// `states` in words for [`JobBoardError::NotCancelled`]: `ready or dead`.
pub(crate) fn states_in_words(states: &[JobState]) -> String {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        None => "in no state at all".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "zookeeper",
    feature = "etcd"
))]
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_carry_their_trace_context_and_old_jobs_still_decode() {
        // A job posted before trace context: no such fields.
        let old = r#"{"name":"n","factory":"f","params":{},"inputs":{},"priority":0,"max_failures":3,"logbook":null}"#;
        let job: NewJob = serde_json::from_str(old).unwrap();
        assert!(job.trace.is_empty());
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let job = job.trace(TraceContext {
            traceparent: Some(traceparent.to_owned()),
            tracestate: None,
        });
        let text = serde_json::to_string(&job).unwrap();
        assert!(
            text.ends_with(&format!(
                r#""logbook":null,"traceparent":"{traceparent}"}}"#
            )),
            "{text}"
        );
        let back: NewJob = serde_json::from_str(&text).unwrap();
        assert_eq!(back, job);
        // Without a trace, the job's JSON is as before.
        let plain = NewJob::new("f", Value::Null);
        assert!(!serde_json::to_string(&plain).unwrap().contains("trace"));
    }
}
