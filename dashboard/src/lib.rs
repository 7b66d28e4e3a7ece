//! A web dashboard over taskwire logbooks and jobboards, on axum.
//!
//! What it shows: the flows of a logbook (filtered by state, name, logbook and
//! age; newest first; paginated; updated live through server-sent events),
//! each flow with its graph coloured by state, a timeline of its atoms
//! (a Gantt of every execution and revert, retries visible), its failures
//! with their causes and its retries' history; and, given a jobboard, its
//! jobs, dead letters and the conductors holding claims. Everything it serves
//! is in the binary (no CDN): pages and pictures (SVG) are rendered on the
//! server, the little script and style sheet are embedded.
//!
//! It is read-only unless [`ServeOptions::allow_actions`] is set, and then an
//! action (resume a flow, cancel a job, requeue a dead job) needs the action
//! token typed into its form, and the form's CSRF field (an unguessable value
//! of this process, only in the dashboard's own pages), and is refused from
//! another origin. It listens on loopback unless
//! [`ServeOptions::allow_remote`] says otherwise. Every query parameter is
//! checked: bad input is a 400 page naming the parameter and what it expects.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use taskwire_dashboard::{serve, ServeOptions};
//! let logbook = taskwire_runtime::persistence::open("sqlite://taskwire.db")?;
//! let mut options = ServeOptions::new(logbook);
//! options.listen = "127.0.0.1:8080".parse()?;
//! serve(options).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Routes: `/` (flows), `/flows/{uuid}`, `/jobs`, the event streams
//! `/events/flows` and `/events/flows/{uuid}`, `/assets/…`, and the actions
//! (POST) `/actions/flows/{uuid}/resume`, `/actions/jobs/{id}/cancel`,
//! `/actions/jobs/{id}/requeue`.

mod actions;
mod data;
mod gantt;
mod graph;
mod html;
mod pages;
mod params;
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use taskwire_runtime::jobboard::JobBoard;
use taskwire_runtime::persistence::Backend;

/// The shortest action token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// What [`serve`] serves, and how. Its `Debug` output leaves the action
/// token out.
#[derive(Clone)]
pub struct ServeOptions {
    /// The logbook to show.
    pub backend: Arc<dyn Backend>,
    /// The jobboard to show (the jobs page says there is none if `None`).
    pub jobboard: Option<Arc<dyn JobBoard>>,
    /// Where to listen (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Whether a non-loopback `listen` address is allowed (default no: the
    /// dashboard has no login, anyone who reaches it sees the logbook).
    pub allow_remote: bool,
    /// Whether actions (resume, cancel, requeue) are allowed (default no).
    pub allow_actions: bool,
    /// The token an operator types to run an action; required, at least
    /// [`MIN_TOKEN_LEN`] characters, when actions are allowed.
    pub action_token: Option<String>,
    /// How often the event streams look for changes (default 1 s).
    pub poll_interval: Duration,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("backend", &self.backend.url())
            .field("jobboard", &self.jobboard.as_ref().map(|b| b.describe()))
            .field("listen", &self.listen)
            .field("allow_remote", &self.allow_remote)
            .field("allow_actions", &self.allow_actions)
            .field(
                "action_token",
                &self.action_token.as_ref().map(|_| "<hidden>"),
            )
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl ServeOptions {
    /// Read-only options over `backend`, on `127.0.0.1:8080`.
    pub fn new(backend: Arc<dyn Backend>) -> ServeOptions {
        ServeOptions {
            backend,
            jobboard: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_remote: false,
            allow_actions: false,
            action_token: None,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Why the dashboard cannot start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A non-loopback address without [`ServeOptions::allow_remote`].
    #[error("refusing to listen on {addr}: it is not a loopback address, and the dashboard has no login; listen on 127.0.0.1 or [::1], or allow remote access explicitly")]
    NotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// Actions allowed without a token, or with a short one.
    #[error("actions are allowed but the action token is {problem}; give a token of at least {min} characters", min = MIN_TOKEN_LEN)]
    Token {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A poll interval of zero.
    #[error("the poll interval must be more than zero")]
    PollInterval,
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the dashboard server stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// The dashboard's state, shared by its handlers: build it with
/// [`Dashboard::new`], route it with [`router`].
#[derive(Debug, Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    jobboard: Option<Arc<dyn JobBoard>>,
    allow_actions: bool,
    token: Option<String>,
    csrf: String,
    poll: Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("backend", &self.backend.url())
            .field("allow_actions", &self.allow_actions)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// Checks `options` (all but the address) and builds the state.
    pub fn new(options: &ServeOptions) -> Result<Dashboard, ServeError> {
        let token = match (&options.action_token, options.allow_actions) {
            (_, false) => None,
            (None, true) => return Err(ServeError::Token { problem: "missing" }),
            (Some(t), true) if t.chars().count() < MIN_TOKEN_LEN => {
                return Err(ServeError::Token {
                    problem: "too short",
                })
            }
            (Some(t), true) => Some(t.clone()),
        };
        if options.poll_interval.is_zero() {
            return Err(ServeError::PollInterval);
        }
        let csrf = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Ok(Dashboard {
            inner: Arc::new(Inner {
                backend: Arc::clone(&options.backend),
                jobboard: options.jobboard.clone(),
                allow_actions: options.allow_actions,
                token,
                csrf,
                poll: options.poll_interval,
            }),
        })
    }
}

/// The dashboard's routes over `dashboard` (with the `prometheus` feature,
/// `GET /metrics` too: see [`metrics`]).
pub fn router(dashboard: Dashboard) -> Router {
    let routes = Router::new();
    #[cfg(feature = "prometheus")]
    let routes = routes.route("/metrics", get(metrics));
    routes
        .route("/", get(pages::flows))
        .route("/flows/{id}", get(pages::flow))
        .route("/jobs", get(pages::jobs))
        .route("/events/flows", get(sse::flows))
        .route("/events/flows/{id}", get(sse::flow))
        .route("/assets/{name}", get(pages::asset))
        .route("/actions/flows/{id}/resume", post(actions::resume))
        .route("/actions/jobs/{id}/cancel", post(actions::cancel))
        .route("/actions/jobs/{id}/requeue", post(actions::requeue))
        .fallback(pages::not_found)
        .with_state(dashboard)
}

/// `GET /metrics`: the metrics of this process (the engines, workers and
/// conductors it runs) in Prometheus' text format; 404, saying what to do,
/// until `taskwire_runtime::telemetry::prometheus::install()` was called.
/// Read-only, like the pages.
#[cfg(feature = "prometheus")]
pub async fn metrics() -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    match taskwire_runtime::telemetry::prometheus::render() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no metrics are recorded in this process: call \
             taskwire_runtime::telemetry::prometheus::install() before running flows\n",
        )
            .into_response(),
    }
}

/// Serves the dashboard on `options.listen` until the process ends.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    check_address(&options)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.listen,
            source,
        })?;
    serve_on(listener, options).await
}

/// Serves the dashboard on a listener already bound (`options.listen` is
/// ignored; the listener's address is checked the same way).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    mut options: ServeOptions,
) -> Result<(), ServeError> {
    options.listen = listener.local_addr().map_err(ServeError::Serve)?;
    check_address(&options)?;
    let dashboard = Dashboard::new(&options)?;
    axum::serve(listener, router(dashboard))
        .await
        .map_err(ServeError::Serve)
}

fn check_address(options: &ServeOptions) -> Result<(), ServeError> {
    if options.listen.ip().is_loopback() || options.allow_remote {
        Ok(())
    } else {
        Err(ServeError::NotLoopback {
            addr: options.listen,
        })
    }
}
