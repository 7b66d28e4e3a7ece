//! What can go wrong with a logbook, each error naming the backend, the object
//! and what is wrong.

use std::fmt;
use std::path::PathBuf;

use uuid::Uuid;

/// The kinds of persisted objects, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A [`LogBook`](super::LogBook).
    LogBook,
    /// A [`FlowDetail`](super::FlowDetail).
    FlowDetail,
    /// An [`AtomDetail`](super::AtomDetail).
    AtomDetail,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::LogBook => "logbook",
            ObjectKind::FlowDetail => "flow detail",
            ObjectKind::AtomDetail => "atom detail",
        })
    }
}

/// A driver's error, boxed.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a persistence backend.
///
/// `backend` is the backend's URL with any password removed
/// (`postgres://postgres@127.0.0.1/db`, `sqlite:///var/lib/app/log.db`, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// The object is not in the logbook.
    #[error("{backend}: {kind} {uuid} not found")]
    NotFound {
        /// The backend.
        backend: String,
        /// What was looked for.
        kind: ObjectKind,
        /// Its id.
        uuid: Uuid,
    },
    /// A stored value cannot be read back. Other rows stay readable.
    #[error("{backend}: table `{table}`, row {uuid}, column `{column}` is corrupt: {reason}")]
    Corrupt {
        /// The backend.
        backend: String,
        /// The table (for `dir://`, the kind of file).
        table: &'static str,
        /// The row's id, as stored.
        uuid: String,
        /// The column (for `dir://`, `(file)` when the whole file is unreadable).
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A table the schema version promises is not there.
    #[error("{backend}: table `{table}` is missing (schema version {version} says it should exist; was it dropped?)")]
    MissingTable {
        /// The backend.
        backend: String,
        /// The table.
        table: String,
        /// The recorded schema version.
        version: u32,
    },
    /// The logbook was written by a newer taskwire: its schema is unknown here.
    #[error("{backend}: the logbook's schema is version {found}, newer than version {known} that this taskwire knows; upgrade taskwire to open it")]
    SchemaTooNew {
        /// The backend.
        backend: String,
        /// The recorded version.
        found: u32,
        /// The newest version this code knows.
        known: u32,
    },
    /// The URL's scheme names no backend.
    #[error("unknown persistence URL scheme `{scheme}` in `{url}`; known schemes: {}", known.join(", "))]
    UnknownScheme {
        /// The URL (password removed).
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes taskwire knows.
        known: &'static [&'static str],
    },
    /// The URL's backend is compiled out.
    #[error("`{url}` needs the `{feature}` cargo feature of taskwire (or taskwire-runtime), which is not enabled")]
    FeatureDisabled {
        /// The URL (password removed).
        url: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// The URL cannot be used.
    #[error("invalid persistence URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL (password removed).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Another owner holds a live lease on the flow.
    #[error("{backend}: flow detail {flow} is leased to `{owner}` (token {token}){}, until {expires_at} (unix ms, {}); wait for it to expire or be released, or take it over with `Engine::take_over(grace)`", since.map(|s| format!(" since {s} (unix ms, {})", relative(s))).unwrap_or_default(), relative(*expires_at))]
    LeaseHeld {
        /// The backend.
        backend: String,
        /// The flow detail.
        flow: Uuid,
        /// The current owner.
        owner: String,
        /// The current fencing token.
        token: u64,
        /// When the owner took the lease (unix ms), when the engine knows it
        /// (from the flow detail's `meta.leases`).
        since: Option<i64>,
        /// When the lease expires (unix ms).
        expires_at: i64,
    },
    /// A write or lease operation carried a lease that is no longer the
    /// current one: another owner took the flow over (or it was released).
    #[error("{backend}: flow detail {flow}: the lease with token {token} held by `{owner}` is no longer current ({})", match (current_owner, current_token) { (Some(o), t) => format!("now leased to `{o}` with token {t}"), (None, t) => format!("released; last token {t}") })]
    Fenced {
        /// The backend.
        backend: String,
        /// The flow detail.
        flow: Uuid,
        /// The lease's owner.
        owner: String,
        /// The lease's (stale) token.
        token: u64,
        /// Who holds the flow now, if anyone.
        current_owner: Option<String>,
        /// The current token.
        current_token: u64,
    },
    /// A lease was used for an object of another flow.
    #[error("{backend}: the lease of flow detail {lease_flow} cannot be used to write flow detail {flow}")]
    WrongLease {
        /// The backend.
        backend: String,
        /// The lease's flow.
        lease_flow: Uuid,
        /// The flow written.
        flow: Uuid,
    },
    /// A value could not be encoded as JSON.
    #[error("{backend}: cannot encode {kind} {uuid}, column `{column}`: {source}")]
    Encode {
        /// The backend.
        backend: String,
        /// The object.
        kind: ObjectKind,
        /// Its id.
        uuid: Uuid,
        /// The column.
        column: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The database driver failed (connection lost, server down, ...).
    #[error("{backend}: {operation} failed: {source}")]
    Backend {
        /// The backend.
        backend: String,
        /// What was being done.
        operation: String,
        /// The driver's error.
        #[source]
        source: DriverError,
    },
    /// The server did not answer within a bound (`connect_timeout`,
    /// `query_timeout` or `statement_timeout` of the URL's query string).
    ///
    /// The backend dropped its connection (unless the server itself canceled
    /// the statement) and reconnects on its next call. A write that timed out
    /// may or may not have been committed: what the logbook holds when read
    /// again is authoritative.
    #[error("{backend}: {operation} timed out: no answer within {} (`{bound}`)", show_duration(*after))]
    TimedOut {
        /// The backend.
        backend: String,
        /// What was being done.
        operation: String,
        /// The bound that ran out: its key in the URL's query string.
        bound: &'static str,
        /// Its value.
        after: std::time::Duration,
    },
    /// A configuration map given to [`fetch`](super::fetch) is malformed.
    #[error("backend configuration: `{key}`: {reason}")]
    InvalidConfig {
        /// The key at fault.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Another process held a `dir://` directory's lock longer than the
    /// backend's `lock_timeout` (it may be stopped, or stuck).
    #[error("{backend}: the directory is locked by another process: `{}` was not given up within {} (`lock_timeout`); is a process using the directory stopped?", path.display(), show_duration(*waited))]
    Locked {
        /// The backend.
        backend: String,
        /// The lock file.
        path: std::path::PathBuf,
        /// How long the call waited.
        waited: std::time::Duration,
    },
    /// A listing's cursor is malformed, or continues a listing in another
    /// order (see [`FlowQuery`](super::FlowQuery)).
    #[error("invalid cursor `{cursor}`: {reason}")]
    InvalidCursor {
        /// The cursor as given (at most 80 characters of it).
        cursor: String,
        /// What is wrong.
        reason: String,
    },
    /// A query asks for something the backend cannot answer (a page size out
    /// of bounds, ...).
    #[error("{backend}: invalid query: {reason}")]
    InvalidQuery {
        /// The backend.
        backend: String,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{backend}: {operation} `{}` failed: {source}", path.display())]
    Io {
        /// The backend.
        backend: String,
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A duration as the URL's keys write it: `2s`, `1500ms`.
pub(crate) fn show_duration(d: std::time::Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// Removes the password from a URL, for messages: `scheme://user:secret@host`
/// becomes `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// `12.3 s ago` or `in 4.5 s`, from now.
fn relative(at: i64) -> String {
    let d = at - super::now_ms();
    let secs = d.unsigned_abs() as f64 / 1000.0;
    if d < 0 {
        format!("{secs:.1} s ago")
    } else {
        format!("in {secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_from_urls() {
        assert_eq!(
            redact_url("postgres://bob:s3cr@t@db:5432/x?sslmode=off"),
            "postgres://bob:***@db:5432/x?sslmode=off"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/x"),
            "mysql://root@127.0.0.1/x"
        );
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
