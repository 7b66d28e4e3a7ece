//! Karbor's operations over activity flows: checkpoints and their lifecycle,
//! Initiate/Complete around protect, restore, verify, copy and delete, a
//! failing activity at every stage of each, operation logs in the SQLite
//! logbook, protectables deriving the resource graph, and the object-store
//! bank.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use taskwire::activity::{
    ActivityCtx, ActivityError, CheckpointError, CheckpointStatus, Checkpoints, DirBank, Hook,
    Operation, OperationError, OperationLogs, OperationStatus, Operations, Plan, Protectable,
    Protectables, ProtectionPlugin, Provider, RecordStatus, Resource,
};
use taskwire::prelude::*;

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("test_karbor")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Which activity fails: `(operation, hook, resource key)`.
type FailAt = Arc<Mutex<Option<(Operation, Hook, String)>>>;

/// A plugin for `server`, `volume` and `image` that gives every hook of every
/// operation: the parallel activity keeps, reads, copies or deletes
/// `data` in the bank; `fail` makes one activity fail.
#[derive(Debug)]
struct Plugin {
    fail: FailAt,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure at {0} {1} of `{2}`")]
struct Injected(Operation, Hook, String);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

fn failure(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::from_error(e)
}

impl ProtectionPlugin for Plugin {
    fn resource_types(&self) -> Vec<String> {
        vec!["server".into(), "volume".into(), "image".into()]
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        let fail = Arc::clone(&self.fail);
        let (op, key) = (ctx.operation, ctx.resource.key());
        let bank = Arc::clone(ctx.bank);
        let data = ctx.bank_key("data");
        let target = ctx
            .target
            .map(|t| (Arc::clone(t.bank), t.bank_key(ctx.resource, "data")));
        Some(
            FnTask::new(format!("plugin_{op}_{hook}"))
                .run(move |_| {
                    if fail.lock().unwrap().as_ref() == Some(&(op, hook, key.clone())) {
                        return Err(failure(Injected(op, hook, key.clone())));
                    }
                    if hook != Hook::Parallel {
                        return Ok(Value::Null);
                    }
                    match op {
                        Operation::Protect => {
                            bank.put(&data, &json!({ "of": key })).map_err(failure)?
                        }
                        Operation::Restore | Operation::Verify => {
                            let got = bank.get(&data).map_err(failure)?;
                            if got != Some(json!({ "of": key })) {
                                return Err(failure(Msg(format!("no data for `{key}`"))));
                            }
                        }
                        Operation::Copy => {
                            let got = bank.get(&data).map_err(failure)?;
                            let (to, to_key) = target.as_ref().unwrap();
                            to.put(to_key, &got.unwrap_or(Value::Null))
                                .map_err(failure)?;
                        }
                        Operation::Delete => bank.delete(&data).map_err(failure)?,
                    }
                    Ok(Value::Null)
                })
                .into_spec(),
        )
    }
}

/// Servers depend on their volumes and image; volumes and images on nothing.
#[derive(Debug)]
struct Kind(&'static str);

impl Protectable for Kind {
    fn resource_type(&self) -> String {
        self.0.into()
    }

    fn dependents(&self, resource: &Resource) -> Result<Vec<Resource>, String> {
        match (self.0, resource.id.as_str()) {
            ("server", "broken") => Err("the compute API answered 503".into()),
            ("server", "loop") => Ok(vec![Resource::new("volume", "loop")]),
            ("volume", "loop") => Ok(vec![Resource::new("server", "loop")]),
            ("server", id) => Ok(vec![
                Resource::new("volume", format!("{id}-root")),
                Resource::new("volume", "shared"),
                Resource::new("image", "img1"),
            ]),
            _ => Ok(vec![]),
        }
    }
}

fn protectables() -> Protectables {
    let mut p = Protectables::new();
    for kind in ["server", "volume", "image"] {
        p.register(Arc::new(Kind(kind))).unwrap();
    }
    p
}

struct Setup {
    ops: Operations,
    fail: FailAt,
    plan: Plan,
    db: String,
}

fn setup(name: &str) -> Setup {
    let dir = tmp(name);
    let fail = FailAt::default();
    let mut provider = Provider::new(
        "test",
        "provider-1",
        Arc::new(DirBank::new(dir.join("bank"))),
    );
    provider
        .plugin(
            "all",
            Arc::new(Plugin {
                fail: Arc::clone(&fail),
            }),
        )
        .unwrap();
    let db = format!("sqlite://{}", dir.join("logbook.db").display());
    let logbook = taskwire::persistence::open(&db).unwrap();
    let ops = Operations::new(provider, logbook).unwrap().max_workers(2);
    let plan = Plan::new("web", vec![Resource::new("server", "vm1")]);
    Setup {
        ops,
        fail,
        plan,
        db,
    }
}

fn failed(result: Result<taskwire::activity::OperationDone, OperationError>) -> String {
    match result {
        Err(OperationError::Failed { log, error }) => {
            assert_eq!(log.status, OperationStatus::Error);
            assert_eq!(log.error_info.as_deref(), Some(error.to_string().as_str()));
            error.to_string()
        }
        other => panic!("expected a failed operation, got {other:?}"),
    }
}

#[test]
fn protectables_derive_the_graph_of_a_plan() {
    let graph = protectables()
        .graph(&[
            Resource::new("server", "vm1"),
            Resource::new("server", "vm2"),
        ])
        .unwrap();
    let keys: Vec<String> = graph.resources().iter().map(Resource::key).collect();
    assert_eq!(
        keys,
        [
            "server:vm2",
            "server:vm1",
            "volume:vm1-root",
            "volume:shared",
            "image:img1",
            "volume:vm2-root",
        ]
    );
    // The shared volume and image are children of both servers.
    let shared = graph.find("volume", "shared").unwrap();
    assert_eq!(graph.parents(shared).len(), 2);
    assert_eq!(graph.roots().len(), 2);

    let err = protectables()
        .graph(&[Resource::new("disk", "d1")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no protectable handles resource `disk:d1` of type `disk`; registered types: `image`, `server`, `volume`"
    );
    let err = protectables()
        .graph(&[Resource::new("server", "broken")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "protectable for `server`: cannot find the dependencies of `server:broken`: the compute API answered 503"
    );
    let err = protectables()
        .graph(&[Resource::new("server", "loop")])
        .unwrap_err();
    assert!(matches!(err, ActivityError::Cycle { .. }), "{err}");
    let err = protectables()
        .register(Arc::new(Kind("server")))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "protectables: resource type `server` is registered twice"
    );
}

#[test]
fn the_checkpoint_lifecycle_allows_only_its_transitions() {
    use CheckpointStatus::*;
    let all = [Protecting, Available, Error, Deleting, Deleted];
    let allowed = [
        (Protecting, Available),
        (Protecting, Error),
        (Available, Deleting),
        (Error, Deleting),
        (Deleting, Deleted),
        (Deleting, Error),
    ];
    let checkpoints = Checkpoints::new(Arc::new(DirBank::new(tmp("lifecycle"))));
    let plan = Plan::new("p", vec![]);
    let graph = taskwire::activity::ResourceGraph::new();
    for from in all {
        for to in all {
            assert_eq!(
                from.can_become(to),
                allowed.contains(&(from, to)),
                "{from} -> {to}"
            );
            // The collection applies the same table to stored records.
            let mut c = checkpoints.create("prov", &plan, &graph).unwrap();
            c.status = from;
            checkpoints.save(&c).unwrap();
            let result = checkpoints.set_status(&c.id, to);
            if allowed.contains(&(from, to)) {
                assert_eq!(result.unwrap().status, to);
                assert_eq!(checkpoints.get(&c.id).unwrap().status, to);
            } else {
                let err = result.unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("checkpoint `{}` is `{from}`: it cannot become `{to}`", c.id)
                );
                assert_eq!(checkpoints.get(&c.id).unwrap().status, from);
            }
        }
    }
    assert_eq!(checkpoints.list().unwrap().len(), 25);
}

#[test]
fn all_five_operations_run_with_initiate_and_complete_and_are_logged() {
    let s = setup("five");
    let protected = s.ops.protect(&s.plan, &protectables()).unwrap();
    let id = protected.checkpoint_id.clone();
    let cp = s.ops.checkpoints().get(&id).unwrap();
    assert_eq!(cp.status, CheckpointStatus::Available);
    assert_eq!(cp.plan, s.plan);
    assert_eq!(cp.provider_id, "provider-1");
    assert_eq!(cp.graph.resources.len(), 4);
    assert!(cp.updated_at >= cp.created_at);
    assert_eq!(s.ops.checkpoints().data_keys(&id).unwrap().len(), 4);
    // The engine ran Initiate, the 12 activities and Complete, in that order.
    let uuid = protected.log.flow_uuid.unwrap();
    let logbook = taskwire::persistence::open(&s.db).unwrap();
    let (detail, atoms) = logbook.load_flow(uuid).unwrap();
    assert_eq!(detail.name, format!("protect:{id}"));
    assert_eq!(atoms.len(), 14);
    let first = atoms.iter().min_by_key(|a| a.updated_at).unwrap();
    let last = atoms.iter().max_by_key(|a| a.updated_at).unwrap();
    assert_eq!(first.name, "initiate_protect");
    assert_eq!(last.name, "complete_protect");

    let restored = s.ops.restore(&id).unwrap();
    let record = s
        .ops
        .checkpoints()
        .restores()
        .get(restored.record_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(record.status, RecordStatus::Success);
    assert_eq!(record.checkpoint_id, id);
    let verified = s.ops.verify(&id).unwrap();
    let record = s
        .ops
        .checkpoints()
        .verifications()
        .get(verified.record_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(record.status, RecordStatus::Success);

    let other = Checkpoints::new(Arc::new(DirBank::new(tmp("five-copy"))));
    let copied = s.ops.copy(&id, &other).unwrap();
    let copy = other.get(&copied.checkpoint_id).unwrap();
    assert_eq!(copy.status, CheckpointStatus::Available);
    assert_eq!(copy.copied_from.as_deref(), Some(id.as_str()));
    assert_eq!(other.data_keys(&copy.id).unwrap().len(), 4);
    assert_eq!(
        other
            .bank()
            .get(&format!("{}/volume/shared/data", copy.id))
            .unwrap(),
        Some(json!({"of": "volume:shared"}))
    );

    s.ops.delete(&id).unwrap();
    assert_eq!(
        s.ops.checkpoints().get(&id).unwrap().status,
        CheckpointStatus::Deleted
    );
    assert!(s.ops.checkpoints().data_keys(&id).unwrap().is_empty());

    // The logs, read back through a new connection to the database.
    let logs = OperationLogs::open(taskwire::persistence::open(&s.db).unwrap())
        .unwrap()
        .list()
        .unwrap();
    let kinds: Vec<(Operation, OperationStatus)> =
        logs.iter().map(|l| (l.operation, l.status)).collect();
    use Operation::*;
    assert_eq!(
        kinds,
        [Protect, Restore, Verify, Copy, Delete].map(|o| (o, OperationStatus::Success))
    );
    for log in &logs {
        assert_eq!(log.checkpoint_id, id);
        assert_eq!(log.plan_id, s.plan.id);
        assert_eq!(log.provider_id, "provider-1");
        assert!(log.ended_at.unwrap() >= log.started_at);
        assert_eq!(log.error_info, None);
    }
    assert_eq!(logs[1].extra_info["restore_id"], json!(restored.record_id));
    assert_eq!(logs[3].extra_info["copy_to"], json!(copy.id));
    assert_eq!(s.ops.logs().of_checkpoint(&copy.id).unwrap().len(), 1);
}

#[test]
fn a_failing_activity_at_every_stage_of_every_operation_ends_in_error() {
    let s = setup("fail-everywhere");
    let copies = Checkpoints::new(Arc::new(DirBank::new(tmp("fail-everywhere-copy"))));
    for op in Operation::ALL {
        for hook in Hook::ALL {
            for resource in ["server:vm1", "volume:shared"] {
                let what = format!("{op} {hook} {resource}");
                // A checkpoint to work on, made before the failure is armed.
                let id = if op == Operation::Protect {
                    None
                } else {
                    Some(
                        s.ops
                            .protect(&s.plan, &protectables())
                            .unwrap()
                            .checkpoint_id,
                    )
                };
                *s.fail.lock().unwrap() = Some((op, hook, resource.to_owned()));
                let result = match op {
                    Operation::Protect => s.ops.protect(&s.plan, &protectables()),
                    Operation::Restore => s.ops.restore(id.as_deref().unwrap()),
                    Operation::Verify => s.ops.verify(id.as_deref().unwrap()),
                    Operation::Copy => s.ops.copy(id.as_deref().unwrap(), &copies),
                    Operation::Delete => s.ops.delete(id.as_deref().unwrap()),
                };
                *s.fail.lock().unwrap() = None;
                let message = failed(result);
                let atom = format!("{resource}:{hook}");
                assert!(
                    message.contains(&format!(
                        "task `{atom}` failed: injected failure at {op} {hook} of `{resource}`"
                    )),
                    "{what}: {message}"
                );
                let log = s.ops.logs().list().unwrap().pop().unwrap();
                assert_eq!(log.operation, op, "{what}");
                assert_eq!(log.status, OperationStatus::Error, "{what}");
                assert_eq!(log.error_info.as_deref(), Some(message.as_str()));
                match op {
                    Operation::Protect | Operation::Delete => {
                        let cp = s.ops.checkpoints().get(&log.checkpoint_id).unwrap();
                        assert_eq!(cp.status, CheckpointStatus::Error, "{what}");
                    }
                    Operation::Copy => {
                        let to = log.extra_info["copy_to"].as_str().unwrap();
                        assert_eq!(copies.get(to).unwrap().status, CheckpointStatus::Error);
                        // The source is untouched.
                        let source = s.ops.checkpoints().get(id.as_deref().unwrap()).unwrap();
                        assert_eq!(source.status, CheckpointStatus::Available);
                    }
                    Operation::Restore | Operation::Verify => {
                        let key = if op == Operation::Restore {
                            "restore_id"
                        } else {
                            "verification_id"
                        };
                        let records = if op == Operation::Restore {
                            s.ops.checkpoints().restores()
                        } else {
                            s.ops.checkpoints().verifications()
                        };
                        let record = records.get(log.extra_info[key].as_str().unwrap()).unwrap();
                        assert_eq!(record.status, RecordStatus::Error, "{what}");
                        let cp = s.ops.checkpoints().get(id.as_deref().unwrap()).unwrap();
                        assert_eq!(cp.status, CheckpointStatus::Available, "{what}");
                    }
                }
            }
        }
    }
    // A checkpoint in `error` can still be deleted.
    let errored = s
        .ops
        .checkpoints()
        .list()
        .unwrap()
        .into_iter()
        .find(|c| c.status == CheckpointStatus::Error)
        .unwrap();
    s.ops.delete(&errored.id).unwrap();
    assert_eq!(
        s.ops.checkpoints().get(&errored.id).unwrap().status,
        CheckpointStatus::Deleted
    );
}

#[test]
fn checkpoint_mistakes_are_errors_naming_the_checkpoint() {
    let s = setup("mistakes");
    let cps = s.ops.checkpoints();
    let err = cps.get("nope").unwrap_err();
    assert_eq!(err.to_string(), "checkpoint `nope` does not exist");
    for result in [
        s.ops.restore("nope"),
        s.ops.verify("nope"),
        s.ops.delete("nope"),
    ] {
        assert_eq!(
            result.unwrap_err().to_string(),
            "checkpoint `nope` does not exist"
        );
    }
    let err = cps.get("a/b").unwrap_err();
    assert_eq!(
        err.to_string(),
        "checkpoint id `a/b` is not valid: an id is a non-empty name without `/`"
    );

    // A record that is JSON of the wrong shape, and one that is not JSON.
    cps.bank()
        .put("checkpoints/odd", &json!({"id": "odd"}))
        .unwrap();
    let err = cps.get("odd").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bank record `checkpoints/odd` is corrupt: missing field"),
        "{err}"
    );
    assert!(matches!(cps.list(), Err(CheckpointError::Corrupt { .. })));
    std::fs::write(
        tmp_root("mistakes").join("bank/checkpoints/odd.json"),
        "{not json",
    )
    .unwrap();
    let err = s.ops.restore("odd").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bank record `checkpoints/odd` is corrupt: key must be a string"),
        "{err}"
    );
    cps.bank().delete("checkpoints/odd").unwrap();

    // A checkpoint being protected can be neither deleted nor restored.
    let graph = protectables().graph(&s.plan.resources).unwrap();
    let busy = cps.create("provider-1", &s.plan, &graph).unwrap();
    let err = cps.delete(&busy.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint `{}` is `protecting`: delete needs it `available`, `error` or `deleted`",
            busy.id
        )
    );
    let err = s.ops.delete(&busy.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint `{}` is `protecting`: delete needs it `available` or `error`",
            busy.id
        )
    );
    let err = s.ops.restore(&busy.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint `{}` is `protecting`: restore needs it `available`",
            busy.id
        )
    );
    assert_eq!(
        cps.get(&busy.id).unwrap().status,
        CheckpointStatus::Protecting
    );
    // Nothing ran: no operation was logged.
    assert!(s.ops.logs().list().unwrap().is_empty());

    // Another provider's checkpoint.
    let foreign = cps.create("provider-2", &s.plan, &graph).unwrap();
    cps.set_status(&foreign.id, CheckpointStatus::Available)
        .unwrap();
    let err = s.ops.verify(&foreign.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint `{}` was written by provider `provider-2`, not by `provider-1`",
            foreign.id
        )
    );

    // A resource type the provider has no plugin for: no checkpoint is made.
    let before = cps.list().unwrap().len();
    let mut kinds = protectables();
    kinds.register(Arc::new(Kind("disk"))).unwrap();
    let plan = Plan::new("disks", vec![Resource::new("disk", "d1")]);
    let err = s.ops.protect(&plan, &kinds).unwrap_err();
    assert!(
        matches!(
            err,
            OperationError::Activity(ActivityError::NoPlugin { .. })
        ),
        "{err}"
    );
    assert_eq!(cps.list().unwrap().len(), before);

    // The collection deletes an available checkpoint's record and data.
    let done = s.ops.protect(&s.plan, &protectables()).unwrap();
    cps.delete(&done.checkpoint_id).unwrap();
    assert!(matches!(
        cps.get(&done.checkpoint_id),
        Err(CheckpointError::NotFound { .. })
    ));
    assert!(cps.data_keys(&done.checkpoint_id).unwrap().is_empty());
}

fn tmp_root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("test_karbor")
        .join(name)
}

#[test]
fn a_corrupt_operation_log_is_an_error_naming_it() {
    let s = setup("corrupt-log");
    let logbook = taskwire::persistence::open(&s.db).unwrap();
    let logs = OperationLogs::open(Arc::clone(&logbook)).unwrap();
    // Opening again finds the same logbook.
    assert_eq!(
        OperationLogs::open(Arc::clone(&logbook)).unwrap().logbook(),
        logs.logbook()
    );
    let detail = taskwire::persistence::FlowDetail::new(logs.logbook(), "not a log");
    logbook.save_flow(&detail, None).unwrap();
    let err = logs.get(detail.uuid).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "operation log `{}` in `{}` is corrupt: its flow detail has no `operation_log`",
            detail.uuid, s.db
        )
    );
    assert!(logs.list().is_err());
}

#[cfg(feature = "object-store")]
mod object_store_bank {
    use super::*;
    use taskwire::activity::config::{self, Registry};
    use taskwire::activity::{Bank, BankError, ObjectStoreBank};

    fn exercise(bank: &dyn Bank) {
        assert_eq!(bank.get("cp/a").unwrap(), None);
        bank.put("cp/server/vm1/meta", &json!({"a": 1})).unwrap();
        bank.put("cp/volume/v1/data", &json!("x")).unwrap();
        bank.put("cpx/other", &json!(null)).unwrap();
        bank.put("checkpoints/cp", &json!({"id": "cp"})).unwrap();
        assert_eq!(
            bank.get("cp/server/vm1/meta").unwrap(),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            bank.list("cp/").unwrap(),
            ["cp/server/vm1/meta", "cp/volume/v1/data"]
        );
        assert_eq!(
            bank.list("cp").unwrap(),
            ["cp/server/vm1/meta", "cp/volume/v1/data", "cpx/other"]
        );
        assert_eq!(bank.list("").unwrap().len(), 4);
        bank.put("cp/volume/v1/data", &json!("y")).unwrap();
        assert_eq!(bank.get("cp/volume/v1/data").unwrap(), Some(json!("y")));
        bank.delete("cp/volume/v1/data").unwrap();
        bank.delete("cp/volume/v1/data").unwrap();
        assert_eq!(bank.list("cp/").unwrap(), ["cp/server/vm1/meta"]);
        for key in ["", "/abs", "a//b", "a/../b", "a/./b"] {
            assert!(
                matches!(bank.put(key, &json!(1)), Err(BankError::BadKey { .. })),
                "{key:?}"
            );
        }
    }

    #[test]
    fn in_memory_and_local_files_keep_json_by_key() {
        let memory =
            ObjectStoreBank::from_url("memory:///banks/one", Vec::<(&str, &str)>::new()).unwrap();
        exercise(&memory);
        let dir = tmp("object-local");
        let url = format!("file://{}/bank", dir.display());
        let local = ObjectStoreBank::from_url(&url, Vec::<(&str, &str)>::new()).unwrap();
        exercise(&local);
        assert!(dir.join("bank/cp/server/vm1/meta.json").is_file());
        // A stored object that is not JSON.
        std::fs::write(dir.join("bank/cp/bad.json"), "{oops").unwrap();
        let err = local.get("cp/bad").unwrap_err();
        assert!(matches!(err, BankError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("cp/bad"), "{err}");
    }

    #[test]
    fn a_url_it_cannot_use_is_an_error_saying_why() {
        let err = ObjectStoreBank::from_url("nonsense", Vec::<(&str, &str)>::new()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bank object `nonsense`: not a URL"),
            "{err}"
        );
        let err =
            ObjectStoreBank::from_url("ftp://host/x", Vec::<(&str, &str)>::new()).unwrap_err();
        assert!(err.to_string().contains("known schemes"), "{err}");
    }

    #[test]
    fn operations_run_over_an_object_store_bank_from_configuration() {
        let dir = tmp("object-config");
        std::fs::write(
            dir.join("p.conf"),
            format!(
                "[provider]\nname = P\nid = p1\nbank = object-store\nplugin = all\n\n[object-store]\npath = {}\n",
                dir.join("objects").display()
            ),
        )
        .unwrap();
        let fail = FailAt::default();
        let mut registry = Registry::new();
        let f = Arc::clone(&fail);
        registry.plugin("all", move |_| {
            Ok(Arc::new(Plugin {
                fail: Arc::clone(&f),
            }) as Arc<dyn ProtectionPlugin>)
        });
        let provider = config::load_file(&dir.join("p.conf"), &registry).unwrap();
        let db = format!("sqlite://{}", dir.join("logbook.db").display());
        let ops = Operations::new(provider, taskwire::persistence::open(&db).unwrap()).unwrap();
        let plan = Plan::new("web", vec![Resource::new("server", "vm1")]);
        let done = ops.protect(&plan, &protectables()).unwrap();
        assert_eq!(
            ops.checkpoints().get(&done.checkpoint_id).unwrap().status,
            CheckpointStatus::Available
        );
        assert!(dir
            .join("objects")
            .join(&done.checkpoint_id)
            .join("server/vm1/data.json")
            .is_file());
        // Copied into memory, restored, deleted.
        let memory = Checkpoints::new(Arc::new(
            ObjectStoreBank::from_url("memory:///", Vec::<(&str, &str)>::new()).unwrap(),
        ));
        let copy = ops.copy(&done.checkpoint_id, &memory).unwrap();
        assert_eq!(memory.data_keys(&copy.checkpoint_id).unwrap().len(), 4);
        ops.restore(&done.checkpoint_id).unwrap();
        ops.delete(&done.checkpoint_id).unwrap();
        assert!(ops
            .checkpoints()
            .data_keys(&done.checkpoint_id)
            .unwrap()
            .is_empty());

        // The bank section without `url` or `path` is refused, with its line.
        std::fs::write(
            dir.join("p.conf"),
            "[provider]\nname = P\nid = p1\nbank = object-store\nplugin = all\n\n[object-store]\nregion = x\n",
        )
        .unwrap();
        let err = config::load_file(&dir.join("p.conf"), &registry).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:7: bank `object-store`: section `[object-store]` has no `url` or `path`",
                dir.join("p.conf").display()
            )
        );
    }
}

/// A directory bank that refuses to write a record under `prefix` whose
/// status would become `status`: Complete (or a revert) failing on the bank.
#[derive(Debug)]
struct Refusing {
    inner: DirBank,
    prefix: &'static str,
    status: &'static str,
}

impl taskwire::activity::Bank for Refusing {
    fn put(&self, key: &str, value: &Value) -> Result<(), taskwire::activity::BankError> {
        if key.starts_with(self.prefix) && value["status"] == self.status {
            return Err(taskwire::activity::BankError::Store {
                location: key.to_owned(),
                message: "the bank is read-only now".into(),
            });
        }
        self.inner.put(key, value)
    }
    fn get(&self, key: &str) -> Result<Option<Value>, taskwire::activity::BankError> {
        self.inner.get(key)
    }
    fn delete(&self, key: &str) -> Result<(), taskwire::activity::BankError> {
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, taskwire::activity::BankError> {
        self.inner.list(prefix)
    }
}

fn refusing_ops(name: &str, prefix: &'static str, status: &'static str) -> Operations {
    let dir = tmp(name);
    let bank = Arc::new(Refusing {
        inner: DirBank::new(dir.join("bank")),
        prefix,
        status,
    });
    let mut provider = Provider::new("test", "provider-1", bank);
    provider
        .plugin(
            "all",
            Arc::new(Plugin {
                fail: FailAt::default(),
            }),
        )
        .unwrap();
    let db = format!("sqlite://{}", dir.join("logbook.db").display());
    Operations::new(provider, taskwire::persistence::open(&db).unwrap()).unwrap()
}

#[test]
fn a_failing_complete_reverts_the_operation_to_error() {
    let plan = Plan::new("web", vec![Resource::new("server", "vm1")]);
    // Complete cannot make the checkpoint `available`.
    let ops = refusing_ops("complete-protect", "checkpoints/", "available");
    let message = failed(ops.protect(&plan, &protectables()));
    assert!(
        message.contains("task `complete_protect` failed: bank object `checkpoints/")
            && message.ends_with(": the bank is read-only now"),
        "{message}"
    );
    let cp = ops.checkpoints().list().unwrap().pop().unwrap();
    assert_eq!(cp.status, CheckpointStatus::Error);

    // Complete cannot mark the restore `success`.
    let ops = refusing_ops("complete-restore", "restores/", "success");
    let id = ops.protect(&plan, &protectables()).unwrap().checkpoint_id;
    let message = failed(ops.restore(&id));
    assert!(
        message.contains("task `complete_restore` failed"),
        "{message}"
    );
    let record = ops.checkpoints().restores().list().unwrap().pop().unwrap();
    assert_eq!(record.status, RecordStatus::Error);
    assert_eq!(
        ops.checkpoints().get(&id).unwrap().status,
        CheckpointStatus::Available
    );

    // Initiate's revert cannot set `error` either: the flow ends FAILURE, the
    // log says both, and the record is left as the bank allows.
    let ops = refusing_ops("revert-too", "checkpoints/", "error");
    let mut provider = ops.provider().clone();
    let fail = FailAt::default();
    *fail.lock().unwrap() = Some((Operation::Protect, Hook::Parallel, "volume:shared".into()));
    provider = {
        let mut p = Provider::new(&provider.name, &provider.id, Arc::clone(&provider.bank));
        p.plugin("all", Arc::new(Plugin { fail })).unwrap();
        p
    };
    let db = format!(
        "sqlite://{}",
        tmp_root("revert-too").join("logbook.db").display()
    );
    let ops = Operations::new(provider, taskwire::persistence::open(&db).unwrap()).unwrap();
    let message = failed(ops.protect(&plan, &protectables()));
    assert!(
        message.contains("then reverting task `initiate_protect` failed"),
        "{message}"
    );
    let log = ops.logs().list().unwrap().pop().unwrap();
    assert_eq!(log.error_info.as_deref(), Some(message.as_str()));
    let cp = ops.checkpoints().get(&log.checkpoint_id).unwrap();
    assert_eq!(cp.status, CheckpointStatus::Protecting);
}

#[test]
fn operation_logs_live_in_any_logbook_backend() {
    let dir = tmp("dir-logbook");
    let url = format!("dir://{}", dir.join("logbook").display());
    let mut provider = Provider::new(
        "test",
        "provider-1",
        Arc::new(DirBank::new(dir.join("bank"))),
    );
    provider
        .plugin(
            "all",
            Arc::new(Plugin {
                fail: FailAt::default(),
            }),
        )
        .unwrap();
    let ops = Operations::new(provider, taskwire::persistence::open(&url).unwrap()).unwrap();
    let plan = Plan::new("web", vec![Resource::new("server", "vm1")]);
    let id = ops.protect(&plan, &protectables()).unwrap().checkpoint_id;
    ops.verify(&id).unwrap();
    // Another process opening the same directory finds them.
    let logs = OperationLogs::open(taskwire::persistence::open(&url).unwrap())
        .unwrap()
        .list()
        .unwrap();
    let kinds: Vec<(Operation, OperationStatus)> =
        logs.iter().map(|l| (l.operation, l.status)).collect();
    assert_eq!(
        kinds,
        [
            (Operation::Protect, OperationStatus::Success),
            (Operation::Verify, OperationStatus::Success)
        ]
    );
    assert_eq!(logs[0], ops.logs().get(logs[0].id).unwrap());
}
