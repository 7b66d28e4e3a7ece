//! What the conductor, the worker and the poster share: the create-volume
//! tasks (run by workers), the flow factory that builds the flow from a
//! job's parameters (run by conductors), and where they all meet.
//!
//! Volumes are files in `target/demo-volumes/`: allocating one that exists
//! already finds it instead of making a second, so `allocate` is idempotent
//! and a worker that dies in it can be replaced.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use taskwire::prelude::*;

/// The broker, the namespace of the queues, the board, the factory.
pub(crate) const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub(crate) const NAMESPACE: &str = "taskwire-demo";
pub(crate) const BOARD_URL: &str = "redis://127.0.0.1:6379/0";
pub(crate) const BOARD: &str = "volumes";
pub(crate) const LOGBOOK_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub(crate) const FACTORY: &str = "demo::create_volume";

/// The value of `--flag VALUE` on the command line.
pub(crate) fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Whether `--flag` is on the command line.
pub(crate) fn flag(flag: &str) -> bool {
    std::env::args().any(|a| a == flag)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VolumeSpec {
    pub(crate) name: String,
    pub(crate) size_gb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Reservation {
    pub(crate) gigabytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum VolumeError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("cannot write volume file `{path}`")]
    Storage {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn storage() -> PathBuf {
    PathBuf::from("target/demo-volumes")
}

#[task(name = "demo::validate", provides = "volume_spec")]
fn validate(name: String, size_gb: u64) -> Result<VolumeSpec, VolumeError> {
    if size_gb == 0 || size_gb > 1024 {
        return Err(VolumeError::Invalid(format!(
            "size_gb must be 1..=1024, not {size_gb}"
        )));
    }
    println!("validated {name}: {size_gb} GiB");
    Ok(VolumeSpec { name, size_gb })
}

#[task(name = "demo::reserve_quota", provides = "reservation", revert_with = release_quota)]
fn reserve_quota(volume_spec: VolumeSpec) -> Reservation {
    println!(
        "reserved {} GiB for {}",
        volume_spec.size_gb, volume_spec.name
    );
    Reservation {
        gigabytes: volume_spec.size_gb,
    }
}

fn release_quota(volume_spec: VolumeSpec, outcome: Outcome<Reservation>, _failures: Failures) {
    if let Outcome::Success(r) = outcome {
        println!("released {} GiB of {}", r.gigabytes, volume_spec.name);
    }
}

/// Takes `slow_ms` (a job parameter) so that there is time to kill the
/// worker running it.
#[task(name = "demo::allocate", provides = "volume_path")]
fn allocate(volume_spec: VolumeSpec, slow_ms: Option<u64>) -> Result<String, VolumeError> {
    let path = storage().join(format!("{}.img", volume_spec.name));
    let shown = path.display().to_string();
    if path.exists() {
        println!("{shown} exists already: allocated before");
        return Ok(shown);
    }
    println!(
        "allocating {shown} ({} GiB), {} ms...",
        volume_spec.size_gb,
        slow_ms.unwrap_or(0)
    );
    std::thread::sleep(Duration::from_millis(slow_ms.unwrap_or(0)));
    let io = |source| VolumeError::Storage {
        path: shown.clone(),
        source,
    };
    std::fs::create_dir_all(storage()).map_err(io)?;
    std::fs::write(&path, format!("{} GiB\n", volume_spec.size_gb)).map_err(io)?;
    println!("allocated {shown}");
    Ok(shown)
}

#[task(name = "demo::attach", provides = "attachment")]
fn attach(volume_path: String, volume_spec: VolumeSpec) -> String {
    println!("attached {volume_path}");
    format!(
        "{} attached at /dev/demo/{}",
        volume_spec.name, volume_spec.name
    )
}

/// The job's flow: `params` are `{"slow_ms": N}` (optional).
///
/// Built at run time, not with `flow!`: the conductor rebuilds it from the
/// job's parameters, and whether `allocate` gets an injected `slow_ms`
/// depends on them (a `flow!` flow's injected values are fixed when it is
/// written).
fn create_volume(params: &Value) -> Result<Flow, String> {
    let mut allocate = allocate::task();
    if let Some(ms) = params.get("slow_ms") {
        let ms = ms.as_u64().ok_or("`slow_ms` must be a number")?;
        allocate = allocate.inject("slow_ms", ms);
    }
    Ok(Flow::linear("create_volume")
        .add(validate::task())
        .add(reserve_quota::task())
        .add(allocate)
        .add(attach::task()))
}

taskwire::flow_factory!(FACTORY, create_volume);
