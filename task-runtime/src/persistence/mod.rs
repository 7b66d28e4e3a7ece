//! Persistence: logbooks of flow runs, kept in a backend chosen by URL.
//!
//! The objects are TaskFlow's: a [`LogBook`] holds [`FlowDetail`]s (one per run
//! of a flow), a flow detail holds [`AtomDetail`]s (one per task or retry, with
//! its state, intention, result and failures). Every backend implements the one
//! [`Backend`] trait, synchronously: a write has been committed (is durable, as
//! far as the backend's settings go) when it returns.
//!
//! | URL                               | backend            | feature    |
//! |-----------------------------------|--------------------|------------|
//! | `memory://`                       | [`MemoryBackend`]  | (always)   |
//! | `dir:///abs/path`                 | [`DirBackend`]     | (always)   |
//! | `sqlite://path`, `sqlite::memory:`| `SqliteBackend`    | `sqlite` (default) |
//! | `postgres://…`, `postgresql://…`  | `PostgresBackend`  | `postgres` |
//! | `mysql://…`, `mariadb://…`        | `MysqlBackend`     | `mysql`    |
//! | `zookeeper://host:port/chroot`    | `ZookeeperBackend` | `zookeeper` |
//!
//! ```
//! use std::time::Duration;
//! use taskwire_runtime::persistence::{self, AtomDetail, FlowDetail, LogBook};
//! use taskwire_runtime::AtomState;
//!
//! let backend = persistence::open("memory://")?;
//! let book = LogBook::new("nightly");
//! backend.save_logbook(&book)?;
//! let flow = FlowDetail::new(book.uuid, "create-volume");
//! backend.save_flow(&flow, None)?;
//!
//! // One engine at a time: take the lease, and write under it.
//! let lease = backend.acquire_lease(flow.uuid, "host-a/1234", Duration::from_secs(30))?;
//! let mut atom = AtomDetail::new(flow.uuid, "allocate", 0);
//! atom.state = AtomState::Running;
//! backend.save_atom(&atom, Some(&lease))?;
//!
//! let (loaded, atoms) = backend.load_flow(flow.uuid)?;
//! assert_eq!((loaded, atoms), (flow, vec![atom]));
//! # Ok::<(), persistence::PersistenceError>(())
//! ```
//!
//! **Leases and fencing.** [`Backend::acquire_lease`] gives the flow to one
//! owner until the lease expires; another owner is refused
//! ([`PersistenceError::LeaseHeld`]) until then, and may take an expired lease
//! over. Each change of hands increments the lease's fencing token; a write
//! that carries a lease whose token is no longer current is refused
//! ([`PersistenceError::Fenced`]), checked in the same transaction as the
//! write. A lease that expired but that nobody took over still fences
//! correctly: its writes go through, since no one else can have written.
//! Writes without a lease (`None`) are not checked.
//!
//! **Schema.** SQL backends create and upgrade their tables by versioned
//! migrations and record the version in the table `taskwire_schema`; the
//! `dir://` backend records it in the file `VERSION`. A logbook written by a
//! newer taskwire is refused ([`PersistenceError::SchemaTooNew`]).

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod bounds;
mod dir;
mod error;
mod memory;
mod model;
mod owner;
mod query;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod pg;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "zookeeper")]
pub(crate) mod zk;
#[cfg(feature = "zookeeper")]
mod zookeeper;

use std::sync::Arc;
use std::time::Duration;

pub use dir::DirBackend;
pub(crate) use error::show_duration;
pub use error::{redact_url, DriverError, ObjectKind, PersistenceError};
pub use memory::MemoryBackend;
pub use model::{
    now_ms, AtomDetail, AtomType, EntryKind, FlowDetail, FlowSummary, Lease, LogBook,
    LogBookSummary, RetentionPolicy, TimelineEntry,
};
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use mysql::MysqlBackend;
pub use owner::default_owner;
pub(crate) use owner::{engine_owner, owner_is_gone};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresBackend;
pub use query::{Cursor, FlowOrder, FlowPage, FlowQuery, FlowRow, NameMatch, MAX_PAGE};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteBackend, Synchronous};
#[cfg(feature = "zookeeper")]
#[cfg_attr(docsrs, doc(cfg(feature = "zookeeper")))]
pub use zookeeper::ZookeeperBackend;

/// The id type of persisted objects (the `uuid` crate's, re-exported so that
/// callers need not depend on it).
pub use uuid::Uuid;

/// A logbook store: memory, a directory, or a database.
///
/// Object-safe: hold it as `Arc<dyn Backend>` (what [`open`] returns) and share
/// it between threads; the SQL backends serialize calls on one connection
/// each (open several backends for several connections). Every method is
/// synchronous and every write is committed when it returns. Saving is an
/// upsert: an object with the same `uuid` is replaced whole.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The backend's URL, password removed (used in every error message).
    fn url(&self) -> &str;

    /// Saves (inserts or replaces) a logbook.
    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError>;

    /// Loads a logbook.
    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError>;

    /// Every logbook with the states of its flows, oldest first.
    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError>;

    /// Deletes a logbook with its flow details and their atom details.
    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError>;

    /// Saves (inserts or replaces) a flow detail; its logbook must exist. With
    /// a lease, the write is refused unless the lease is current.
    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError>;

    /// Loads a flow detail with its atom details (by position, then name).
    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError>;

    /// The flow details of a logbook, oldest first.
    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError>;

    /// Saves (inserts or replaces) atom details, all in one transaction where
    /// the backend has transactions; their flow details must exist. With a
    /// lease, every atom must belong to the lease's flow and the write is
    /// refused unless the lease is current.
    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError>;

    /// Saves (inserts or replaces) one atom detail; see [`Backend::save_atoms`].
    fn save_atom(&self, atom: &AtomDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        self.save_atoms(std::slice::from_ref(atom), lease)
    }

    /// Saves a flow detail (if given) and atom details of that flow together:
    /// one transaction where the backend has transactions (all or nothing),
    /// with the lease checked as [`Backend::save_flow`] and
    /// [`Backend::save_atoms`] do. The engine commits each step's transitions
    /// this way (group commit). The default saves the atoms, then the flow.
    fn save_records(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if !atoms.is_empty() {
            self.save_atoms(atoms, lease)?;
        }
        match flow {
            Some(flow) => self.save_flow(flow, lease),
            None => Ok(()),
        }
    }

    /// Takes the lease of a flow detail for `owner`, for `ttl`.
    ///
    /// Refused with [`PersistenceError::LeaseHeld`] while another owner holds
    /// a live lease. An expired lease, one held under the same owner name (a
    /// restarted process), or one whose owner is a process of this host that
    /// no longer runs (see [`default_owner`]) is taken over; either way the
    /// fencing token grows, so that writes under the previous lease are
    /// refused.
    fn acquire_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError>;

    /// Takes the lease of a flow detail for `owner` whoever holds it, live or
    /// not: an operator's takeover of a run whose owner is stuck. The fencing
    /// token grows, so the previous holder's writes and renewals are refused
    /// from then on (its engine stops, and tells its tasks).
    fn take_over_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError>;

    /// Extends a current lease to `ttl` from now; refused with
    /// [`PersistenceError::Fenced`] if the lease changed hands.
    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, PersistenceError>;

    /// Gives a current lease up (the token is kept, so that it stays fenced);
    /// refused with [`PersistenceError::Fenced`] if the lease changed hands.
    fn release_lease(&self, lease: &Lease) -> Result<(), PersistenceError>;

    /// The lease recorded on a flow detail, live or expired (`None` if none
    /// was ever taken or it was released).
    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError>;

    /// A page of the flow details of every logbook that `query` selects,
    /// newest first, with the cursor of the next page (see [`FlowQuery`]).
    ///
    /// Refused with [`PersistenceError::InvalidCursor`] when the query's
    /// cursor continues a listing in the other order, and with
    /// [`PersistenceError::InvalidQuery`] when its limit is 0 or above
    /// [`MAX_PAGE`]. The SQL backends answer from indexes, without reading
    /// the rows before the cursor; the default reads every flow detail.
    fn query_flows(&self, query: &FlowQuery) -> Result<FlowPage, PersistenceError> {
        query::query_by_listing(self, query)
    }

    /// Deletes the logbooks `policy` selects, and returns what was deleted.
    fn prune(&self, policy: &RetentionPolicy) -> Result<Vec<LogBookSummary>, PersistenceError> {
        let now = now_ms();
        let mut deleted = Vec::new();
        for summary in self.list_logbooks()? {
            if policy.selects(&summary, now) {
                match self.delete_logbook(summary.book.uuid) {
                    Ok(()) => deleted.push(summary),
                    // Deleted meanwhile by someone else: nothing left to do.
                    Err(PersistenceError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(deleted)
    }
}

/// The URL schemes [`open`] knows.
pub const SCHEMES: &[&str] = &[
    "memory://",
    "dir://",
    "file://",
    "sqlite://",
    "sqlite::memory:",
    "postgres://",
    "postgresql://",
    "mysql://",
    "mariadb://",
    "zookeeper://",
];

/// Opens the backend a URL names, creating or upgrading its schema.
///
/// - `memory://`: in this process only, lost when dropped;
/// - `dir:///abs/path` (or `file:///abs/path`): one JSON file per object,
///   written atomically, locked across processes (`?lock_timeout=10s`);
/// - `sqlite://path` (relative) or `sqlite:///abs/path`, and
///   `sqlite::memory:`; WAL mode, `synchronous=NORMAL` unless the URL says
///   `?synchronous=full`;
/// - `postgres://user@host:port/db` (or `postgresql://`), without TLS;
/// - `mysql://user:password@host:port/db` (or `mariadb://`), without TLS;
/// - `zookeeper://host:port[,host:port…]/chroot`: znodes under the chroot
///   (created if missing), leases held by the session too (see
///   `ZookeeperBackend`); keys `session_timeout`, `connect_timeout`,
///   `query_timeout`, `timeout`.
///
/// **Bounded waits** (`postgres://`, `mysql://`): no call waits on the
/// server without a bound, so that a server that stops answering (stopped,
/// frozen, cut off by the network) turns into an error rather than a hang.
/// The bounds are keys of the URL's query string, which taskwire reads and
/// removes before the driver parses the URL:
///
/// | key                 | bounds                                                        | default |
/// |---------------------|---------------------------------------------------------------|---------|
/// | `timeout`           | sets `connect_timeout`, `query_timeout` and `statement_timeout` at once | — |
/// | `connect_timeout`   | opening a connection (PostgreSQL: TCP, startup and login; MySQL: the TCP connect, the login's round trips being bounded by `query_timeout`) | `10s` |
/// | `query_timeout`     | each round trip, client side: sending a request and waiting for the server's answer | `30s` |
/// | `statement_timeout` | one statement's run, server side (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL `max_execution_time` for `SELECT`s) | `query_timeout` |
/// | `keepalive`         | TCP keepalive: idle time before the first probe, and between probes (3 probes) | `10s` |
///
/// A value is a whole number with a unit (`500ms`, `5s`, `2m`) or a bare
/// whole number of seconds (as libpq's `connect_timeout`), more than zero; a
/// per-kind key wins over `timeout`. A malformed value is refused with
/// [`PersistenceError::InvalidUrl`] naming the key and value. The kernel's
/// `tcp_user_timeout` is set to `query_timeout` too. The drivers' own keys
/// (`keepalives_idle`, `tcp_user_timeout`, `tcp_keepalive_time_ms`, ...)
/// still work and win over these defaults.
///
/// A bound that runs out is [`PersistenceError::TimedOut`] (naming the
/// operation, the bound and the server), so that an engine's run ends with
/// `RunError::Persistence`. The backend drops that connection and connects
/// again on its next call: once the server answers again, the same backend
/// (or a new one) serves `Engine::resume`. A write whose answer timed out may
/// or may not have been committed; the engine stops either way, and on
/// resumption the logbook, as read back, is authoritative.
///
/// ```
/// # use taskwire_runtime::persistence::{open, PersistenceError};
/// let err = open("postgres://app@db.example/logs?timeout=soon").unwrap_err();
/// assert!(matches!(err, PersistenceError::InvalidUrl { .. }));
/// assert!(err.to_string().contains("`timeout=soon` is not a duration"), "{err}");
/// ```
///
/// ```
/// # use taskwire_runtime::persistence::{open, PersistenceError};
/// let err = open("redis://localhost").unwrap_err();
/// assert!(matches!(err, PersistenceError::UnknownScheme { .. }));
/// assert!(err.to_string().contains("`redis`"));
/// ```
pub fn open(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    if url == "sqlite::memory:" {
        return open_sqlite(url);
    }
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(PersistenceError::InvalidUrl {
            url: redact_url(url),
            reason: format!("no scheme; expected one of: {}", SCHEMES.join(", ")),
        });
    };
    match scheme {
        "memory" => Ok(Arc::new(MemoryBackend::new())),
        "dir" | "file" => Ok(Arc::new(DirBackend::open_url(url)?)),
        "sqlite" => open_sqlite(url),
        "postgres" | "postgresql" => open_postgres(url),
        "mysql" | "mariadb" => open_mysql(url),
        "zookeeper" => open_zookeeper(url),
        other => Err(PersistenceError::UnknownScheme {
            url: redact_url(url),
            scheme: other.to_owned(),
            known: SCHEMES,
        }),
    }
}

/// Opens the backend a configuration map names (TaskFlow's
/// `backends.fetch(conf)`): `connection` is a URL as [`open`] takes it, or
/// a bare scheme (`"dir"`, `"sqlite"`, …) completed by `path`
/// (`{"connection": "dir", "path": "/var/lib/flows"}`); every other key is
/// an option of the URL's query string (`{"connection": "postgres://app@db/logs",
/// "timeout": "5s"}` opens `postgres://app@db/logs?timeout=5s`), its value a
/// string, a number or a boolean.
///
/// A configuration that is not a map, has no `connection`, or holds a
/// value that cannot be an option is refused with
/// [`PersistenceError::InvalidConfig`], naming the key.
///
/// ```
/// # use taskwire_runtime::persistence::{fetch, PersistenceError};
/// # use serde_json::json;
/// let backend = fetch(&json!({ "connection": "memory://" }))?;
/// assert_eq!(backend.url(), "memory://");
///
/// let err = fetch(&json!({ "path": "/tmp/flows" })).unwrap_err();
/// assert!(err.to_string().contains("`connection`"), "{err}");
/// # Ok::<(), PersistenceError>(())
/// ```
pub fn fetch(conf: &serde_json::Value) -> Result<Arc<dyn Backend>, PersistenceError> {
    open(&config_url(conf)?)
}

/// The URL a configuration map (see [`fetch`]) stands for.
pub(crate) fn config_url(conf: &serde_json::Value) -> Result<String, PersistenceError> {
    use serde_json::Value;
    let invalid = |key: &str, reason: String| PersistenceError::InvalidConfig {
        key: key.to_owned(),
        reason,
    };
    let Value::Object(map) = conf else {
        return Err(invalid(
            "(the configuration)",
            format!("expected a map with a `connection` key, found {conf}"),
        ));
    };
    let connection = match map.get("connection") {
        Some(Value::String(c)) if !c.is_empty() => c.as_str(),
        Some(other) => {
            return Err(invalid(
                "connection",
                format!("expected a URL or a scheme (a string), found {other}"),
            ))
        }
        None => {
            return Err(invalid(
                "connection",
                format!(
                    "missing: name the backend with a URL (`sqlite:///var/lib/flows.db`) or a scheme and a `path`; known schemes: {}",
                    SCHEMES.join(", ")
                ),
            ))
        }
    };
    let mut url = match (
        connection.contains("://") || connection == "sqlite::memory:",
        map.get("path"),
    ) {
        (true, None) => connection.to_owned(),
        (true, Some(_)) => {
            return Err(invalid(
                "path",
                format!(
                    "`connection` is a URL (`{}`), which names its path already",
                    redact_url(connection)
                ),
            ))
        }
        (false, Some(Value::String(path))) => format!("{connection}://{path}"),
        (false, Some(other)) => {
            return Err(invalid("path", format!("expected a string, found {other}")))
        }
        (false, None) => format!("{connection}://"),
    };
    let mut first = !url.contains('?');
    for (key, value) in map {
        if key == "connection" || key == "path" {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(invalid(
                    key,
                    format!("an option's value is a string, a number or a boolean, not {other}"),
                ))
            }
        };
        if key.contains(['&', '=', '?', '#']) || text.contains(['&', '#']) {
            return Err(invalid(
                key,
                format!("`{key}={text}` cannot be written in a URL's query (`&`, `=`, `?` or `#` in it)"),
            ));
        }
        url.push(if first { '?' } else { '&' });
        first = false;
        url.push_str(key);
        url.push('=');
        url.push_str(&text);
    }
    Ok(url)
}

#[cfg(feature = "sqlite")]
fn open_sqlite(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Ok(Arc::new(SqliteBackend::open(url)?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Err(PersistenceError::FeatureDisabled {
        url: redact_url(url),
        feature: "sqlite",
    })
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Ok(Arc::new(PostgresBackend::open(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Err(PersistenceError::FeatureDisabled {
        url: redact_url(url),
        feature: "postgres",
    })
}

#[cfg(feature = "mysql")]
fn open_mysql(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Ok(Arc::new(MysqlBackend::open(url)?))
}

#[cfg(not(feature = "mysql"))]
fn open_mysql(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Err(PersistenceError::FeatureDisabled {
        url: redact_url(url),
        feature: "mysql",
    })
}

#[cfg(feature = "zookeeper")]
fn open_zookeeper(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Ok(Arc::new(ZookeeperBackend::open(url)?))
}

#[cfg(not(feature = "zookeeper"))]
fn open_zookeeper(url: &str) -> Result<Arc<dyn Backend>, PersistenceError> {
    Err(PersistenceError::FeatureDisabled {
        url: redact_url(url),
        feature: "zookeeper",
    })
}

/// The state of a flow's lease as stored, and the rules every backend applies
/// to it (SQL backends apply them inside a transaction that holds the row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LeaseRow {
    pub(crate) owner: Option<String>,
    pub(crate) token: u64,
    pub(crate) expires_at: i64,
}

impl From<&Lease> for LeaseRow {
    fn from(lease: &Lease) -> LeaseRow {
        LeaseRow {
            owner: Some(lease.owner.clone()),
            token: lease.token,
            expires_at: lease.expires_at,
        }
    }
}

pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl LeaseRow {
    /// The lease after `owner` acquires it at `now`, or why not.
    pub(crate) fn acquire(
        &self,
        backend: &str,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<Lease, PersistenceError> {
        match &self.owner {
            Some(current)
                if current != owner && self.expires_at > now && !owner::owner_is_gone(current) =>
            {
                Err(PersistenceError::LeaseHeld {
                    backend: backend.to_owned(),
                    flow,
                    owner: current.clone(),
                    token: self.token,
                    since: None,
                    expires_at: self.expires_at,
                })
            }
            _ => Ok(self.taken(flow, owner, ttl, now)),
        }
    }

    /// The lease after `owner` takes it at `now`, whoever held it.
    pub(crate) fn taken(&self, flow: Uuid, owner: &str, ttl: Duration, now: i64) -> Lease {
        Lease {
            flow_uuid: flow,
            owner: owner.to_owned(),
            token: self.token + 1,
            expires_at: now.saturating_add(ttl_ms(ttl)),
        }
    }

    /// The row after `lease` is renewed for `ttl` at `now`, or `Fenced`.
    pub(crate) fn renewed(
        &self,
        backend: &str,
        lease: &Lease,
        ttl: Duration,
        now: i64,
    ) -> Result<LeaseRow, PersistenceError> {
        self.check(backend, lease)?;
        Ok(LeaseRow {
            expires_at: now.saturating_add(ttl_ms(ttl)),
            ..self.clone()
        })
    }

    /// The row after `lease` is given up (the token stays, so it stays
    /// fenced), or `Fenced`.
    pub(crate) fn released(
        &self,
        backend: &str,
        lease: &Lease,
    ) -> Result<LeaseRow, PersistenceError> {
        self.check(backend, lease)?;
        Ok(LeaseRow {
            owner: None,
            token: self.token,
            expires_at: 0,
        })
    }

    /// Whether `lease` is the current one.
    pub(crate) fn holds(&self, lease: &Lease) -> bool {
        self.owner.as_deref() == Some(lease.owner.as_str()) && self.token == lease.token
    }

    /// The error for a write or lease operation under a stale `lease`.
    pub(crate) fn fenced(&self, backend: &str, lease: &Lease) -> PersistenceError {
        PersistenceError::Fenced {
            backend: backend.to_owned(),
            flow: lease.flow_uuid,
            owner: lease.owner.clone(),
            token: lease.token,
            current_owner: self.owner.clone(),
            current_token: self.token,
        }
    }

    /// `Ok` if `lease` is current, else the `Fenced` error.
    pub(crate) fn check(&self, backend: &str, lease: &Lease) -> Result<(), PersistenceError> {
        if self.holds(lease) {
            Ok(())
        } else {
            Err(self.fenced(backend, lease))
        }
    }

    /// The lease this row records, as handed to `owner`.
    pub(crate) fn held_by(&self, flow: Uuid, owner: &str) -> Lease {
        Lease {
            flow_uuid: flow,
            owner: owner.to_owned(),
            token: self.token,
            expires_at: self.expires_at,
        }
    }

    /// The lease as seen by callers of `current_lease`.
    pub(crate) fn to_lease(&self, flow: Uuid) -> Option<Lease> {
        self.owner.as_ref().map(|owner| Lease {
            flow_uuid: flow,
            owner: owner.clone(),
            token: self.token,
            expires_at: self.expires_at,
        })
    }
}

/// Checks that every atom belongs to the lease's flow.
pub(crate) fn check_lease_flow(
    backend: &str,
    atoms: &[AtomDetail],
    lease: &Lease,
) -> Result<(), PersistenceError> {
    match atoms.iter().find(|a| a.flow_uuid != lease.flow_uuid) {
        Some(atom) => check_lease_for(backend, atom.flow_uuid, lease),
        None => Ok(()),
    }
}

/// `WrongLease` unless `lease` is the lease of flow detail `flow`.
pub(crate) fn check_lease_for(
    backend: &str,
    flow: Uuid,
    lease: &Lease,
) -> Result<(), PersistenceError> {
    if lease.flow_uuid == flow {
        Ok(())
    } else {
        Err(PersistenceError::WrongLease {
            backend: backend.to_owned(),
            lease_flow: lease.flow_uuid,
            flow,
        })
    }
}

/// Sorts atoms the way `load_flow` returns them.
pub(crate) fn sort_atoms(atoms: &mut [AtomDetail]) {
    atoms.sort_by(|a, b| (a.position, &a.name).cmp(&(b.position, &b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_disabled_schemes_are_named() {
        let err = open("redis://:pw@localhost/0").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`redis`"), "{text}");
        assert!(text.contains("sqlite://"), "{text}");
        assert!(!text.contains("pw"), "{text}");
        assert!(matches!(
            open("no-scheme").unwrap_err(),
            PersistenceError::InvalidUrl { .. }
        ));
        #[cfg(not(feature = "postgres"))]
        assert!(open("postgres://x@localhost/db")
            .unwrap_err()
            .to_string()
            .contains("`postgres` cargo feature"));
    }

    #[test]
    fn lease_rules() {
        let flow = Uuid::new_v4();
        let ttl = Duration::from_millis(100);
        let free = LeaseRow::default();
        let a = free.acquire("m", flow, "a", ttl, 1000).unwrap();
        assert_eq!((a.token, a.expires_at), (1, 1100));
        let held = LeaseRow {
            owner: Some("a".into()),
            token: 1,
            expires_at: 1100,
        };
        let err = held.acquire("m", flow, "b", ttl, 1099).unwrap_err();
        assert!(err.to_string().contains("leased to `a`"), "{err}");
        let b = held.acquire("m", flow, "b", ttl, 1100).unwrap();
        assert_eq!(b.token, 2);
        assert!(held.holds(&a) && !held.holds(&b));
        let taken = LeaseRow {
            owner: Some("b".into()),
            token: 2,
            expires_at: 1200,
        };
        let err = taken.check("m", &a).unwrap_err();
        assert!(
            err.to_string().contains("now leased to `b` with token 2"),
            "{err}"
        );
    }
}
