//! A synchronous PostgreSQL client whose every wait on the server is bounded,
//! shared by the `postgres://` logbook and jobboard.
//!
//! The sync `postgres` crate blocks on each round trip with no bound: a
//! server that stops answering while its kernel still ACKs (SIGSTOP, a frozen
//! VM) hangs the caller forever, and TCP keepalive does not notice. This
//! client drives `tokio-postgres` on a runtime of its own (one thread: the
//! caller's) and wraps each round trip in `tokio::time::timeout`. After a
//! timeout the connection's state is unknown: the client reports itself
//! closed, and its owner drops it and reconnects on the next call.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, GenericClient, NoTls, Row, Statement, ToStatement};

use super::bounds::{millis_u32, Bounds};

/// A driver's error, or a bound that ran out.
#[derive(Debug)]
pub(crate) enum PgError {
    /// The driver's (or the server's) error.
    Driver(tokio_postgres::Error),
    /// No answer within the bound named by its key.
    TimedOut {
        bound: &'static str,
        after: Duration,
    },
    /// The client's runtime could not start.
    Runtime(std::io::Error),
}

impl PgError {
    /// The server's SQLSTATE, if the server answered with an error.
    pub(crate) fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Driver(e) => e.code(),
            _ => None,
        }
    }

    /// The server's error, if it answered with one.
    pub(crate) fn as_db_error(&self) -> Option<&DbError> {
        match self {
            PgError::Driver(e) => e.as_db_error(),
            _ => None,
        }
    }

    /// The bound that ran out: ours (client side), or the server's
    /// `statement_timeout` (its "canceling statement due to statement
    /// timeout"), with its value.
    pub(crate) fn timed_out(&self, bounds: &Bounds) -> Option<(&'static str, Duration)> {
        match self {
            PgError::TimedOut { bound, after } => Some((bound, *after)),
            PgError::Driver(e)
                if e.code() == Some(&SqlState::QUERY_CANCELED)
                    && e.as_db_error()
                        .is_some_and(|d| d.message().contains("statement timeout")) =>
            {
                Some(("statement_timeout", bounds.statement))
            }
            _ => None,
        }
    }

    /// The error as a boxed driver error, saying what the server said.
    pub(crate) fn into_source(self) -> super::DriverError {
        match self {
            // The driver's own text is only "db error"; say what the server said.
            PgError::Driver(e) => match e.as_db_error() {
                Some(db) => format!("{}: {}", db.severity(), db.message()).into(),
                None => Box::new(e),
            },
            PgError::TimedOut { bound, after } => format!(
                "no answer within {} (`{bound}`)",
                super::show_duration(after)
            )
            .into(),
            PgError::Runtime(e) => Box::new(e),
        }
    }
}

/// Parses a `postgres://` URL (or a `key=value` connection string, whose
/// bounds are the defaults but for its own `connect_timeout`) into the
/// driver's configuration, with taskwire's bounds applied; `Err` says why
/// the URL cannot be used.
pub(crate) fn parse(url: &str) -> Result<(Config, Bounds), String> {
    let (driver_url, mut bounds, native) = Bounds::split(url)?;
    let mut config: Config = driver_url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    if !driver_url.contains("://") {
        if let Some(connect) = config.get_connect_timeout() {
            bounds.connect = *connect;
        }
    }
    configure(&mut config, &bounds, &native);
    Ok((config, bounds))
}

/// Applies `bounds` to a connection configuration: the server's
/// `statement_timeout` (appended to the startup `options`), TCP keepalives
/// and `tcp_user_timeout`, unless the URL set them (`native` keys).
fn configure(config: &mut Config, bounds: &Bounds, native: &[String]) {
    let has = |key: &str| native.iter().any(|k| k == key);
    let statement = format!("-c statement_timeout={}", millis_u32(bounds.statement));
    let options = match config.get_options() {
        Some(existing) if !existing.is_empty() => format!("{existing} {statement}"),
        _ => statement,
    };
    config.options(options);
    config.connect_timeout(bounds.connect);
    if !has("keepalives") {
        config.keepalives(true);
    }
    if !has("keepalives_idle") {
        config.keepalives_idle(bounds.keepalive);
    }
    if !has("keepalives_interval") {
        config.keepalives_interval(bounds.keepalive);
    }
    if !has("keepalives_retries") {
        config.keepalives_retries(3);
    }
    if !has("tcp_user_timeout") {
        // Data the server does not acknowledge (a dead network path) ends
        // the connection in the kernel too.
        config.tcp_user_timeout(bounds.query);
    }
}

/// Runs one round trip, bounded.
fn bounded<T>(
    rt: &Runtime,
    bound: Duration,
    broken: &mut bool,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, PgError> {
    if *broken {
        return Err(PgError::TimedOut {
            bound: "query_timeout",
            after: bound,
        });
    }
    match rt.block_on(async { tokio::time::timeout(bound, fut).await }) {
        Ok(result) => result.map_err(PgError::Driver),
        Err(_) => {
            *broken = true;
            Err(PgError::TimedOut {
                bound: "query_timeout",
                after: bound,
            })
        }
    }
}

/// A connection whose round trips are bounded by `query_timeout`.
pub(crate) struct PgClient {
    // Dropped first: the connection task lives on the runtime.
    client: tokio_postgres::Client,
    rt: OwnRuntime,
    bound: Duration,
    broken: bool,
}

/// The runtime a [`PgClient`] drives its connection on. Dropped without
/// waiting (`shutdown_background`): tokio panics when a runtime is dropped
/// the ordinary way inside another runtime, where a backend may well be.
struct OwnRuntime(Option<Runtime>);

impl OwnRuntime {
    fn get(&self) -> &Runtime {
        self.0.as_ref().expect("taken only when dropped")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            // Drops the connection task (closing the socket) without blocking.
            rt.shutdown_background();
        }
    }
}

impl PgClient {
    /// Connects within `bounds.connect` (TCP, startup and login).
    pub(crate) fn connect(config: &Config, bounds: &Bounds) -> Result<PgClient, PgError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(PgError::Runtime)?;
        let connected = rt
            .block_on(async { tokio::time::timeout(bounds.connect, config.connect(NoTls)).await });
        let (client, connection) = match connected {
            Ok(result) => result.map_err(PgError::Driver)?,
            Err(_) => {
                return Err(PgError::TimedOut {
                    bound: "connect_timeout",
                    after: bounds.connect,
                })
            }
        };
        // Driven whenever a round trip runs on the runtime.
        rt.spawn(async move {
            let _ = connection.await;
        });
        Ok(PgClient {
            client,
            rt: OwnRuntime(Some(rt)),
            bound: bounds.query,
            broken: false,
        })
    }

    /// Whether the connection broke or timed out (its state is unknown):
    /// drop it, and connect again.
    pub(crate) fn is_closed(&self) -> bool {
        self.broken || self.client.is_closed()
    }

    /// Begins a transaction (rolled back when dropped uncommitted).
    pub(crate) fn transaction(&mut self) -> Result<PgTx<'_>, PgError> {
        let PgClient {
            client,
            rt,
            bound,
            broken,
        } = self;
        let rt = rt.get();
        let tx = bounded(rt, *bound, broken, client.transaction())?;
        Ok(PgTx {
            tx,
            rt,
            bound: *bound,
            broken,
        })
    }
}

/// A transaction on a [`PgClient`], its round trips bounded too.
pub(crate) struct PgTx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    rt: &'a Runtime,
    bound: Duration,
    broken: &'a mut bool,
}

impl PgTx<'_> {
    /// Commits.
    pub(crate) fn commit(self) -> Result<(), PgError> {
        bounded(self.rt, self.bound, self.broken, self.tx.commit())
    }
}

/// The round trips of a client or a transaction.
pub(crate) trait Session {
    /// The driver's client or transaction.
    type Inner: GenericClient + Sync;

    /// What a round trip needs.
    fn parts(&mut self) -> (&Runtime, &Self::Inner, Duration, &mut bool);

    /// Prepares a statement.
    fn prepare(&mut self, sql: &str) -> Result<Statement, PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.prepare(sql))
    }

    /// Runs a statement, returning its rows.
    fn query<T: ?Sized + ToStatement + Sync + Send>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.query(statement, params))
    }

    /// Runs a statement that returns exactly one row.
    fn query_one<T: ?Sized + ToStatement + Sync + Send>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.query_one(statement, params))
    }

    /// Runs a statement that returns at most one row.
    fn query_opt<T: ?Sized + ToStatement + Sync + Send>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.query_opt(statement, params))
    }

    /// Runs a statement, returning how many rows it changed.
    fn execute<T: ?Sized + ToStatement + Sync + Send>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.execute(statement, params))
    }

    /// Runs statements without parameters.
    fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        let (rt, c, bound, broken) = self.parts();
        bounded(rt, bound, broken, c.batch_execute(sql))
    }
}

impl Session for PgClient {
    type Inner = tokio_postgres::Client;

    fn parts(&mut self) -> (&Runtime, &Self::Inner, Duration, &mut bool) {
        (self.rt.get(), &self.client, self.bound, &mut self.broken)
    }
}

impl<'a> Session for PgTx<'a> {
    type Inner = tokio_postgres::Transaction<'a>;

    fn parts(&mut self) -> (&Runtime, &Self::Inner, Duration, &mut bool) {
        (self.rt, &self.tx, self.bound, self.broken)
    }
}
