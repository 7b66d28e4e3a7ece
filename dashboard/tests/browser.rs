//! The dashboard in a real headless browser (Debian's `chromium`, driven
//! through `chromedriver` by fantoccini): open the list, click into a failed
//! flow, see its failing atom highlighted and its error, and watch running
//! flows' changes arrive live, on the list and on a flow's page. Each page's
//! screenshot is saved under `target/dashboard-screens/`.
//!
//! Needs `chromium` and `chromedriver` on the `PATH` (`.ci/run` installs
//! them); set `TASKWIRE_SKIP_BROWSER=1` to skip it on a machine without.

mod common;

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{open_gate, run, start_gated, sync, Logbook};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use taskwire_dashboard::ServeOptions;

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screens() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on the PATH (apt-get install chromium chromium-driver), or TASKWIRE_SKIP_BROWSER=1");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a chromium session: {e}"),
        }
    }
}

/// Waits until `check` says yes, reading the page again each time.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn attr(client: &Client, css: &str, name: &str) -> Option<String> {
    match client.find(Locator::Css(css)).await {
        Ok(e) => e.attr(name).await.ok().flatten(),
        Err(_) => None,
    }
}

async fn text(client: &Client, css: &str) -> Option<String> {
    match client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.ok(),
        Err(_) => None,
    }
}

/// Waits until the page's stream is connected and the page refreshed once
/// after it (the refresh replaces `#content`: elements found before it
/// would be stale).
async fn settled(client: &Client) {
    until("the page's first live refresh", || async {
        attr(client, "body", "data-refreshed").await.is_some()
    })
    .await;
}

/// Clicks the element `css` selects, finding it again if a live refresh
/// replaced it meanwhile.
async fn click(client: &Client, css: &str) {
    for _ in 0..20 {
        if let Ok(e) = client.find(Locator::Css(css)).await {
            if e.click().await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot click {css}");
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screens().join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_failures_show_and_changes_arrive_live() {
    if std::env::var_os("TASKWIRE_SKIP_BROWSER").is_some() {
        eprintln!("TASKWIRE_SKIP_BROWSER is set: the browser test is skipped");
        return;
    }
    let book = Logbook::sqlite("browser");
    let backend = book.open();
    run(&backend, "dash::order", json!({}));
    let failed = run(&backend, "dash::order", json!({"fail": true}));
    let retried = run(&backend, "dash::flaky", json!({}));
    let gate_list = common::unique("gate_list");
    let (running, first) = start_gated(&backend, &gate_list);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = ServeOptions::new(backend.clone());
    options.poll_interval = Duration::from_millis(200);
    let server = tokio::spawn(taskwire_dashboard::serve_on(listener, options));

    let (_driver, client) = browser().await;

    // The list, live: the running flow's row turns SUCCESS without a reload.
    client.goto(&format!("{base}/")).await.unwrap();
    settled(&client).await;
    let row = format!(r#"tr[data-flow="{running}"]"#);
    assert_eq!(
        attr(&client, &row, "data-state").await.as_deref(),
        Some("RUNNING")
    );
    shot(&client, "flows-running.png").await;
    client
        .execute(
            "document.body.setAttribute('data-marker', 'same page')",
            vec![],
        )
        .await
        .unwrap();
    open_gate(&gate_list);
    until("the running flow's row to turn SUCCESS", || async {
        attr(&client, &row, "data-state").await.as_deref() == Some("SUCCESS")
    })
    .await;
    assert_eq!(
        attr(&client, "body", "data-marker").await.as_deref(),
        Some("same page"),
        "the change came live, not by a reload"
    );
    sync(|| first.join().unwrap());
    shot(&client, "flows.png").await;

    // Click into the failed flow.
    let link = format!(r#"tr[data-flow="{failed}"] a"#);
    click(&client, &link).await;
    until("the failed flow's page", || async {
        client
            .current_url()
            .await
            .map(|u| u.path() == format!("/flows/{failed}"))
            .unwrap_or(false)
    })
    .await;
    settled(&client).await;
    let failing = client
        .find(Locator::Css("#graph g.atom.failed"))
        .await
        .unwrap();
    assert_eq!(
        failing.attr("data-atom").await.unwrap().as_deref(),
        Some("charge")
    );
    let outline = client
        .find(Locator::Css("#graph g.atom.failed rect"))
        .await
        .unwrap()
        .css_value("stroke")
        .await
        .unwrap();
    assert_eq!(
        outline, "rgb(214, 39, 40)",
        "the failing atom is outlined in red"
    );
    assert_eq!(
        client
            .find_all(Locator::Css("#graph g.atom.failed"))
            .await
            .unwrap()
            .len(),
        1,
        "only the failing atom is highlighted"
    );
    assert_eq!(
        text(&client, "#flow-state").await.as_deref(),
        Some("REVERTED")
    );
    assert_eq!(
        text(&client, r#".failure[data-atom="charge"] .message"#)
            .await
            .as_deref(),
        Some("card declined")
    );
    assert_eq!(
        text(&client, ".failure .causes li").await.as_deref(),
        Some("caused by: issuer answered 51: insufficient funds")
    );
    // Tall enough for the whole page (failures and atoms below the graph).
    client.set_window_size(1280, 1500).await.unwrap();
    shot(&client, "flow-failed.png").await;

    // A retried flow: each attempt in the timeline, and the retry's history.
    client
        .goto(&format!("{base}/flows/{retried}"))
        .await
        .unwrap();
    settled(&client).await;
    assert_eq!(
        client
            .find_all(Locator::Css(
                r#"#timeline rect.bar.execute[data-atom="send"]"#
            ))
            .await
            .unwrap()
            .len(),
        2,
        "two attempts of send"
    );
    assert!(text(&client, r#"section.history[data-retry="again"]"#)
        .await
        .unwrap()
        .contains("send: connection reset"));
    shot(&client, "flow-retried.png").await;
    client.set_window_size(1280, 1100).await.unwrap();

    // A running flow's page, live: its state and its graph change.
    let gate_flow = common::unique("gate_flow");
    let (running, second) = start_gated(&backend, &gate_flow);
    client
        .goto(&format!("{base}/flows/{running}"))
        .await
        .unwrap();
    settled(&client).await;
    assert_eq!(
        text(&client, "#flow-state").await.as_deref(),
        Some("RUNNING")
    );
    assert_eq!(
        attr(&client, r#"#graph g.atom[data-atom="wait"]"#, "data-state")
            .await
            .as_deref(),
        Some("RUNNING")
    );
    shot(&client, "flow-running.png").await;
    open_gate(&gate_flow);
    until("the flow's state to turn SUCCESS live", || async {
        text(&client, "#flow-state").await.as_deref() == Some("SUCCESS")
    })
    .await;
    assert_eq!(
        attr(
            &client,
            r#"#graph g.atom[data-atom="finish"]"#,
            "data-state"
        )
        .await
        .as_deref(),
        Some("SUCCESS")
    );
    sync(|| second.join().unwrap());
    shot(&client, "flow-success.png").await;

    // The jobs page (no board given) and a bad query, as a person sees them.
    client.goto(&format!("{base}/jobs")).await.unwrap();
    assert!(text(&client, "#no-board")
        .await
        .unwrap()
        .contains("No jobboard"));
    shot(&client, "jobs.png").await;
    client.goto(&format!("{base}/?limit=0")).await.unwrap();
    assert_eq!(
        text(&client, "#error").await.as_deref(),
        Some("`limit=0` is not a whole number from 1 to 500")
    );
    shot(&client, "bad-request.png").await;

    client.close().await.unwrap();
    server.abort();
}
