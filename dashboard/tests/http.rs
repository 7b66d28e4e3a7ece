//! The dashboard over HTTP, against SQLite and PostgreSQL logbooks filled by
//! running real flows: pages, validation, actions and their refusals, and
//! the event streams.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use common::{open_gate, run, start_gated, sync, Logbook};
use http_body_util::BodyExt;
use serde_json::json;
use taskwire_dashboard::{router, serve, Dashboard, ServeError, ServeOptions};
use taskwire_runtime::persistence::Backend;
use taskwire_runtime::{Engine, FlowState};
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef-token";

fn app(backend: &Arc<dyn Backend>, actions: bool) -> (Router, Dashboard) {
    let mut options = ServeOptions::new(backend.clone());
    options.poll_interval = Duration::from_millis(50);
    if actions {
        options.allow_actions = true;
        options.action_token = Some(TOKEN.to_owned());
    }
    let dashboard = Dashboard::new(&options).unwrap();
    (router(dashboard.clone()), dashboard)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(
            Request::get(uri)
                .header(header::HOST, "127.0.0.1:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn post(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::post(uri)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), location)
}

/// The CSRF value a page's action form carries.
fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("an action form")
        + r#"name="csrf" value=""#.len();
    page[at..].split('"').next().unwrap().to_owned()
}

fn logbooks(test: &str) -> Vec<Logbook> {
    vec![Logbook::sqlite(test), Logbook::postgres(test)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_filters_and_pages_the_flows() {
    for book in logbooks("list") {
        let backend = book.open();
        let ok = run(&backend, "dash::order", json!({}));
        let failed = run(&backend, "dash::order", json!({"fail": true}));
        let retried = run(&backend, "dash::flaky", json!({}));
        let (app, _) = app(&backend, false);

        let (status, page) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK, "{}: {page}", book.url());
        for (uuid, state) in [(ok, "SUCCESS"), (failed, "REVERTED"), (retried, "SUCCESS")] {
            assert!(
                page.contains(&format!(r#"<tr data-flow="{uuid}" data-state="{state}">"#)),
                "{}: {uuid} {state} in {page}",
                book.url()
            );
        }
        // Newest first.
        let at = |u: &taskwire_runtime::persistence::Uuid| page.find(&u.to_string()).unwrap();
        assert!(
            at(&retried) < at(&failed) && at(&failed) < at(&ok),
            "newest first"
        );

        let (_, page) = get(&app, "/?state=reverted").await;
        assert!(page.contains(&failed.to_string()) && !page.contains(&ok.to_string()));
        let (_, page) = get(&app, "/?name=flaky").await;
        assert!(page.contains(&retried.to_string()) && !page.contains(&failed.to_string()));
        let (_, page) = get(&app, "/?older_than=1d").await;
        assert!(page.contains(r#"id="no-flows""#), "nothing is a day old");
        let (_, page) = get(&app, "/?newer_than=1h&state=SUCCESS,REVERTED").await;
        assert_eq!(page.matches("<tr data-flow=").count(), 3);

        // A row's logbook link lists only that logbook's flows (each run
        // here has a logbook of its own).
        let (_, page) = get(&app, "/").await;
        let row = page
            .split(&format!(r#"<tr data-flow="{failed}""#))
            .nth(1)
            .unwrap();
        let link = row
            .split(r#"<a href=""#)
            .nth(2)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(link.starts_with("/?logbook="), "{link}");
        let (_, page) = get(&app, link).await;
        assert_eq!(page.matches("<tr data-flow=").count(), 1, "{page}");
        assert!(page.contains(&format!(r#"<tr data-flow="{failed}""#)));

        // Pages of one: each "Older" link leads to the next flow.
        let mut seen = Vec::new();
        let mut uri = "/?limit=1".to_owned();
        loop {
            let (status, page) = get(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {page}");
            assert_eq!(page.matches("<tr data-flow=").count(), 1, "{uri}");
            let row = page.split(r#"<tr data-flow=""#).nth(1).unwrap();
            seen.push(row[..36].to_owned());
            match page.split(r#"id="older" href=""#).nth(1) {
                Some(rest) => uri = rest.split('"').next().unwrap().replace("&amp;", "&"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [retried.to_string(), failed.to_string(), ok.to_string()]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_that_names_it() {
    let book = Logbook::sqlite("bad_input");
    let backend = book.open();
    let flow = run(&backend, "dash::order", json!({}));
    let (app, _) = app(&backend, false);
    let cases = [
        (
            "/?state=RUN",
            StatusCode::BAD_REQUEST,
            "`state=RUN` is not a flow state; expected one of: PENDING, RUNNING",
        ),
        (
            "/?limit=0",
            StatusCode::BAD_REQUEST,
            "`limit=0` is not a whole number from 1 to 500",
        ),
        (
            "/?limit=99999999999999999999",
            StatusCode::BAD_REQUEST,
            "is not a whole number from 1 to 500",
        ),
        (
            "/?after=yesterday",
            StatusCode::BAD_REQUEST,
            "`after=yesterday` is not a page cursor",
        ),
        (
            "/?newer_than=-5m",
            StatusCode::BAD_REQUEST,
            "`newer_than=-5m` is not an age",
        ),
        (
            "/?logbook=42",
            StatusCode::BAD_REQUEST,
            "`logbook=42` is not a logbook id",
        ),
        (
            "/?sort=name",
            StatusCode::BAD_REQUEST,
            "unknown query parameter `sort`; expected one of: state, name",
        ),
        ("/?name=%E0%A4", StatusCode::BAD_REQUEST, "is not UTF-8"),
        (
            "/flows/not-a-uuid",
            StatusCode::BAD_REQUEST,
            "`not-a-uuid` is not a flow id (a UUID)",
        ),
        (
            "/flows/67e55044-10b1-426f-9247-bb680e5fe0c8",
            StatusCode::NOT_FOUND,
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
        ),
        (
            "/events/flows/nope",
            StatusCode::BAD_REQUEST,
            "`nope` is not a flow id",
        ),
        (
            "/events/flows/67e55044-10b1-426f-9247-bb680e5fe0c8",
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            "/events/flows?x=1",
            StatusCode::BAD_REQUEST,
            "unknown query parameter `x`",
        ),
        (
            "/jobs?state=gone",
            StatusCode::BAD_REQUEST,
            "`state=gone` is not a job state; expected one of: ready, claimed, done, dead",
        ),
        ("/nowhere", StatusCode::NOT_FOUND, "no page at `/nowhere`"),
        (
            "/assets/app.wasm",
            StatusCode::NOT_FOUND,
            "no asset `app.wasm`",
        ),
    ];
    for (uri, status, message) in cases {
        let (got, page) = get(&app, uri).await;
        assert_eq!(got, status, "{uri}: {page}");
        let message = message.replace('"', "&quot;");
        assert!(page.contains(&message), "{uri}: `{message}` not in {page}");
    }
    let (status, page) = get(&app, &format!("/flows/{flow}?tab=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown query parameter `tab`"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flow_shows_its_failing_atom_error_causes_and_timeline() {
    for book in logbooks("failed_page") {
        let backend = book.open();
        let failed = run(&backend, "dash::order", json!({"fail": true}));
        let (app, _) = app(&backend, false);
        let (status, page) = get(&app, &format!("/flows/{failed}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(
            r#"<span id="flow-state"><span class="badge state-REVERTED">REVERTED</span>"#
        ));
        // The graph: the failing atom highlighted, the others by state, the
        // edges of the graph flow (validate feeds reserve and price, both
        // feed charge, charge feeds ship).
        assert!(
            page.contains(r#"<g class="atom state-REVERTED failed" data-atom="charge" data-state="REVERTED"><title>charge: REVERTED (failed: card declined)</title>"#),
            "{page}"
        );
        assert!(page.contains(r#"<g class="atom state-PENDING" data-atom="ship""#));
        assert_eq!(page.matches(r#"class="edge""#).count(), 5, "{page}");
        assert_eq!(page.matches(" failed\" data-atom").count(), 1);
        // The error and its cause.
        assert!(page.contains(r#"<div class="failure" data-atom="charge"><h3>charge <small>execution failed</small></h3><p class="message">card declined</p>"#), "{page}");
        assert!(page.contains("<li>caused by: issuer answered 51: insufficient funds</li>"));
        // The timeline: charge executed and was reverted; ship never ran.
        assert!(
            page.contains(
                r#"class="bar execute state-FAILURE" data-atom="charge" data-attempt="1""#
            ),
            "{page}"
        );
        assert!(page
            .contains(r#"class="bar revert state-REVERTED" data-atom="charge" data-attempt="1""#));
        assert!(!page.contains(r#"class="bar execute state-SUCCESS" data-atom="ship""#));
        // The atoms table.
        assert!(page.contains(
            r#"<tr data-atom="validate" data-state="REVERTED"><td>0</td><td>validate</td>"#
        ));
        assert!(page.contains("&quot;validate done&quot;"), "result preview");
        assert!(page.contains("<dt>Factory</dt><dd>dash::order</dd>"));
        // Read-only: no action form.
        assert!(!page.contains("<form class=\"action\""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_flow_shows_each_attempt_and_its_history() {
    for book in logbooks("retried_page") {
        let backend = book.open();
        let flow = run(&backend, "dash::flaky", json!({}));
        let (app, _) = app(&backend, false);
        let (status, page) = get(&app, &format!("/flows/{flow}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(r#"<text class="row-label" x="4" y="66">send ×2</text>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"class="bar execute state-FAILURE" data-atom="send" data-attempt="1""#)
        );
        assert!(
            page.contains(r#"class="bar execute state-SUCCESS" data-atom="send" data-attempt="2""#)
        );
        assert!(page.contains(
            r#"<section class="history" data-retry="again"><h2>Retry history of again</h2>"#
        ));
        assert!(
            page.contains("<td>send: connection reset</td><td>RETRY</td>"),
            "{page}"
        );
        assert!(page.contains(r#"<g class="atom state-SUCCESS" data-atom="again" data-state="SUCCESS"><title>again: SUCCESS</title>"#), "the retry's node");
        // send failed once, then succeeded: not highlighted any more.
        assert!(
            page.contains(r#"<g class="atom state-SUCCESS" data-atom="send""#),
            "{page}"
        );
    }
}

/// An engine compiled (its records written, every atom PENDING) and dropped
/// before it ran: a run to resume.
fn stopped_run(backend: &Arc<dyn Backend>) -> taskwire_runtime::persistence::Uuid {
    sync(|| {
        let mut engine = Engine::from_factory("dash::order", json!({}))
            .unwrap()
            .input("order_id", 1)
            .persist(backend.clone());
        engine.compile().unwrap();
        engine.flow_uuid().unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_permission_origin_csrf_and_token() {
    for book in logbooks("actions") {
        let backend = book.open();
        let flow = stopped_run(&backend);
        let uri = format!("/actions/flows/{flow}/resume");

        // Read-only: refused whatever the form says.
        let (read_only, _) = app(&backend, false);
        let (status, body, _) = post(&read_only, &uri, &[], &format!("csrf=x&token={TOKEN}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("actions are disabled"), "{body}");

        let (app, _) = app(&backend, true);
        let (status, page) = get(&app, &format!("/flows/{flow}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&format!(
                r#"<form class="action" method="post" action="{uri}">"#
            )),
            "{page}"
        );
        let csrf = csrf(&page);
        let good = format!("csrf={csrf}&token={TOKEN}");
        // The right value with its first character changed.
        let flipped = if csrf.starts_with('0') { '1' } else { '0' };
        let wrong_csrf = format!("{flipped}{}", &csrf[1..]);
        let refusals = [
            (
                vec![],
                format!("token={TOKEN}"),
                StatusCode::FORBIDDEN,
                "the form has no CSRF field",
            ),
            (
                vec![],
                format!("csrf={}&token={TOKEN}", wrong_csrf),
                StatusCode::FORBIDDEN,
                "CSRF field is wrong",
            ),
            (
                vec![("origin", "http://evil.example")],
                good.clone(),
                StatusCode::FORBIDDEN,
                "origin `http://evil.example` is not this dashboard (`http://127.0.0.1:8080`)",
            ),
            (
                vec![("sec-fetch-site", "cross-site")],
                good.clone(),
                StatusCode::FORBIDDEN,
                "cross-site request refused",
            ),
            (
                vec![],
                format!("csrf={csrf}"),
                StatusCode::UNAUTHORIZED,
                "the action token is missing",
            ),
            (
                vec![],
                format!("csrf={csrf}&token=guess"),
                StatusCode::UNAUTHORIZED,
                "the action token is wrong",
            ),
            (
                vec![],
                format!("{good}&extra=1"),
                StatusCode::BAD_REQUEST,
                "unknown form field `extra`",
            ),
        ];
        for (headers, body, status, message) in refusals {
            let (got, page, _) = post(&app, &uri, &headers, &body).await;
            assert_eq!(got, status, "{headers:?} {body}: {page}");
            assert!(
                page.contains(&message.replace('"', "&quot;")),
                "{message} not in {page}"
            );
        }
        assert_eq!(
            sync(|| backend.load_flow(flow).unwrap().0.state),
            FlowState::Pending,
            "nothing ran"
        );

        // All good (same origin, as a browser sends it): the run resumes.
        let headers = [
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        let (status, body, location) = post(&app, &uri, &headers, &good).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(location.as_deref(), Some(format!("/flows/{flow}").as_str()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sync(|| backend.load_flow(flow).unwrap().0.state) != FlowState::Success {
            assert!(
                std::time::Instant::now() < deadline,
                "the resumed run did not end"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // An ended flow cannot be resumed: a conflict, with the engine's reason.
        let (status, body, _) = post(&app, &uri, &headers, &good).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body.contains(&format!(
                "flow {flow} cannot be resumed: it has ended (SUCCESS)"
            )),
            "{body}"
        );
        let (status, body, _) = post(&app, "/actions/flows/zzz/resume", &[], &good).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body, _) = post(
            &app,
            "/actions/jobs/67e55044-10b1-426f-9247-bb680e5fe0c8/cancel",
            &[],
            &good,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("no jobboard was given"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_refuse_remote_addresses_and_weak_tokens() {
    let book = Logbook::sqlite("options");
    let mut options = ServeOptions::new(book.open());
    options.listen = "0.0.0.0:0".parse().unwrap();
    let err = serve(options.clone()).await.unwrap_err();
    assert!(matches!(err, ServeError::NotLoopback { .. }));
    assert!(
        err.to_string()
            .starts_with("refusing to listen on 0.0.0.0:0: it is not a loopback address"),
        "{err}"
    );

    options.listen = "127.0.0.1:0".parse().unwrap();
    options.allow_actions = true;
    let err = Dashboard::new(&options).unwrap_err();
    assert_eq!(err.to_string(), "actions are allowed but the action token is missing; give a token of at least 16 characters");
    options.action_token = Some("short".into());
    let err = serve(options.clone()).await.unwrap_err();
    assert_eq!(err.to_string(), "actions are allowed but the action token is too short; give a token of at least 16 characters");
    let shown = format!(
        "{options:?} {:?}",
        Dashboard::new(&{
            let mut o = options.clone();
            o.action_token = Some(TOKEN.into());
            o
        })
        .unwrap()
    );
    assert!(
        shown.contains(r#"action_token: Some("<hidden>")"#),
        "{shown}"
    );
    assert!(
        !shown.contains("short") && !shown.contains(TOKEN),
        "no token in Debug: {shown}"
    );
    options.poll_interval = Duration::ZERO;
    options.action_token = Some(TOKEN.into());
    assert!(matches!(
        Dashboard::new(&options),
        Err(ServeError::PollInterval)
    ));

    // Remote, when told so explicitly: it serves.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut options = ServeOptions::new(book.open());
    options.allow_remote = true;
    let server = tokio::spawn(taskwire_dashboard::serve_on(listener, options));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /assets/app.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    server.abort();
    // Without allow_remote, the same listener address is refused.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = taskwire_dashboard::serve_on(listener, ServeOptions::new(book.open()))
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::NotLoopback { .. }), "{err}");
}

/// Reads server-sent events until one named `event` arrives; its data.
async fn next_event(body: &mut Body, event: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no `{event}` event; the stream said: {text}"))
            .expect("the stream ended")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            if message.lines().any(|l| l == format!("event: {event}")) {
                return message
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_deliver_a_running_flows_state_change() {
    for book in logbooks("sse") {
        let backend = book.open();
        let gate = common::unique("sse_gate");
        let (flow, runner) = start_gated(&backend, &gate);
        let (app, _) = app(&backend, false);
        let open = |uri: String| {
            let app = app.clone();
            async move {
                let response = app
                    .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(
                    response.headers()[header::CONTENT_TYPE],
                    "text/event-stream"
                );
                response.into_body()
            }
        };
        let mut list = open("/events/flows".into()).await;
        let mut one = open(format!("/events/flows/{flow}")).await;
        next_event(&mut list, "ready").await;
        next_event(&mut one, "ready").await;
        let (_, page) = get(&app, &format!("/flows/{flow}")).await;
        assert!(
            page.contains(r#"<span class="badge state-RUNNING">RUNNING</span>"#),
            "{page}"
        );

        open_gate(&gate);
        // The flow's stream: wait's change first (or all at once), until the
        // flow's own SUCCESS arrives.
        let mut seen = Vec::new();
        loop {
            let data: serde_json::Value =
                serde_json::from_str(&next_event(&mut one, "change").await).unwrap();
            seen.push(data.clone());
            if data["state"] == "SUCCESS" {
                break;
            }
        }
        assert!(
            seen.iter().any(|d| d["atoms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == "wait")),
            "{}: {seen:?}",
            book.url()
        );
        let mut states = Vec::new();
        while !states.contains(&"SUCCESS".to_owned()) {
            let data: serde_json::Value =
                serde_json::from_str(&next_event(&mut list, "change").await).unwrap();
            for f in data["flows"].as_array().unwrap() {
                assert_eq!(f["uuid"], flow.to_string());
                states.push(f["state"].as_str().unwrap().to_owned());
            }
        }
        sync(|| runner.join().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_page_shows_jobs_dead_letters_and_workers_and_acts() {
    use taskwire_runtime::jobboard::{self, NewJob};
    let book = Logbook::postgres("jobs");
    let backend = book.open();
    let (board, ready, claim, held) = sync(|| {
        let board = jobboard::open(&book.url(), "dash").unwrap();
        let ready = board
            .post(&NewJob::new("dash::order", json!({})).name("ready one"))
            .unwrap();
        board
            .post(
                &NewJob::new("dash::order", json!({}))
                    .name("dying one")
                    .max_failures(1)
                    .priority(9),
            )
            .unwrap();
        let claim = board
            .claim("conductor-a", Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(claim.job.spec.name, "dying one");
        board
            .fail(&claim, "factory exploded: no such volume")
            .unwrap();
        board
            .post(
                &NewJob::new("dash::order", json!({}))
                    .name("held one")
                    .priority(5),
            )
            .unwrap();
        let held = board
            .claim("conductor-b", Duration::from_secs(60))
            .unwrap()
            .unwrap();
        (board, ready, claim, held)
    });
    let dead = claim.job.id;

    let mut options = ServeOptions::new(backend.clone());
    options.jobboard = Some(board.clone());
    options.allow_actions = true;
    options.action_token = Some(TOKEN.into());
    let app = router(Dashboard::new(&options).unwrap());
    let (status, page) = get(&app, "/jobs").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!(
        r#"<tr data-job="{}" data-state="ready">"#,
        ready.id
    )));
    assert!(page.contains(&format!(
        r#"<tr data-job="{}" data-state="claimed">"#,
        held.job.id
    )));
    assert!(page.contains(&format!(r#"<tr data-job="{dead}" data-state="dead">"#)));
    assert!(
        page.contains("conductor-a (claim 1): factory exploded: no such volume</li>"),
        "{page}"
    );
    assert!(
        page.contains("<tr><td>conductor-b</td><td>1</td>"),
        "{page}"
    );
    assert!(page.contains("<td>yes</td>"), "conductor-b's claim is live");
    let (_, only_dead) = get(&app, "/jobs?state=dead").await;
    assert_eq!(only_dead.matches("<tr data-job=").count(), 1);

    let good = format!("csrf={}&token={TOKEN}", csrf(&page));
    // Cancel: only a ready job.
    let (status, body, _) = post(
        &app,
        &format!("/actions/jobs/{}/cancel", held.job.id),
        &[],
        &good,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("is claimed; only a job that is ready can be cancelled here"),
        "{body}"
    );
    let (status, body, location) = post(
        &app,
        &format!("/actions/jobs/{}/cancel", ready.id),
        &[],
        &good,
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/jobs")),
        "{body}"
    );
    assert!(matches!(
        sync(|| board.get(ready.id)),
        Err(jobboard::JobBoardError::NotFound { .. })
    ));
    // Requeue: only a dead job; it is ready again, same id, without failures.
    let (status, body, _) = post(
        &app,
        &format!("/actions/jobs/{}/requeue", held.job.id),
        &[],
        &good,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.contains("is claimed, not dead; only a dead job can be requeued"),
        "{body}"
    );
    let (status, body, _) = post(&app, &format!("/actions/jobs/{dead}/requeue"), &[], &good).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let again = sync(|| board.get(dead).unwrap());
    assert_eq!(
        (again.state, again.failures.len()),
        (jobboard::JobState::Ready, 0)
    );
    let jobs = sync(|| board.list(None).unwrap());
    sync(|| {
        for j in jobs {
            board.delete(j.id).unwrap();
        }
    });

    // Without a board: the page says so.
    let (app, _) = self::app(&backend, false);
    let (status, page) = get(&app, "/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No jobboard was given to this dashboard."));
}
