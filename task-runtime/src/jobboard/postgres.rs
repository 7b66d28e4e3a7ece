//! `postgres://user@host/db`: a jobboard in a PostgreSQL table.
//!
//! Jobs are rows of `taskwire_jobs`, one board per value of its `board`
//! column. A claim is one transaction: it picks the next row with
//! `SELECT … FOR UPDATE SKIP LOCKED`, so that concurrent conductors never
//! wait on each other nor claim one job twice, and updates it. Every write
//! under a claim locks the job's row and checks the claim's owner and token
//! first. Times come from the server's clock (`clock_timestamp()`), so that
//! conductors with skewed clocks agree on expiry.
//!
//! Every wait on the server is bounded, as for the `postgres://` logbook
//! (the same URL keys: `?timeout=5s`, `connect_timeout`, `query_timeout`,
//! `statement_timeout`, `keepalive`; see
//! [`persistence::open`](crate::persistence::open)): a server that stops
//! answering makes the call fail with [`JobBoardError::TimedOut`], the
//! connection is dropped and the next call reconnects.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, Row, Statement};

use super::{ttl_ms, Claim, Job, JobBoard, JobBoardError, JobFailure, JobState, NewJob};
use crate::persistence::bounds::Bounds;
use crate::persistence::pg::{self, PgClient, PgError, PgTx, Session};
use crate::persistence::{redact_url, Uuid};
use crate::state::FlowState;

/// The schema version this code writes.
const SCHEMA_VERSION: i32 = 1;

/// Serializes concurrent migrations of one database.
const MIGRATION_LOCK: i64 = 0x7461_736b_6a6f_6273; // "taskjobs"

const MIGRATION_1: &str = "CREATE TABLE taskwire_jobs (
        board TEXT NOT NULL,
        id TEXT NOT NULL,
        seq BIGSERIAL NOT NULL,
        priority INTEGER NOT NULL,
        state TEXT NOT NULL,
        owner TEXT,
        token BIGINT NOT NULL DEFAULT 0,
        expires_at BIGINT NOT NULL DEFAULT 0,
        spec TEXT NOT NULL,
        flow_uuid TEXT,
        failures TEXT NOT NULL DEFAULT '[]',
        outcome TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (board, id)
    );
    CREATE INDEX taskwire_jobs_next ON taskwire_jobs (board, state, priority DESC, seq);
    CREATE INDEX taskwire_jobs_expiry ON taskwire_jobs (board, state, expires_at);";

const NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The columns every query reads, in the order [`PostgresJobBoard::job`]
/// decodes them; the last is the server's clock.
const COLUMNS: &str = "id, state, owner, token, expires_at, spec, flow_uuid, failures, outcome,
    created_at, updated_at, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// A jobboard in PostgreSQL (`postgres://…`).
pub struct PostgresJobBoard {
    describe: String,
    board: String,
    config: Config,
    bounds: Bounds,
    conn: Mutex<Option<Conn>>,
}

/// A connection with the statements it prepared.
struct Conn {
    client: PgClient,
    cache: HashMap<String, Statement>,
}

/// A transaction that prepares each statement once per connection.
struct Tx<'a> {
    tx: PgTx<'a>,
    cache: &'a mut HashMap<String, Statement>,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, PgError> {
        if let Some(statement) = self.cache.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql)?;
        self.cache.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, PgError> {
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params)
    }

    fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, PgError> {
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params)
    }

    fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row, PgError> {
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, PgError> {
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params)
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.tx.batch_execute(sql)
    }
}

impl std::fmt::Debug for PostgresJobBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresJobBoard")
            .field("board", &self.describe)
            .finish_non_exhaustive()
    }
}

impl PostgresJobBoard {
    /// Connects to `postgres://user[:password]@host[:port]/database` (without
    /// TLS) and creates the jobboard's table if needed; the board is named
    /// `board`.
    pub fn open(url: &str, board: &str) -> Result<PostgresJobBoard, JobBoardError> {
        let shown = redact_url(url);
        let (config, bounds) = pg::parse(url).map_err(|reason| JobBoardError::InvalidUrl {
            url: shown.clone(),
            reason,
        })?;
        let this = PostgresJobBoard {
            describe: format!("jobboard `{board}` at {shown}"),
            board: board.to_owned(),
            config,
            bounds,
            conn: Mutex::new(None),
        };
        this.tx("create the jobboard schema", |this, tx| this.migrate(tx))?;
        Ok(this)
    }

    fn migrate(&self, tx: &mut Tx<'_>) -> Result<(), JobBoardError> {
        let op = "create the jobboard schema";
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(|e| self.db(op, e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS taskwire_jobboard_schema (version INTEGER NOT NULL)",
        )
        .map_err(|e| self.db(op, e))?;
        let found: Option<i32> = tx
            .query_opt("SELECT max(version) FROM taskwire_jobboard_schema", &[])
            .map_err(|e| self.db(op, e))?
            .and_then(|r| r.get(0));
        match found {
            Some(v) if v > SCHEMA_VERSION => Err(JobBoardError::SchemaTooNew {
                board: self.describe.clone(),
                found: v as u32,
                known: SCHEMA_VERSION as u32,
            }),
            Some(_) => Ok(()),
            None => {
                tx.batch_execute(MIGRATION_1).map_err(|e| self.db(op, e))?;
                tx.execute(
                    "INSERT INTO taskwire_jobboard_schema (version) VALUES ($1)",
                    &[&SCHEMA_VERSION],
                )
                .map_err(|e| self.db(op, e))?;
                Ok(())
            }
        }
    }

    /// Runs `f` in a transaction (connecting first if needed), committing
    /// when it returns `Ok`; a broken connection is dropped so that the next
    /// call reconnects.
    fn tx<T: Send>(
        &self,
        operation: &str,
        f: impl FnOnce(&Self, &mut Tx<'_>) -> Result<T, JobBoardError> + Send,
    ) -> Result<T, JobBoardError> {
        // The sync driver blocks on a runtime of its own, which tokio forbids
        // inside another: from async code, call it from a thread of its own.
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.tx_here(operation, f))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.tx_here(operation, f)
    }

    fn tx_here<T>(
        &self,
        operation: &str,
        f: impl FnOnce(&Self, &mut Tx<'_>) -> Result<T, JobBoardError>,
    ) -> Result<T, JobBoardError> {
        let mut guard: MutexGuard<'_, Option<Conn>> =
            self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|c| c.client.is_closed()) {
            *guard = None;
        }
        let conn = match &mut *guard {
            Some(conn) => conn,
            None => guard.insert(Conn {
                client: PgClient::connect(&self.config, &self.bounds)
                    .map_err(|e| self.db(&format!("connect (to {operation})"), e))?,
                cache: HashMap::new(),
            }),
        };
        let result = (|| {
            let tx = conn
                .client
                .transaction()
                .map_err(|e| self.db(operation, e))?;
            let mut tx = Tx {
                tx,
                cache: &mut conn.cache,
            };
            let value = f(self, &mut tx)?;
            tx.tx.commit().map_err(|e| self.db(operation, e))?;
            Ok(value)
        })();
        if result.is_err() && conn.client.is_closed() {
            *guard = None;
        }
        result
    }

    fn db(&self, operation: &str, e: PgError) -> JobBoardError {
        if let Some((bound, after)) = e.timed_out(&self.bounds) {
            return JobBoardError::TimedOut {
                board: self.describe.clone(),
                operation: operation.to_owned(),
                bound,
                after,
            };
        }
        // Connection-level errors (no server answer), and the server's own
        // ways of saying "not now": a connection exception (class 08), a
        // shutdown (57P01-57P03), a serialization failure or a deadlock.
        let transient = match (&e, e.as_db_error()) {
            (_, Some(db)) => {
                let code = db.code().code();
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "40001"
                    || code == "40P01"
            }
            (PgError::Driver(d), None) => d.is_closed() || crate::jobboard::has_io_error(d),
            _ => false,
        };
        JobBoardError::Backend {
            board: self.describe.clone(),
            operation: operation.to_owned(),
            source: e.into_source(),
            transient,
        }
    }

    fn corrupt(&self, job: &str, field: &'static str, reason: impl ToString) -> JobBoardError {
        JobBoardError::Corrupt {
            board: self.describe.clone(),
            job: job.to_owned(),
            field,
            reason: reason.to_string(),
        }
    }

    /// Decodes a row read with [`COLUMNS`]; also gives the server's clock.
    fn job(&self, row: &Row) -> Result<(Job, i64), JobBoardError> {
        let text = |i: usize, field: &'static str| -> Result<Option<String>, JobBoardError> {
            row.try_get::<_, Option<String>>(i)
                .map_err(|e| self.corrupt("?", field, e))
        };
        let int = |i: usize, field: &'static str| -> Result<i64, JobBoardError> {
            row.try_get::<_, i64>(i)
                .map_err(|e| self.corrupt("?", field, e))
        };
        let raw_id = text(0, "id")?.unwrap_or_default();
        let id: Uuid = raw_id.parse().map_err(|e| self.corrupt(&raw_id, "id", e))?;
        let state_name = text(1, "state")?.unwrap_or_default();
        let state = JobState::from_name(&state_name).ok_or_else(|| {
            self.corrupt(&raw_id, "state", format!("unknown state `{state_name}`"))
        })?;
        let spec: NewJob = serde_json::from_str(&text(5, "spec")?.unwrap_or_default())
            .map_err(|e| self.corrupt(&raw_id, "spec", e))?;
        let flow = match text(6, "flow_uuid")? {
            Some(f) => Some(
                f.parse()
                    .map_err(|e| self.corrupt(&raw_id, "flow_uuid", e))?,
            ),
            None => None,
        };
        let failures: Vec<JobFailure> =
            serde_json::from_str(&text(7, "failures")?.unwrap_or_default())
                .map_err(|e| self.corrupt(&raw_id, "failures", e))?;
        let outcome = match text(8, "outcome")? {
            Some(o) => Some(FlowState::from_name(&o).ok_or_else(|| {
                self.corrupt(&raw_id, "outcome", format!("unknown flow state `{o}`"))
            })?),
            None => None,
        };
        let job = Job {
            id,
            spec,
            state,
            owner: text(2, "owner")?,
            token: int(3, "token")? as u64,
            expires_at: int(4, "expires_at")?,
            flow,
            failures,
            outcome,
            created_at: int(9, "created_at")?,
            updated_at: int(10, "updated_at")?,
        };
        Ok((job, int(11, "clock")?))
    }

    fn failures_text(&self, job: &Job) -> Result<String, JobBoardError> {
        serde_json::to_string(&job.failures)
            .map_err(|e| self.corrupt(&job.id.to_string(), "failures", e))
    }

    /// Locks the claimed job's row and checks that `claim` is current.
    fn locked(
        &self,
        tx: &mut Tx<'_>,
        claim: &Claim,
        op: &str,
    ) -> Result<(Job, i64), JobBoardError> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM taskwire_jobs WHERE board = $1 AND id = $2 FOR UPDATE"
                ),
                &[&self.board, &claim.job.id.to_string()],
            )
            .map_err(|e| self.db(op, e))?
            .ok_or(JobBoardError::NotFound {
                board: self.describe.clone(),
                job: claim.job.id,
            })?;
        let (job, now) = self.job(&row)?;
        super::check_claim(&self.describe, &job, claim)?;
        Ok((job, now))
    }

    /// Ends a claim: the job goes to `state` with `failures` and `outcome`.
    fn end(
        &self,
        tx: &mut Tx<'_>,
        job: &Job,
        state: JobState,
        outcome: Option<FlowState>,
        op: &str,
    ) -> Result<(), JobBoardError> {
        let failures = self.failures_text(job)?;
        tx.execute(
            &format!(
                "UPDATE taskwire_jobs SET state = $3, expires_at = 0, failures = $4,
                    outcome = $5, updated_at = {NOW} WHERE board = $1 AND id = $2"
            ),
            &[
                &self.board,
                &job.id.to_string(),
                &state.as_str(),
                &failures,
                &outcome.map(FlowState::as_str),
            ],
        )
        .map_err(|e| self.db(op, e))?;
        Ok(())
    }
}

impl JobBoard for PostgresJobBoard {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn post(&self, new: &NewJob) -> Result<Job, JobBoardError> {
        let op = "post a job";
        let id = Uuid::new_v4();
        let spec =
            serde_json::to_string(new).map_err(|e| self.corrupt(&id.to_string(), "spec", e))?;
        self.tx(op, |this, tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO taskwire_jobs (board, id, priority, state, spec, created_at, updated_at)
                         VALUES ($1, $2, $3, 'ready', $4, {NOW}, {NOW}) RETURNING {COLUMNS}"
                    ),
                    &[&this.board, &id.to_string(), &new.priority, &spec],
                )
                .map_err(|e| this.db(op, e))?;
            Ok(this.job(&row)?.0)
        })
    }

    fn claim(&self, owner: &str, ttl: Duration) -> Result<Option<Claim>, JobBoardError> {
        let op = "claim a job";
        self.tx(op, |this, tx| loop {
            // An expired claim first (its conductor died), then the next
            // ready job; each query walks its own index, and the clock is
            // read once per query.
            let expired = tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM taskwire_jobs
                         WHERE board = $1 AND state = 'claimed' AND expires_at <= (SELECT {NOW})
                         ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ),
                    &[&this.board],
                )
                .map_err(|e| this.db(op, e))?;
            let row = match expired {
                Some(row) => Some(row),
                None => tx
                    .query_opt(
                        &format!(
                            "SELECT {COLUMNS} FROM taskwire_jobs
                             WHERE board = $1 AND state = 'ready'
                             ORDER BY priority DESC, seq LIMIT 1 FOR UPDATE SKIP LOCKED"
                        ),
                        &[&this.board],
                    )
                    .map_err(|e| this.db(op, e))?,
            };
            let Some(row) = row else { return Ok(None) };
            let (mut job, now) = this.job(&row)?;
            if job.state == JobState::Claimed && job.record_expiry(now) == JobState::Dead {
                this.end(tx, &job, JobState::Dead, None, op)?;
                continue;
            }
            let failures = this.failures_text(&job)?;
            let expires_at = now.saturating_add(ttl_ms(ttl));
            tx.execute(
                "UPDATE taskwire_jobs SET state = 'claimed', owner = $3, token = token + 1,
                    expires_at = $4, failures = $5, updated_at = $6
                 WHERE board = $1 AND id = $2",
                &[
                    &this.board,
                    &job.id.to_string(),
                    &owner,
                    &expires_at,
                    &failures,
                    &now,
                ],
            )
            .map_err(|e| this.db(op, e))?;
            job.state = JobState::Claimed;
            job.owner = Some(owner.to_owned());
            job.token += 1;
            job.expires_at = expires_at;
            job.updated_at = now;
            return Ok(Some(Claim {
                owner: owner.to_owned(),
                token: job.token,
                expires_at,
                job,
            }));
        })
    }

    fn renew(&self, claim: &Claim, ttl: Duration) -> Result<Claim, JobBoardError> {
        let op = "renew a claim";
        self.tx(op, |this, tx| {
            let (_, now) = this.locked(tx, claim, op)?;
            let expires_at = now.saturating_add(ttl_ms(ttl));
            tx.execute(
                "UPDATE taskwire_jobs SET expires_at = $3 WHERE board = $1 AND id = $2",
                &[&this.board, &claim.job.id.to_string(), &expires_at],
            )
            .map_err(|e| this.db(op, e))?;
            let mut renewed = claim.clone();
            renewed.expires_at = expires_at;
            renewed.job.expires_at = expires_at;
            Ok(renewed)
        })
    }

    fn set_flow(&self, claim: &Claim, flow: Uuid) -> Result<(), JobBoardError> {
        let op = "record the job's flow detail";
        self.tx(op, |this, tx| {
            this.locked(tx, claim, op)?;
            tx.execute(
                &format!("UPDATE taskwire_jobs SET flow_uuid = $3, updated_at = {NOW} WHERE board = $1 AND id = $2"),
                &[&this.board, &claim.job.id.to_string(), &flow.to_string()],
            )
            .map_err(|e| this.db(op, e))?;
            Ok(())
        })
    }

    fn complete(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        let op = "complete a job";
        self.tx(op, |this, tx| {
            let (job, _) = this.locked(tx, claim, op)?;
            this.end(tx, &job, JobState::Done, Some(outcome), op)
        })
    }

    fn complete_ended(&self, claim: &Claim, outcome: FlowState) -> Result<(), JobBoardError> {
        let op = "complete a job whose flow had ended";
        self.tx(op, |this, tx| {
            let (mut job, _) = this.locked(tx, claim, op)?;
            job.forget_expiry_before(claim);
            this.end(tx, &job, JobState::Done, Some(outcome), op)
        })
    }

    fn fail(&self, claim: &Claim, message: &str) -> Result<JobState, JobBoardError> {
        let op = "record a job's failure";
        self.tx(op, |this, tx| {
            let (mut job, now) = this.locked(tx, claim, op)?;
            let state = job.record_failure(claim.failure(now, message));
            this.end(tx, &job, state, None, op)?;
            Ok(state)
        })
    }

    fn release(&self, claim: &Claim) -> Result<(), JobBoardError> {
        let op = "release a claim";
        self.tx(op, |this, tx| {
            let (job, _) = this.locked(tx, claim, op)?;
            this.end(tx, &job, JobState::Ready, None, op)
        })
    }

    fn get(&self, id: Uuid) -> Result<Job, JobBoardError> {
        let op = "read a job";
        self.tx(op, |this, tx| {
            let row = tx
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM taskwire_jobs WHERE board = $1 AND id = $2"),
                    &[&this.board, &id.to_string()],
                )
                .map_err(|e| this.db(op, e))?
                .ok_or(JobBoardError::NotFound {
                    board: this.describe.clone(),
                    job: id,
                })?;
            Ok(this.job(&row)?.0)
        })
    }

    fn list(&self, state: Option<JobState>) -> Result<Vec<Job>, JobBoardError> {
        let op = "list jobs";
        self.tx(op, |this, tx| {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM taskwire_jobs
                         WHERE board = $1 AND ($2::TEXT IS NULL OR state = $2) ORDER BY seq"
                    ),
                    &[&this.board, &state.map(JobState::as_str)],
                )
                .map_err(|e| this.db(op, e))?;
            rows.iter().map(|r| Ok(this.job(r)?.0)).collect()
        })
    }

    fn requeue(&self, id: Uuid) -> Result<Job, JobBoardError> {
        let op = "requeue a job";
        self.tx(op, |this, tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM taskwire_jobs WHERE board = $1 AND id = $2 FOR UPDATE"
                    ),
                    &[&this.board, &id.to_string()],
                )
                .map_err(|e| this.db(op, e))?
                .ok_or(JobBoardError::NotFound {
                    board: this.describe.clone(),
                    job: id,
                })?;
            let (job, _) = this.job(&row)?;
            if job.state != JobState::Dead {
                return Err(JobBoardError::NotDead {
                    board: this.describe.clone(),
                    job: id,
                    state: job.state,
                });
            }
            tx.execute(
                &format!(
                    "UPDATE taskwire_jobs SET state = 'ready', expires_at = 0, failures = '[]',
                        outcome = NULL, updated_at = {NOW} WHERE board = $1 AND id = $2"
                ),
                &[&this.board, &id.to_string()],
            )
            .map_err(|e| this.db(op, e))?;
            Ok(job)
        })
    }

    fn cancel(&self, id: Uuid, states: &[JobState]) -> Result<Job, JobBoardError> {
        let op = "cancel a job";
        self.tx(op, |this, tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM taskwire_jobs WHERE board = $1 AND id = $2 FOR UPDATE"
                    ),
                    &[&this.board, &id.to_string()],
                )
                .map_err(|e| this.db(op, e))?
                .ok_or(JobBoardError::NotFound {
                    board: this.describe.clone(),
                    job: id,
                })?;
            let (job, _) = this.job(&row)?;
            if !states.contains(&job.state) {
                return Err(JobBoardError::NotCancelled {
                    board: this.describe.clone(),
                    job: id,
                    state: job.state,
                    allowed: super::states_in_words(states),
                });
            }
            tx.execute(
                "DELETE FROM taskwire_jobs WHERE board = $1 AND id = $2",
                &[&this.board, &id.to_string()],
            )
            .map_err(|e| this.db(op, e))?;
            Ok(job)
        })
    }

    fn delete(&self, id: Uuid) -> Result<(), JobBoardError> {
        let op = "delete a job";
        self.tx(op, |this, tx| {
            let n = tx
                .execute(
                    "DELETE FROM taskwire_jobs WHERE board = $1 AND id = $2",
                    &[&this.board, &id.to_string()],
                )
                .map_err(|e| this.db(op, e))?;
            if n == 0 {
                return Err(JobBoardError::NotFound {
                    board: this.describe.clone(),
                    job: id,
                });
            }
            Ok(())
        })
    }
}
