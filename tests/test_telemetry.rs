//! The spans of runs, as an OpenTelemetry collector would receive them: one
//! process-wide subscriber (`tracing-opentelemetry` over the SDK's in-memory
//! exporter), and each test finds its own spans by the trace of a root span
//! it opens. Asserted: the span tree of a serial run, of a parallel run with
//! sync and async tasks, of a run with a retry and a revert, and of a job
//! that a conductor runs with its task on a remote worker over RabbitMQ —
//! one trace from whoever posted the job to the worker's task.
#![cfg(feature = "otel")]
// The runs' results pass through closures; `RunError` is unboxed on purpose
// (see `engine/run.rs`).
#![allow(clippy::result_large_err)]

mod dist;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use taskwire::retry::{RetryAtom, Times};
use taskwire::{Engine, Failure, FailureKind, Flow, FnTask, TaskSpec};
use tracing_subscriber::layer::SubscriberExt;

/// The process's exporter, behind the global subscriber.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the only subscriber of this test binary");
        exporter
    })
}

/// Runs `f` inside a root span `test{case}`, and returns the spans of its
/// trace once they have ended.
fn traced<T>(case: &str, f: impl FnOnce() -> T) -> (T, Trace) {
    let exporter = exporter();
    let root = tracing::info_span!("test", case);
    let out = root.in_scope(f);
    drop(root);
    (out, Trace::of(exporter, case))
}

/// The spans of one trace.
struct Trace {
    spans: Vec<SpanData>,
}

impl Trace {
    fn of(exporter: &InMemorySpanExporter, case: &str) -> Trace {
        let all = exporter.get_finished_spans().unwrap();
        let root = all
            .iter()
            .find(|s| s.name == "test" && attr(s, "case").as_deref() == Some(case))
            .expect("the test's root span ended");
        let trace: TraceId = root.span_context.trace_id();
        Trace {
            spans: all
                .into_iter()
                .filter(|s| s.span_context.trace_id() == trace)
                .collect(),
        }
    }

    /// The tree, one span a line, indented by depth: `name(label)` where the
    /// label is the atom's, flow's or retry's name; siblings sorted.
    fn tree(&self) -> String {
        let ids: HashMap<SpanId, &SpanData> = self
            .spans
            .iter()
            .map(|s| (s.span_context.span_id(), s))
            .collect();
        let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
        let mut roots = Vec::new();
        for s in &self.spans {
            if ids.contains_key(&s.parent_span_id) {
                children.entry(s.parent_span_id).or_default().push(s);
            } else {
                roots.push(s);
            }
        }
        fn walk(
            s: &SpanData,
            depth: usize,
            children: &HashMap<SpanId, Vec<&SpanData>>,
            out: &mut Vec<String>,
        ) {
            out.push(format!("{}{}", "  ".repeat(depth), label(s)));
            let mut kids = children
                .get(&s.span_context.span_id())
                .cloned()
                .unwrap_or_default();
            kids.sort_by_key(|k| (k.start_time, label(k)));
            for k in kids {
                walk(k, depth + 1, children, out);
            }
        }
        let mut out = Vec::new();
        for r in roots {
            walk(r, 0, &children, &mut out);
        }
        out.join("\n")
    }

    /// The spans named `name`.
    fn named(&self, name: &str) -> Vec<&SpanData> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// The span named `name` whose `key` is `value`.
    fn find(&self, name: &str, key: &str, value: &str) -> &SpanData {
        self.spans
            .iter()
            .find(|s| s.name == name && attr(s, key).as_deref() == Some(value))
            .unwrap_or_else(|| panic!("no span {name} with {key}={value} in\n{}", self.tree()))
    }
}

fn attr(s: &SpanData, key: &str) -> Option<String> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn label(s: &SpanData) -> String {
    let of = ["atom", "flow", "retry", "case", "name"]
        .iter()
        .find_map(|k| attr(s, k));
    match of {
        Some(of) => format!("{}({of})", s.name),
        None => s.name.to_string(),
    }
}

/// A sync task that opens a span of its own (`work`) and provides `out`.
fn sync_task(name: &'static str, requires: &[&'static str], out: &'static str) -> TaskSpec {
    FnTask::new(name)
        .requires(requires.iter().copied())
        .provides(out)
        .run(|call| {
            let _work = tracing::info_span!("work", atom = call.atom()).entered();
            Ok(json!(1))
        })
        .into_spec()
}

/// An async task that waits (so that it is spawned, not finished at its
/// first poll) inside a span of its own.
fn async_task(name: &'static str, out: &'static str) -> TaskSpec {
    FnTask::new(name)
        .provides(out)
        .run_async(|call| {
            let atom = call.atom().to_owned();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _work = tracing::info_span!("work", atom = atom).entered();
                Ok(json!(2))
            })
        })
        .into_spec()
}

#[test]
fn a_serial_run_is_a_flow_span_with_one_span_per_atom() {
    let flow = Flow::linear("serial")
        .add(sync_task("a", &[], "x"))
        .add(sync_task("b", &["x"], "y"))
        .add(sync_task("c", &["y"], "z"));
    let (done, trace) = traced("serial", || Engine::new(flow).run());
    done.unwrap();
    assert_eq!(
        trace.tree(),
        "test(serial)\n  flow(serial)\n    atom(a)\n      work(a)\n    atom(b)\n      work(b)\n    atom(c)\n      work(c)"
    );
    let flow = trace.find("flow", "flow", "serial");
    assert_eq!(attr(flow, "outcome").as_deref(), Some("SUCCESS"));
    let b = trace.find("atom", "atom", "b");
    assert_eq!(attr(b, "task").as_deref(), Some("b"));
    assert_eq!(attr(b, "version").as_deref(), Some("1.0"));
    assert_eq!(attr(b, "attempt").as_deref(), Some("1"));
    assert_eq!(attr(b, "executor").as_deref(), Some("inline"));
    assert_eq!(attr(b, "outcome").as_deref(), Some("SUCCESS"));
    assert_eq!(attr(b, "error"), None);
}

#[test]
fn a_parallel_run_keeps_sync_and_async_tasks_inside_their_atom_spans() {
    let flow = Flow::unordered("parallel")
        .add(sync_task("s1", &[], "a"))
        .add(sync_task("s2", &[], "b"))
        .add(async_task("a1", "c"))
        .add(async_task("a2", "d"));
    let (done, trace) = traced("parallel", || Engine::new(flow).max_workers(4).run());
    done.unwrap();
    // Siblings are in start order; the atoms of one turn start together.
    let tree = trace.tree();
    let mut lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines[..2], ["test(parallel)", "  flow(parallel)"]);
    let mut atoms: Vec<String> = lines
        .drain(2..)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| pair.join(" / "))
        .collect();
    atoms.sort();
    assert_eq!(
        atoms,
        [
            "    atom(a1) /       work(a1)",
            "    atom(a2) /       work(a2)",
            "    atom(s1) /       work(s1)",
            "    atom(s2) /       work(s2)",
        ],
        "{}",
        trace.tree()
    );
    for (atom, executor) in [
        ("s1", "pool"),
        ("s2", "pool"),
        ("a1", "async"),
        ("a2", "async"),
    ] {
        let span = trace.find("atom", "atom", atom);
        assert_eq!(attr(span, "executor").as_deref(), Some(executor), "{atom}");
        assert_eq!(attr(span, "outcome").as_deref(), Some("SUCCESS"), "{atom}");
    }
}

#[test]
fn retries_and_reverts_have_their_spans_and_failures_are_recorded() {
    let failing = FnTask::new("send")
        .provides("sent")
        .run(|_| Err(Failure::new(FailureKind::Task, "the line is busy")))
        .revert(|_| Ok(()))
        .into_spec();
    let prepare = FnTask::new("prepare")
        .provides("p")
        .run(|_| Ok(json!(1)))
        .revert(|_| Ok(()))
        .into_spec();
    let flow = Flow::linear("calls").add(
        Flow::linear("sub")
            .add(prepare)
            .add(failing)
            .retry(RetryAtom::new("again", Times::new(2))),
    );
    let (done, trace) = traced("retry", || Engine::new(flow).run());
    assert_eq!(
        done.unwrap_err().to_string(),
        "flow `calls` was reverted: task `send` failed: the line is busy"
    );
    assert_eq!(
        trace.tree(),
        [
            "test(retry)",
            "  flow(calls)",
            "    retry(again)",
            "    atom(prepare)",
            "    atom(send)",
            "    retry.decide(send)",
            "    revert(send)",
            "    revert(prepare)",
            "    retry(again)",
            "    atom(prepare)",
            "    atom(send)",
            "    retry.decide(send)",
            "    revert(send)",
            "    revert(prepare)",
            "    revert(again)",
        ]
        .join("\n")
    );
    let sends = trace.named("atom");
    let sends: Vec<_> = sends
        .iter()
        .filter(|s| attr(s, "atom").as_deref() == Some("send"))
        .collect();
    let attempts: Vec<_> = sends.iter().map(|s| attr(s, "attempt").unwrap()).collect();
    assert_eq!(attempts, ["1", "2"]);
    for send in &sends {
        assert_eq!(attr(send, "outcome").as_deref(), Some("FAILURE"));
        assert!(
            attr(send, "error").unwrap().contains("the line is busy"),
            "the failure is on the span"
        );
        assert_eq!(
            send.status,
            opentelemetry::trace::Status::error(""),
            "the span is marked failed"
        );
    }
    let decisions: Vec<_> = trace
        .named("retry.decide")
        .iter()
        .map(|s| attr(s, "decision").unwrap())
        .collect();
    assert_eq!(decisions, ["Retry(0)", "Revert(0)"]);
    let decided: Vec<_> = trace
        .named("retry.decide")
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.name.to_string()))
        .collect();
    assert_eq!(decided, ["retry decided", "retry decided"]);
    for revert in trace.named("revert") {
        assert_eq!(attr(revert, "outcome").as_deref(), Some("REVERTED"));
    }
    let flow = trace.find("flow", "flow", "calls");
    assert_eq!(attr(flow, "outcome").as_deref(), Some("REVERTED"));
}

#[test]
fn a_subscriber_that_wants_no_spans_gets_none_and_the_run_is_the_same() {
    // A filter above INFO: the engine's spans are disabled, and the run
    // goes on as without a subscriber.
    let flow = Flow::linear("quiet").add(sync_task("a", &[], "x"));
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::WARN);
    let done = tracing::subscriber::with_default(subscriber, || Engine::new(flow).run());
    assert_eq!(done.unwrap().get::<u64>("x").unwrap(), 1);
    assert!(taskwire::telemetry::inject().is_empty());
}

#[test]
fn trace_context_travels_as_w3c_headers() {
    let (cx, trace) = traced("inject", taskwire::telemetry::inject);
    let root = &trace.named("test")[0];
    let traceparent = cx.traceparent.expect("a traceparent inside a span");
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            root.span_context.trace_id(),
            root.span_context.span_id()
        )
    );
    // A span given that context joins the trace, even from another thread.
    let child = std::thread::spawn(move || {
        let span = tracing::info_span!("remote");
        taskwire::telemetry::set_parent(
            &span,
            &taskwire::telemetry::TraceContext {
                traceparent: Some(traceparent),
                tracestate: None,
            },
        );
        drop(span);
    });
    child.join().unwrap();
    let spans = exporter().get_finished_spans().unwrap();
    let remote = spans.iter().find(|s| s.name == "remote").unwrap();
    assert_eq!(remote.span_context.trace_id(), root.span_context.trace_id());
    assert_eq!(remote.parent_span_id, root.span_context.span_id());
    // A malformed traceparent is ignored: the span starts a trace of its own.
    let span = tracing::info_span!("orphan");
    taskwire::telemetry::set_parent(
        &span,
        &taskwire::telemetry::TraceContext {
            traceparent: Some("00-not-a-trace".to_owned()),
            tracestate: None,
        },
    );
    drop(span);
    let spans = exporter().get_finished_spans().unwrap();
    let orphan = spans.iter().find(|s| s.name == "orphan").unwrap();
    assert_eq!(orphan.parent_span_id, SpanId::INVALID);
}

/// The flow a job builds: one task that remote workers run.
#[cfg(all(feature = "amqp", feature = "redis"))]
fn remote_flow(_: &serde_json::Value) -> Result<Flow, String> {
    Ok(Flow::linear("remote_job").add(TaskSpec::from(remote_def())))
}

#[cfg(all(feature = "amqp", feature = "redis"))]
taskwire::flow_factory!("tests::telemetry_remote", remote_flow);

#[cfg(all(feature = "amqp", feature = "redis"))]
fn remote_def() -> std::sync::Arc<taskwire::TaskDef> {
    FnTask::new("telemetry::double")
        .requires(["n"])
        .provides("doubled")
        .run(|call| {
            let _work = tracing::info_span!("work", atom = call.atom()).entered();
            Ok(json!(call.arg::<u64>(0)? * 2))
        })
        .into_def()
}

#[cfg(all(feature = "amqp", feature = "redis"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_its_flow_and_its_remote_task_share_one_trace() {
    use std::sync::Arc;
    use taskwire::conductor::{Conductor, JobOutcome};
    use taskwire::jobboard::{JobBoard, NewJob};
    use taskwire::worker::{ExecutorConfig, Worker, WorkerExecutor};

    exporter();
    let ns = dist::Namespace::new("telemetry");
    let board_name = dist::RedisBoard::new("telemetry");
    let mut registry = taskwire::Registry::new();
    registry.register(remote_def()).unwrap();
    let worker = Worker::new("tw1", ns.broker(), registry)
        .heartbeat(Duration::from_millis(100))
        .start()
        .unwrap();
    let executor = WorkerExecutor::connect(
        ns.broker(),
        ExecutorConfig::default().no_worker_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert!(executor.wait_for_workers(1, Duration::from_secs(10)).await);

    // Posted inside the test's root span: the job carries its context.
    let board: Arc<dyn JobBoard> = Arc::new(board_name.open());
    let root = tracing::info_span!("test", case = "remote");
    let job = root.in_scope(|| NewJob::new("tests::telemetry_remote", json!({})).input("n", 21));
    assert!(job.trace.traceparent.is_some());
    let posted = board.post(&job).unwrap();
    assert_eq!(
        board.get(posted.id).unwrap().spec.trace,
        job.trace,
        "the board keeps the trace context"
    );
    drop(root);

    // The conductor runs it later, outside any span.
    let logbook = taskwire::persistence::open("memory://").unwrap();
    let conductor = Conductor::new("c1", Arc::clone(&board), logbook).configure({
        let executor = executor.clone();
        move |engine, _| engine.executor(executor.clone())
    });
    let outcome = tokio::task::spawn_blocking(move || conductor.run_one())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(outcome, Some(JobOutcome::Done { .. })),
        "{outcome:?}"
    );
    worker.stop().await;
    let trace = Trace::of(exporter(), "remote");
    assert_eq!(
        trace.tree(),
        [
            "test(remote)",
            "  job(tests::telemetry_remote)",
            "    flow(remote_job)",
            // A recorded run: its group commits (DEBUG spans) around the atom.
            "      logbook.commit",
            "      atom(telemetry::double)",
            "        worker.task(telemetry::double)",
            "          work(telemetry::double)",
            "      logbook.commit",
        ]
        .join("\n")
    );
    let flow = trace.find("flow", "flow", "remote_job");
    assert_eq!(attr(flow, "owner").as_deref(), Some("c1"));
    assert!(attr(flow, "uuid").is_some() && attr(flow, "logbook").is_some());
    let atom = trace.find("atom", "atom", "telemetry::double");
    assert_eq!(attr(atom, "executor").as_deref(), Some("remote"));
    let task = trace.find("worker.task", "atom", "telemetry::double");
    assert!(attr(task, "worker").unwrap().starts_with("tw1"));
    assert_eq!(attr(task, "outcome").as_deref(), Some("SUCCESS"));
    assert_eq!(task.parent_span_id, atom.span_context.span_id());
}

#[test]
fn install_otlp_refuses_a_second_global_subscriber_and_says_what_to_do() {
    exporter();
    let err = taskwire::telemetry::otel::install_otlp().unwrap_err();
    assert!(
        matches!(err, taskwire::telemetry::otel::OtelError::SubscriberSet(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "a global tracing subscriber is installed already: add the tracing-opentelemetry layer to it instead"
        ),
        "{err}"
    );
}
