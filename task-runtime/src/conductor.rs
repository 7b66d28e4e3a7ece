//! Conductors: claim jobs from a [`JobBoard`], rebuild each job's flow from
//! its registered factory (`flow_factory!`), run it with persistence, and
//! mark the job done.
//!
//! A conductor renews its claim in the background while the flow runs. If
//! the conductor dies, its claim expires; the next conductor to claim the job
//! finds the flow detail the job recorded and resumes the run from the
//! logbook ([`Engine::resume`]): tasks that had finished are not run again.
//! If a conductor learns that it lost its claim (it hung past the claim's
//! expiry and another took the job), it suspends its run at once, and its
//! logbook writes are fenced by the flow's lease anyway.
//!
//! **The board away for a while.** Writes to the board under a claim —
//! renewing it, recording the flow detail, completing, failing or releasing
//! the job — that fail with a transient error (connection refused, reset or
//! lost, no answer within the board's bound: [`JobBoardError::is_transient`])
//! are tried again after 50 ms, then after twice as long each time (at most
//! 2 s), each wait jittered to 75–125 %, until the claim would expire (its
//! time-to-live after the conductor last asked for it, by the conductor's own
//! clock, which errs on the early side). Only then does the conductor give up
//! on the job. Definitive answers ([`JobBoardError::Lost`],
//! [`JobBoardError::NotFound`], a corrupt job) are not tried again. A write
//! whose answer was lost may have been applied; when a try after such an
//! error is answered `Lost`, the conductor reads the job to see whether its
//! own earlier try did it (the job done, or given back, under its token).
//! Each try waits at most the board's own bound (for Redis, the URL's
//! `timeout`), so the last one may end that much after the claim expired.
//!
//! A flow that ran to an end is never counted as a failed attempt of its job.
//! If the conductor could not mark the job done before its claim expired, the
//! next conductor that claims the job (taking over the expired claim records
//! the expiry as a failure) finds the flow detail ended, runs nothing, and
//! completes the job with [`JobBoard::complete_ended`], which withdraws that
//! expiry failure. (If that expiry was the job's last allowed failure, the
//! board moves the job aside as dead when it is taken over, before any
//! conductor can look at the logbook: give jobs room for one more failure
//! than they need, or look at dead jobs' flow details.)
//!
//! **A run stuck on a dead server.** The keeper renews the claim only while
//! the run goes on. When the engine cannot write to its logbook (the
//! logbook's server refused or did not answer within its bound), the engine
//! stops the run at once with [`RunError::Persistence`]; the keeper is
//! stopped and the job failed (given back, a failure counted), not renewed.
//! The bound of a logbook write is the persistence backend's; a backend
//! whose writes can wait forever keeps its run's claim renewed for as long.
//! When the keeper itself cannot renew the claim before it would expire, it
//! takes the claim for lost and suspends the run.
//!
//! A job whose flow cannot be built or run (an unknown factory, parameters
//! the factory refuses, a logbook that refuses writes) fails; after its
//! failure limit it is dead. A flow that ran to an end — success, or reverted
//! after a task failed — makes the job done, with the flow's final state as
//! its outcome: reverting is the flow's own way of ending, not a reason to
//! run it again.
//!
//! ```no_run
//! use std::time::Duration;
//! use taskwire_runtime::conductor::Conductor;
//! use taskwire_runtime::{jobboard, persistence};
//!
//! let board = jobboard::open("redis://127.0.0.1/0", "volumes")?;
//! let logbook = persistence::open("postgres://postgres@127.0.0.1/taskwire")?;
//! let conductor = Conductor::new("node-a", board, logbook).claim_ttl(Duration::from_secs(10));
//! let shutdown = conductor.shutdown_handle();
//! // From a signal handler, say: finish the job in hand, then stop (or
//! // `release()`: suspend it and give it back).
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_secs(3600));
//!     shutdown.finish();
//! });
//! let report = conductor.run();
//! println!("{report:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// A run ends with at most one (large) error; not on any hot path.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{Engine, FlowState, RunError, Suspender};
use crate::jobboard::{Claim, Job, JobBoard, JobBoardError, JobState};
use crate::persistence::{now_ms, Backend, PersistenceError};

/// Engine customization applied to every job's engine before it runs
/// (resources, listeners, an executor, `max_workers`).
type Configure = dyn Fn(Engine, &Job) -> Engine + Send + Sync;

/// Runs jobs from a board; see the [module documentation](self).
pub struct Conductor {
    name: String,
    board: Arc<dyn JobBoard>,
    logbook: Arc<dyn Backend>,
    claim_ttl: Duration,
    poll: Duration,
    configure: Option<Arc<Configure>>,
    shutdown: Shutdown,
}

impl std::fmt::Debug for Conductor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conductor")
            .field("name", &self.name)
            .field("board", &self.board.describe())
            .field("logbook", &self.logbook.url())
            .field("claim_ttl", &self.claim_ttl)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

const RUNNING: u8 = 0;
const FINISH: u8 = 1;
const RELEASE: u8 = 2;

/// Asks a conductor to stop; cheap to clone, usable from any thread (a signal
/// handler's, say).
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    mode: Arc<AtomicU8>,
    /// The running flow's suspender, to release it.
    current: Arc<Mutex<Option<Suspender>>>,
    wake: Arc<(Mutex<()>, Condvar)>,
}

impl Shutdown {
    /// Finish the job in hand, then stop.
    pub fn finish(&self) {
        let _ = self
            .mode
            .compare_exchange(RUNNING, FINISH, Ordering::SeqCst, Ordering::SeqCst);
        self.wake.1.notify_all();
    }

    /// Suspend the job in hand (its running tasks finish), give it back to
    /// the board without counting a failure, then stop. Another conductor
    /// resumes it where it stopped.
    pub fn release(&self) {
        self.mode.store(RELEASE, Ordering::SeqCst);
        if let Some(s) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            s.suspend();
        }
        self.wake.1.notify_all();
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.mode.load(Ordering::SeqCst) != RUNNING
    }

    fn releasing(&self) -> bool {
        self.mode.load(Ordering::SeqCst) == RELEASE
    }

    /// Sleeps for `d`, or less if a stop is asked for.
    fn sleep(&self, d: Duration) {
        let guard = self.wake.0.lock().unwrap_or_else(|e| e.into_inner());
        if !self.is_requested() {
            let _ = self.wake.1.wait_timeout(guard, d);
        }
    }
}

/// How long a conductor waiting on a watching board goes without looking
/// whether it was asked to stop.
const WATCH_SLICE: Duration = Duration::from_millis(200);

/// What became of one claimed job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// The flow ran to an end; the job is done.
    Done {
        /// The job (as claimed).
        job: Job,
        /// How the flow ended (SUCCESS, REVERTED or FAILURE).
        state: FlowState,
    },
    /// The job could not be run; the failure was recorded on the job.
    Failed {
        /// The job (as claimed).
        job: Job,
        /// Its state now: ready again, or dead.
        state: JobState,
        /// What went wrong.
        error: String,
    },
    /// The conductor was shut down with [`Shutdown::release`]: the run was
    /// suspended and the job given back.
    Released {
        /// The job (as claimed).
        job: Job,
    },
    /// The claim was lost (it expired and another conductor took the job);
    /// this conductor stopped writing.
    Lost {
        /// The job (as claimed).
        job: Job,
        /// Why the conductor knows.
        error: String,
    },
}

/// How many jobs a conductor's [`Conductor::run`] handled, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConductorReport {
    /// Jobs done.
    pub done: usize,
    /// Jobs that failed (ready again or dead).
    pub failed: usize,
    /// Jobs given back at shutdown.
    pub released: usize,
    /// Claims lost to another conductor.
    pub lost: usize,
}

impl Conductor {
    /// A conductor named `name` (its claims' and leases' owner: give each
    /// process its own, and the same one again after a restart), taking jobs
    /// from `board` and recording runs in `logbook`.
    pub fn new(
        name: impl Into<String>,
        board: Arc<dyn JobBoard>,
        logbook: Arc<dyn Backend>,
    ) -> Conductor {
        Conductor {
            name: name.into(),
            board,
            logbook,
            claim_ttl: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            configure: None,
            shutdown: Shutdown::default(),
        }
    }

    /// How long a claim (and the flow's lease) lasts without renewal
    /// (default 30 s; renewed every third of it). A dead conductor's jobs are
    /// taken over after this.
    pub fn claim_ttl(mut self, ttl: Duration) -> Conductor {
        self.claim_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// How long [`Conductor::run`] waits when the board has no job (default
    /// 500 ms).
    pub fn poll_interval(mut self, poll: Duration) -> Conductor {
        self.poll = poll;
        self
    }

    /// Customizes every job's engine before it runs: resources, listeners,
    /// an executor, `max_workers`.
    pub fn configure(
        mut self,
        f: impl Fn(Engine, &Job) -> Engine + Send + Sync + 'static,
    ) -> Conductor {
        self.configure = Some(Arc::new(f));
        self
    }

    /// A handle to stop [`Conductor::run`].
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The conductor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Claims and runs jobs until shut down. A board that cannot be reached
    /// is retried after the poll interval (and logged with `tracing`).
    pub fn run(&self) -> ConductorReport {
        let mut report = ConductorReport::default();
        while !self.shutdown.is_requested() {
            match self.run_one() {
                Ok(Some(outcome)) => match outcome {
                    JobOutcome::Done { .. } => report.done += 1,
                    JobOutcome::Failed { .. } => report.failed += 1,
                    JobOutcome::Released { .. } => report.released += 1,
                    JobOutcome::Lost { .. } => report.lost += 1,
                },
                Ok(None) => self.wait_for_jobs(),
                Err(e) => {
                    tracing::warn!(conductor = %self.name, error = %e, "cannot claim a job");
                    self.shutdown.sleep(self.poll);
                }
            }
        }
        report
    }

    /// Waits for work after a claim found none: the poll interval, or on a
    /// board that watches its jobs until one changes (at most the poll
    /// interval); a stop asked for ends the wait within [`WATCH_SLICE`].
    fn wait_for_jobs(&self) {
        if !self.board.watches() {
            return self.shutdown.sleep(self.poll);
        }
        let deadline = Instant::now() + self.poll;
        while !self.shutdown.is_requested() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.board.wait_for_change(left.min(WATCH_SLICE)) {
                return;
            }
        }
    }

    /// Claims the next job and runs it; `None` if the board has no job for
    /// now. Errors are the board's, when claiming.
    pub fn run_one(&self) -> Result<Option<JobOutcome>, JobBoardError> {
        let asked = Instant::now();
        let claimed = self.board.claim(&self.name, self.claim_ttl);
        #[cfg(feature = "metrics")]
        crate::telemetry::meter::jobboard_claim(asked.elapsed());
        let Some(claim) = claimed? else {
            return Ok(None);
        };
        // The job's span continues the trace of whoever posted it; the
        // flow's span is its child.
        let span = tracing::info_span!(
            "job",
            conductor = %self.name,
            job = %claim.job.id,
            name = %claim.job.spec.name,
            factory = %claim.job.spec.factory,
            token = claim.token,
            outcome = tracing::field::Empty,
        );
        crate::telemetry::set_parent(&span, &claim.job.spec.trace);
        let _entered = span.enter();
        tracing::info!(conductor = %self.name, job = %claim.job.id, name = %claim.job.spec.name, token = claim.token, "claimed");
        let keeper = Keeper::start(
            Arc::clone(&self.board),
            claim.clone(),
            self.claim_ttl,
            asked + self.claim_ttl,
        );
        let outcome = self.work(&claim, &keeper);
        keeper.stop();
        span.record("outcome", outcome_name(&outcome));
        tracing::info!(conductor = %self.name, job = %claim.job.id, outcome = ?outcome_name(&outcome), "finished with the job");
        Ok(Some(outcome))
    }

    fn work(&self, claim: &Claim, keeper: &Keeper) -> JobOutcome {
        let job = claim.job.clone();
        let mut engine = match self.engine(claim, keeper) {
            Ok(engine) => engine,
            Err(Stop::Fail(error)) => return self.fail(keeper, job, error),
            Err(Stop::Lost(error)) => return JobOutcome::Lost { job, error },
        };
        // A flow that had ended before this claim: its conductor could not
        // say so in time. Nothing runs; the expiry is no failure of the job.
        let ended_before = job.flow.is_some() && engine.flow_state().is_final();
        let suspender = engine.suspender();
        *keeper.suspender.lock().unwrap_or_else(|e| e.into_inner()) = Some(suspender.clone());
        *self
            .shutdown
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(suspender.clone());
        if self.shutdown.releasing() {
            suspender.suspend();
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run()));
        *self
            .shutdown
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(error) = keeper.lost() {
            return JobOutcome::Lost { job, error };
        }
        let state = match run {
            Ok(Ok(done)) => done.flow_state(),
            Ok(Err(RunError::Failed { .. } | RunError::RevertFailed { .. })) => engine.flow_state(),
            Ok(Err(RunError::Ended { state, .. })) => state,
            Ok(Err(e)) => return self.fail(keeper, job, e.to_string()),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".to_owned());
                return self.fail(keeper, job, format!("the engine panicked: {what}"));
            }
        };
        if state == FlowState::Suspended {
            let tried = keeper.retry("release the job", |claim| self.board.release(claim));
            return match tried {
                Tried::Done(()) => JobOutcome::Released { job },
                Tried::Refused {
                    uncertain: true, ..
                } if self.released_before(&keeper.current()) => JobOutcome::Released { job },
                other => JobOutcome::Lost {
                    job,
                    error: other.error("release the job"),
                },
            };
        }
        let tried = keeper.retry("complete the job", |claim| {
            if ended_before {
                self.board.complete_ended(claim, state)
            } else {
                self.board.complete(claim, state)
            }
        });
        match tried {
            Tried::Done(()) => JobOutcome::Done { job, state },
            Tried::Refused {
                uncertain: true, ..
            } if self.completed_before(&keeper.current()) => JobOutcome::Done { job, state },
            other => {
                let error = format!(
                    "{}; its flow ended {state}: the conductor that takes the job over completes it without running it",
                    other.error("complete the job")
                );
                tracing::warn!(conductor = %self.name, job = %job.id, %error, "cannot complete the job");
                JobOutcome::Lost { job, error }
            }
        }
    }

    /// Whether an earlier try of ours, whose answer was lost, completed the
    /// job under `claim`.
    fn completed_before(&self, claim: &Claim) -> bool {
        self.board.get(claim.job.id).is_ok_and(|j| {
            j.state == JobState::Done
                && j.owner.as_deref() == Some(claim.owner.as_str())
                && j.token == claim.token
        })
    }

    /// Whether an earlier try of ours, whose answer was lost, gave the job
    /// back: ready under our token, or taken since without our claim's expiry
    /// recorded.
    fn released_before(&self, claim: &Claim) -> bool {
        self.board.get(claim.job.id).is_ok_and(|j| {
            (j.state == JobState::Ready && j.token == claim.token)
                || (j.token > claim.token
                    && !j
                        .failures
                        .iter()
                        .any(|f| f.token == claim.token && f.owner == claim.owner))
        })
    }

    /// Whether an earlier try of ours, whose answer was lost, recorded the
    /// failure `message` under `claim`; the job's state it left then.
    fn failed_before(&self, claim: &Claim, message: &str) -> Option<JobState> {
        let j = self.board.get(claim.job.id).ok()?;
        let n = j.failures.iter().position(|f| {
            f.token == claim.token && f.owner == claim.owner && f.message == message
        })?;
        Some(if n + 1 >= j.max_failures() as usize {
            JobState::Dead
        } else {
            JobState::Ready
        })
    }

    /// The job's engine: its recorded run resumed, or a new run recorded
    /// and noted on the job.
    fn engine(&self, claim: &Claim, keeper: &Keeper) -> Result<Engine, Stop> {
        let job = &claim.job;
        let mut engine = match job.flow {
            Some(flow) => self.resumed(flow, keeper)?,
            None => {
                let mut engine = Engine::from_factory(&job.spec.factory, job.spec.params.clone())
                    .map_err(|e| Stop::Fail(e.to_string()))?;
                for (name, value) in &job.spec.inputs {
                    engine = engine.input(name.clone(), value);
                }
                engine = engine
                    .persist(Arc::clone(&self.logbook))
                    .owner(self.name.clone())
                    .lease_ttl(self.claim_ttl);
                if let Some(logbook) = job.spec.logbook {
                    engine = engine.logbook(logbook);
                }
                engine.compile().map_err(|e| Stop::Fail(e.to_string()))?;
                let flow = engine.flow_uuid().expect("persisted");
                match keeper.retry("record the job's flow detail", |claim| {
                    self.board.set_flow(claim, flow)
                }) {
                    Tried::Done(()) => {}
                    Tried::Refused {
                        error: e @ (JobBoardError::Lost { .. } | JobBoardError::NotFound { .. }),
                        ..
                    } => return Err(Stop::Lost(e.to_string())),
                    Tried::Refused { error, .. } => return Err(Stop::Fail(error.to_string())),
                    gave_up => {
                        return Err(Stop::Lost(gave_up.error("record the job's flow detail")))
                    }
                }
                engine
            }
        };
        if let Some(configure) = &self.configure {
            engine = configure(engine, job);
        }
        Ok(engine)
    }

    /// Resumes the recorded run `flow`, waiting (while the claim is kept)
    /// for the lease of a conductor that died to expire.
    fn resumed(&self, flow: crate::persistence::Uuid, keeper: &Keeper) -> Result<Engine, Stop> {
        let give_up = Instant::now() + self.claim_ttl * 4;
        loop {
            let mut engine = Engine::resume(Arc::clone(&self.logbook), flow)
                .map_err(|e| Stop::Fail(e.to_string()))?
                .owner(self.name.clone())
                .lease_ttl(self.claim_ttl);
            match engine.compile() {
                Ok(_) => return Ok(engine),
                Err(RunError::Persistence {
                    source: PersistenceError::LeaseHeld { expires_at, .. },
                    ..
                }) if Instant::now() < give_up => {
                    if let Some(error) = keeper.lost() {
                        return Err(Stop::Lost(error));
                    }
                    let wait = (expires_at - now_ms()).clamp(10, 1000) as u64;
                    std::thread::sleep(Duration::from_millis(wait));
                }
                Err(e) => return Err(Stop::Fail(e.to_string())),
            }
        }
    }

    fn fail(&self, keeper: &Keeper, job: Job, error: String) -> JobOutcome {
        tracing::warn!(conductor = %self.name, job = %job.id, %error, "the job failed");
        match keeper.retry("record the job's failure", |claim| {
            self.board.fail(claim, &error)
        }) {
            Tried::Done(state) => {
                #[cfg(feature = "metrics")]
                if state == JobState::Dead {
                    crate::telemetry::meter::dead_job(self.board.describe());
                }
                JobOutcome::Failed { job, state, error }
            }
            tried => {
                if let Tried::Refused {
                    uncertain: true, ..
                } = tried
                {
                    if let Some(state) = self.failed_before(&keeper.current(), &error) {
                        return JobOutcome::Failed { job, state, error };
                    }
                }
                JobOutcome::Lost {
                    job,
                    error: tried.error("record the job's failure"),
                }
            }
        }
    }
}

fn outcome_name(outcome: &JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Done { .. } => "done",
        JobOutcome::Failed { .. } => "failed",
        JobOutcome::Released { .. } => "released",
        JobOutcome::Lost { .. } => "lost",
    }
}

enum Stop {
    Fail(String),
    Lost(String),
}

/// The first wait before a board write that failed transiently is tried
/// again; each next wait is twice as long, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);

/// The longest wait between two tries of a board write.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What became of a board write tried until the claim would expire.
enum Tried<T> {
    /// It was applied.
    Done(T),
    /// The board answered with a definitive error (`uncertain`: after a
    /// transient error, so that an earlier try may have been applied and
    /// this error be its consequence).
    Refused {
        error: JobBoardError,
        uncertain: bool,
    },
    /// Transient errors until the claim would expire.
    GaveUp {
        error: JobBoardError,
        tries: u32,
        tried_for: Duration,
    },
}

impl<T> Tried<T> {
    /// The error, for the job's outcome; `what` was being done.
    fn error(&self, what: &str) -> String {
        match self {
            Tried::Done(_) => String::new(),
            Tried::Refused { error, .. } => error.to_string(),
            Tried::GaveUp {
                error,
                tries,
                tried_for,
            } => format!(
                "could not {what} before the claim would expire: {tries} tries in {:.1} s failed, the last with: {error}",
                tried_for.as_secs_f64()
            ),
        }
    }
}

/// Tries `op` until it succeeds, the board answers definitively, or
/// `deadline` passes, waiting between tries with `sleep` (which says `false`
/// to stop trying).
fn retry<T>(
    what: &str,
    job: crate::persistence::Uuid,
    deadline: impl Fn() -> Instant,
    sleep: impl Fn(Duration) -> bool,
    mut op: impl FnMut() -> Result<T, JobBoardError>,
) -> Tried<T> {
    let started = Instant::now();
    let mut delay = RETRY_FIRST;
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match op() {
            Ok(value) => {
                if tries > 1 {
                    tracing::info!(%job, what, tries, elapsed_ms = started.elapsed().as_millis() as u64, "the board answered again");
                }
                return Tried::Done(value);
            }
            Err(error) if error.is_transient() => error,
            Err(error) => {
                return Tried::Refused {
                    error,
                    uncertain: tries > 1,
                }
            }
        };
        let left = deadline().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Tried::GaveUp {
                error,
                tries,
                tried_for: started.elapsed(),
            };
        }
        let wait = delay.mul_f64(0.75 + fastrand::f64() / 2.0).min(left);
        tracing::warn!(%job, what, tries, %error, wait_ms = wait.as_millis() as u64, "the board is away; trying again");
        if !sleep(wait) {
            return Tried::GaveUp {
                error,
                tries,
                tried_for: started.elapsed(),
            };
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// What the keeper thread shares with the conductor.
struct Held {
    claim: Claim,
    /// When the claim would expire, by this process's clock: its time to
    /// live after it was last asked for (claimed or renewed).
    deadline: Instant,
}

/// Renews a claim every third of its time on a thread of its own; when the
/// claim is lost, suspends the run.
struct Keeper {
    held: Arc<Mutex<Held>>,
    lost: Arc<Mutex<Option<String>>>,
    suspender: Arc<Mutex<Option<Suspender>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Waits `d` unless stopped first; whether it was not stopped.
fn wait_unless_stopped(stop: &(Mutex<bool>, Condvar), d: Duration) -> bool {
    let guard = stop.0.lock().unwrap_or_else(|e| e.into_inner());
    let (guard, _) = stop
        .1
        .wait_timeout_while(guard, d, |stopped| !*stopped)
        .unwrap_or_else(|e| e.into_inner());
    !*guard
}

impl Keeper {
    fn start(board: Arc<dyn JobBoard>, claim: Claim, ttl: Duration, deadline: Instant) -> Keeper {
        let mut keeper = Keeper {
            held: Arc::new(Mutex::new(Held { claim, deadline })),
            lost: Arc::default(),
            suspender: Arc::default(),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            thread: None,
        };
        let (held, lost, suspender, stop) = (
            Arc::clone(&keeper.held),
            Arc::clone(&keeper.lost),
            Arc::clone(&keeper.suspender),
            Arc::clone(&keeper.stop),
        );
        let lose = move |job, error: String| {
            tracing::warn!(%job, %error, "claim lost; suspending the run");
            *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
            if let Some(s) = &*suspender.lock().unwrap_or_else(|e| e.into_inner()) {
                s.suspend();
            }
        };
        keeper.thread = Some(std::thread::spawn(move || loop {
            if !wait_unless_stopped(&stop, ttl / 3) {
                return;
            }
            let (current, job) = {
                let held = held.lock().unwrap_or_else(|e| e.into_inner());
                (held.claim.clone(), held.claim.job.id)
            };
            let asked = Instant::now();
            let deadline = || held.lock().unwrap_or_else(|e| e.into_inner()).deadline;
            let renewed = retry(
                "renew the claim",
                job,
                deadline,
                |d| wait_unless_stopped(&stop, d),
                || board.renew(&current, ttl),
            );
            match renewed {
                Tried::Done(renewed) => {
                    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                    held.claim = renewed;
                    held.deadline = asked + ttl;
                }
                // Renewing is idempotent: that refusal is the board's word.
                Tried::Refused {
                    error: error @ (JobBoardError::Lost { .. } | JobBoardError::NotFound { .. }),
                    ..
                } => return lose(job, error.to_string()),
                // Another error of the board's own: try again next time,
                // while the claim may still be alive.
                Tried::Refused { error, .. } => {
                    tracing::warn!(%job, %error, "cannot renew the claim");
                    if Instant::now() >= deadline() {
                        return lose(
                            job,
                            format!("could not renew the claim before it would expire: {error}"),
                        );
                    }
                }
                gave_up => {
                    if *stop.0.lock().unwrap_or_else(|e| e.into_inner()) {
                        return;
                    }
                    return lose(job, gave_up.error("renew the claim"));
                }
            }
        }));
        keeper
    }

    fn current(&self) -> Claim {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .claim
            .clone()
    }

    fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tries a write under the current claim until it succeeds, the board
    /// answers definitively, or the claim would expire.
    fn retry<T>(
        &self,
        what: &str,
        mut op: impl FnMut(&Claim) -> Result<T, JobBoardError>,
    ) -> Tried<T> {
        let job = self.current().job.id;
        retry(
            what,
            job,
            || self.held.lock().unwrap_or_else(|e| e.into_inner()).deadline,
            |d| {
                std::thread::sleep(d);
                true
            },
            || op(&self.current()),
        )
    }

    fn stop(mut self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn away() -> JobBoardError {
        JobBoardError::Backend {
            board: "b".to_owned(),
            operation: "complete a job".to_owned(),
            source: "connection refused".into(),
            transient: true,
        }
    }

    fn lost() -> JobBoardError {
        JobBoardError::Lost {
            board: "b".to_owned(),
            job: crate::persistence::Uuid::nil(),
            owner: "c".to_owned(),
            token: 1,
            now: "done".to_owned(),
        }
    }

    /// Waits double from 50 ms (jittered to 75-125 %) up to 2 s, the last one
    /// cut at the deadline; then the conductor gives up.
    #[test]
    fn transient_errors_are_tried_again_with_backoff_until_the_deadline() {
        let waits = RefCell::new(Vec::new());
        let deadline = Instant::now() + Duration::from_millis(700);
        let tried = retry(
            "complete the job",
            crate::persistence::Uuid::nil(),
            || deadline,
            |d| {
                waits.borrow_mut().push(d);
                std::thread::sleep(d);
                true
            },
            || Err::<(), _>(away()),
        );
        let waits = waits.into_inner();
        for (i, w) in waits.iter().enumerate().take(waits.len() - 1) {
            let nominal = RETRY_FIRST * 2u32.pow(i as u32);
            assert!(
                *w >= nominal.mul_f64(0.75) && *w <= nominal.mul_f64(1.25),
                "{i}: {w:?}"
            );
        }
        assert!(Instant::now() >= deadline);
        let Tried::GaveUp { tries, .. } = &tried else {
            panic!("gave up")
        };
        assert_eq!(*tries as usize, waits.len() + 1);
        assert!(tried
            .error("complete the job")
            .starts_with("could not complete the job before the claim would expire: "));
    }

    /// A definitive answer is not tried again; after a transient error it is
    /// marked uncertain (the earlier try may have been applied).
    #[test]
    fn definitive_errors_are_not_tried_again() {
        let calls = RefCell::new(0);
        let far = Instant::now() + Duration::from_secs(60);
        let tried = retry(
            "complete the job",
            crate::persistence::Uuid::nil(),
            || far,
            |_| true,
            || {
                *calls.borrow_mut() += 1;
                Err::<(), _>(lost())
            },
        );
        assert!(matches!(
            tried,
            Tried::Refused {
                uncertain: false,
                ..
            }
        ));
        assert_eq!(*calls.borrow(), 1);
        let calls = RefCell::new(0);
        let tried = retry(
            "complete the job",
            crate::persistence::Uuid::nil(),
            || far,
            |_| true,
            || {
                *calls.borrow_mut() += 1;
                Err::<(), _>(if *calls.borrow() == 1 { away() } else { lost() })
            },
        );
        assert!(matches!(
            tried,
            Tried::Refused {
                uncertain: true,
                ..
            }
        ));
        assert_eq!(*calls.borrow(), 2);
    }
}
