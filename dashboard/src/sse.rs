//! Live updates: server-sent event streams that look at the logbook every
//! poll interval and send an event when something changed.
//!
//! Each stream starts with a `ready` event once it took its first look (the
//! page then refreshes once, so that nothing changed between its rendering
//! and that look is missed), then a `change` event, whose data is JSON, for each change seen.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, Stream};
use serde_json::json;

use crate::data;
use crate::html::PageError;
use crate::params;
use crate::Dashboard;

type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// A stream that calls `look` every `poll` and sends `change` events for what
/// `diff(previous, current)` reports.
fn watch<T, F, D>(poll: Duration, look: F, diff: D) -> Events
where
    T: Send + 'static,
    F: Fn() -> Result<T, String> + Send + Sync + Clone + 'static,
    D: Fn(&T, &T) -> Option<serde_json::Value> + Send + Sync + Clone + 'static,
{
    let events = stream::unfold(None::<T>, move |mut last| {
        let look = look.clone();
        let diff = diff.clone();
        async move {
            loop {
                if last.is_some() {
                    tokio::time::sleep(poll).await;
                }
                let now = match tokio::task::spawn_blocking(look.clone()).await {
                    Ok(Ok(now)) => now,
                    Ok(Err(message)) => {
                        let event = Event::default()
                            .event("failed")
                            .data(json!({ "error": message }).to_string());
                        if last.is_none() {
                            tokio::time::sleep(poll).await;
                        }
                        return Some((Ok(event), last));
                    }
                    Err(_) => return None,
                };
                let Some(prev) = last.replace(now) else {
                    // The first look: watching from now on.
                    return Some((Ok(Event::default().event("ready").data("{}")), last));
                };
                let change = last.as_ref().and_then(|now| diff(&prev, now));
                if let Some(change) = change {
                    let event = Event::default().event("change").data(change.to_string());
                    return Some((Ok(event), last));
                }
            }
        }
    });
    Box::pin(events)
}

/// Changes to any flow: `{"flows": [{"uuid", "state", "updated_at"}…]}`.
pub(crate) async fn flows(
    State(d): State<Dashboard>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, PageError> {
    params::none(raw.as_deref())?;
    let backend = d.inner.backend.clone();
    let look = move || data::flow_marks(&*backend).map_err(|e| e.to_string());
    let diff = |prev: &Vec<_>, now: &Vec<(_, taskwire_runtime::FlowState, i64)>| {
        let changed: Vec<_> = now
            .iter()
            .filter(|m| !prev.contains(*m))
            .map(|(uuid, state, at)| json!({"uuid": uuid, "state": state.as_str(), "updated_at": at}))
            .collect();
        let gone = prev
            .iter()
            .filter(|m| !now.iter().any(|n| n.0 == m.0))
            .count();
        (!changed.is_empty() || gone > 0).then(|| json!({ "flows": changed, "removed": gone }))
    };
    Ok(Sse::new(watch(d.inner.poll, look, diff)).keep_alive(KeepAlive::default()))
}

/// Changes to one flow: `{"state", "atoms": [{"name", "state"}…]}` (the
/// atoms that changed).
pub(crate) async fn flow(
    State(d): State<Dashboard>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, PageError> {
    params::none(raw.as_deref())?;
    let uuid = params::id("flow", &id)?;
    let backend = d.inner.backend.clone();
    // A flow that does not exist is a 404 now, not an error event later.
    let b = backend.clone();
    crate::pages::blocking(move || b.load_flow(uuid))
        .await?
        .map_err(crate::pages::persistence_error)?;
    let look = move || backend.load_flow(uuid).map_err(|e| e.to_string());
    let diff = |prev: &(
        taskwire_runtime::persistence::FlowDetail,
        Vec<taskwire_runtime::persistence::AtomDetail>,
    ),
                now: &(
        taskwire_runtime::persistence::FlowDetail,
        Vec<taskwire_runtime::persistence::AtomDetail>,
    )| {
        let atoms: Vec<_> =
            now.1
                .iter()
                .filter(|a| {
                    !prev.1.iter().any(|p| {
                        p.uuid == a.uuid && p.state == a.state && p.updated_at == a.updated_at
                    })
                })
                .map(|a| json!({"name": a.name, "state": a.state.as_str()}))
                .collect();
        let flow_changed = prev.0.state != now.0.state || prev.0.updated_at != now.0.updated_at;
        (flow_changed || !atoms.is_empty())
            .then(|| json!({"state": now.0.state.as_str(), "atoms": atoms}))
    };
    Ok(Sse::new(watch(d.inner.poll, look, diff)).keep_alive(KeepAlive::default()))
}
