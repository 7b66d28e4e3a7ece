//! Actions: resume a flow, cancel a ready job, requeue a dead one.
//!
//! Each is refused unless the dashboard allows actions (403), the request
//! comes from the dashboard's own origin (403: `Origin` and
//! `Sec-Fetch-Site`, when the browser sends them), its form carries this
//! process's CSRF value (403), and the action token typed matches (401).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use taskwire_runtime::jobboard::{JobBoard, JobBoardError, JobState};
use taskwire_runtime::Engine;

use crate::html::PageError;
use crate::pages::blocking;
use crate::params;
use crate::Dashboard;

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The checks every action passes first.
fn authorize(d: &Dashboard, headers: &HeaderMap, body: &str) -> Result<(), PageError> {
    let forbidden = |m: &str| PageError::new(StatusCode::FORBIDDEN, m);
    if !d.inner.allow_actions {
        return Err(forbidden(
            "actions are disabled: this dashboard is read-only (start it with actions allowed and an action token)",
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if origin != format!("http://{host}") {
            return Err(forbidden(&format!(
                "cross-origin request refused: origin `{origin}` is not this dashboard (`http://{host}`)"
            )));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(forbidden(&format!(
                "cross-site request refused (Sec-Fetch-Site: {})",
                site.to_str().unwrap_or("?")
            )));
        }
    }
    let mut csrf = None;
    let mut token = None;
    for part in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let v = params::decode(v)?;
        match k {
            "csrf" => csrf = Some(v),
            "token" => token = Some(v),
            _ => {
                return Err(PageError::bad_request(format!(
                    "unknown form field `{k}`; expected csrf and token"
                )))
            }
        }
    }
    match csrf {
        Some(c) if same(&c, &d.inner.csrf) => {}
        Some(_) => {
            return Err(forbidden(
                "the form's CSRF field is wrong (reload the page and try again)",
            ))
        }
        None => {
            return Err(forbidden(
                "the form has no CSRF field: actions are only taken from the dashboard's own pages",
            ))
        }
    }
    match (token, &d.inner.token) {
        (Some(t), Some(expected)) if same(&t, expected) => Ok(()),
        (None, _) => Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "the action token is missing",
        )),
        _ => Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "the action token is wrong",
        )),
    }
}

pub(crate) async fn resume(
    State(d): State<Dashboard>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    authorize(&d, &headers, &body)?;
    let uuid = params::id("flow", &id)?;
    let backend = d.inner.backend.clone();
    let engine = blocking(move || {
        let conflict = |why: String| {
            PageError::new(
                StatusCode::CONFLICT,
                format!("flow {uuid} cannot be resumed: {why}"),
            )
        };
        let (flow, _) = backend
            .load_flow(uuid)
            .map_err(crate::pages::persistence_error)?;
        if flow.state.is_final() {
            return Err(conflict(format!("it has ended ({})", flow.state)));
        }
        Engine::resume(backend, uuid).map_err(|e| conflict(e.to_string()))
    })
    .await??;
    // The run goes on in the background; the flow page follows it live.
    std::thread::Builder::new()
        .name(format!("resume-{uuid}"))
        .spawn(move || {
            let mut engine = engine;
            if let Err(e) = engine.run() {
                tracing::warn!(flow = %uuid, error = %e, "resumed run failed");
            }
        })
        .map_err(|e| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot start the resumed run: {e}"),
            )
        })?;
    Ok(Redirect::to(&format!("/flows/{uuid}")).into_response())
}

fn board(d: &Dashboard) -> Result<Arc<dyn JobBoard>, PageError> {
    d.inner.jobboard.clone().ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "no jobboard was given to this dashboard",
        )
    })
}

fn board_error(e: JobBoardError) -> PageError {
    match e {
        JobBoardError::NotFound { .. } => PageError::new(StatusCode::NOT_FOUND, e.to_string()),
        JobBoardError::NotDead { .. } | JobBoardError::NotCancelled { .. } => {
            PageError::new(StatusCode::CONFLICT, e.to_string())
        }
        e => PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the jobboard failed: {e}"),
        ),
    }
}

pub(crate) async fn cancel(
    State(d): State<Dashboard>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    authorize(&d, &headers, &body)?;
    let id = params::id("job", &id)?;
    let board = board(&d)?;
    // Only a ready job, checked by the board as it deletes (a job claimed
    // meanwhile stays with its conductor).
    blocking(move || {
        board
            .cancel(id, &[JobState::Ready])
            .map(drop)
            .map_err(board_error)
    })
    .await??;
    Ok(Redirect::to("/jobs").into_response())
}

pub(crate) async fn requeue(
    State(d): State<Dashboard>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    authorize(&d, &headers, &body)?;
    let id = params::id("job", &id)?;
    let board = board(&d)?;
    // Ready again, same id, failures cleared (the board checks it is dead).
    blocking(move || board.requeue(id).map(drop).map_err(board_error)).await??;
    Ok(Redirect::to("/jobs").into_response())
}
