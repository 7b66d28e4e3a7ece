//! Logbooks filled by running real flows, for the dashboard's tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire_runtime::persistence::{self, Backend, Uuid};
use taskwire_runtime::retry::{RetryAtom, Times};
use taskwire_runtime::{Engine, Failure, Flow, FnTask};

/// Runs blocking code (the sync PostgreSQL clients start runtimes of their
/// own) from a test's async code: the thread leaves the runtime meanwhile.
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name of the test's own.
pub fn unique(test: &str) -> String {
    format!(
        "{}_{}_{}",
        test.replace(['-', ':'], "_"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The failure of the demo's card charge, with a cause.
#[derive(Debug, thiserror::Error)]
#[error("card declined")]
pub struct Declined {
    #[source]
    source: std::io::Error,
}

fn step(name: &'static str, requires: &'static [&'static str], provides: &'static str) -> FnTask {
    FnTask::new(name)
        .requires(requires.iter().copied())
        .provides(provides)
        .run(move |_| {
            // Long enough for the timeline to show something.
            std::thread::sleep(Duration::from_millis(30));
            Ok(json!(format!("{name} done")))
        })
        .revert(|_| {
            std::thread::sleep(Duration::from_millis(10));
            Ok(())
        })
}

/// `validate → {reserve, price} → charge → ship`; `charge` fails when
/// `params.fail`.
fn order(params: &Value) -> Result<Flow, String> {
    let fail = params["fail"].as_bool().unwrap_or(false);
    Ok(Flow::graph("place_order")
        .add(step("validate", &["order_id"], "order"))
        .add(step("reserve", &["order"], "reservation"))
        .add(step("price", &["order"], "total"))
        .add(
            FnTask::new("charge")
                .requires(["reservation", "total"])
                .provides("payment")
                .run(move |_| {
                    if fail {
                        Err(Failure::from_error(Declined {
                            source: std::io::Error::other("issuer answered 51: insufficient funds"),
                        }))
                    } else {
                        Ok(json!("paid"))
                    }
                }),
        )
        .add(step("ship", &["payment"], "shipment")))
}
taskwire_runtime::flow_factory!("dash::order", order);

/// A retried subflow whose `send` fails on its first try.
fn flaky(_: &Value) -> Result<Flow, String> {
    let tries = Arc::new(AtomicU32::new(0));
    Ok(Flow::linear("flaky_send").add(
        Flow::linear("attempts")
            .add(FnTask::new("send").provides("sent").run(move |_| {
                std::thread::sleep(Duration::from_millis(30));
                if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Failure::new(
                        taskwire_runtime::FailureKind::Task,
                        "connection reset",
                    ))
                } else {
                    Ok(json!("sent"))
                }
            }))
            .retry(RetryAtom::new("again", Times::new(3))),
    ))
}
taskwire_runtime::flow_factory!("dash::flaky", flaky);

static GATES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Lets the `wait` task of the flow built with `{"gate": name}` finish.
pub fn open_gate(name: &str) {
    GATES
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(name.to_owned());
}

/// `start → wait → finish`: `wait` runs until its gate opens.
fn gated(params: &Value) -> Result<Flow, String> {
    let gate = params["gate"]
        .as_str()
        .ok_or("`gate` must be a string")?
        .to_owned();
    Ok(Flow::linear("gated")
        .add(step("start", &[], "started"))
        .add(
            FnTask::new("wait")
                .requires(["started"])
                .provides("waited")
                .run(move |_| {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while Instant::now() < deadline {
                        if GATES
                            .lock()
                            .unwrap()
                            .as_ref()
                            .is_some_and(|g| g.contains(&gate))
                        {
                            return Ok(json!("opened"));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(Failure::new(
                        taskwire_runtime::FailureKind::Task,
                        "the gate never opened",
                    ))
                }),
        )
        .add(step("finish", &["waited"], "finished")))
}
taskwire_runtime::flow_factory!("dash::gated", gated);

/// Runs a factory's flow to its end, recorded in `backend`; its id.
pub fn run(backend: &Arc<dyn Backend>, factory: &str, params: Value) -> Uuid {
    sync(|| run_now(backend, factory, params))
}

fn run_now(backend: &Arc<dyn Backend>, factory: &str, params: Value) -> Uuid {
    // One input for every factory's flow: those that do not read it
    // ignore it.
    let mut engine = Engine::from_factory(factory, params)
        .unwrap()
        .allow_unused_inputs()
        .input("order_id", 7)
        .persist(backend.clone());
    let _ = engine.run();
    engine
        .flow_uuid()
        .expect("a persisted run has a flow detail")
}

/// Starts a gated flow in a thread; returns its id once `wait` runs, and
/// the thread.
pub fn start_gated(backend: &Arc<dyn Backend>, gate: &str) -> (Uuid, std::thread::JoinHandle<()>) {
    sync(|| start_gated_now(backend, gate))
}

fn start_gated_now(backend: &Arc<dyn Backend>, gate: &str) -> (Uuid, std::thread::JoinHandle<()>) {
    let before: HashSet<Uuid> = flows(backend).into_iter().collect();
    let b = backend.clone();
    let params = json!({ "gate": gate });
    let handle = std::thread::spawn(move || {
        let mut engine = Engine::from_factory("dash::gated", params)
            .unwrap()
            .persist(b);
        engine.run().unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let new: Vec<Uuid> = flows(backend)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if let [uuid] = new[..] {
            let (_, atoms) = backend.load_flow(uuid).unwrap();
            if atoms
                .iter()
                .any(|a| a.name == "wait" && a.state == taskwire_runtime::AtomState::Running)
            {
                return (uuid, handle);
            }
        }
        assert!(Instant::now() < deadline, "the gated flow did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every flow of the logbook.
pub fn flows(backend: &Arc<dyn Backend>) -> Vec<Uuid> {
    backend
        .list_logbooks()
        .unwrap()
        .into_iter()
        .flat_map(|b| b.flows.into_iter().map(|f| f.uuid))
        .collect()
}

/// A logbook of the test's own.
pub enum Logbook {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Logbook {
    pub fn sqlite(test: &str) -> Logbook {
        let path = std::env::temp_dir().join(format!("taskwire-dash-{}.db", unique(test)));
        let _ = std::fs::remove_file(&path);
        Logbook::Sqlite(path)
    }

    pub fn postgres(test: &str) -> Logbook {
        let name = format!("tw_{}", unique(test)).to_lowercase();
        sync(|| {
            admin()
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap()
        });
        Logbook::Postgres(name)
    }

    pub fn url(&self) -> String {
        match self {
            Logbook::Sqlite(path) => format!("sqlite://{}", path.display()),
            Logbook::Postgres(name) => format!("postgres://postgres@127.0.0.1:5432/{name}"),
        }
    }

    pub fn open(&self) -> Arc<dyn Backend> {
        sync(|| persistence::open(&self.url()).unwrap())
    }
}

fn admin() -> postgres::Client {
    postgres::Client::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        postgres::NoTls,
    )
    .expect("PostgreSQL on 127.0.0.1:5432")
}

impl Drop for Logbook {
    fn drop(&mut self) {
        match self {
            Logbook::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Logbook::Postgres(name) => {
                let name = name.clone();
                sync(move || {
                    let _ = admin()
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                });
            }
        }
    }
}
