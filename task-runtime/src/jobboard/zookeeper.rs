//! `zookeeper://host:port[,host:port…]/chroot`: a jobboard in ZooKeeper.
//!
//! ```text
//! /boards/<board>/schema         the layout's version ("1")
//! /boards/<board>/jobs/<uuid>    a job (JSON): spec, state, owner, token, …
//! /boards/<board>/claims/<uuid>  ephemeral: the claim's owner and token, held
//!                                by the claiming conductor's session
//! /boards/<board>/ready/<key>-<uuid>   (empty) the ready jobs, in claiming
//!                                order: key = inverted priority, posting number
//! /boards/<board>/claimed/<uuid> (empty) the claimed jobs
//! /boards/<board>/posted         the posting counter
//! ```
//!
//! Every change of a job is one `multi` carrying the job node's version, so
//! two conductors never both change the same job: one `multi` wins and the
//! other reads again; the indexes of ready and claimed jobs change in the
//! same `multi`. A claim reads the claimed jobs (to find an expired claim)
//! and the names of the ready index, then the one job it takes: its cost
//! grows with the jobs waiting, not with the jobs done. Jobs are ordered by
//! priority, then by posting number (a counter node, taken in the posting
//! `multi`), a place that requeueing keeps. A claim is held twice: by its expiry, as on the other boards, and
//! by an ephemeral node of the conductor's session — when the conductor dies
//! its session ends, the node goes, and the next claim takes the job over at
//! once (recording the failure as for an expired claim) rather than when the
//! claim would have expired. Times are the conductors' clocks.
//!
//! The board watches its jobs (a persistent recursive watch): a conductor
//! waiting for work wakes up when a job is posted or given back, instead of
//! polling (see [`JobBoard::wait_for_change`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zookeeper_client as zk;

use super::changes::Changes;
use super::rewrite::{self, Rewrite, Took};
use super::{states_in_words, Claim, Job, JobBoard, JobBoardError, JobFailure, JobState, NewJob};
use crate::persistence::zk::{
    absent, ephemeral, exists, persistent, Batch, Fail, Res, Session, CONFLICT_TRIES,
};
use crate::persistence::{now_ms, redact_url, Uuid};
use crate::state::FlowState;

/// The layout version this code writes and reads.
const LAYOUT_VERSION: u32 = 1;

/// A job as stored in its node.
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

/// A claim node's content.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimNode {
    owner: String,
    token: u64,
}

/// A job read with its node's version and creation zxid.
struct Read {
    job: Job,
    /// Its state as read (the job may be changed since).
    was: JobState,
    key: String,
    version: i32,
    czxid: i64,
}

/// What a `multi`'s operation was (every failure means: read again).
#[derive(Debug, Clone, Copy)]
struct Op;

/// A jobboard in ZooKeeper (`zookeeper://host:port/chroot`).
#[derive(Debug)]
pub struct ZookeeperJobBoard {
    describe: String,
    session: Session,
    /// `/boards/<board>`.
    root: String,
    /// What the watch has seen, for the waiters.
    changes: Arc<Changes>,
    /// The task that counts the watch's events, and the generation of the
    /// session it watches (see `Session::generation`).
    watcher: Mutex<Option<(u64, tokio::task::JoinHandle<()>)>>,
}

impl ZookeeperJobBoard {
    /// Opens the board named `board` under the URL's chroot, creating its
    /// nodes if needed. The URL takes the keys of the ZooKeeper logbook
    /// (`session_timeout`, `connect_timeout`, `query_timeout`, `timeout`,
    /// `max_request`; see
    /// [`ZookeeperBackend`](crate::persistence::ZookeeperBackend)).
    pub fn open(url: &str, board: &str) -> Result<ZookeeperJobBoard, JobBoardError> {
        let shown = redact_url(url);
        let invalid = |reason: String| JobBoardError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        if board == "." || board == ".." {
            return Err(invalid(format!(
                "board name `{board}` is not a ZooKeeper node name"
            )));
        }
        let session = Session::parse(url).map_err(invalid)?;
        let this = ZookeeperJobBoard {
            describe: format!("jobboard `{board}` at {shown}"),
            session,
            root: format!("/boards/{board}"),
            changes: Arc::default(),
            watcher: Mutex::new(None),
        };
        let me = &this;
        me.call("create the jobboard", |c| async move {
            let this = me;
            let schema = format!("{}/schema", this.root);
            match absent(c.get_data(&schema).await)? {
                Some((bytes, _)) => {
                    let text = String::from_utf8_lossy(&bytes);
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
                }
                None => {
                    c.mkdir(&this.root, &persistent()).await?;
                    let mut batch = Batch::new(&c);
                    for child in ["jobs", "claims", "ready", "claimed", "posted"] {
                        let path = format!("{}/{child}", this.root);
                        if !exists(&c, &path).await? {
                            batch.create(&path, b"", &persistent(), Op)?;
                        }
                    }
                    let version = LAYOUT_VERSION.to_string();
                    batch.create(&schema, version.as_bytes(), &persistent(), Op)?;
                    match batch.commit(this.session.max_request).await? {
                        // Or another process made them meanwhile.
                        Ok(()) | Err((_, zk::Error::NodeExists)) => Ok(()),
                        Err((_, e)) => Err(e.into()),
                    }
                }
            }
        })?;
        this.watch();
        Ok(this)
    }

    /// Deletes every node of this board (its jobs, claims and schema).
    pub fn purge(&self) -> Result<(), JobBoardError> {
        self.call("purge the jobboard", |c| async move {
            for _ in 0..CONFLICT_TRIES {
                let mut batch = Batch::new(&c);
                for child in ["jobs", "claims", "ready", "claimed"] {
                    let dir = format!("{}/{child}", self.root);
                    for name in absent(c.list_children(&dir).await)?.unwrap_or_default() {
                        batch.delete(&format!("{dir}/{name}"), None, Op)?;
                    }
                }
                for node in ["jobs", "claims", "ready", "claimed", "posted", "schema"] {
                    let path = format!("{}/{node}", self.root);
                    if exists(&c, &path).await? {
                        batch.delete(&path, None, Op)?;
                    }
                }
                if exists(&c, &self.root).await? {
                    batch.delete(&self.root, None, Op)?;
                }
                match batch.commit(usize::MAX).await? {
                    Ok(()) => return Ok(()),
                    // Changed meanwhile: look again.
                    Err((_, zk::Error::NoNode | zk::Error::NotEmpty)) => {}
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(conflict())
        })
    }

    /// Sets a persistent recursive watch on the jobs, unless one is set: a
    /// task of the session's runtime counts the changes it sees, until the
    /// session ends or is replaced by a new one (the next wait sets a new
    /// watch).
    fn watch(&self) {
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, task)) = &*watcher {
            if *generation != self.session.generation() {
                // A call replaced the session the watch was set on (it had
                // gone quiet): that watch is lost.
                task.abort();
                *watcher = None;
                self.changes.lost();
            }
        }
        if !self.changes.should_watch() {
            return;
        }
        let jobs = format!("{}/jobs", self.root);
        let set = self.session.call(|c| async move {
            Ok(c.watch(&jobs, zk::AddWatchMode::PersistentRecursive)
                .await?)
        });
        let Ok(mut events) = set else {
            // The server is away: waiting falls back to the poll interval.
            self.changes.unset();
            return;
        };
        let generation = self.session.generation();
        self.changes.set();
        let changes = Arc::clone(&self.changes);
        let task = self.session.spawn(async move {
            loop {
                let event = events.changed().await;
                // Disconnected: events while away are lost (ZOOKEEPER-4698),
                // and a persistent watch is not always set again on the
                // server the client reconnects to, so a new one is set by
                // the next wait. The session ended: so did its watch.
                if event.event_type == zk::EventType::Session
                    && (event.session_state == zk::SessionState::Disconnected
                        || event.session_state.is_terminated())
                {
                    changes.lost();
                    return;
                }
                changes.note();
            }
        });
        *watcher = Some((generation, task));
    }

    /// Runs one call (see `Session::call`), naming `operation` in errors.
    fn call<T, F, Fut>(&self, operation: &str, f: F) -> Result<T, JobBoardError>
    where
        F: FnOnce(zk::Client) -> Fut,
        Fut: Future<Output = Res<T>>,
    {
        self.session.call(f).map_err(|fail| {
            let transient = fail.is_transient();
            match fail {
                Fail::Own(e) => match e.downcast::<JobBoardError>() {
                    Ok(e) => *e,
                    Err(e) => JobBoardError::Backend {
                        board: self.describe.clone(),
                        operation: operation.to_owned(),
                        source: e,
                        transient,
                    },
                },
                Fail::TimedOut { bound, after } => JobBoardError::TimedOut {
                    board: self.describe.clone(),
                    operation: operation.to_owned(),
                    bound,
                    after,
                },
                Fail::TooLarge { bytes, max } => JobBoardError::Backend {
                    board: self.describe.clone(),
                    operation: operation.to_owned(),
                    source: Fail::too_large(bytes, max).into(),
                    transient: false,
                },
                Fail::Zk(e) => JobBoardError::Backend {
                    board: self.describe.clone(),
                    operation: format!("{operation} (ZooKeeper {})", self.session.servers),
                    source: Box::new(e),
                    transient,
                },
            }
        })
    }

    fn job_path(&self, id: Uuid) -> String {
        format!("{}/jobs/{id}", self.root)
    }

    fn claim_path(&self, id: Uuid) -> String {
        format!("{}/claims/{id}", self.root)
    }

    /// A ready job's entry in the ready index: its key, then its id, so that
    /// the names sort in claiming order.
    fn ready_path(&self, key: &str, id: Uuid) -> String {
        format!("{}/ready/{key}-{id}", self.root)
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
                field: "(node)",
                reason: e.to_string(),
            }
            .into()
        })
    }

    fn decode(&self, id: Uuid, bytes: &[u8], stat: &zk::Stat) -> Res<Read> {
        let s: Stored = serde_json::from_slice(bytes).map_err(|e| JobBoardError::Corrupt {
            board: self.describe.clone(),
            job: id.to_string(),
            field: "(node)",
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
            version: stat.version,
            czxid: stat.czxid,
        })
    }

    async fn read(&self, c: &zk::Client, id: Uuid) -> Res<Read> {
        match absent(c.get_data(&self.job_path(id)).await)? {
            Some((bytes, stat)) => self.decode(id, &bytes, &stat),
            None => Err(self.not_found(id)),
        }
    }

    /// Every job, in posting order; a corrupt one is an error.
    async fn read_all(&self, c: &zk::Client) -> Res<Vec<Read>> {
        let names = c.list_children(&format!("{}/jobs", self.root)).await?;
        let ids: Vec<Uuid> = names.iter().filter_map(|n| n.parse().ok()).collect();
        self.read_some(c, &ids).await
    }

    /// These jobs (those still there), in posting order; the reads go out
    /// together.
    async fn read_some(&self, c: &zk::Client, ids: &[Uuid]) -> Res<Vec<Read>> {
        let ids = ids.to_vec();
        let paths: Vec<String> = ids.iter().map(|id| self.job_path(*id)).collect();
        let reads: Vec<_> = paths.iter().map(|p| c.get_data(p)).collect();
        let mut jobs = Vec::with_capacity(ids.len());
        for (read, id) in reads.into_iter().zip(ids) {
            if let Some((bytes, stat)) = absent(read.await)? {
                jobs.push(self.decode(id, &bytes, &stat)?);
            }
        }
        jobs.sort_by_key(|r| r.czxid);
        Ok(jobs)
    }

    /// The job under `claim`, with its version; `Lost` unless the claim is
    /// current.
    async fn locked(&self, c: &zk::Client, claim: &Claim) -> Res<Read> {
        let read = self.read(c, claim.job.id).await?;
        super::check_claim(&self.describe, &read.job, claim)?;
        Ok(read)
    }

    /// Writes `job` over the version read, with its claim node made to
    /// match: this session's for a claimed job, none otherwise. `false` if
    /// the job changed meanwhile (nothing was written).
    async fn write(&self, c: &zk::Client, read: &Read, job: &Job) -> Res<bool> {
        let claim_path = self.claim_path(job.id);
        let holder = absent(c.get_data(&claim_path).await)?;
        let mut batch = Batch::new(c);
        batch.set(
            &self.job_path(job.id),
            &self.encode(job, &read.key)?,
            Some(read.version),
            Op,
        )?;
        // The indexes follow the state, in the same `multi`.
        let (was, now) = (read.was, job.state);
        if was != now {
            let ready = self.ready_path(&read.key, job.id);
            let claimed = format!("{}/claimed/{}", self.root, job.id);
            match was {
                JobState::Ready => batch.delete(&ready, None, Op)?,
                JobState::Claimed => batch.delete(&claimed, None, Op)?,
                _ => {}
            }
            match now {
                JobState::Ready => batch.create(&ready, b"", &persistent(), Op)?,
                JobState::Claimed => batch.create(&claimed, b"", &persistent(), Op)?,
                _ => {}
            }
        }
        let ours = holder
            .as_ref()
            .is_some_and(|(_, stat)| stat.ephemeral_owner == c.session_id().0);
        match (job.state, &holder) {
            (JobState::Claimed, Some(_)) if ours => {
                // Same claim: the node stands (its token is checked through
                // the job's version).
                let node = ClaimNode {
                    owner: job.owner.clone().unwrap_or_default(),
                    token: job.token,
                };
                let data = serde_json::to_vec(&node).unwrap_or_default();
                batch.set(&claim_path, &data, None, Op)?;
            }
            (JobState::Claimed, _) => {
                if let Some((_, stat)) = &holder {
                    batch.delete(&claim_path, Some(stat.version), Op)?;
                }
                let node = ClaimNode {
                    owner: job.owner.clone().unwrap_or_default(),
                    token: job.token,
                };
                let data = serde_json::to_vec(&node).unwrap_or_default();
                batch.create(&claim_path, &data, &ephemeral(), Op)?;
            }
            (_, Some((_, stat))) => batch.delete(&claim_path, Some(stat.version), Op)?,
            (_, None) => {}
        }
        match batch.commit(self.session.max_request).await? {
            Ok(()) => Ok(true),
            Err((_, zk::Error::BadVersion | zk::Error::NoNode | zk::Error::NodeExists)) => {
                Ok(false)
            }
            Err((_, e)) => Err(e.into()),
        }
    }

    /// The claimed job whose claim expired first (past its time, or its
    /// claim node gone with its conductor's session), if any.
    async fn expired(&self, c: &zk::Client) -> Res<Option<Read>> {
        // The claimed jobs are few: those being run.
        let claimed: Vec<Uuid> = c
            .list_children(&format!("{}/claimed", self.root))
            .await?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        if claimed.is_empty() {
            return Ok(None);
        }
        let claimed = self.read_some(c, &claimed).await?;
        let held: HashSet<Uuid> = c
            .list_children(&format!("{}/claims", self.root))
            .await?
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let now = now_ms();
        Ok(claimed
            .into_iter()
            .filter(|r| {
                r.job.state == JobState::Claimed
                    && (r.job.expires_at <= now || !held.contains(&r.job.id))
            })
            .min_by_key(|r| (r.job.expires_at, r.czxid)))
    }

    /// Claims the job read (ready, or held under an expired claim) for
    /// `owner`, unless another writer changed it first.
    async fn take(&self, c: &zk::Client, read: &Read, owner: &str, ttl: Duration) -> Res<Took> {
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
        self.call(operation, |c| async move {
            for _ in 0..CONFLICT_TRIES {
                let mut read = self.read(&c, id).await?;
                let before = read.job.clone();
                change(&mut read.job)?;
                read.job.updated_at = now_ms();
                if self.write(&c, &read, &read.job).await? {
                    return Ok(before);
                }
            }
            Err(conflict())
        })
    }

    /// Deletes the job `id` if `allowed` says so, with its claim node, in
    /// one `multi` checked against the version read. Returns the job.
    fn remove(
        &self,
        operation: &str,
        id: Uuid,
        allowed: impl Fn(&Job) -> Result<(), JobBoardError>,
    ) -> Result<Job, JobBoardError> {
        self.call(operation, |c| async move {
            for _ in 0..CONFLICT_TRIES {
                let read = self.read(&c, id).await?;
                allowed(&read.job)?;
                let mut batch = Batch::new(&c);
                let claim_path = self.claim_path(id);
                if let Some(stat) = absent(c.check_stat(&claim_path).await)?.flatten() {
                    batch.delete(&claim_path, Some(stat.version), Op)?;
                }
                match read.was {
                    JobState::Ready => batch.delete(&self.ready_path(&read.key, id), None, Op)?,
                    JobState::Claimed => {
                        batch.delete(&format!("{}/claimed/{id}", self.root), None, Op)?
                    }
                    _ => {}
                }
                batch.delete(&self.job_path(id), Some(read.version), Op)?;
                match batch.commit(self.session.max_request).await? {
                    Ok(()) => return Ok(read.job),
                    Err((_, zk::Error::BadVersion | zk::Error::NoNode)) => {}
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(conflict())
        })
    }
}

impl From<JobBoardError> for Fail {
    fn from(e: JobBoardError) -> Fail {
        Fail::Own(Box::new(e))
    }
}

fn conflict() -> Fail {
    Fail::Zk(zk::Error::UnexpectedError(format!(
        "the job kept changing under {CONFLICT_TRIES} tries"
    )))
}

impl Rewrite for ZookeeperJobBoard {
    fn under<T>(
        &self,
        operation: &str,
        claim: &Claim,
        change: impl Fn(&mut Job, i64) -> T,
    ) -> Result<T, JobBoardError> {
        self.call(operation, |c| async move {
            for _ in 0..CONFLICT_TRIES {
                let mut read = self.locked(&c, claim).await?;
                let now = now_ms();
                let out = change(&mut read.job, now);
                read.job.updated_at = now;
                if self.write(&c, &read, &read.job).await? {
                    return Ok(out);
                }
            }
            Err(conflict())
        })
    }
}

impl JobBoard for ZookeeperJobBoard {
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
        self.call("post a job", |c| async move {
            // The posting number comes from the board's counter, taken in
            // the same `multi` (a lost race reads it again).
            let counter = format!("{}/posted", self.root);
            for _ in 0..CONFLICT_TRIES {
                let (bytes, stat) = c.get_data(&counter).await?;
                let n = String::from_utf8_lossy(&bytes)
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0)
                    + 1;
                // Higher priorities first: the key holds 2^31 - 1 - priority.
                let inverted = i64::from(i32::MAX) - i64::from(job.spec.priority);
                let key = format!("{inverted:010}-{n:020}");
                let mut batch = Batch::new(&c);
                batch.set(&counter, n.to_string().as_bytes(), Some(stat.version), Op)?;
                let data = self.encode(&job, &key)?;
                batch.create(&self.job_path(job.id), &data, &persistent(), Op)?;
                batch.create(&self.ready_path(&key, job.id), b"", &persistent(), Op)?;
                match batch.commit(self.session.max_request).await? {
                    Ok(()) => return Ok(job),
                    Err((_, zk::Error::BadVersion)) => {}
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(conflict())
        })
    }

    fn claim(&self, owner: &str, ttl: Duration) -> Result<Option<Claim>, JobBoardError> {
        self.changes.claiming();
        self.call("claim a job", |c| async move {
            let mut tries = 0;
            while tries < CONFLICT_TRIES {
                // An expired claim first (its conductor died: its session
                // ended, or it stopped renewing).
                if let Some(read) = self.expired(&c).await? {
                    match self.take(&c, &read, owner, ttl).await? {
                        Took::Claim(claim) => return Ok(Some(*claim)),
                        Took::Buried => {}
                        Took::Lost => tries += 1,
                    }
                    continue;
                }
                // Then the ready index, in order. An entry another claimer
                // took since the listing is passed over; the index is
                // listed again only when every entry was.
                let mut ready = c.list_children(&format!("{}/ready", self.root)).await?;
                if ready.is_empty() {
                    return Ok(None);
                }
                ready.sort_unstable();
                for name in &ready {
                    let id = name
                        .get(32..)
                        .and_then(|id| id.parse().ok())
                        .ok_or_else(|| JobBoardError::Corrupt {
                            board: self.describe.clone(),
                            job: name.clone(),
                            field: "ready index",
                            reason: "not `<priority>-<number>-<job id>`".into(),
                        })?;
                    let Some((bytes, stat)) = absent(c.get_data(&self.job_path(id)).await)? else {
                        continue; // deleted meanwhile
                    };
                    let read = self.decode(id, &bytes, &stat)?;
                    if read.job.state != JobState::Ready {
                        continue; // claimed (or ended) meanwhile
                    }
                    if let Took::Claim(claim) = self.take(&c, &read, owner, ttl).await? {
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
        self.call(
            "read a job",
            |c| async move { Ok(self.read(&c, id).await?.job) },
        )
    }

    fn list(&self, state: Option<JobState>) -> Result<Vec<Job>, JobBoardError> {
        self.call("list jobs", |c| async move {
            Ok(self
                .read_all(&c)
                .await?
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

impl Drop for ZookeeperJobBoard {
    fn drop(&mut self) {
        // Its claims' nodes go now, not when the session times out.
        self.session.close();
    }
}
