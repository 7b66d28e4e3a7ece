//! Serves the dashboard over a logbook (and optionally a jobboard).
//!
//! ```text
//! cargo run -p taskwire-dashboard --example dashboard -- --url sqlite://taskwire.db
//! cargo run -p taskwire-dashboard --example dashboard -- --url sqlite:///tmp/demo.db --demo
//! ```
//!
//! Options: `--url URL` (default `sqlite://taskwire.db`), `--board URL NAME`,
//! `--listen ADDR` (default `127.0.0.1:8080`), `--allow-remote`,
//! `--allow-actions` (the token comes from `TASKWIRE_ACTION_TOKEN`), and
//! `--demo`, which first records a few runs of a demo flow (one succeeds,
//! one fails and reverts, one retries) so that there is something to see.

use std::process::ExitCode;

use serde_json::json;
use taskwire_dashboard::{serve, ServeOptions};
use taskwire_runtime::persistence::{self, Backend};
use taskwire_runtime::{Engine, Failure, Flow, FnTask};

/// The demo's failure, with a cause.
#[derive(Debug, thiserror::Error)]
#[error("card declined")]
struct Declined {
    #[source]
    source: std::io::Error,
}

fn order(params: &serde_json::Value) -> Result<Flow, String> {
    let fail = params["fail"].as_bool().unwrap_or(false);
    let item = |name: &'static str, requires: &'static [&'static str], provides: &'static str| {
        FnTask::new(name)
            .requires(requires.iter().copied())
            .provides(provides)
            .run(move |_| Ok(json!(format!("{name} done"))))
            .revert(|_| Ok(()))
    };
    Ok(Flow::graph("place_order")
        .add(item("validate", &["order_id"], "order"))
        .add(item("reserve_stock", &["order"], "reservation"))
        .add(item("price", &["order"], "total"))
        .add(
            FnTask::new("charge_card")
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
        .add(item("ship", &["payment"], "shipment")))
}
taskwire_runtime::flow_factory!("demo::place_order", order);

fn demo(backend: &std::sync::Arc<dyn Backend>) -> Result<(), String> {
    for (i, fail) in [(1, false), (2, true), (3, false)] {
        let mut engine = Engine::from_factory("demo::place_order", json!({ "fail": fail }))
            .map_err(|e| e.to_string())?
            .input("order_id", i)
            .persist(backend.clone());
        let _ = engine.run();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut url = "sqlite://taskwire.db".to_owned();
    let mut board = None;
    let mut listen = None;
    let mut allow_remote = false;
    let mut allow_actions = false;
    let mut fill = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().unwrap_or_default(),
            "--board" => {
                board = Some((
                    args.next().unwrap_or_default(),
                    args.next().unwrap_or_default(),
                ))
            }
            "--listen" => listen = args.next(),
            "--allow-remote" => allow_remote = true,
            "--allow-actions" => allow_actions = true,
            "--demo" => fill = true,
            other => {
                eprintln!("unknown argument `{other}`; see the example's documentation");
                return ExitCode::from(2);
            }
        }
    }
    let backend = match persistence::open(&url) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if fill {
        if let Err(e) = demo(&backend) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut options = ServeOptions::new(backend);
    if let Some((url, name)) = board {
        match taskwire_runtime::jobboard::open(&url, &name) {
            Ok(b) => options.jobboard = Some(b),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(listen) = listen {
        match listen.parse() {
            Ok(addr) => options.listen = addr,
            Err(e) => {
                eprintln!("error: `--listen {listen}`: {e}");
                return ExitCode::from(2);
            }
        }
    }
    options.allow_remote = allow_remote;
    options.allow_actions = allow_actions;
    options.action_token = std::env::var("TASKWIRE_ACTION_TOKEN").ok();
    eprintln!("taskwire dashboard on http://{}", options.listen);
    match serve(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
