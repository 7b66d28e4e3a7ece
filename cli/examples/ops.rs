//! An application's own operator binary: it registers the application's
//! flow factories and mounts the `taskwire` commands, so that `flow resume`
//! and `flow take-over` can rebuild its flows. `ops demo URL` fills a logbook
//! with a few runs to look at.
//!
//! ```sh
//! cargo run -p taskwire-cli --example ops -- demo sqlite://demo.db
//! cargo run -p taskwire-cli --example ops -- --url sqlite://demo.db flows list
//! ```

use std::process::ExitCode;

use serde_json::{json, Value};
use taskwire_runtime::failure::FailureKind;
use taskwire_runtime::persistence::{self, LogBook};
use taskwire_runtime::retry::Times;
use taskwire_runtime::{Engine, Failure, Flow, FnTask};

fn backup(_: &Value) -> Result<Flow, String> {
    Ok(Flow::linear("nightly-backup")
        .add(
            FnTask::new("snapshot")
                .provides("snap")
                .run(|_| Ok(json!({"id": "snap-1", "size_gb": 42}))),
        )
        .add(
            FnTask::new("upload")
                .requires(["snap"])
                .run(|_| Ok(json!("s3://backups/snap-1"))),
        ))
}

#[derive(Debug)]
struct ParseError(std::io::Error);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot parse the export")
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn import(_: &Value) -> Result<Flow, String> {
    Ok(Flow::linear("import-orders")
        .add(
            FnTask::new("fetch")
                .run(|_| Ok(json!(3)))
                .revert(|_| Ok(())),
        )
        .add(FnTask::new("parse").run(|_| {
            Err(Failure::from_error(ParseError(std::io::Error::other(
                "disk on fire",
            ))))
        })))
}

fn flaky(_: &Value) -> Result<Flow, String> {
    Ok(Flow::linear("flaky-call").retry(Times::new(3)).add(
        FnTask::new("call").run(|_| Err(Failure::new(FailureKind::Task, "503 from upstream"))),
    ))
}

taskwire_runtime::flow_factory!("demo::backup", backup);
taskwire_runtime::flow_factory!("demo::import", import);
taskwire_runtime::flow_factory!("demo::flaky", flaky);

fn demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let backend = persistence::open(url)?;
    let book = LogBook::new("nightly");
    backend.save_logbook(&book)?;
    for factory in ["demo::backup", "demo::import", "demo::flaky"] {
        let mut engine = Engine::from_factory(factory, json!({}))?
            .persist(backend.clone())
            .logbook(book.uuid);
        let _ = engine.run();
        println!("{factory}: flow {}", engine.flow_uuid().unwrap_or_default());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("demo") {
        let url = args.get(2).map_or("sqlite://demo.db", String::as_str);
        return match demo(url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ops: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    taskwire_cli::main()
}
