//! Karbor-style protection of a small resource graph: a server with two
//! volumes and an image.
//!
//! Providers are loaded from `examples/providers.d/*.conf`; their plugins
//! (`nova-server`, `cinder-volume`, `glance-image`) and the bank
//! (`file-system`, checkpoints as JSON files under `target/protect-bank`) are
//! found by name. A plan names the server; protectables find what it uses
//! (its volumes and image), which makes the resource graph. The example then
//! runs Karbor's five operations, each an Initiate task, the plugins'
//! pre/parallel/post activities over the graph, and a Complete task:
//!
//! 1. protect the plan into a checkpoint (`protecting` → `available`), and
//!    list the checkpoints with their status;
//! 2. verify the checkpoint;
//! 3. copy it into a second bank (`target/protect-bank-offsite`);
//! 4. lose the server and its volumes, and restore them from the copy;
//! 5. delete the checkpoint (`deleting` → `deleted`).
//!
//! Volume backups are long-running async activities that poll until done and
//! report progress to a progress bar. Every run is recorded in the SQLite
//! logbook `target/protect.db`, with an operation log per operation that the
//! example lists at the end.
//!
//! No `flow!` here, on purpose: the flows are activity flows over the
//! resource graph, whose shape is what the protectables find (a server, its
//! volumes, its image) with the plugins that the configuration files name,
//! all known only at run time; the builder checks them.
//!
//! ```text
//! cargo run --example protect                      # protect, verify, copy, restore, delete
//! cargo run --example protect -- --fail-at vol2    # the backup of vol2 fails: protect is
//!                                                  # reverted, the checkpoint is `error`
//!                                                  # and its operation log says why
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use taskwire::activity::config::{self, Registry, Section};
use taskwire::activity::{
    ActivityCtx, Checkpoints, DirBank, Hook, Operation, OperationError, OperationLog, Operations,
    Plan, Protectable, Protectables, ProtectionPlugin, Provider, Resource,
};
use taskwire::prelude::*;
use taskwire::{AtomEvent, Backend, Listener, ProgressBarListener};

const SERVER: &str = "OS::Nova::Server";
const VOLUME: &str = "OS::Cinder::Volume";
const IMAGE: &str = "OS::Glance::Image";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Server {
    status: String,
    volumes: Vec<String>,
    image: String,
}

/// The cloud the plugins work on: servers, volumes (their data) and images.
#[derive(Debug, Default, Clone, PartialEq)]
struct CloudState {
    servers: BTreeMap<String, Server>,
    volumes: BTreeMap<String, String>,
    images: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Cloud {
    state: Mutex<CloudState>,
    /// `--fail-at ID`: the backup of this resource fails.
    fail_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum CloudError {
    #[error("{0} `{1}` does not exist")]
    Missing(&'static str, String),
    #[error("checkpoint has no data for `{0}`")]
    NotInCheckpoint(String),
    #[error("backup of `{0}` failed: injected failure (--fail-at)")]
    Injected(String),
}

fn failure(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::from_error(e)
}

/// A task from a closure, with an optional revert.
fn sync_task(
    name: &str,
    run: impl Fn() -> Result<Value, Failure> + Send + Sync + 'static,
) -> FnTask {
    FnTask::new(name.to_owned()).run(move |_| run())
}

// ---- nova-server ----

#[derive(Debug)]
struct ServerPlugin {
    cloud: Arc<Cloud>,
}

impl ProtectionPlugin for ServerPlugin {
    fn resource_types(&self) -> Vec<String> {
        vec![SERVER.into()]
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        let (cloud, bank, id) = (
            Arc::clone(&self.cloud),
            Arc::clone(ctx.bank),
            ctx.resource.id.clone(),
        );
        let key = ctx.bank_key("metadata");
        let task = match (ctx.operation, hook) {
            // Quiesce before the volumes are copied; resume if protecting fails.
            (Operation::Protect, Hook::Pre) => {
                let (c2, id2) = (Arc::clone(&cloud), id.clone());
                sync_task("nova-server.quiesce", move || {
                    set_status(&cloud, &id, "paused")?;
                    Ok(json!("paused"))
                })
                .revert(move |_| set_status(&c2, &id2, "active"))
            }
            // After the volumes and image: save the server and resume it.
            (Operation::Protect, Hook::Post) => sync_task("nova-server.save", move || {
                let server = get_server(&cloud, &id)?;
                bank.put(&key, &json!(server)).map_err(failure)?;
                set_status(&cloud, &id, "active")?;
                Ok(json!(key))
            }),
            // After its volumes are back: rebuild the server around them.
            (Operation::Restore, Hook::Post) => sync_task("nova-server.rebuild", move || {
                let saved = bank
                    .get(&key)
                    .map_err(failure)?
                    .ok_or_else(|| failure(CloudError::NotInCheckpoint(id.clone())))?;
                let mut server: Server = serde_json::from_value(saved)
                    .map_err(|e| Failure::new(taskwire::FailureKind::Task, e.to_string()))?;
                server.status = "active".into();
                let mut state = cloud.state.lock().unwrap();
                for volume in &server.volumes {
                    if !state.volumes.contains_key(volume) {
                        return Err(failure(CloudError::Missing("volume", volume.clone())));
                    }
                }
                state.servers.insert(id.clone(), server);
                Ok(json!(id))
            }),
            (Operation::Delete, Hook::Post) => sync_task("nova-server.delete", move || {
                bank.delete(&key).map_err(failure)?;
                Ok(Value::Null)
            }),
            (Operation::Verify, Hook::Parallel) => sync_task("nova-server.verify", move || {
                Ok(json!(bank.get(&key).map_err(failure)?.is_some()))
            }),
            (Operation::Copy, Hook::Parallel) => copy_task("nova-server.copy", ctx, "metadata")?,
            _ => return None,
        };
        Some(task.into_spec())
    }
}

fn set_status(cloud: &Cloud, id: &str, status: &str) -> Result<(), Failure> {
    let mut state = cloud.state.lock().unwrap();
    let server = state
        .servers
        .get_mut(id)
        .ok_or_else(|| failure(CloudError::Missing("server", id.to_owned())))?;
    server.status = status.into();
    Ok(())
}

fn get_server(cloud: &Cloud, id: &str) -> Result<Server, Failure> {
    cloud
        .state
        .lock()
        .unwrap()
        .servers
        .get(id)
        .cloned()
        .ok_or_else(|| failure(CloudError::Missing("server", id.to_owned())))
}

// ---- cinder-volume ----

#[derive(Debug)]
struct VolumePlugin {
    cloud: Arc<Cloud>,
    poll: Duration,
    chunks: u32,
}

impl VolumePlugin {
    fn from_section(cloud: Arc<Cloud>, section: &Section) -> Result<VolumePlugin, String> {
        let number = |key: &str, default: u64| match section.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| format!("`{key} = {v}` is not a whole number")),
        };
        Ok(VolumePlugin {
            cloud,
            poll: Duration::from_millis(number("poll_ms", 10)?),
            chunks: number("chunks", 4)?.max(1) as u32,
        })
    }
}

impl ProtectionPlugin for VolumePlugin {
    fn resource_types(&self) -> Vec<String> {
        vec![VOLUME.into()]
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        if hook != Hook::Parallel {
            return None;
        }
        let (cloud, bank, id) = (
            Arc::clone(&self.cloud),
            Arc::clone(ctx.bank),
            ctx.resource.id.clone(),
        );
        let key = ctx.bank_key("data");
        let (poll, chunks) = (self.poll, self.chunks);
        let task = match ctx.operation {
            // A backup runs on the storage back end: start it, then poll
            // until every chunk is copied.
            Operation::Protect => {
                let (bank2, key2) = (Arc::clone(&bank), key.clone());
                FnTask::new("cinder-volume.backup")
                    .run_async(move |call| {
                        let progress = call.ctx();
                        let (cloud, bank, id, key) = (
                            Arc::clone(&cloud),
                            Arc::clone(&bank),
                            id.clone(),
                            key.clone(),
                        );
                        Box::pin(async move {
                            let data = cloud
                                .state
                                .lock()
                                .unwrap()
                                .volumes
                                .get(&id)
                                .cloned()
                                .ok_or_else(|| {
                                    failure(CloudError::Missing("volume", id.clone()))
                                })?;
                            for done in 1..=chunks {
                                tokio::time::sleep(poll).await;
                                if cloud.fail_at.as_deref() == Some(id.as_str())
                                    && done > chunks / 2
                                {
                                    return Err(failure(CloudError::Injected(id)));
                                }
                                progress.progress(done as f32 / chunks as f32);
                            }
                            bank.put(&key, &json!({"volume": id, "data": data}))
                                .map_err(failure)?;
                            Ok(json!(key))
                        })
                    })
                    // A backup that was made is deleted when protecting fails.
                    .revert(move |_| bank2.delete(&key2).map_err(failure))
            }
            Operation::Restore => FnTask::new("cinder-volume.restore").run_async(move |call| {
                let progress = call.ctx();
                let (cloud, bank, id, key) = (
                    Arc::clone(&cloud),
                    Arc::clone(&bank),
                    id.clone(),
                    key.clone(),
                );
                Box::pin(async move {
                    let saved = bank
                        .get(&key)
                        .map_err(failure)?
                        .ok_or_else(|| failure(CloudError::NotInCheckpoint(id.clone())))?;
                    for done in 1..=chunks {
                        tokio::time::sleep(poll).await;
                        progress.progress(done as f32 / chunks as f32);
                    }
                    let data = saved["data"].as_str().unwrap_or_default().to_owned();
                    cloud.state.lock().unwrap().volumes.insert(id.clone(), data);
                    Ok(json!(id))
                })
            }),
            Operation::Delete => FnTask::new("cinder-volume.delete").run(move |_| {
                bank.delete(&key).map_err(failure)?;
                Ok(Value::Null)
            }),
            Operation::Verify => FnTask::new("cinder-volume.verify")
                .run(move |_| Ok(json!(bank.get(&key).map_err(failure)?.is_some()))),
            Operation::Copy => copy_task("cinder-volume.copy", ctx, "data")?,
        };
        Some(task.into_spec())
    }
}

// ---- glance-image ----

#[derive(Debug)]
struct ImagePlugin {
    cloud: Arc<Cloud>,
}

impl ProtectionPlugin for ImagePlugin {
    fn resource_types(&self) -> Vec<String> {
        vec![IMAGE.into()]
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        if hook != Hook::Parallel {
            return None;
        }
        let (cloud, bank, id) = (
            Arc::clone(&self.cloud),
            Arc::clone(ctx.bank),
            ctx.resource.id.clone(),
        );
        let key = ctx.bank_key("data");
        let task = match ctx.operation {
            Operation::Protect => {
                let (bank2, key2) = (Arc::clone(&bank), key.clone());
                sync_task("glance-image.copy", move || {
                    let data = cloud.state.lock().unwrap().images.get(&id).cloned();
                    let data =
                        data.ok_or_else(|| failure(CloudError::Missing("image", id.clone())))?;
                    bank.put(&key, &json!(data)).map_err(failure)?;
                    Ok(json!(key))
                })
                .revert(move |_| bank2.delete(&key2).map_err(failure))
            }
            Operation::Restore => sync_task("glance-image.restore", move || {
                let data = bank
                    .get(&key)
                    .map_err(failure)?
                    .ok_or_else(|| failure(CloudError::NotInCheckpoint(id.clone())))?;
                let data = data.as_str().unwrap_or_default().to_owned();
                cloud.state.lock().unwrap().images.insert(id.clone(), data);
                Ok(json!(id))
            }),
            Operation::Delete => sync_task("glance-image.delete", move || {
                bank.delete(&key).map_err(failure)?;
                Ok(Value::Null)
            }),
            Operation::Copy => copy_task("glance-image.copy-out", ctx, "data")?,
            _ => return None,
        };
        Some(task.into_spec())
    }
}

/// Copies this resource's bank entry `name` from the checkpoint into the copy
/// (`None` outside a copy).
fn copy_task(task: &str, ctx: &ActivityCtx<'_>, name: &str) -> Option<FnTask> {
    let target = ctx.target?;
    let (from, to) = (Arc::clone(ctx.bank), Arc::clone(target.bank));
    let (src, dst) = (ctx.bank_key(name), target.bank_key(ctx.resource, name));
    let id = ctx.resource.id.clone();
    Some(sync_task(task, move || {
        let value = from
            .get(&src)
            .map_err(failure)?
            .ok_or_else(|| failure(CloudError::NotInCheckpoint(id.clone())))?;
        to.put(&dst, &value).map_err(failure)?;
        Ok(json!(dst))
    }))
}

/// What the cloud knows about a resource type: a server depends on its
/// volumes and its image; volumes and images on nothing.
#[derive(Debug)]
struct CloudProtectable {
    kind: &'static str,
    cloud: Arc<Cloud>,
}

impl Protectable for CloudProtectable {
    fn resource_type(&self) -> String {
        self.kind.into()
    }

    fn dependents(&self, resource: &Resource) -> Result<Vec<Resource>, String> {
        if self.kind != SERVER {
            return Ok(Vec::new());
        }
        let server = get_server(&self.cloud, &resource.id).map_err(|f| f.to_string())?;
        let mut out: Vec<Resource> = server
            .volumes
            .iter()
            .map(|v| Resource::new(VOLUME, v))
            .collect();
        out.push(Resource::new(IMAGE, &server.image));
        Ok(out)
    }
}

/// Prints activities as they end, above the progress bar.
struct Print(Arc<ProgressBarListener>);

impl Listener for Print {
    fn on_atom(&self, e: &AtomEvent<'_>) {
        if e.state != AtomState::Running && e.state != AtomState::Reverting {
            let line = match e.failure {
                Some(f) => format!("  {:<14} {} ({f})", e.state.to_string(), e.atom),
                None => format!("  {:<14} {}", e.state.to_string(), e.atom),
            };
            self.0.suspend(|| println!("{line}"));
        }
    }
}

/// The operations of `provider`: each flow's name printed, its activities
/// printed as they end, a progress bar, every run recorded in `logbook`.
fn operations(
    provider: &Provider,
    logbook: &Arc<dyn Backend>,
) -> Result<Operations, OperationError> {
    Ok(Operations::new(provider.clone(), Arc::clone(logbook))?
        .max_workers(4)
        .on_engine(|flow, engine| {
            println!("{}:", flow.name());
            let bar = Arc::new(ProgressBarListener::for_flow(flow));
            engine.listener(Print(Arc::clone(&bar))).listener(bar)
        }))
}

/// Prints where the engine recorded the run of `log`.
fn recorded(
    logbook: &Arc<dyn Backend>,
    log: &OperationLog,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(uuid) = log.flow_uuid {
        let (detail, atoms) = logbook.load_flow(uuid)?;
        println!(
            "  logbook: flow detail {uuid} is {} ({} activities recorded)",
            detail.state,
            atoms.len()
        );
    }
    Ok(())
}

fn list_checkpoints(
    title: &str,
    checkpoints: &Checkpoints,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("checkpoints in {title}:");
    for c in checkpoints.list()? {
        println!(
            "  {} {:<10} plan `{}`, {} resources, {} items{}",
            c.id,
            c.status.as_str(),
            c.plan.name,
            c.graph.resources.len(),
            checkpoints.data_keys(&c.id)?.len(),
            c.copied_from
                .as_deref()
                .map(|from| format!(", copied from {from}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The operation logs of checkpoints `ids`.
fn list_logs(ops: &Operations, ids: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    println!("operation logs:");
    for log in ops.logs().list()? {
        if !ids.contains(&log.checkpoint_id.as_str()) {
            continue;
        }
        println!(
            "  {:<8} {:<8} checkpoint {}{}",
            log.operation.to_string(),
            log.status.to_string(),
            log.checkpoint_id,
            log.error_info
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let fail_at = args
        .iter()
        .position(|a| a == "--fail-at")
        .and_then(|i| args.get(i + 1).cloned());

    // The cloud: server vm1 with volumes vol1 and vol2, booted from image img1.
    let mut initial = CloudState::default();
    initial.servers.insert(
        "vm1".into(),
        Server {
            status: "active".into(),
            volumes: vec!["vol1".into(), "vol2".into()],
            image: "img1".into(),
        },
    );
    initial
        .volumes
        .insert("vol1".into(), "database files".into());
    initial.volumes.insert("vol2".into(), "web assets".into());
    initial
        .images
        .insert("img1".into(), "debian-12 qcow2".into());
    let cloud = Arc::new(Cloud {
        state: Mutex::new(initial.clone()),
        fail_at,
    });

    // Plugins and banks by name; providers from configuration.
    let mut registry = Registry::new();
    let c = Arc::clone(&cloud);
    registry.plugin("nova-server", move |_| {
        Ok(Arc::new(ServerPlugin {
            cloud: Arc::clone(&c),
        }) as Arc<dyn ProtectionPlugin>)
    });
    let c = Arc::clone(&cloud);
    registry.plugin("cinder-volume", move |section| {
        Ok(
            Arc::new(VolumePlugin::from_section(Arc::clone(&c), section)?)
                as Arc<dyn ProtectionPlugin>,
        )
    });
    let c = Arc::clone(&cloud);
    registry.plugin("glance-image", move |_| {
        Ok(Arc::new(ImagePlugin {
            cloud: Arc::clone(&c),
        }) as Arc<dyn ProtectionPlugin>)
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/providers.d");
    let providers = config::load_dir(&dir, &registry)?;
    println!("providers from {}:", dir.display());
    for p in &providers {
        println!("  {} ({}): {}", p.name, p.id, p.resource_types().join(", "));
    }
    let provider = providers
        .iter()
        .find(|p| p.name == "OS Infra Provider")
        .ok_or("examples/providers.d has no `OS Infra Provider`")?;

    // The plan names the server; the protectables find what it uses.
    let mut protectables = Protectables::new();
    for kind in [SERVER, VOLUME, IMAGE] {
        protectables.register(Arc::new(CloudProtectable {
            kind,
            cloud: Arc::clone(&cloud),
        }))?;
    }
    let plan = Plan::new("vm1 and its disks", vec![Resource::new(SERVER, "vm1")]);
    let graph = protectables.graph(&plan.resources)?;
    println!("plan `{}` covers:", plan.name);
    for &i in &graph.walk() {
        let depth = if graph.parents(i).is_empty() { 1 } else { 2 };
        println!(
            "{:width$}{}",
            "",
            graph.resource(i).key(),
            width = 2 * depth
        );
    }

    // Each run starts from empty banks; the logbook keeps every run.
    for bank in ["target/protect-bank", "target/protect-bank-offsite"] {
        match std::fs::remove_dir_all(bank) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    std::fs::create_dir_all("target")?;
    let logbook = taskwire::persistence::open("sqlite://target/protect.db")?;
    let ops = operations(provider, &logbook)?;

    // Protect.
    let protected = match ops.protect(&plan, &protectables) {
        Ok(outcome) => outcome,
        Err(OperationError::Failed { log, error }) => {
            recorded(&logbook, &log)?;
            println!("error: {error}");
            let checkpoint = ops.checkpoints().get(&log.checkpoint_id)?;
            println!(
                "outcome: protect reverted; checkpoint {} is {}, holding {} items; server vm1 is {}",
                checkpoint.id,
                checkpoint.status,
                ops.checkpoints().data_keys(&checkpoint.id)?.len(),
                get_server(&cloud, "vm1")?.status
            );
            list_checkpoints("the bank", ops.checkpoints())?;
            list_logs(&ops, &[&checkpoint.id])?;
            std::process::exit(1);
        }
        Err(e) => return Err(e.into()),
    };
    recorded(&logbook, &protected.log)?;
    let checkpoint = protected.checkpoint_id.clone();
    let saved = ops.checkpoints().data_keys(&checkpoint)?;
    println!("checkpoint {checkpoint} holds {} items:", saved.len());
    for key in &saved {
        println!("  {key}");
    }
    list_checkpoints("the bank", ops.checkpoints())?;

    // Verify, then copy offsite: the same provider's plugins, another bank.
    let verified = ops.verify(&checkpoint)?;
    recorded(&logbook, &verified.log)?;
    let mut offsite = provider.clone();
    offsite.bank = Arc::new(DirBank::new("target/protect-bank-offsite"));
    let offsite = operations(&offsite, &logbook)?;
    let copied = ops.copy(&checkpoint, offsite.checkpoints())?;
    recorded(&logbook, &copied.log)?;
    list_checkpoints("the offsite bank", offsite.checkpoints())?;

    // Disaster: the server and its volumes are gone.
    {
        let mut state = cloud.state.lock().unwrap();
        state.servers.clear();
        state.volumes.clear();
    }
    println!("lost server vm1 and volumes vol1, vol2");

    // Restore from the offsite copy.
    let restored = offsite.restore(&copied.checkpoint_id)?;
    recorded(&logbook, &restored.log)?;
    let same = *cloud.state.lock().unwrap() == initial;
    println!(
        "restored from the offsite copy: server vm1 is {}, with volumes {}; the cloud {} as before",
        get_server(&cloud, "vm1")?.status,
        get_server(&cloud, "vm1")?.volumes.join(", "),
        if same { "is" } else { "is NOT" }
    );

    // Delete the checkpoint: its record stays, `deleted`.
    let deleted = ops.delete(&checkpoint)?;
    recorded(&logbook, &deleted.log)?;
    println!(
        "deleted: checkpoint {checkpoint} is {} and holds {} items",
        ops.checkpoints().get(&checkpoint)?.status,
        ops.checkpoints().data_keys(&checkpoint)?.len()
    );
    list_logs(&ops, &[&checkpoint, &copied.checkpoint_id])?;
    println!("outcome: protected, verified, copied, restored and deleted");
    if !same {
        std::process::exit(3);
    }
    Ok(())
}
