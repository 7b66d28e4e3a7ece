//! The pages: flows, one flow, jobs; the embedded assets.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use taskwire_runtime::jobboard::{Job, JobState};
use taskwire_runtime::persistence::{now_ms, PersistenceError};
use taskwire_runtime::retry::History;
use taskwire_runtime::FlowState;

use crate::data::{self, FlowView};
use crate::html::{duration, enc, esc, page, time, PageError};
use crate::params::{self, FlowFilter};
use crate::Dashboard;

const APP_CSS: &str = include_str!("../assets/app.css");
const APP_JS: &str = include_str!("../assets/app.js");

/// Runs a blocking logbook or board call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's worker stopped: {e}"),
        )
    })
}

/// A logbook error as a page: 404 for an unknown id, 400 for a query the
/// backend refuses, 503 otherwise.
pub(crate) fn persistence_error(e: PersistenceError) -> PageError {
    match e {
        PersistenceError::NotFound { .. } => PageError::new(StatusCode::NOT_FOUND, e.to_string()),
        PersistenceError::InvalidCursor { .. } | PersistenceError::InvalidQuery { .. } => {
            PageError::bad_request(e.to_string())
        }
        e => PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the logbook cannot be read: {e}"),
        ),
    }
}

fn state_badge(state: &str) -> String {
    format!(r#"<span class="badge state-{0}">{0}</span>"#, esc(state))
}

pub(crate) async fn flows(
    State(d): State<Dashboard>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let filter = FlowFilter::parse(raw.as_deref())?;
    let backend = d.inner.backend.clone();
    let f = filter.clone();
    // One indexed query: no listing of every logbook (a logbook is chosen
    // by clicking its name in a row).
    let page_of = blocking(move || data::list_flows(&*backend, &f))
        .await?
        .map_err(persistence_error)?;
    let mut body = String::new();
    body.push_str(r#"<h1>Flows</h1><form class="filters" method="get" action="/">"#);
    let _ = write!(
        body,
        r#"<label>State <select name="state" id="filter-state"><option value="">any</option>"#
    );
    for s in FlowState::ALL {
        let selected = if filter.states == [s] {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option{selected}>{}</option>"#, s.as_str());
    }
    body.push_str("</select></label>");
    let _ = write!(
        body,
        r#"<label>Name <input name="name" id="filter-name" value="{}" placeholder="contains"></label>"#,
        esc(filter.name.as_deref().unwrap_or(""))
    );
    let _ = write!(
        body,
        r#"<label>Logbook id <input name="logbook" id="filter-logbook" size="36" value="{}" placeholder="any (click a logbook below)"></label>"#,
        filter.logbook.map(|b| b.to_string()).unwrap_or_default()
    );
    let _ = write!(
        body,
        r#"<label>Changed within <input name="newer_than" size="5" value="{}" placeholder="1h"></label><button type="submit">Filter</button></form>"#,
        filter
            .newer_than
            .map(|d| format!("{}s", d.as_secs()))
            .unwrap_or_default()
    );
    if page_of.flows.is_empty() {
        body.push_str(r#"<p class="muted" id="no-flows">No flow matches.</p>"#);
    } else {
        body.push_str(r#"<table class="flows" id="flows"><thead><tr><th>Flow</th><th>State</th><th>Atoms</th><th>Logbook</th><th>Created (UTC)</th><th>Last change</th><th>Id</th></tr></thead><tbody>"#);
        for r in &page_of.flows {
            let _ = write!(
                body,
                r#"<tr data-flow="{uuid}" data-state="{state}"><td><a href="/flows/{uuid}">{name}</a></td><td>{badge}</td><td>{atoms}</td><td><a href="/?logbook={book_id}" title="only this logbook's flows">{book}</a></td><td>{created}</td><td>{changed}</td><td class="id">{uuid}</td></tr>"#,
                uuid = r.uuid,
                state = r.state.as_str(),
                name = esc(&r.name),
                badge = state_badge(r.state.as_str()),
                atoms = r.atoms,
                book = esc(&r.logbook_name),
                book_id = r.logbook_uuid,
                created = time(r.created_at),
                changed = match r.updated_at - r.created_at {
                    d if d >= 0 => format!("+{}", duration(d)),
                    _ => time(r.updated_at),
                },
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(next) = page_of.next {
        let q = filter.query();
        let sep = if q.is_empty() { "" } else { "&" };
        let _ = write!(
            body,
            r#"<p><a id="older" href="/?{q}{sep}after={}">Older flows →</a></p>"#,
            enc(&next.to_string())
        );
    }
    Ok(page("Flows", "flows", Some("/events/flows"), &body))
}

pub(crate) async fn flow(
    State(d): State<Dashboard>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    params::none(raw.as_deref())?;
    let uuid = params::id("flow", &id)?;
    let backend = d.inner.backend.clone();
    let view = blocking(move || data::flow_view(&*backend, uuid))
        .await?
        .map_err(persistence_error)?;
    let body = flow_body(&d, &view);
    Ok(page(
        &view.flow.name,
        "flows",
        Some(&format!("/events/flows/{uuid}")),
        &body,
    ))
}

fn flow_body(d: &Dashboard, v: &FlowView) -> String {
    let now = now_ms();
    let f = &v.flow;
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>{name} <span id="flow-state">{badge}</span></h1>
<dl class="facts"><dt>Id</dt><dd class="id">{uuid}</dd><dt>Logbook</dt><dd>{book}</dd><dt>Created</dt><dd>{created}</dd><dt>Last change</dt><dd>{updated}</dd>"#,
        name = esc(&f.name),
        badge = state_badge(f.state.as_str()),
        uuid = f.uuid,
        book = esc(v.logbook_name.as_deref().unwrap_or("(unknown)")),
        created = time(f.created_at),
        updated = time(f.updated_at),
    );
    if let Some(factory) = f.meta.get("factory").and_then(|v| v.as_str()) {
        let _ = write!(b, "<dt>Factory</dt><dd>{}</dd>", esc(factory));
    }
    b.push_str("</dl>");
    if d.inner.allow_actions
        && matches!(
            f.state,
            FlowState::Running
                | FlowState::Suspended
                | FlowState::Pending
                | FlowState::Reverting
                | FlowState::Resuming
                | FlowState::Suspending
        )
    {
        b.push_str(&action_form(
            d,
            &format!("/actions/flows/{}/resume", f.uuid),
            "Resume",
        ));
    }
    b.push_str(r#"<section><h2>Graph</h2>"#);
    if let Some(note) = &v.structure_note {
        let _ = write!(
            b,
            r#"<p class="muted" id="structure-note">{}</p>"#,
            esc(note)
        );
    }
    let _ = write!(
        b,
        r#"<div class="scroll">{}</div></section>"#,
        crate::graph::svg(&v.atoms, &v.edges)
    );
    let _ = write!(
        b,
        r#"<section><h2>Timeline</h2><div class="scroll">{}</div></section>"#,
        crate::gantt::svg(&v.atoms, now)
    );
    // Failures first: what an operator comes for.
    let failed: Vec<_> = v
        .atoms
        .iter()
        .filter(|a| a.failure.is_some() || a.revert_failure.is_some())
        .collect();
    if !failed.is_empty() {
        b.push_str(r#"<section id="failures"><h2>Failures</h2>"#);
        for a in failed {
            for (what, failure) in [("execution", &a.failure), ("revert", &a.revert_failure)] {
                let Some(failure) = failure else { continue };
                let _ = write!(
                    b,
                    r#"<div class="failure" data-atom="{name}"><h3>{name} <small>{what} failed</small></h3><p class="message">{msg}</p><p class="muted">{kind:?} · {ty}</p>"#,
                    name = esc(&a.name),
                    msg = esc(failure.message()),
                    kind = failure.kind(),
                    ty = esc(failure.type_name()),
                );
                if !failure.causes().is_empty() {
                    b.push_str(r#"<ol class="causes">"#);
                    for c in failure.causes() {
                        let _ = write!(b, "<li>caused by: {}</li>", esc(c));
                    }
                    b.push_str("</ol>");
                }
                b.push_str("</div>");
            }
        }
        b.push_str("</section>");
    }
    b.push_str(r#"<section><h2>Atoms</h2><table class="atoms" id="atoms"><thead><tr><th>#</th><th>Atom</th><th>State</th><th>Intention</th><th>Version</th><th>Attempts</th><th>Started</th><th>Ended</th><th>Duration</th><th>Result</th></tr></thead><tbody>"#);
    for a in &v.atoms {
        let sp = a.timeline();
        let execs: Vec<_> = sp
            .iter()
            .filter(|s| s.kind == taskwire_runtime::persistence::EntryKind::Execute)
            .collect();
        let first = sp.first().map(|s| s.start);
        let last_end = sp.last().and_then(|s| s.end);
        let _ = write!(
            b,
            r#"<tr data-atom="{name}" data-state="{state}"><td>{pos}</td><td>{name}{retry}</td><td>{badge}</td><td>{intent}</td><td>{ver}</td><td>{tries}</td><td>{start}</td><td>{end}</td><td>{dur}</td><td class="result">{result}</td></tr>"#,
            pos = a.position,
            name = esc(&a.name),
            retry = if a.atom_type == taskwire_runtime::persistence::AtomType::Retry {
                " <small>(retry)</small>"
            } else {
                ""
            },
            state = a.state.as_str(),
            badge = state_badge(a.state.as_str()),
            intent = a.intention.as_str(),
            ver = esc(&a.version),
            tries = execs.len(),
            start = first.map(time).unwrap_or_default(),
            end = last_end.map(time).unwrap_or_default(),
            dur = match (first, last_end) {
                (Some(s), Some(e)) => duration(e - s),
                (Some(s), None) => format!("{} (running)", duration(now - s)),
                _ => String::new(),
            },
            result = a
                .result
                .as_ref()
                .map(|r| esc(&data::preview(r, 80)))
                .unwrap_or_default(),
        );
    }
    b.push_str("</tbody></table></section>");
    // Retry history: each retry's attempts.
    for a in v.atoms.iter().filter(|a| a.meta.get("history").is_some()) {
        let history: Result<History, _> =
            serde_json::from_value(a.meta.get("history").cloned().unwrap_or_default());
        let _ = write!(
            b,
            r#"<section class="history" data-retry="{0}"><h2>Retry history of {0}</h2>"#,
            esc(&a.name)
        );
        match history {
            Err(e) => {
                let _ = write!(
                    b,
                    r#"<p class="error">its history cannot be read: {}</p>"#,
                    esc(&e.to_string())
                );
            }
            Ok(h) if h.is_empty() => b.push_str(r#"<p class="muted">No attempt yet.</p>"#),
            Ok(h) => {
                b.push_str("<table><thead><tr><th>Attempt</th><th>Value</th><th>Failures</th><th>Decision</th></tr></thead><tbody>");
                for (i, at) in h.attempts().iter().enumerate() {
                    let failures: Vec<String> = at
                        .failures
                        .iter()
                        .map(|(n, f)| format!("{}: {}", esc(n), esc(f.message())))
                        .collect();
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        i + 1,
                        esc(&data::preview(&at.value, 60)),
                        failures.join("<br>"),
                        at.decision.map(|d| d.as_str()).unwrap_or(""),
                    );
                }
                b.push_str("</tbody></table>");
            }
        }
        b.push_str("</section>");
    }
    b
}

/// A form for an action: the CSRF field, the token to type, a button.
pub(crate) fn action_form(d: &Dashboard, action: &str, label: &str) -> String {
    format!(
        r#"<form class="action" method="post" action="{action}"><input type="hidden" name="csrf" value="{csrf}"><input type="password" name="token" placeholder="action token" autocomplete="off" required><button type="submit">{label}</button></form>"#,
        action = esc(action),
        csrf = esc(&d.inner.csrf),
        label = esc(label),
    )
}

pub(crate) async fn jobs(
    State(d): State<Dashboard>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let state = params::job_state(raw.as_deref())?;
    let Some(board) = d.inner.jobboard.clone() else {
        return Ok(page(
            "Jobs",
            "jobs",
            None,
            r#"<h1>Jobs</h1><p class="muted" id="no-board">No jobboard was given to this dashboard.</p>"#,
        ));
    };
    let describe = board.describe().to_owned();
    let all = blocking(move || board.list(None)).await?.map_err(|e| {
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the jobboard cannot be read: {e}"),
        )
    })?;
    let now = now_ms();
    let mut b = format!(r#"<h1>Jobs <small>{}</small></h1>"#, esc(&describe));
    b.push_str(r#"<form class="filters" method="get" action="/jobs"><label>State <select name="state"><option value="">any</option>"#);
    for s in [
        JobState::Ready,
        JobState::Claimed,
        JobState::Done,
        JobState::Dead,
    ] {
        let sel = if state == Some(s) { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{}</option>", s.as_str());
    }
    b.push_str(r#"</select></label><button type="submit">Filter</button></form>"#);
    let mut shown: Vec<&Job> = all
        .iter()
        .filter(|j| state.is_none_or(|s| j.state == s))
        .collect();
    shown.sort_by_key(|j| std::cmp::Reverse((j.updated_at, j.id)));
    b.push_str(r#"<section><h2>Jobs</h2><table id="jobs"><thead><tr><th>Job</th><th>State</th><th>Factory</th><th>Priority</th><th>Failures</th><th>Owner</th><th>Flow</th><th>Last change</th><th></th></tr></thead><tbody>"#);
    for j in &shown {
        let action = match j.state {
            JobState::Ready if d.inner.allow_actions => {
                action_form(&d, &format!("/actions/jobs/{}/cancel", j.id), "Cancel")
            }
            JobState::Dead if d.inner.allow_actions => {
                action_form(&d, &format!("/actions/jobs/{}/requeue", j.id), "Requeue")
            }
            _ => String::new(),
        };
        let _ = write!(
            b,
            r#"<tr data-job="{id}" data-state="{state}"><td>{name}<br><span class="id">{id}</span></td><td><span class="badge job-{state}">{state}</span></td><td>{factory}</td><td>{prio}</td><td>{nf}/{max}</td><td>{owner}</td><td>{flow}</td><td>{when}</td><td>{action}</td></tr>"#,
            id = j.id,
            state = j.state.as_str(),
            name = esc(&j.spec.name),
            factory = esc(&j.spec.factory),
            prio = j.spec.priority,
            nf = j.failures.len(),
            max = j.max_failures(),
            owner = esc(j.owner.as_deref().unwrap_or("")),
            flow = j
                .flow
                .map(|f| format!(
                    r#"<a href="/flows/{f}">{}</a>"#,
                    j.outcome.map(|o| o.as_str()).unwrap_or("flow")
                ))
                .unwrap_or_default(),
            when = time(j.updated_at),
        );
    }
    b.push_str("</tbody></table></section>");
    // Dead letters, with why.
    let dead: Vec<&Job> = all.iter().filter(|j| j.state == JobState::Dead).collect();
    b.push_str(r#"<section id="dead"><h2>Dead letters</h2>"#);
    if dead.is_empty() {
        b.push_str(r#"<p class="muted">None.</p>"#);
    }
    for j in dead {
        let _ = write!(
            b,
            r#"<div class="failure" data-job="{}"><h3>{} <small class="id">{}</small></h3><ol class="causes">"#,
            j.id,
            esc(&j.spec.name),
            j.id
        );
        for f in &j.failures {
            let _ = write!(
                b,
                "<li>{} · {} (claim {}): {}</li>",
                time(f.at),
                esc(&f.owner),
                f.token,
                esc(&f.message)
            );
        }
        b.push_str("</ol></div>");
    }
    b.push_str("</section>");
    // Workers: the conductors holding claims, by their claims' expiry.
    let mut workers: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for j in all.iter().filter(|j| j.state == JobState::Claimed) {
        if let Some(owner) = &j.owner {
            let e = workers.entry(owner).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(j.expires_at);
        }
    }
    b.push_str(r#"<section id="workers"><h2>Workers</h2><p class="muted">Conductors holding claims; a claim not renewed before it expires means its conductor is gone.</p>"#);
    if workers.is_empty() {
        b.push_str(r#"<p class="muted">No conductor holds a claim.</p>"#);
    } else {
        b.push_str("<table><thead><tr><th>Conductor</th><th>Claims</th><th>Claim expires</th><th>Alive</th></tr></thead><tbody>");
        for (owner, (n, exp)) in workers {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{n}</td><td>{}</td><td>{}</td></tr>",
                esc(owner),
                time(exp),
                if exp > now {
                    "yes"
                } else {
                    "no: claim expired"
                }
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");
    Ok(page("Jobs", "jobs", None, &b))
}

pub(crate) async fn asset(Path(name): Path<String>) -> Result<Response, PageError> {
    let (body, kind) = match name.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        _ => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                format!("no asset `{name}`"),
            ))
        }
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        format!("no page at `{}`", uri.path()),
    )
}
