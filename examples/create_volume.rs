//! Cinder's create-volume flows, as taskwire tasks: the three flows Cinder
//! runs in its API, scheduler and volume manager services, one after the other.
//!
//! - **api**: extract and validate the request, reserve quota (released again
//!   if anything later fails), create the database entry (deleted again on
//!   failure), commit the quota, cast the request to the scheduler;
//! - **scheduler**: rank the hosts that can take the volume; when that fails,
//!   the volume is marked `error`;
//! - **manager**: create the volume on the best host, from raw space, a
//!   snapshot, an image or another volume (`--source`); when creating fails on
//!   a host, a retry reschedules it to the next host; when every host failed,
//!   the volume is marked `error`.
//!
//! Every step of the three flows is recorded in one logbook, by default the
//! SQLite file `target/create_volume.db` (`--logbook URL` for another:
//! `dir:///tmp/log`, `postgres://…`, `mysql://…` with their features); the
//! end of the run prints what the logbook holds.
//!
//! ```text
//! cargo run --example create_volume                            # succeeds
//! cargo run --example create_volume -- --fail-at commit        # fails, and reverts
//! cargo run --example create_volume -- --fail-at create@host-a # rescheduled to host-b
//! cargo run --example create_volume -- --fail-at create        # every host fails
//! cargo run --example create_volume -- --source snapshot       # from a snapshot
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use taskwire::prelude::*;
use taskwire::retry::{ParameterizedForEach, RetryAtom};
use taskwire::{AtomEvent, FlowEvent, Listener};

/// A validated request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeSpec {
    size: u64,
    volume_type: String,
    /// raw, snapshot, image or volume.
    source: String,
}

/// Quota held for the volume until committed or released.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reservation {
    id: u64,
    gigabytes: u64,
}

#[derive(Debug, thiserror::Error)]
enum VolumeError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("quota exceeded: {requested} GiB requested, {free} GiB free")]
    QuotaExceeded { requested: u64, free: u64 },
    #[error("injected failure at `{0}` (--fail-at)")]
    Injected(String),
    #[error("no host can take {0} GiB")]
    NoValidHost(u64),
}

/// The quota service and the database: resources, handed to tasks by type.
#[derive(Debug, Default)]
struct Cloud {
    free_gigabytes: Mutex<u64>,
    reservations: Mutex<BTreeMap<u64, u64>>,
    volumes: Mutex<BTreeMap<u64, String>>,
    /// Volume id → status, as the database keeps it.
    status: Mutex<BTreeMap<u64, String>>,
    /// Host name → free GiB.
    hosts: Mutex<Vec<(String, u64)>>,
    fail_at: Option<String>,
}

impl Cloud {
    fn mark_error(&self, volume_id: u64) {
        self.status
            .lock()
            .unwrap()
            .insert(volume_id, "error".into());
        println!("    volume {volume_id} marked error");
    }

    fn check(&self, step: &str) -> Result<(), VolumeError> {
        match &self.fail_at {
            Some(s) if s == step => Err(VolumeError::Injected(step.to_owned())),
            _ => Ok(()),
        }
    }
}

#[task(provides = "volume_spec")]
fn extract_request(
    size: u64,
    volume_type: String,
    source: String,
    cloud: Res<Cloud>,
) -> Result<VolumeSpec, VolumeError> {
    cloud.check("extract")?;
    if size == 0 {
        return Err(VolumeError::Invalid("size must be at least 1 GiB".into()));
    }
    if !["raw", "snapshot", "image", "volume"].contains(&source.as_str()) {
        return Err(VolumeError::Invalid(format!(
            "unknown source `{source}`: use raw, snapshot, image or volume"
        )));
    }
    Ok(VolumeSpec {
        size,
        volume_type,
        source,
    })
}

#[task(provides = "reservation", revert_with = release_quota, version = "1.1")]
async fn reserve_quota(
    volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
) -> Result<Reservation, VolumeError> {
    cloud.check("reserve")?;
    let mut free = cloud.free_gigabytes.lock().unwrap();
    if *free < volume_spec.size {
        return Err(VolumeError::QuotaExceeded {
            requested: volume_spec.size,
            free: *free,
        });
    }
    *free -= volume_spec.size;
    let mut reservations = cloud.reservations.lock().unwrap();
    let id = reservations.len() as u64 + 1;
    reservations.insert(id, volume_spec.size);
    Ok(Reservation {
        id,
        gigabytes: volume_spec.size,
    })
}

/// Gives the quota back when a later step fails.
async fn release_quota(
    _volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
    outcome: Outcome<Reservation>,
    _failures: Failures,
) {
    if let Outcome::Success(reservation) = outcome {
        cloud.reservations.lock().unwrap().remove(&reservation.id);
        *cloud.free_gigabytes.lock().unwrap() += reservation.gigabytes;
        println!("    released reservation {}", reservation.id);
    }
}

#[task(provides = "volume_id", revert_with = delete_db_entry)]
fn create_db_entry(volume_spec: VolumeSpec, cloud: Res<Cloud>) -> Result<u64, VolumeError> {
    cloud.check("db")?;
    let mut volumes = cloud.volumes.lock().unwrap();
    let id = 1000 + volumes.len() as u64;
    volumes.insert(
        id,
        format!("{} GiB {}", volume_spec.size, volume_spec.volume_type),
    );
    cloud.status.lock().unwrap().insert(id, "creating".into());
    Ok(id)
}

/// Deletes the entry when a later step fails.
fn delete_db_entry(
    _volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
    outcome: Outcome<u64>,
    _failures: Failures,
) {
    if let Outcome::Success(id) = outcome {
        cloud.volumes.lock().unwrap().remove(&id);
        cloud.status.lock().unwrap().remove(&id);
        println!("    deleted database entry {id}");
    }
}

#[task]
fn commit_quota(reservation: Reservation, cloud: Res<Cloud>) -> Result<(), VolumeError> {
    cloud.check("commit")?;
    cloud.reservations.lock().unwrap().remove(&reservation.id);
    Ok(())
}

#[task(provides = "scheduled")]
fn cast_to_scheduler(volume_id: u64, cloud: Res<Cloud>) -> Result<String, VolumeError> {
    cloud.check("cast")?;
    Ok(format!("volume {volume_id} sent to the scheduler"))
}

// The scheduler's flow.

/// Ranks the hosts with room for the volume, most free space first.
#[task(provides = "candidate_hosts", revert_with = mark_volume_error)]
fn schedule_create_volume(
    volume_id: u64,
    volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
) -> Result<Vec<String>, VolumeError> {
    cloud.check("schedule")?;
    let mut hosts: Vec<(String, u64)> = cloud
        .hosts
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, free)| *free >= volume_spec.size)
        .cloned()
        .collect();
    if hosts.is_empty() {
        return Err(VolumeError::NoValidHost(volume_spec.size));
    }
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("    volume {volume_id}: candidate hosts {hosts:?}");
    Ok(hosts.into_iter().map(|(h, _)| h).collect())
}

/// Marks the volume `error` when it cannot be scheduled or created.
fn mark_volume_error(
    volume_id: u64,
    _volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
    _outcome: Outcome<Vec<String>>,
    _failures: Failures,
) {
    cloud.mark_error(volume_id);
}

// The volume manager's flow, under a retry that reschedules.

/// Creates the volume on `host` from its source.
#[task(provides = "location", revert_with = delete_from_host)]
fn create_volume_on_host(
    volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    cloud: Res<Cloud>,
) -> Result<String, VolumeError> {
    cloud.check(&format!("create@{host}"))?;
    cloud.check("create")?;
    let how = match volume_spec.source.as_str() {
        "snapshot" => "cloned from snapshot snap-1",
        "image" => "copied from image cirros",
        "volume" => "cloned from volume 999",
        _ => "allocated raw",
    };
    let mut hosts = cloud.hosts.lock().unwrap();
    if let Some((_, free)) = hosts.iter_mut().find(|(h, _)| *h == host) {
        *free -= volume_spec.size;
    }
    Ok(format!("{host}:/volumes/{volume_id} ({how})"))
}

/// Frees the space on the host when a later step fails.
fn delete_from_host(
    _volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    cloud: Res<Cloud>,
    outcome: Outcome<String>,
    _failures: Failures,
) {
    if let Outcome::Success(location) = outcome {
        let mut hosts = cloud.hosts.lock().unwrap();
        if let Some((_, free)) = hosts.iter_mut().find(|(h, _)| *h == host) {
            *free += volume_spec.size;
        }
        println!("    deleted {location}");
    }
}

#[task(provides = "status")]
fn finish_volume(
    volume_id: u64,
    location: String,
    cloud: Res<Cloud>,
) -> Result<String, VolumeError> {
    cloud.check("finish")?;
    cloud
        .status
        .lock()
        .unwrap()
        .insert(volume_id, "available".into());
    Ok(format!("volume {volume_id} available at {location}"))
}

/// When every host failed: the volume is in error.
#[task(revert_with = mark_volume_error_on_revert)]
fn on_failure_mark_error(volume_id: u64, cloud: Res<Cloud>) -> u64 {
    let _ = cloud;
    volume_id
}

fn mark_volume_error_on_revert(
    volume_id: u64,
    cloud: Res<Cloud>,
    _outcome: Outcome<u64>,
    _failures: Failures,
) {
    cloud.mark_error(volume_id);
}

/// Prints each state change as it is recorded.
struct Print;

impl Listener for Print {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        println!("flow {} {}", e.flow, e.state);
    }
    fn on_atom(&self, e: &AtomEvent<'_>) {
        let name = e.atom.rsplit("::").next().unwrap_or(e.atom);
        match e.failure {
            Some(f) => println!("  {name:<18} {} ({f})", e.state),
            None => println!("  {name:<18} {}", e.state),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let fail_at = args
        .iter()
        .position(|a| a == "--fail-at")
        .and_then(|i| args.get(i + 1).cloned());
    let cloud = std::sync::Arc::new(Cloud {
        free_gigabytes: Mutex::new(100),
        fail_at,
        ..Cloud::default()
    });

    let source = args
        .iter()
        .position(|a| a == "--source")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "raw".to_owned());
    *cloud.hosts.lock().unwrap() = vec![("host-a".into(), 500), ("host-b".into(), 200)];

    let url = args
        .iter()
        .position(|a| a == "--logbook")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "sqlite://target/create_volume.db".to_owned());
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let logbook = taskwire::persistence::open(&url)?;
    let book = taskwire::persistence::LogBook::new("create_volume");
    logbook.save_logbook(&book)?;

    // Cinder's API service.
    let api = Flow::linear("volume_create_api")
        .add(extract_request::task())
        .add(reserve_quota::task())
        .add(create_db_entry::task())
        .add(commit_quota::task())
        .add(cast_to_scheduler::task());
    let run = |flow: Flow, inputs: Vec<(&str, serde_json::Value)>| {
        let mut engine = Engine::new(flow)
            .resource_arc(cloud.clone())
            .listener(Print)
            .persist(std::sync::Arc::clone(&logbook))
            .logbook(book.uuid);
        for (name, value) in inputs {
            engine = engine.input(name, value);
        }
        let result = engine.run();
        result.map_err(Box::new)
    };
    let report = |err: &RunError| {
        println!("error: {err}");
        if let Some(VolumeError::Injected(step)) = err.downcast_ref::<VolumeError>() {
            println!("(the task's own error came back: Injected({step:?}))");
        }
    };
    let outcome = (|| {
        let done = run(
            api,
            vec![
                ("size", serde_json::json!(10)),
                ("volume_type", serde_json::json!("ssd")),
                ("source", serde_json::json!(source)),
            ],
        )?;
        println!("{}", done.get::<String>("scheduled").expect("cast"));
        let volume_id: u64 = done.get("volume_id").expect("created");
        let spec: VolumeSpec = done.get("volume_spec").expect("extracted");
        let ids = serde_json::json!(volume_id);
        let spec = serde_json::to_value(&spec).expect("serde");

        // Cinder's scheduler service.
        let scheduler = Flow::linear("volume_create_scheduler").add(schedule_create_volume::task());
        let done = run(
            scheduler,
            vec![("volume_id", ids.clone()), ("volume_spec", spec.clone())],
        )?;
        let hosts: Vec<String> = done.get("candidate_hosts").expect("scheduled");

        // Cinder's volume manager: reschedules to the next host on failure.
        let manager = Flow::linear("volume_create_manager")
            .add(on_failure_mark_error::task())
            .add(
                Flow::linear("create_on_host")
                    .add(create_volume_on_host::task())
                    .retry(
                        RetryAtom::new(
                            "reschedule",
                            ParameterizedForEach::new("candidate_hosts").revert_all(),
                        )
                        .provides("host"),
                    ),
            )
            .add(finish_volume::task());
        let done = run(
            manager,
            vec![
                ("volume_id", ids),
                ("volume_spec", spec),
                ("candidate_hosts", serde_json::json!(hosts)),
            ],
        )?;
        let attempts = done
            .storage()
            .retry_history("reschedule")
            .map_or(0, |h| h.len());
        if attempts > 1 {
            println!("rescheduled {} time(s)", attempts - 1);
        }
        println!("{}", done.get::<String>("status").expect("finished"));
        Ok::<(), Box<RunError>>(())
    })();

    println!("logbook {url}: logbook {}", book.uuid);
    for flow in logbook.list_flows(book.uuid)? {
        let (detail, atoms) = logbook.load_flow(flow.uuid)?;
        println!("  flow {} is {}", detail.name, detail.state);
        for atom in atoms {
            println!("    {:<40} {}", atom.name, atom.state);
        }
    }
    println!(
        "volumes: {:?}, free quota: {} GiB",
        cloud.status.lock().unwrap(),
        cloud.free_gigabytes.lock().unwrap()
    );
    match outcome {
        Ok(()) => Ok(()),
        Err(err) => {
            report(&err);
            std::process::exit(1);
        }
    }
}
