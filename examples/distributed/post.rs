//! Posts a create-volume job to the board, and with `--wait` follows it to
//! its end.
//!
//! ```text
//! cargo run --all-features --example dist_post -- --name alice --size 10 [--slow-ms 8000] [--wait]
//! ```

#[path = "volume.rs"]
mod volume;

use std::time::Duration;

use serde_json::json;
use taskwire::jobboard::{self, JobState, NewJob};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = volume::arg("--name").unwrap_or_else(|| "demo".to_owned());
    let size: u64 = volume::arg("--size").map_or(Ok(10), |s| s.parse())?;
    let slow_ms: u64 = volume::arg("--slow-ms").map_or(Ok(0), |s| s.parse())?;
    let board_url = volume::arg("--board").unwrap_or_else(|| volume::BOARD_URL.to_owned());
    let board = jobboard::open(&board_url, volume::BOARD)?;
    let job = board.post(
        &NewJob::new(volume::FACTORY, json!({"slow_ms": slow_ms}))
            .name(format!("volume {name}"))
            .input("name", &name)
            .input("size_gb", size),
    )?;
    println!("posted job {} ({})", job.id, job.spec.name);
    if !volume::flag("--wait") {
        return Ok(());
    }
    loop {
        let job = board.get(job.id)?;
        match job.state {
            JobState::Done | JobState::Dead => {
                let flow = job.outcome.map_or("-".to_owned(), |s| s.to_string());
                println!("job {} is {}: flow {flow}", job.id, job.state);
                for f in &job.failures {
                    println!(
                        "  failure under `{}` (token {}): {}",
                        f.owner, f.token, f.message
                    );
                }
                return Ok(());
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
