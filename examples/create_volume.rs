//! Cinder's create-volume API flow, as taskwire tasks.
//!
//! Extract and validate the request, reserve quota (released again if anything
//! later fails), create the database entry (deleted again on failure), commit
//! the quota, and cast the request to the scheduler.
//!
//! Every step is recorded in a logbook, by default the SQLite file
//! `target/create_volume.db` (`--logbook URL` for another: `dir:///tmp/log`,
//! `postgres://…`, `mysql://…` with their features); the end of the run prints
//! what the logbook holds.
//!
//! ```text
//! cargo run --example create_volume                      # succeeds
//! cargo run --example create_volume -- --fail-at commit  # fails, and reverts
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use taskwire::prelude::*;
use taskwire::{AtomEvent, FlowEvent, Listener};

/// A validated request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeSpec {
    size: u64,
    volume_type: String,
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
}

/// The quota service and the database: resources, handed to tasks by type.
#[derive(Debug, Default)]
struct Cloud {
    free_gigabytes: Mutex<u64>,
    reservations: Mutex<BTreeMap<u64, u64>>,
    volumes: Mutex<BTreeMap<u64, String>>,
    fail_at: Option<String>,
}

impl Cloud {
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
    cloud: Res<Cloud>,
) -> Result<VolumeSpec, VolumeError> {
    cloud.check("extract")?;
    if size == 0 {
        return Err(VolumeError::Invalid("size must be at least 1 GiB".into()));
    }
    Ok(VolumeSpec { size, volume_type })
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

    let flow = Flow::linear("create_volume")
        .add(extract_request::task())
        .add(reserve_quota::task())
        .add(create_db_entry::task())
        .add(commit_quota::task())
        .add(cast_to_scheduler::task());

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

    let mut engine = Engine::new(flow)
        .input("size", 10)
        .input("volume_type", "ssd")
        .resource_arc(cloud.clone())
        .listener(Print)
        .persist(std::sync::Arc::clone(&logbook));
    let result = engine.run();

    if let Some(uuid) = engine.flow_uuid() {
        let (detail, atoms) = logbook.load_flow(uuid)?;
        println!("logbook {url}: flow detail {uuid} is {}", detail.state);
        for atom in atoms {
            println!("  {:<36} {}", atom.name, atom.state);
        }
    }

    match result {
        Ok(done) => {
            println!("{}", done.get::<String>("scheduled")?);
            println!("free quota: {} GiB", cloud.free_gigabytes.lock().unwrap());
            Ok(())
        }
        Err(err) => {
            println!("error: {err}");
            if let Some(VolumeError::Injected(step)) = err.downcast_ref::<VolumeError>() {
                println!("(the task's own error came back: Injected({step:?}))");
            }
            println!(
                "free quota: {} GiB, volumes: {}",
                cloud.free_gigabytes.lock().unwrap(),
                cloud.volumes.lock().unwrap().len()
            );
            std::process::exit(1);
        }
    }
}
