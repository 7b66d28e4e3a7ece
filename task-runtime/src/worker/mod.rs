//! Remote workers over AMQP (RabbitMQ): the [`WorkerExecutor`] that an
//! engine sends atoms through, and the [`Worker`] that runs them.
//!
//! ```text
//!  engine ── WorkerExecutor ──request──►  queue {ns}.worker.{id}  ──► Worker
//!                  ▲                                                   │
//!                  └──── queue {ns}.engine.{id} ◄── started, result ───┤
//!                  └──── fanout {ns}.hello      ◄── hello (heartbeat) ─┘
//! ```
//!
//! **Messages** are JSON objects with a protocol version `v` (now
//! [`PROTOCOL_VERSION`]) and a `type`: a worker's `hello` (its tasks by
//! registry name, version and idempotency, the attempts it holds, its
//! heartbeat period) and `bye`; the engine's `request` (an attempt id, the
//! atom's name, the task's name and version, the arguments by parameter name,
//! execute or revert); the worker's `started` and `result` (a value, or a
//! failure as its type name, message and cause chain).
//!
//! **Routing.** A task is sent only to a worker whose hello offers a task of
//! that name with the same major version, the least busy first. With none,
//! the request waits for one up to [`ExecutorConfig::no_worker_timeout`].
//!
//! **Liveness.** Workers send a hello every heartbeat period. A worker not
//! heard of for [`ExecutorConfig::missed_heartbeats`] periods is dead: each
//! request it held is sent to another worker under a new attempt id — unless
//! the worker had said it started a task that is not idempotent, in which
//! case the task may have run, and the flow fails with
//! [`WorkerError::MayHaveRun`] instead of running it twice blindly. A result
//! for an attempt that was already settled (a late answer from a worker that
//! was thought dead, a duplicate) is ignored and counted
//! ([`ExecutorStats::ignored_results`]). A worker says `started` just before
//! it calls the task's code, without waiting for the broker to confirm it: one
//! that dies in that instant is taken for one that never started.
//!
//! **Bounded waits.** No wait on the broker is open-ended, so that a broker
//! that stops answering (paused, cut off by the network) becomes an error
//! within a bound, and the client reconnects by itself once it is back. The
//! broker URL's query sets the bounds, for the executor and the worker alike
//! (`amqp://guest:guest@127.0.0.1:5672/%2f?heartbeat=5s&timeout=5s`;
//! durations are written `500ms`, `5s`, `1m` or whole seconds; a malformed value, or an
//! unknown key, is refused with an error naming it):
//!
//! | key               | default | what it bounds |
//! |-------------------|---------|----------------|
//! | `heartbeat`       | 10 s    | the AMQP heartbeat asked for (whole seconds, rounded up; the broker may lower it): a connection on which nothing came for two heartbeats is taken for broken, dropped, and opened again |
//! | `connect_timeout` | 10 s    | opening a connection (TCP and the AMQP handshake) |
//! | `timeout`         | 10 s    | each request to the broker: opening a channel, declaring, binding, consuming, publishing, acknowledging; a worker whose hello cannot be sent within it reconnects |
//!
//! What bounds a request an engine sent, by what stops answering:
//! - *No worker offers its task*: [`ExecutorConfig::no_worker_timeout`]
//!   (30 s), then [`WorkerError::NoWorker`].
//! - *Its worker* (no hello for [`ExecutorConfig::missed_heartbeats`] of the
//!   worker's heartbeats, 3 s by default): sent to another worker, at most
//!   [`ExecutorConfig::max_tries`] times ([`WorkerError::GaveUp`]), or
//!   [`WorkerError::MayHaveRun`] for a task that is not idempotent.
//! - *Its task*, running long on a live worker: the atom's own timeout
//!   ([`TaskSpec::timeout`](crate::TaskSpec::timeout)); none by default, as a
//!   task may rightly run long.
//! - *The broker*: the connection is found broken after two heartbeats, each
//!   try to open it again ends within `connect_timeout` and `timeout`, and
//!   once the executor has been without a connection for
//!   [`ExecutorConfig::broker_timeout`] (30 s) its requests fail with
//!   [`WorkerError::BrokerAway`]: at most about two heartbeats, plus
//!   `broker_timeout`, plus one `connect_timeout` after the broker went
//!   silent.
//!
//! **Broken connections** heal: engine and worker reconnect with backoff.
//! Queues outlive a short disconnection (they expire after
//! [`QUEUE_EXPIRES`] unused), so requests and results wait for their reader.
//! A request that a worker's hello does not list although the worker has
//! room (lost with a connection) is sent again under the same attempt id;
//! the worker runs an attempt at most once and answers a repeated one with
//! the result it kept.

mod executor;
mod observe;
mod server;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::failure::FailureRecord;
use crate::persistence::Uuid;

pub use executor::{ExecutorConfig, ExecutorStats, WorkerExecutor};
pub use observe::{observe, WorkerStatus};
pub use server::{Worker, WorkerHandle};

/// The version of the message format; messages of another version are
/// refused (a request with an error result, others ignored with a warning).
pub const PROTOCOL_VERSION: u32 = 1;

/// How long a queue lives without a reader: long enough to ride out a broken
/// connection, short enough that queues of processes that died go away.
pub const QUEUE_EXPIRES: Duration = Duration::from_secs(120);

/// Where workers and engines meet: the broker's URL and a namespace that
/// prefixes every exchange and queue name (so that several deployments, or
/// tests, share one broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// `amqp://user:password@host:port/vhost` (`%2f` is the default vhost),
    /// with the bounds of the [module documentation](self) in its query.
    pub url: String,
    /// Prefix of every exchange and queue name.
    pub namespace: String,
}

impl Broker {
    /// A broker at `url`, names prefixed with `namespace`.
    pub fn new(url: impl Into<String>, namespace: impl Into<String>) -> Broker {
        Broker {
            url: url.into(),
            namespace: namespace.into(),
        }
    }

    pub(crate) fn hello_exchange(&self) -> String {
        format!("{}.hello", self.namespace)
    }

    pub(crate) fn worker_queue(&self, worker: &str) -> String {
        format!("{}.worker.{worker}", self.namespace)
    }

    pub(crate) fn engine_queue(&self, engine: &str) -> String {
        format!("{}.engine.{engine}", self.namespace)
    }
}

/// What went wrong between an engine and its workers. Task failures that
/// come back from a worker are the task's own (type name, message, causes);
/// these are the executor's, carried in the atom's [`Failure`](crate::Failure)
/// (downcast it to `WorkerError` while in the engine's process).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// No live worker offered the task in time.
    #[error("no worker offers task `{task}` (version {version}) in namespace `{namespace}`; waited {waited:?}{}", offered_list(.offered))]
    NoWorker {
        /// The task's registry name.
        task: String,
        /// The version the engine has.
        version: String,
        /// The namespace.
        namespace: String,
        /// How long the request waited.
        waited: Duration,
        /// What live workers offer under that name (other versions).
        offered: Vec<String>,
    },
    /// The worker stopped answering after it started a task that is not
    /// idempotent: it may have run, so it was not sent again.
    #[error("task `{task}` of atom `{atom}` is not idempotent and may have run on worker `{worker}`, which stopped answering (no heartbeat for {silent:?}); it was not sent again, to avoid running it twice: check its effects, then resume or revert the flow")]
    MayHaveRun {
        /// The atom.
        atom: String,
        /// The task.
        task: String,
        /// The worker.
        worker: String,
        /// How long the worker had been silent.
        silent: Duration,
    },
    /// The request was sent to too many workers that died.
    #[error("task `{task}` of atom `{atom}` was sent to {tries} workers that each stopped answering; giving up")]
    GaveUp {
        /// The atom.
        atom: String,
        /// The task.
        task: String,
        /// How many workers it was sent to.
        tries: u32,
    },
    /// The worker does not have the task (it changed since its hello).
    #[error("worker `{worker}` has no task `{task}`{}", crate::registry::suggestion(.near))]
    UnknownTask {
        /// The worker.
        worker: String,
        /// The task.
        task: String,
        /// Names it has that look alike.
        near: Vec<String>,
    },
    /// The worker's task has another major version than the engine's.
    #[error("worker `{worker}` has task `{task}` version {have}, but the engine asked for version {asked}")]
    Version {
        /// The worker.
        worker: String,
        /// The task.
        task: String,
        /// The worker's version.
        have: String,
        /// The engine's version.
        asked: String,
    },
    /// The worker cannot revert the task (it has no revert code).
    #[error("worker `{worker}`: task `{task}` has no revert")]
    NoRevert {
        /// The worker.
        worker: String,
        /// The task.
        task: String,
    },
    /// A message had another protocol version.
    #[error("message of protocol version {found} from `{from}`; this taskwire speaks version {PROTOCOL_VERSION}")]
    Protocol {
        /// Who sent it.
        from: String,
        /// Its version.
        found: u32,
    },
    /// The broker was lost, and not reached again within
    /// [`ExecutorConfig::broker_timeout`].
    #[error("task `{task}` of atom `{atom}`: the AMQP broker {url} has been away for {away:?} (the executor's broker_timeout); the last try to reach it: {error}")]
    BrokerAway {
        /// The atom.
        atom: String,
        /// The task.
        task: String,
        /// The broker (password removed).
        url: String,
        /// How long it had been away.
        away: Duration,
        /// The last error reaching it.
        error: String,
    },
    /// The executor was dropped while the request was out.
    #[error("the worker executor stopped before task `{task}` of atom `{atom}` got its result")]
    Stopped {
        /// The atom.
        atom: String,
        /// The task.
        task: String,
    },
}

fn offered_list(offered: &[String]) -> String {
    if offered.is_empty() {
        String::new()
    } else {
        format!(" (live workers offer: {})", offered.join(", "))
    }
}

/// The broker could not be used.
#[derive(Debug, thiserror::Error)]
#[error("AMQP broker {url}: {operation} failed: {message}")]
pub struct BrokerError {
    /// The broker's URL (password removed).
    pub url: String,
    /// What was being done.
    pub operation: String,
    /// The client's error.
    pub message: String,
}

/// A task as a worker offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Registry name.
    pub name: String,
    /// `major.minor`.
    pub version: String,
    /// Whether running it twice is harmless.
    pub idempotent: bool,
}

/// Execute or revert, on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum WireAction {
    Execute,
    Revert {
        /// The atom's result, or
        result: Option<Value>,
        /// its failure.
        failure: Option<FailureRecord>,
        /// The flow's failures by atom name.
        failures: Map<String, Value>,
    },
}

/// A result on the wire: a value or a failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireOutcome {
    Ok(Value),
    Failure(FailureRecord),
}

/// Every message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Message {
    Hello {
        worker: String,
        queue: String,
        tasks: Vec<Offer>,
        /// Attempts delivered to the worker and not finished.
        holds: Vec<Uuid>,
        capacity: usize,
        /// Requests waiting in its queue.
        backlog: u32,
        /// Stopping: finishing what it runs, taking nothing new.
        #[serde(default)]
        draining: bool,
        heartbeat_ms: u64,
    },
    Bye {
        worker: String,
    },
    Request {
        attempt: Uuid,
        atom: String,
        task: String,
        version: String,
        args: Map<String, Value>,
        action: WireAction,
        reply_to: String,
        /// The W3C trace context of the engine's attempt (absent in
        /// messages of engines without it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracestate: Option<String>,
    },
    Started {
        attempt: Uuid,
        worker: String,
    },
    Result {
        attempt: Uuid,
        worker: String,
        outcome: WireOutcome,
    },
}

#[derive(Serialize)]
struct Out<'a> {
    v: u32,
    #[serde(flatten)]
    message: &'a Message,
}

#[derive(Deserialize)]
struct In {
    v: u32,
    #[serde(flatten)]
    rest: Value,
}

pub(crate) fn encode(message: &Message) -> Vec<u8> {
    serde_json::to_vec(&Out {
        v: PROTOCOL_VERSION,
        message,
    })
    .expect("messages are plain JSON")
}

/// Decodes a message: `Err` with a description if it is not one, or of
/// another version (`Err(Some(version))`).
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, String> {
    let envelope: In = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if envelope.v != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {} (this taskwire speaks {PROTOCOL_VERSION})",
            envelope.v
        ));
    }
    serde_json::from_value(envelope.rest).map_err(|e| e.to_string())
}

/// The URL query keys of a broker's URL.
const KEYS: [&str; 3] = ["heartbeat", "connect_timeout", "timeout"];

/// How long the engine's and the worker's AMQP clients wait on the broker
/// (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The AMQP heartbeat asked for (whole seconds on the wire).
    pub(crate) heartbeat: Duration,
    /// Opening a connection.
    pub(crate) connect_timeout: Duration,
    /// Each request to the broker.
    pub(crate) timeout: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            heartbeat: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A wait on the broker that failed or ran out.
#[derive(Debug)]
pub(crate) enum Waited {
    Failed(amqprs::error::Error),
    NoAnswer { bound: Duration, key: &'static str },
}

impl std::fmt::Display for Waited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waited::Failed(e) => e.fmt(f),
            Waited::NoAnswer { bound, key } => write!(
                f,
                "no answer from the broker within {} (`{key}` in the URL)",
                crate::url_options::show_duration(*bound)
            ),
        }
    }
}

/// A broker request bounded in time.
pub(crate) trait Within<T>:
    std::future::Future<Output = Result<T, amqprs::error::Error>>
{
    /// Fails with [`Waited::NoAnswer`] unless done within `bound` (the URL's
    /// `key`).
    fn within(
        self,
        bound: Duration,
        key: &'static str,
    ) -> impl std::future::Future<Output = Result<T, Waited>> + Send
    where
        Self: Sized + Send,
    {
        async move {
            match tokio::time::timeout(bound, self).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(Waited::Failed(e)),
                Err(_) => Err(Waited::NoAnswer { bound, key }),
            }
        }
    }
}

impl<T, F: std::future::Future<Output = Result<T, amqprs::error::Error>>> Within<T> for F {}

/// Connection arguments and bounds from an
/// `amqp://user:password@host:port/vhost[?heartbeat=…]` URL.
pub(crate) fn connection_args(
    url: &str,
    name: &str,
) -> Result<(amqprs::connection::OpenConnectionArguments, Bounds), BrokerError> {
    let bad = |message: String| BrokerError {
        url: crate::persistence::redact_url(url),
        operation: "parse the URL".to_owned(),
        message,
    };
    let (url_rest, options) = crate::url_options::take_options(url, &KEYS);
    let mut bounds = Bounds::default();
    for (key, value) in options {
        let d = crate::url_options::parse_duration(&key, &value).map_err(bad)?;
        match key.as_str() {
            "heartbeat" => bounds.heartbeat = d,
            "connect_timeout" => bounds.connect_timeout = d,
            _ => bounds.timeout = d,
        }
    }
    if let Some((_, query)) = url_rest.split_once('?') {
        let key = query.split(['=', '&']).next().unwrap_or_default();
        return Err(bad(format!(
            "unknown key `{key}` in the URL's query; known keys: heartbeat, connect_timeout, timeout"
        )));
    }
    let rest = url_rest
        .strip_prefix("amqp://")
        .ok_or_else(|| bad("expected amqp://user:password@host:port/vhost".to_owned()))?;
    let (authority, vhost) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = authority
        .rsplit_once('@')
        .unwrap_or(("guest:guest", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|e| bad(format!("port `{p}`: {e}")))?,
        ),
        None => (hostport, 5672),
    };
    let vhost = match vhost {
        "" | "%2f" | "%2F" => "/".to_owned(),
        v => v.to_owned(),
    };
    let mut args = amqprs::connection::OpenConnectionArguments::new(host, port, user, password);
    // Whole seconds on the wire, rounded up.
    let heartbeat = bounds.heartbeat.as_millis().div_ceil(1000).clamp(1, 65535) as u16;
    args.virtual_host(&vhost)
        .connection_name(name)
        .heartbeat(heartbeat);
    Ok((args, bounds))
}

/// Queue arguments: expire after [`QUEUE_EXPIRES`] without a reader.
pub(crate) fn expiring_queue(name: &str) -> amqprs::channel::QueueDeclareArguments {
    let mut table = amqprs::FieldTable::new();
    table.insert(
        "x-expires".try_into().expect("short name"),
        amqprs::FieldValue::I(QUEUE_EXPIRES.as_millis() as i32),
    );
    let mut args = amqprs::channel::QueueDeclareArguments::new(name);
    args.durable(false).auto_delete(false).arguments(table);
    args
}

/// Waits for `d`, doubled each call up to 2 s: reconnection backoff.
pub(crate) async fn backoff(d: &mut Duration) {
    tokio::time::sleep(*d).await;
    *d = (*d * 2).min(Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_version_and_other_versions_are_refused() {
        let bye = encode(&Message::Bye {
            worker: "w1".to_owned(),
        });
        assert_eq!(
            String::from_utf8(bye.clone()).unwrap(),
            r#"{"v":1,"type":"bye","worker":"w1"}"#
        );
        assert!(matches!(decode(&bye), Ok(Message::Bye { worker }) if worker == "w1"));
        assert_eq!(
            decode(br#"{"v":2,"type":"bye","worker":"w1"}"#).unwrap_err(),
            "protocol version 2 (this taskwire speaks 1)"
        );
        assert_eq!(
            decode(br#"{"v":1,"type":"shout"}"#).unwrap_err(),
            "unknown variant `shout`, expected one of `hello`, `bye`, `request`, `started`, `result`"
        );
    }

    #[test]
    fn requests_carry_their_trace_context_and_old_requests_still_decode() {
        // A request of an engine from before trace context: no such fields.
        let old = br#"{"v":1,"type":"request","attempt":"67e55044-10b1-426f-9247-bb680e5fe0c8","atom":"a","task":"t","version":"1.0","args":{},"action":{"kind":"execute"},"reply_to":"q"}"#;
        let Ok(Message::Request {
            traceparent,
            tracestate,
            ..
        }) = decode(old)
        else {
            panic!("an old request decodes")
        };
        assert_eq!((traceparent, tracestate), (None, None));
        let traced = Message::Request {
            attempt: Uuid::nil(),
            atom: "a".to_owned(),
            task: "t".to_owned(),
            version: "1.0".to_owned(),
            args: Map::new(),
            action: WireAction::Execute,
            reply_to: "q".to_owned(),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
            tracestate: Some("vendor=1".to_owned()),
        };
        let body = String::from_utf8(encode(&traced)).unwrap();
        assert!(body.ends_with(r#""reply_to":"q","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"vendor=1"}"#), "{body}");
        let Ok(Message::Request { traceparent, .. }) = decode(body.as_bytes()) else {
            panic!("decodes")
        };
        assert_eq!(
            traceparent.as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        // Without a trace, the fields are left out.
        let Message::Request {
            attempt,
            atom,
            task,
            version,
            args,
            action,
            reply_to,
            ..
        } = traced
        else {
            unreachable!()
        };
        let plain = Message::Request {
            attempt,
            atom,
            task,
            version,
            args,
            action,
            reply_to,
            traceparent: None,
            tracestate: None,
        };
        assert!(!String::from_utf8(encode(&plain)).unwrap().contains("trace"));
    }

    #[test]
    fn broker_urls_are_parsed_and_bad_ones_named() {
        let (args, bounds) = connection_args("amqp://bob:secret@rabbit:5673/prod", "x").unwrap();
        assert_eq!(
            (args.get_host(), args.get_port(), args.get_virtual_host()),
            ("rabbit", 5673, "prod")
        );
        assert_eq!(bounds, Bounds::default());
        assert_eq!(args.get_heartbeat(), 10);
        let (args, _) = connection_args("amqp://guest:guest@127.0.0.1:5672/%2f", "x").unwrap();
        assert_eq!(args.get_virtual_host(), "/");
        let Err(err) = connection_args("amqp://bob:secret@rabbit:56x/", "x") else {
            panic!("a bad port")
        };
        assert_eq!(
            err.to_string(),
            "AMQP broker amqp://bob:***@rabbit:56x/: parse the URL failed: port `56x`: invalid digit found in string"
        );
        let Err(err) = connection_args("amqp://bob:secret@rabbit/%2f?timeout=fast", "x") else {
            panic!("a bad timeout")
        };
        assert_eq!(
            err.to_string(),
            "AMQP broker amqp://bob:***@rabbit/%2f?timeout=fast: parse the URL failed: `timeout=fast` is not a duration: write a whole number with a unit, such as `500ms`, `5s` or `1m`, or of seconds"
        );
        let Err(err) = connection_args("amqp://rabbit/%2f?heartbeat=5s&frame_max=9", "x") else {
            panic!("an unknown key")
        };
        assert_eq!(
            err.to_string(),
            "AMQP broker amqp://rabbit/%2f?heartbeat=5s&frame_max=9: parse the URL failed: unknown key `frame_max` in the URL's query; known keys: heartbeat, connect_timeout, timeout"
        );
        let Err(err) = connection_args("http://rabbit", "x") else {
            panic!("a bad scheme")
        };
        assert_eq!(
            err.to_string(),
            "AMQP broker http://rabbit: parse the URL failed: expected amqp://user:password@host:port/vhost"
        );
    }

    #[test]
    fn bounds_come_from_the_query() {
        let (args, bounds) = connection_args(
            "amqp://u:p@h:5672/%2f?heartbeat=1500ms&connect_timeout=2s&timeout=3s",
            "x",
        )
        .unwrap();
        assert_eq!(args.get_virtual_host(), "/");
        assert_eq!(args.get_heartbeat(), 2, "rounded up to whole seconds");
        assert_eq!(
            bounds,
            Bounds {
                heartbeat: Duration::from_millis(1500),
                connect_timeout: Duration::from_secs(2),
                timeout: Duration::from_secs(3),
            }
        );
    }
}
