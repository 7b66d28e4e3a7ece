//! The create_volume example's observable outcomes: it succeeds, reverts the
//! API flow, reschedules a retryable driver failure to another host, stops at
//! once on one that is not, bypasses the scheduler for a request naming its
//! host, and marks the volume in error (quota given back, `create.error`
//! notified) when no host can create it; the same over RabbitMQ. `cargo test` builds the examples; this runs the
//! built binary with a logbook of its own.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/create_volume
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    dir.join(format!("create_volume{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example with `args`; gives (succeeded, stdout).
fn run(test: &str, args: &[&str]) -> (bool, String) {
    let (ok, out, _) = run_full(test, args);
    (ok, out)
}

/// Runs the example with `args`; gives (succeeded, stdout, stderr).
fn run_full(test: &str, args: &[&str]) -> (bool, String, String) {
    let db = std::env::temp_dir().join(format!("taskwire-cv-{test}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let out = Command::new(example())
        .args(args)
        .args(["--logbook", &format!("sqlite://{}", db.display())])
        .output()
        .expect("the example is built by `cargo test`");
    let _ = std::fs::remove_file(&db);
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The notifications the example's listener heard, in order, as
/// "event_type host status" (`-` for no host).
fn notifications(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("notification "))
        .map(|l| {
            let (event, payload) = l.split_once(' ').expect("event and payload");
            let payload: serde_json::Value = serde_json::from_str(payload).expect("JSON payload");
            assert_eq!(payload["volume_id"], 1000, "{l}");
            assert_eq!(payload["size"], 10, "{l}");
            assert_eq!(payload["volume_type"], "ssd", "{l}");
            format!(
                "{event} {} {}",
                payload["host"].as_str().unwrap_or("-"),
                payload["status"].as_str().unwrap()
            )
        })
        .collect()
}

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l.trim_end() == line)
}

#[test]
fn it_creates_the_volume_on_the_best_host() {
    let (ok, out) = run("ok", &[]);
    assert!(ok, "{out}");
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-a:/volumes/1000 (allocated raw)"
        ),
        "{out}"
    );
    for flow in [
        "volume_create_api",
        "volume_create_scheduler",
        "volume_create_manager",
    ] {
        assert!(
            has_line(&out, &format!("  flow {flow} is SUCCESS")),
            "{out}"
        );
    }
    assert!(
        has_line(&out, "volumes: {1000: \"available\"}, free quota: 90 GiB"),
        "{out}"
    );
    assert_eq!(
        notifications(&out),
        [
            "volume.create.start host-a creating",
            "volume.create.end host-a available"
        ],
        "{out}"
    );
}

#[test]
fn a_failed_commit_reverts_the_api_flow() {
    let (ok, out) = run("commit", &["--fail-at", "commit"]);
    assert!(!ok, "{out}");
    assert!(has_line(&out, "    released reservation 1"), "{out}");
    assert!(has_line(&out, "    deleted database entry 1000"), "{out}");
    assert!(
        has_line(&out, "  flow volume_create_api is REVERTED"),
        "{out}"
    );
    assert!(
        !out.contains("volume_create_scheduler"),
        "nothing was scheduled: {out}"
    );
    assert!(has_line(&out, "volumes: {}, free quota: 100 GiB"), "{out}");
    assert!(
        has_line(
            &out,
            "(the task's own error came back: Injected(\"commit\"))"
        ),
        "{out}"
    );
}

#[test]
fn a_retryable_driver_failure_is_rescheduled_to_another_host() {
    let (ok, out) = run(
        "resched",
        &["--fail-at", "create@host-a", "--source", "image"],
    );
    assert!(ok, "{out}");
    assert!(
        has_line(
            &out,
            "  create_volume_on_host  FAILURE (driver on host-a: backend busy (retryable))"
        ),
        "{out}"
    );
    assert!(has_line(&out, "host-a: volume 1000 rescheduled"), "{out}");
    assert!(
        has_line(&out, "scheduler: volume 1000 to host-b (attempt 2)"),
        "{out}"
    );
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-b:/volumes/1000 (copied from image cirros)"
        ),
        "{out}"
    );
    assert_eq!(
        notifications(&out),
        [
            "volume.create.start host-a creating",
            "volume.create.start host-b creating",
            "volume.create.end host-b available",
        ],
        "{out}"
    );
    assert!(
        has_line(&out, "volumes: {1000: \"available\"}, free quota: 90 GiB"),
        "{out}"
    );
}

#[test]
fn a_failure_that_is_not_retryable_stops_at_once() {
    let (ok, out) = run("fatal", &["--fail-at", "create@host-a:fatal"]);
    assert!(!ok, "{out}");
    assert!(
        has_line(
            &out,
            "host-a: volume 1000 not rescheduled: the failure is not retryable"
        ),
        "{out}"
    );
    assert!(!out.contains("host-b"), "never tried elsewhere: {out}");
    assert!(has_line(&out, "    volume 1000 marked error"), "{out}");
    assert!(has_line(&out, "    quota of 10 GiB given back"), "{out}");
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 100 GiB"),
        "{out}"
    );
    assert_eq!(
        notifications(&out),
        [
            "volume.create.start host-a creating",
            "volume.create.error host-a error",
        ],
        "{out}"
    );
    assert!(
        out.contains(r#""error":"flow `volume_create_manager` was reverted: task `create_volume::create_volume_on_host` failed: driver on host-a: image unacceptable (not retryable)""#),
        "the error notification says why: {out}"
    );
    assert!(
        has_line(
            &out,
            "error: volume 1000: flow `volume_create_manager` was reverted: task `create_volume::create_volume_on_host` failed: driver on host-a: image unacceptable (not retryable)"
        ),
        "{out}"
    );
}

#[test]
fn the_reschedule_policy_is_configurable() {
    // `any`: even a failure the driver does not mark retryable.
    let (ok, out) = run(
        "any",
        &["--fail-at", "create@host-a:fatal", "--reschedule", "any"],
    );
    assert!(ok, "{out}");
    assert!(has_line(&out, "host-a: volume 1000 rescheduled"), "{out}");
    assert!(out.contains("available at host-b"), "{out}");

    // `never`: not even a retryable one.
    let (ok, out) = run(
        "never",
        &["--fail-at", "create@host-a", "--reschedule", "never"],
    );
    assert!(!ok, "{out}");
    assert!(
        has_line(
            &out,
            "host-a: volume 1000 not rescheduled: rescheduling is off (--reschedule never)"
        ),
        "{out}"
    );

    // One scheduling attempt only.
    let (ok, out) = run(
        "max1",
        &["--fail-at", "create@host-a", "--max-attempts", "1"],
    );
    assert!(!ok, "{out}");
    assert!(
        has_line(
            &out,
            "host-a: volume 1000 not rescheduled: 1 of 1 scheduling attempts made (--max-attempts)"
        ),
        "{out}"
    );
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 100 GiB"),
        "{out}"
    );
}

#[test]
fn a_bad_policy_is_refused_by_name() {
    let (ok, out, err) = run_full("badpolicy", &["--reschedule", "sometimes"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("--reschedule `sometimes`: use retryable, any or never"),
        "{err}"
    );
    let (ok, _, err) = run_full("badmax", &["--max-attempts", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--max-attempts `0`: a whole number from 1"),
        "{err}"
    );
}

#[test]
fn a_request_naming_its_host_bypasses_the_scheduler() {
    let (ok, out) = run("target", &["--host", "host-b"]);
    assert!(ok, "{out}");
    assert!(
        has_line(
            &out,
            "api: volume 1000 creating, cast to cinder-volume.host-b"
        ),
        "{out}"
    );
    assert!(
        !out.contains("volume_create_scheduler"),
        "the scheduler ran no flow: {out}"
    );
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-b:/volumes/1000 (allocated raw)"
        ),
        "{out}"
    );
    assert!(
        has_line(&out, "  flow volume_create_manager is SUCCESS"),
        "{out}"
    );
}

#[test]
fn a_request_naming_its_host_is_not_rescheduled() {
    let (ok, out) = run(
        "targetfail",
        &["--host", "host-b", "--fail-at", "create@host-b"],
    );
    assert!(!ok, "{out}");
    assert!(
        has_line(
            &out,
            "host-b: volume 1000 not rescheduled: the request named its host; no scheduler placed it"
        ),
        "{out}"
    );
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 100 GiB"),
        "{out}"
    );
}

#[test]
fn an_unknown_host_is_refused_before_anything_is_reserved() {
    let (ok, out) = run("badhost", &["--host", "host-z"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "invalid request: unknown host `host-z`: the volume services run on host-a, host-b"
        ),
        "{out}"
    );
    assert!(has_line(&out, "volumes: {}, free quota: 100 GiB"), "{out}");
    assert!(notifications(&out).is_empty(), "{out}");
}

#[test]
fn an_unknown_source_is_refused_before_anything_is_reserved() {
    let (ok, out) = run("source", &["--source", "tape"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid request: unknown source `tape`: use raw, snapshot, image or volume"),
        "{out}"
    );
    assert!(has_line(&out, "volumes: {}, free quota: 100 GiB"), "{out}");
}

// The services over RabbitMQ (127.0.0.1:5672, guest/guest): each test its
// own exchange and queue names (`--prefix`), which the example deletes.

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A queue of the test's own on the run's exchange, bound to its
/// notification topics, as a Ceilometer-like consumer would be.
struct NotificationTap {
    connection: amqprs::connection::Connection,
    channel: amqprs::channel::Channel,
    messages: tokio::sync::mpsc::UnboundedReceiver<amqprs::channel::ConsumerMessage>,
}

impl NotificationTap {
    async fn open(prefix: &str) -> NotificationTap {
        use amqprs::channel::{
            BasicConsumeArguments, ExchangeDeclareArguments, QueueBindArguments,
            QueueDeclareArguments,
        };
        let args =
            amqprs::connection::OpenConnectionArguments::new("127.0.0.1", 5672, "guest", "guest");
        let connection = amqprs::connection::Connection::open(&args)
            .await
            .expect("RabbitMQ at 127.0.0.1:5672");
        let channel = connection.open_channel(None).await.unwrap();
        let exchange = format!("{prefix}cinder");
        // Declared as the example declares it: the same exchange.
        let mut declare = ExchangeDeclareArguments::new(&exchange, "topic");
        declare.auto_delete(true);
        channel.exchange_declare(declare.finish()).await.unwrap();
        let (queue, _, _) = channel
            .queue_declare(QueueDeclareArguments::exclusive_server_named())
            .await
            .unwrap()
            .unwrap();
        channel
            .queue_bind(QueueBindArguments::new(
                &queue,
                &exchange,
                "notifications.*",
            ))
            .await
            .unwrap();
        let mut consume = BasicConsumeArguments::new(&queue, "");
        consume.manual_ack(false);
        let (_, messages) = channel.basic_consume_rx(consume.finish()).await.unwrap();
        NotificationTap {
            connection,
            channel,
            messages,
        }
    }

    /// What arrived, in order, as (routing key, event type, payload).
    async fn heard(&mut self) -> Vec<(String, String, serde_json::Value)> {
        let mut heard = Vec::new();
        while let Ok(Some(message)) =
            tokio::time::timeout(std::time::Duration::from_secs(2), self.messages.recv()).await
        {
            let key = message.deliver.unwrap().routing_key().to_owned();
            let body: serde_json::Value =
                serde_json::from_slice(&message.content.unwrap()).unwrap();
            heard.push((
                key,
                body["event_type"].as_str().unwrap().to_owned(),
                body["payload"].clone(),
            ));
        }
        heard
    }

    /// Whether `name` still exists on the broker, as an exchange or a queue.
    async fn exists(&self, exchange: bool, name: &str) -> bool {
        // A failed passive declare closes the channel: a fresh one each time.
        let channel = self.connection.open_channel(None).await.unwrap();
        let found = if exchange {
            let mut args = amqprs::channel::ExchangeDeclareArguments::new(name, "topic");
            args.passive(true);
            channel.exchange_declare(args.finish()).await.is_ok()
        } else {
            let mut args = amqprs::channel::QueueDeclareArguments::new(name);
            args.passive(true);
            channel.queue_declare(args.finish()).await.is_ok()
        };
        let _ = channel.close().await;
        found
    }

    async fn close(self) {
        let _ = self.channel.close().await;
        let _ = self.connection.close().await;
    }
}

/// Runs the example over the broker in a blocking thread.
async fn run_amqp(test: &str, prefix: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["--amqp", BROKER, "--prefix", prefix];
    all.extend_from_slice(args);
    let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    let test = test.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&test, &args)
    })
    .await
    .unwrap()
}

fn prefix(test: &str) -> String {
    format!("taskwire-cv-{test}-{}-", std::process::id())
}

/// Asserts the run left nothing on the broker.
async fn assert_cleaned_up(tap: &NotificationTap, prefix: &str) {
    assert!(
        !tap.exists(true, &format!("{prefix}cinder")).await,
        "the exchange was deleted"
    );
    for queue in [
        "cinder-scheduler",
        "cinder-volume.host-a",
        "cinder-volume.host-b",
    ] {
        assert!(
            !tap.exists(false, &format!("{prefix}{queue}")).await,
            "queue {queue} was deleted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_a_retryable_failure_travels_api_scheduler_manager_twice() {
    let prefix = prefix("amqp-resched");
    let mut tap = NotificationTap::open(&prefix).await;
    // What `assert_cleaned_up` checks can be seen while it exists.
    assert!(tap.exists(true, &format!("{prefix}cinder")).await);
    assert!(!tap.exists(true, &format!("{prefix}no-such-exchange")).await);
    let (ok, out) = run_amqp("amqp-resched", &prefix, &["--fail-at", "create@host-a"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "casting over amqp://guest:***@127.0.0.1:5672/%2f (exchange {prefix}cinder)"
        )),
        "{out}"
    );
    assert!(
        has_line(&out, "api: volume 1000 creating, cast to cinder-scheduler"),
        "{out}"
    );
    assert!(
        has_line(&out, "scheduler: volume 1000 to host-a (attempt 1)"),
        "{out}"
    );
    assert!(has_line(&out, "host-a: volume 1000 rescheduled"), "{out}");
    assert!(
        has_line(&out, "scheduler: volume 1000 to host-b (attempt 2)"),
        "{out}"
    );
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-b:/volumes/1000 (allocated raw)"
        ),
        "{out}"
    );
    let heard = tap.heard().await;
    let events: Vec<(&str, &str, &str)> = heard
        .iter()
        .map(|(key, event, payload)| {
            (
                key.as_str(),
                event.as_str(),
                payload["host"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("notifications.info", "volume.create.start", "host-a"),
            ("notifications.info", "volume.create.start", "host-b"),
            ("notifications.info", "volume.create.end", "host-b"),
        ],
        "{out}"
    );
    assert_eq!(heard[2].2["status"], "available");
    assert_eq!(heard[2].2["size"], 10);
    assert_eq!(heard[2].2["volume_type"], "ssd");
    assert_cleaned_up(&tap, &prefix).await;
    tap.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_a_failure_that_is_not_retryable_is_notified_as_error() {
    let prefix = prefix("amqp-fatal");
    let mut tap = NotificationTap::open(&prefix).await;
    let (ok, out) = run_amqp("amqp-fatal", &prefix, &["--fail-at", "create@host-a:fatal"]).await;
    assert!(!ok, "{out}");
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 100 GiB"),
        "{out}"
    );
    let heard = tap.heard().await;
    let keys: Vec<(&str, &str)> = heard
        .iter()
        .map(|(key, event, _)| (key.as_str(), event.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("notifications.info", "volume.create.start"),
            ("notifications.error", "volume.create.error"),
        ],
        "{out}"
    );
    let error = &heard[1].2;
    assert_eq!(error["status"], "error");
    assert_eq!(error["host"], "host-a");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .ends_with("driver on host-a: image unacceptable (not retryable)"),
        "{error}"
    );
    assert_cleaned_up(&tap, &prefix).await;
    tap.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rabbitmq_a_request_naming_its_host_goes_straight_to_its_manager() {
    let prefix = prefix("amqp-target");
    let mut tap = NotificationTap::open(&prefix).await;
    let (ok, out) = run_amqp("amqp-target", &prefix, &["--host", "host-b"]).await;
    assert!(ok, "{out}");
    assert!(
        has_line(
            &out,
            "api: volume 1000 creating, cast to cinder-volume.host-b"
        ),
        "{out}"
    );
    assert!(!out.contains("volume_create_scheduler"), "{out}");
    let heard = tap.heard().await;
    let events: Vec<(&str, &str)> = heard
        .iter()
        .map(|(_, event, payload)| (event.as_str(), payload["host"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("volume.create.start", "host-b"),
            ("volume.create.end", "host-b")
        ],
        "{out}"
    );
    assert_cleaned_up(&tap, &prefix).await;
    tap.close().await;
}

#[test]
fn a_broker_that_is_not_there_is_a_bounded_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("amqp://guest:secret@127.0.0.1:{port}/%2f");
    let started = std::time::Instant::now();
    let (ok, out) = run("amqp-refused", &["--amqp", &url]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error: amqp://guest:***@127.0.0.1:{port}/%2f: connect: "
        )),
        "{out}"
    );
    assert!(!out.contains("secret"), "the password is not shown: {out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_broker_that_never_answers_is_a_bounded_error() {
    // Accepts the connection, then says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.accept().map(|(stream, _)| stream));
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let started = std::time::Instant::now();
    let (ok, out) = run("amqp-silent", &["--amqp", &url]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error: amqp://guest:***@127.0.0.1:{port}/%2f: connect: no answer within 5s"
        )),
        "{out}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    drop(held.join());
}

#[test]
fn a_url_that_is_not_amqp_is_refused_by_name() {
    let (ok, out) = run("amqp-badurl", &["--amqp", "http://127.0.0.1:5672"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("error: http://127.0.0.1:5672/: parse the URL: scheme `http`: expected amqp://user:password@host:port/vhost"),
        "{out}"
    );
}

/// Runs the example over `proxy` with a slow driver; `fault` is applied to
/// the proxy when the first `volume.create.start` is heard. Gives
/// (succeeded, stdout, stderr, seconds from the fault to the exit).
fn run_with_fault(
    test: &str,
    proxy: tcp_proxy::TcpProxy,
    args: &[&str],
    fault: impl FnOnce(tcp_proxy::TcpProxy),
) -> (bool, String, String, Duration) {
    let db = std::env::temp_dir().join(format!("taskwire-cv-{test}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let prefix = prefix(test);
    let mut child = Command::new(example())
        .args(["--amqp", &url, "--prefix", &prefix, "--slow-driver", "2"])
        .args(args)
        .args(["--logbook", &format!("sqlite://{}", db.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example is built by `cargo test`");
    let mut out = String::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("notification volume.create.start") {
            break;
        }
    }
    let faulted = Instant::now();
    fault(proxy);
    for line in lines {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if faulted.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the example did not end within 60 s of the fault: {out}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = faulted.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = std::fs::remove_file(&db);
    (status.success(), out, err, took)
}

#[test]
fn a_broker_gone_mid_run_puts_the_volume_in_error_within_bounds() {
    // The driver on host-a fails (retryable) after the broker went away:
    // the reschedule cannot be cast, so the volume ends in error at once.
    let proxy = tcp_proxy::TcpProxy::start("127.0.0.1:5672");
    let (ok, out, err, took) =
        run_with_fault("amqp-gone", proxy, &["--fail-at", "create@host-a"], drop);
    assert!(!ok, "{out}");
    assert!(
        out.contains("host-a: volume 1000 could not be rescheduled: amqp://guest:***@127.0.0.1:"),
        "{out}"
    );
    assert!(!has_line(&out, "host-a: volume 1000 rescheduled"), "{out}");
    assert!(has_line(&out, "    volume 1000 marked error"), "{out}");
    assert!(
        out.contains("cast to `cinder-scheduler`: "),
        "the error names the cast that failed: {out}"
    );
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 100 GiB"),
        "{out}"
    );
    assert!(
        err.contains("notification volume.create.error not published: "),
        "{err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}: {out}");
}

#[test]
fn a_broker_gone_silent_mid_run_ends_the_wait_within_bounds() {
    // Casts go out but nothing comes back: the wait for the outcome ends.
    let proxy = tcp_proxy::TcpProxy::start("127.0.0.1:5672");
    let (ok, out, _err, took) = run_with_fault(
        "amqp-silent-mid",
        proxy,
        &["--fail-at", "create@host-a", "--wait", "4"],
        |proxy| {
            proxy.pause();
            // Kept paused until the example has ended, then dropped.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(30));
                drop(proxy);
            });
        },
    );
    assert!(!ok, "{out}");
    assert!(
        has_line(
            &out,
            "error: volume 1000: neither volume.create.end nor .error within 4s (--wait)"
        ),
        "{out}"
    );
    // The services wait on a queue the broker no longer feeds.
    assert!(
        has_line(&out, "3 service(s) did not stop within 5s"),
        "{out}"
    );
    // As in Cinder, a volume whose request was lost stays `creating`.
    assert!(
        has_line(&out, "volumes: {1000: \"creating\"}, free quota: 90 GiB"),
        "{out}"
    );
    assert!(took < Duration::from_secs(25), "{took:?}: {out}");
}
