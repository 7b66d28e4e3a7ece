//! Draws a create-volume flow (after Cinder's, as in `create_volume.rs`) as
//! Graphviz DOT or Mermaid: the flow's pattern, or a run of it with each
//! task's state.
//!
//! ```text
//! cargo run --example picture                          # the flow, DOT
//! cargo run --example picture -- --mermaid             # the flow, Mermaid
//! cargo run --example picture -- --run                 # a run, with states
//! cargo run --example picture -- --fail-at commit      # a run that reverts
//! cargo run --example picture | dot -Tsvg > flow.svg   # with Graphviz
//! ```

use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use taskwire::picture::Format;
use taskwire::prelude::*;
use taskwire::Picture;

/// A validated request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeSpec {
    size: u64,
    volume_type: String,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure at `{0}` (--fail-at)")]
struct Injected(String);

/// The step that fails, if any (a resource, handed to tasks by type).
#[derive(Debug)]
struct FailAt(Option<String>);

impl FailAt {
    fn check(&self, step: &str) -> Result<(), Injected> {
        match &self.0 {
            Some(s) if s == step => Err(Injected(step.to_owned())),
            _ => Ok(()),
        }
    }
}

#[task(name = "extract_request", provides = "volume_spec")]
fn extract_request(
    size: u64,
    volume_type: String,
    fail: Res<FailAt>,
) -> Result<VolumeSpec, Injected> {
    fail.check("extract")?;
    Ok(VolumeSpec { size, volume_type })
}

#[task(name = "reserve_quota", provides = "reservation", revert_with = release_quota)]
fn reserve_quota(volume_spec: VolumeSpec, fail: Res<FailAt>) -> Result<u64, Injected> {
    fail.check("reserve")?;
    Ok(volume_spec.size)
}

fn release_quota(
    _volume_spec: VolumeSpec,
    _fail: Res<FailAt>,
    _outcome: Outcome<u64>,
    _failures: Failures,
) {
}

#[task(name = "create_db_entry", provides = "volume_id", revert_with = delete_db_entry)]
fn create_db_entry(volume_spec: VolumeSpec, fail: Res<FailAt>) -> Result<String, Injected> {
    fail.check("db")?;
    Ok(format!(
        "{} GiB {}",
        volume_spec.size, volume_spec.volume_type
    ))
}

fn delete_db_entry(
    _volume_spec: VolumeSpec,
    _fail: Res<FailAt>,
    _outcome: Outcome<String>,
    _failures: Failures,
) {
}

#[task(name = "commit_quota", provides = "committed")]
fn commit_quota(reservation: u64, fail: Res<FailAt>) -> Result<u64, Injected> {
    fail.check("commit")?;
    Ok(reservation)
}

#[task(name = "cast_to_scheduler", provides = "scheduled")]
fn cast_to_scheduler(volume_id: String, fail: Res<FailAt>) -> Result<String, Injected> {
    fail.check("cast")?;
    Ok(format!("volume {volume_id} sent to the scheduler"))
}

taskwire::flow! {
    /// Quota and database entry do not depend on each other: a graph flow.
    /// (`ui-tests/tests/ui/flow/pass/example_picture.rs` compiles it too.)
    pub(crate) linear create_volume(size: u64, volume_type: String) {
        extract_request,
        graph reserve_and_record {
            reserve_quota,
            create_db_entry,
        },
        commit_quota,
        cast_to_scheduler,
    }
}

fn main() -> ExitCode {
    match draw() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the picture the command line asks for.
fn draw() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format = if args.iter().any(|a| a == "--mermaid") {
        Format::Mermaid
    } else {
        Format::Dot
    };
    let fail_at = args
        .iter()
        .position(|a| a == "--fail-at")
        .and_then(|i| args.get(i + 1).cloned());
    let run = fail_at.is_some() || args.iter().any(|a| a == "--run");

    let flow = create_volume();
    let inputs = ["size", "volume_type"];
    if !run {
        let picture = Picture::of_flow(&flow, &inputs)?.show_provides(true);
        print!("{}", picture.render(format));
        return Ok(());
    }

    // An engine keeps the compiled plan only: keep the flow to draw the run
    // with its nested flows.
    let mut engine = create_volume {
        size: 10,
        volume_type: "ssd".to_owned(),
    }
    .engine()
    .resource(FailAt(fail_at));
    if let Err(err) = engine.run() {
        eprintln!("the run failed: {err}");
    }
    let picture = engine.picture()?.grouped_by(&flow)?;
    print!("{}", picture.render(format));
    Ok(())
}
