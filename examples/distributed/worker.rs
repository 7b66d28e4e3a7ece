//! A worker: runs the create-volume tasks for conductors that send them.
//!
//! ```text
//! cargo run --all-features --example dist_worker -- w1
//! ```
//!
//! Start two, post a job with a slow allocation, and kill (`kill -9`) the
//! worker that prints "allocating": the conductor sends the task to the
//! other one, because `demo::allocate` is declared idempotent.

#[path = "volume.rs"]
mod volume;

use taskwire::worker::{Broker, Worker};
use taskwire::Registry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "worker".to_owned());
    let registry = Registry::global()?.clone();
    let names: Vec<String> = registry.iter().map(|d| d.meta.name.to_string()).collect();
    let worker = Worker::new(name, Broker::new(volume::AMQP, volume::NAMESPACE), registry)
        .idempotent(["demo::validate", "demo::allocate", "demo::attach"])
        .start()?;
    println!("worker {} offers {}", worker.id(), names.join(", "));
    match volume::arg("--for-secs") {
        Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(secs.parse()?)).await,
        None => tokio::signal::ctrl_c().await?,
    }
    println!("stopping: finishing running tasks");
    worker.stop().await;
    Ok(())
}
