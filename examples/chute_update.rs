//! Paradrop-style update of a "chute" (an app container on a router), with plan
//! maps.
//!
//! Four generators — runtime, network, firewall, resource — each compare the
//! old and the new configuration and add plans to a map of their own; the maps
//! merge, identical plans are kept once ("reload network" is asked for by both
//! the network and the firewall generator), a reload of the unchanged wireless
//! is skipped, and the plans run in priority order. When a late plan fails, the
//! abort plans of the plans that ran put the router back as it was.
//!
//! Every step is recorded in the SQLite logbook `target/chute_update.db`.
//!
//! No `flow!` here, on purpose: which plans run depends on what differs
//! between the old and the new configuration, known only when the example
//! runs, so the plan maps build their flows at run time (checked by the
//! builder, with the same messages as `flow!`'s).
//!
//! ```text
//! cargo run --example chute_update                                # updates the chute
//! cargo run --example chute_update -- --fail-at start_container   # fails late; restored
//! cargo run --example chute_update -- --fail-at start_container --fail-abort write_config
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use taskwire::planmap::{Plan, PlanError, PlanMap, Step};
use taskwire::prelude::*;
use taskwire::{AtomEvent, Listener, ProgressBarListener};

/// What a router runs: configuration files, containers, resource allocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct RouterState {
    files: BTreeMap<String, String>,
    containers: BTreeMap<String, String>,
    allocations: BTreeMap<String, (u32, u64)>,
}

/// The router: its state, what it reloaded, and the failures asked for.
#[derive(Debug, Default)]
struct Router {
    state: Mutex<RouterState>,
    reloads: Mutex<Vec<String>>,
    fail_at: Option<String>,
    fail_abort: Option<String>,
    /// Set when the `--fail-at` step failed: the abort plans are running.
    aborting: std::sync::atomic::AtomicBool,
}

#[derive(Debug, thiserror::Error)]
enum RouterError {
    #[error("injected failure in `{0}` (--fail-at)")]
    Injected(String),
    #[error("injected failure in abort plan `{0}` (--fail-abort)")]
    InjectedAbort(String),
    #[error("not enough resources: {cpu} CPU shares and {memory_mb} MiB asked, 1024 and 512 free")]
    Resources { cpu: u32, memory_mb: u64 },
}

impl Router {
    /// Fails the first time `step` runs when it was chosen with `--fail-at`;
    /// once that happened (the abort plans run), fails `step` when chosen
    /// with `--fail-abort`.
    fn check(&self, step: &str) -> Result<(), RouterError> {
        use std::sync::atomic::Ordering;
        let aborting = self.aborting.load(Ordering::SeqCst);
        if !aborting && self.fail_at.as_deref() == Some(step) {
            self.aborting.store(true, Ordering::SeqCst);
            return Err(RouterError::Injected(step.to_owned()));
        }
        if aborting && self.fail_abort.as_deref() == Some(step) {
            return Err(RouterError::InjectedAbort(step.to_owned()));
        }
        Ok(())
    }
}

#[task(priority = 41)]
fn check_resources(cpu: u32, memory_mb: u64, router: Res<Router>) -> Result<(), RouterError> {
    router.check("check_resources")?;
    if cpu > 1024 || memory_mb > 512 {
        return Err(RouterError::Resources { cpu, memory_mb });
    }
    Ok(())
}

/// Does nothing when it runs: its abort plan reloads `service` after every
/// later plan has been aborted (Paradrop's `RUNTIME_RELOAD_CONFIG_BACKOUT`:
/// abort plans run newest first, so a reload that must follow the restored
/// files hangs off a plan that runs before the files are written).
#[task(priority = 45)]
fn reload_on_backout(service: String) -> String {
    service
}

#[task(priority = 54)]
fn write_config(file: String, content: String, router: Res<Router>) -> Result<(), RouterError> {
    router.check("write_config")?;
    router.state.lock().unwrap().files.insert(file, content);
    Ok(())
}

#[task(priority = 79)]
fn reload(service: String, router: Res<Router>) -> Result<(), RouterError> {
    router.check("reload")?;
    router.reloads.lock().unwrap().push(service);
    Ok(())
}

#[task(priority = 80)]
fn reload_wifi(router: Res<Router>) -> Result<(), RouterError> {
    router.check("reload_wifi")?;
    router.reloads.lock().unwrap().push("wifi".into());
    Ok(())
}

#[task(priority = 86)]
fn stop_container(chute: String, router: Res<Router>) -> Result<(), RouterError> {
    router.check("stop_container")?;
    router.state.lock().unwrap().containers.remove(&chute);
    Ok(())
}

#[task(priority = 87)]
fn start_container(chute: String, image: String, router: Res<Router>) -> Result<(), RouterError> {
    router.check("start_container")?;
    router.state.lock().unwrap().containers.insert(chute, image);
    Ok(())
}

#[task(priority = 96)]
fn set_allocation(
    chute: String,
    cpu: u32,
    memory_mb: u64,
    router: Res<Router>,
) -> Result<(), RouterError> {
    router.check("set_allocation")?;
    router
        .state
        .lock()
        .unwrap()
        .allocations
        .insert(chute, (cpu, memory_mb));
    Ok(())
}

/// A chute's configuration.
#[derive(Debug, Clone)]
struct Chute {
    name: &'static str,
    image: &'static str,
    network: &'static str,
    firewall: &'static str,
    wireless: &'static str,
    cpu: u32,
    memory_mb: u64,
}

fn runtime_plans(old: &Chute, new: &Chute) -> PlanMap {
    let mut map = PlanMap::new("runtime");
    if old.image != new.image {
        map.add(
            Plan::new(stop_container::task())
                .arg("chute", old.name)
                .abort(
                    Step::new(start_container::task())
                        .arg("chute", old.name)
                        .arg("image", old.image),
                ),
        );
        map.add(
            Plan::new(start_container::task())
                .arg("chute", new.name)
                .arg("image", new.image)
                .abort(Step::new(stop_container::task()).arg("chute", new.name)),
        );
    }
    map
}

fn write_plan(file: &str, old: &str, new: &str, priority: u8) -> Plan {
    Plan::new(write_config::task())
        .arg("file", file)
        .arg("content", new)
        .priority(priority)
        .abort(
            Step::new(write_config::task())
                .arg("file", file)
                .arg("content", old),
        )
}

/// Reload `service` if the update is aborted, once the files are back.
fn backout(service: &str) -> Plan {
    Plan::new(reload_on_backout::task())
        .arg("service", service)
        .abort(Step::new(reload::task()).arg("service", service))
}

fn network_plans(old: &Chute, new: &Chute) -> PlanMap {
    let mut map = PlanMap::new("network");
    if old.network != new.network {
        map.add(backout("network"));
        map.add(write_plan(
            "/etc/config/network",
            old.network,
            new.network,
            54,
        ));
        map.add(Plan::new(reload::task()).arg("service", "network"));
    }
    map.add(Plan::new(reload_wifi::task()));
    if old.wireless == new.wireless {
        // Nothing changed on the radio: no need to bring it down.
        map.skip(reload_wifi::task());
    }
    map
}

fn firewall_plans(old: &Chute, new: &Chute) -> PlanMap {
    let mut map = PlanMap::new("firewall");
    if old.firewall != new.firewall {
        // The firewall zones hang off the network: it needs a reload too,
        // now and when aborting. Both plans are the network generator's too:
        // each runs once.
        map.add(backout("network"));
        map.add(backout("firewall"));
        map.add(write_plan(
            "/etc/config/firewall",
            old.firewall,
            new.firewall,
            55,
        ));
        map.add(Plan::new(reload::task()).arg("service", "network"));
        map.add(
            Plan::new(reload::task())
                .arg("service", "firewall")
                .priority(81),
        );
    }
    map
}

fn resource_plans(old: &Chute, new: &Chute) -> PlanMap {
    let mut map = PlanMap::new("resource");
    map.add(
        Plan::new(check_resources::task())
            .arg("cpu", new.cpu)
            .arg("memory_mb", new.memory_mb),
    );
    map.add(
        Plan::new(set_allocation::task())
            .arg("chute", new.name)
            .arg("cpu", new.cpu)
            .arg("memory_mb", new.memory_mb)
            .abort(
                Step::new(set_allocation::task())
                    .arg("chute", old.name)
                    .arg("cpu", old.cpu)
                    .arg("memory_mb", old.memory_mb),
            ),
    );
    map
}

/// Drops the `chute_update::` module from task names.
fn short(label: &str) -> String {
    label.replace("chute_update::", "")
}

/// Prints each plan as it ends, above the progress bar.
struct Print(Arc<ProgressBarListener>);

impl Listener for Print {
    fn on_atom(&self, e: &AtomEvent<'_>) {
        if matches!(
            e.state,
            AtomState::Success
                | AtomState::Failure
                | AtomState::Reverted
                | AtomState::RevertFailure
        ) {
            let line = format!("  {:<14} {}", e.state.to_string(), short(e.atom));
            self.0.suspend(|| println!("{line}"));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let old = Chute {
        name: "hello",
        image: "hello:1",
        network: "lan 192.168.1.1/24",
        firewall: "allow tcp 80",
        wireless: "ssid paradrop",
        cpu: 256,
        memory_mb: 128,
    };
    let new = Chute {
        image: "hello:2",
        network: "lan 192.168.1.1/24; wan dhcp",
        firewall: "allow tcp 80,443",
        cpu: 512,
        ..old.clone()
    };
    let mut initial = RouterState::default();
    initial
        .files
        .insert("/etc/config/network".into(), old.network.into());
    initial
        .files
        .insert("/etc/config/firewall".into(), old.firewall.into());
    initial.containers.insert(old.name.into(), old.image.into());
    initial
        .allocations
        .insert(old.name.into(), (old.cpu, old.memory_mb));
    let router = Arc::new(Router {
        state: Mutex::new(initial.clone()),
        fail_at: flag("--fail-at"),
        fail_abort: flag("--fail-abort"),
        ..Router::default()
    });

    // Each generator fills its own map; the update merges them.
    let mut update = PlanMap::new("chute_update");
    update
        .merge(runtime_plans(&old, &new))
        .merge(network_plans(&old, &new))
        .merge(firewall_plans(&old, &new))
        .merge(resource_plans(&old, &new));
    let plans = update.build()?;
    println!("plans, in the order they run:");
    for (label, priority) in plans.plans() {
        println!("  {priority:>2} {}", short(label));
    }
    for task in update.skips() {
        println!("skipped: every plan of {}", short(task));
    }

    let logbook_path = "target/chute_update.db";
    std::fs::create_dir_all("target")?;
    let logbook = taskwire::persistence::open(&format!("sqlite://{logbook_path}"))?;
    let bar = Arc::new(ProgressBarListener::for_flow(plans.flow()));
    let mut engine = plans
        .engine()
        .resource_arc(Arc::clone(&router))
        .listener(Print(Arc::clone(&bar)))
        .listener(Arc::clone(&bar))
        .persist(Arc::clone(&logbook));
    let result = plans.outcome(engine.run());

    if let Some(uuid) = engine.flow_uuid() {
        let (detail, atoms) = logbook.load_flow(uuid)?;
        println!(
            "logbook sqlite://{logbook_path}: flow detail {uuid} is {} ({} plans recorded)",
            detail.state,
            atoms.len()
        );
    }
    let state = router.state.lock().unwrap().clone();
    let reloads = router.reloads.lock().unwrap().clone();
    println!("reloads: {}", reloads.join(", "));
    let aborted = plans.control().aborted();
    if !aborted.is_empty() {
        println!("abort plans run:");
        for abort in aborted {
            println!("  {}", short(&abort));
        }
    }
    match result {
        Ok(_) => {
            println!("outcome: updated");
            println!(
                "chute {} runs {}, cpu {} shares",
                new.name, state.containers[new.name], state.allocations[new.name].0
            );
            Ok(())
        }
        Err(err @ PlanError::Restored { .. }) => {
            println!("error: {}", short(&err.to_string()));
            let same = state == initial;
            println!(
                "outcome: restored (router state {} the old one)",
                if same { "equals" } else { "DIFFERS FROM" }
            );
            std::process::exit(if same { 1 } else { 3 });
        }
        Err(err @ PlanError::AbortFailed { .. }) => {
            println!("error: {}", short(&err.to_string()));
            println!("outcome: abort failed (router state is not the old one)");
            std::process::exit(2);
        }
        Err(err) => Err(err.into()),
    }
}
