//! A conductor: claims create-volume jobs from the Redis board, runs each
//! flow with a PostgreSQL logbook, its tasks on the workers.
//!
//! ```text
//! cargo run --all-features --example dist_conductor -- [--name c1]
//!     [--board redis://127.0.0.1:6379/0] [--logbook postgres://postgres@127.0.0.1:5432/postgres]
//!     [--until-idle]
//! ```
//!
//! Ctrl-C suspends the job in hand and gives it back (another conductor
//! resumes it); `--until-idle` stops once the board has no job left (and
//! fails unless every job it ran ended done with SUCCESS).

#[path = "volume.rs"]
mod volume;

use std::time::Duration;

use taskwire::conductor::{Conductor, JobOutcome};
use taskwire::worker::{Broker, ExecutorConfig, WorkerExecutor};
use taskwire::{jobboard, persistence};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = volume::arg("--name").unwrap_or_else(|| "conductor".to_owned());
    let board_url = volume::arg("--board").unwrap_or_else(|| volume::BOARD_URL.to_owned());
    let logbook_url = volume::arg("--logbook").unwrap_or_else(|| volume::LOGBOOK_URL.to_owned());
    let runtime = tokio::runtime::Runtime::new()?;
    let executor = runtime.block_on(async {
        let executor = WorkerExecutor::connect(
            Broker::new(volume::AMQP, volume::NAMESPACE),
            ExecutorConfig::default().no_worker_timeout(Duration::from_secs(60)),
        )
        .await?;
        println!("waiting for a worker...");
        executor.wait_for_workers(1, Duration::from_secs(60)).await;
        Ok::<_, taskwire::worker::BrokerError>(executor)
    })?;
    for (id, tasks) in executor.workers() {
        println!("worker {id}: {} tasks", tasks.len());
    }
    let board = jobboard::open(&board_url, volume::BOARD)?;
    let logbook = persistence::open(&logbook_url)?;
    let conductor = Conductor::new(name, board, logbook)
        .claim_ttl(Duration::from_secs(10))
        .configure(move |engine, job| {
            println!("running job {} ({})", job.id, job.spec.name);
            engine.executor(executor.clone()).max_workers(4)
        });
    let shutdown = conductor.shutdown_handle();
    let _guard = runtime.enter();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("Ctrl-C: suspending the job in hand and giving it back");
            shutdown.release();
        }
    });
    if volume::flag("--until-idle") {
        let mut all_done = true;
        while let Some(outcome) = conductor.run_one()? {
            report(&outcome);
            all_done &= matches!(
                outcome,
                JobOutcome::Done {
                    state: taskwire::FlowState::Success,
                    ..
                }
            );
        }
        if !all_done {
            return Err("a job did not end done with SUCCESS".into());
        }
        return Ok(());
    }
    println!("{:?}", conductor.run());
    Ok(())
}

fn report(outcome: &JobOutcome) {
    match outcome {
        JobOutcome::Done { job, state } => println!("job {} done: flow {state}", job.id),
        JobOutcome::Failed { job, state, error } => {
            println!("job {} failed ({state}): {error}", job.id)
        }
        JobOutcome::Released { job } => println!("job {} given back", job.id),
        JobOutcome::Lost { job, error } => println!("job {} lost: {error}", job.id),
    }
}
