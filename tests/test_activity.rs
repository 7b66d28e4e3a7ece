//! Activity flows over resource graphs: the link pattern (asserted on the
//! compiled graph's edges), shared resources, missing hooks, running them, the
//! bank, and providers loaded from configuration with their errors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use taskwire::activity::config::{self, ConfigError, Registry};
use taskwire::activity::{
    ActivityCtx, ActivityError, Bank, BankError, DirBank, Hook, Operation, ProtectionPlugin,
    Provider, Resource, ResourceGraph,
};
use taskwire::prelude::*;

type Log = Arc<Mutex<Vec<String>>>;

/// A plugin for `types` whose activities log `hook type:id`; `skip` lists
/// the hooks it gives no task for.
#[derive(Debug)]
struct Logging {
    types: Vec<String>,
    skip: Vec<Hook>,
    log: Log,
}

impl ProtectionPlugin for Logging {
    fn resource_types(&self) -> Vec<String> {
        self.types.clone()
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        if self.skip.contains(&hook) {
            return None;
        }
        let log = Arc::clone(&self.log);
        let entry = format!("{} {hook} {}", ctx.operation, ctx.resource.key());
        Some(
            FnTask::new(format!("logging_{hook}"))
                .run(move |_| {
                    log.lock().unwrap().push(entry.clone());
                    Ok(Value::Null)
                })
                .into_spec(),
        )
    }
}

fn bank(name: &str) -> Arc<dyn Bank> {
    Arc::new(DirBank::new(tmp(name)))
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("test_activity")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn provider(log: &Log, skip: &[(&str, Hook)]) -> Provider {
    let mut p = Provider::new("test", "id-1", bank("provider"));
    for kind in ["server", "volume", "image"] {
        p.plugin(
            kind,
            Arc::new(Logging {
                types: vec![kind.to_owned()],
                skip: skip
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, h)| *h)
                    .collect(),
                log: Arc::clone(log),
            }),
        )
        .unwrap();
    }
    p
}

/// The compiled graph's edges, as atom names.
fn edges(flow: Flow) -> BTreeSet<(String, String)> {
    let mut engine = Engine::new(flow);
    let plan = engine.compile().unwrap();
    plan.graph()
        .raw_edges()
        .iter()
        .map(|e| {
            (
                plan.atoms()[e.source().index()].atom_name().to_owned(),
                plan.atoms()[e.target().index()].atom_name().to_owned(),
            )
        })
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// server vm1 with volumes vol1, vol2 and image img1.
fn server_graph() -> ResourceGraph {
    let mut g = ResourceGraph::new();
    let vm = g.add(Resource::new("server", "vm1"));
    for (kind, id) in [("volume", "vol1"), ("volume", "vol2"), ("image", "img1")] {
        let child = g.add(Resource::new(kind, id));
        g.link(vm, child).unwrap();
    }
    g
}

#[test]
fn a_tree_links_pre_parallel_post_and_children_inside_their_parent() {
    let log = Log::default();
    let activity = provider(&log, &[])
        .flow(Operation::Protect, &server_graph(), "cp1")
        .unwrap();
    assert_eq!(activity.flow.name(), "protect:cp1");
    let atoms: Vec<&str> = activity
        .flow
        .atoms()
        .iter()
        .map(|a| a.atom_name())
        .collect();
    assert_eq!(
        atoms,
        [
            "server:vm1:pre",
            "server:vm1:parallel",
            "server:vm1:post",
            "volume:vol1:pre",
            "volume:vol1:parallel",
            "volume:vol1:post",
            "volume:vol2:pre",
            "volume:vol2:parallel",
            "volume:vol2:post",
            "image:img1:pre",
            "image:img1:parallel",
            "image:img1:post",
        ]
    );
    let mut expected = vec![
        ("server:vm1:pre", "server:vm1:parallel"),
        ("server:vm1:parallel", "server:vm1:post"),
    ];
    for child in ["volume:vol1", "volume:vol2", "image:img1"] {
        let pre = format!("{child}:pre");
        let par = format!("{child}:parallel");
        let post = format!("{child}:post");
        expected.push(("server:vm1:pre", Box::leak(pre.clone().into_boxed_str())));
        expected.push((
            Box::leak(pre.into_boxed_str()),
            Box::leak(par.clone().into_boxed_str()),
        ));
        expected.push((
            Box::leak(par.into_boxed_str()),
            Box::leak(post.clone().into_boxed_str()),
        ));
        expected.push((Box::leak(post.into_boxed_str()), "server:vm1:post"));
    }
    assert_eq!(edges(activity.flow.clone()), set(&expected));
    assert_eq!(
        activity.links.iter().cloned().collect::<BTreeSet<_>>(),
        set(&expected)
    );
    assert_eq!(
        activity.atom("volume:vol2", Hook::Post),
        Some("volume:vol2:post")
    );
}

#[test]
fn a_shared_resource_is_visited_once_and_linked_to_both_parents() {
    let log = Log::default();
    let mut g = ResourceGraph::new();
    let vm1 = g.add(Resource::new("server", "vm1"));
    let vm2 = g.add(Resource::new("server", "vm2"));
    let vol = g.add(Resource::new("volume", "shared"));
    g.link(vm1, vol).unwrap();
    g.link(vm2, vol).unwrap();
    // Adding it again gives the same resource.
    assert_eq!(g.add(Resource::new("volume", "shared")), vol);
    assert_eq!(g.walk(), [vm1, vol, vm2]);

    let activity = provider(&log, &[])
        .flow(Operation::Protect, &g, "cp")
        .unwrap();
    assert_eq!(activity.flow.atoms().len(), 9);
    assert_eq!(
        edges(activity.flow.clone()),
        set(&[
            ("server:vm1:pre", "server:vm1:parallel"),
            ("server:vm1:parallel", "server:vm1:post"),
            ("server:vm2:pre", "server:vm2:parallel"),
            ("server:vm2:parallel", "server:vm2:post"),
            ("volume:shared:pre", "volume:shared:parallel"),
            ("volume:shared:parallel", "volume:shared:post"),
            ("server:vm1:pre", "volume:shared:pre"),
            ("server:vm2:pre", "volume:shared:pre"),
            ("volume:shared:post", "server:vm1:post"),
            ("volume:shared:post", "server:vm2:post"),
        ])
    );
    Engine::new(activity.flow).max_workers(4).run().unwrap();
    let entries = log.lock().unwrap().clone();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.contains("volume:shared"))
            .count(),
        3,
        "{entries:?}"
    );
}

#[test]
fn links_pass_through_a_resource_without_pre_and_post_to_its_children() {
    let log = Log::default();
    // server -> volume -> image (an image made from the volume, say); the
    // volume has only its parallel activity.
    let mut g = ResourceGraph::new();
    let vm = g.add(Resource::new("server", "vm"));
    let vol = g.add(Resource::new("volume", "vol"));
    let img = g.add(Resource::new("image", "img"));
    g.link(vm, vol).unwrap();
    g.link(vol, img).unwrap();
    let activity = provider(&log, &[("volume", Hook::Pre), ("volume", Hook::Post)])
        .flow(Operation::Protect, &g, "cp")
        .unwrap();
    assert_eq!(
        edges(activity.flow.clone()),
        set(&[
            ("server:vm:pre", "server:vm:parallel"),
            ("server:vm:parallel", "server:vm:post"),
            // parent pre -> (missing volume pre) -> volume parallel, image pre
            ("server:vm:pre", "volume:vol:parallel"),
            ("server:vm:pre", "image:img:pre"),
            // volume parallel -> (missing volume post) -> server post
            ("volume:vol:parallel", "server:vm:post"),
            ("image:img:pre", "image:img:parallel"),
            ("image:img:parallel", "image:img:post"),
            // image post -> (missing volume post) -> server post
            ("image:img:post", "server:vm:post"),
        ])
    );
}

#[test]
fn missing_hooks_are_passed_through() {
    let log = Log::default();
    // Volumes have only a parallel activity; the server has no parallel one.
    let activity = provider(
        &log,
        &[
            ("volume", Hook::Pre),
            ("volume", Hook::Post),
            ("server", Hook::Parallel),
            ("image", Hook::Pre),
            ("image", Hook::Parallel),
            ("image", Hook::Post),
        ],
    )
    .flow(Operation::Restore, &server_graph(), "cp")
    .unwrap();
    assert_eq!(
        edges(activity.flow.clone()),
        set(&[
            ("server:vm1:pre", "server:vm1:post"),
            ("server:vm1:pre", "volume:vol1:parallel"),
            ("server:vm1:pre", "volume:vol2:parallel"),
            ("volume:vol1:parallel", "server:vm1:post"),
            ("volume:vol2:parallel", "server:vm1:post"),
        ])
    );
    assert_eq!(activity.atom("image:img1", Hook::Parallel), None);
}

#[test]
fn the_flow_runs_parents_around_their_children() {
    let log = Log::default();
    let activity = provider(&log, &[])
        .flow(Operation::Delete, &server_graph(), "cp")
        .unwrap();
    let done = Engine::new(activity.flow).max_workers(3).run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    let entries = log.lock().unwrap().clone();
    let at = |e: &str| entries.iter().position(|x| x == e).unwrap();
    assert_eq!(entries.len(), 12);
    assert_eq!(entries[0], "delete pre server:vm1");
    assert_eq!(entries[11], "delete post server:vm1");
    for child in ["volume:vol1", "volume:vol2", "image:img1"] {
        assert!(at(&format!("delete pre {child}")) < at(&format!("delete parallel {child}")));
        assert!(at(&format!("delete parallel {child}")) < at(&format!("delete post {child}")));
    }
}

/// A volume plugin whose parallel activity is an async task that polls a
/// "backend" until the copy is done, then stores it in the bank.
#[derive(Debug)]
struct Polling;

impl ProtectionPlugin for Polling {
    fn resource_types(&self) -> Vec<String> {
        vec!["volume".into()]
    }

    fn activity(&self, ctx: &ActivityCtx<'_>, hook: Hook) -> Option<TaskSpec> {
        if hook != Hook::Parallel {
            return None;
        }
        let bank = Arc::clone(ctx.bank);
        let key = ctx.bank_key("data");
        Some(
            FnTask::new("copy_volume")
                .requires(["polls"])
                .run_async(move |call| {
                    let polls: Result<u32, _> = call.arg(0);
                    let ctx = call.ctx();
                    let (bank, key) = (Arc::clone(&bank), key.clone());
                    Box::pin(async move {
                        let polls = polls?;
                        for i in 1..=polls {
                            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                            ctx.progress(i as f32 / polls as f32);
                        }
                        bank.put(&key, &json!({"polled": polls}))
                            .map_err(Failure::from_error)?;
                        Ok(json!(polls))
                    })
                })
                .into_spec()
                .inject("polls", 4),
        )
    }
}

#[test]
fn long_activities_poll_report_progress_and_write_the_bank() {
    let dir = tmp("polling");
    let mut p = Provider::new("p", "id", Arc::new(DirBank::new(&dir)));
    p.plugin("volume", Arc::new(Polling)).unwrap();
    let mut g = ResourceGraph::new();
    g.add(Resource::new("volume", "v1"));
    g.add(Resource::new("volume", "v2"));
    let activity = p.flow(Operation::Protect, &g, "cp9").unwrap();
    let listener = Arc::new(taskwire::CapturingListener::new());
    Engine::new(activity.flow)
        .max_workers(2)
        .listener(Arc::clone(&listener))
        .run()
        .unwrap();
    assert_eq!(
        listener.progress_of("volume:v1:parallel"),
        [0.25, 0.5, 0.75, 1.0]
    );
    assert_eq!(
        p.bank.list("cp9/").unwrap(),
        ["cp9/volume/v1/data", "cp9/volume/v2/data"]
    );
    assert_eq!(
        p.bank.get("cp9/volume/v2/data").unwrap(),
        Some(json!({"polled": 4}))
    );
    assert!(dir.join("cp9/volume/v1/data.json").is_file());
}

#[test]
fn graph_and_provider_mistakes_are_errors() {
    let log = Log::default();
    let mut g = ResourceGraph::new();
    let a = g.add(Resource::new("server", "a"));
    let b = g.add(Resource::new("volume", "b"));
    g.link(a, b).unwrap();
    assert_eq!(
        g.link(b, a).unwrap_err().to_string(),
        "resource graph: making `server:a` a child of `volume:b` closes a cycle"
    );
    assert_eq!(
        g.link(a, a).unwrap_err(),
        ActivityError::Cycle {
            parent: "server:a".into(),
            child: "server:a".into()
        }
    );
    assert_eq!(
        g.link(a, 7).unwrap_err().to_string(),
        "resource graph: no resource at index 7 (the graph has 2)"
    );
    g.add(Resource::new("network", "n1"));
    assert_eq!(
        provider(&log, &[])
            .flow(Operation::Verify, &g, "cp")
            .unwrap_err()
            .to_string(),
        "provider `test` has no plugin for resource `network:n1` of type `network`; it handles `image`, `server`, `volume`"
    );
    let mut p = provider(&log, &[]);
    let err = p
        .plugin(
            "other",
            Arc::new(Logging {
                types: vec!["volume".into()],
                skip: vec![],
                log: Log::default(),
            }),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider `test`: plugins `volume` and `other` both handle resource type `volume`"
    );
}

#[test]
fn the_directory_bank_keeps_json_by_key() {
    let dir = tmp("bank");
    let bank = DirBank::new(&dir);
    assert_eq!(bank.get("cp/a").unwrap(), None);
    bank.put("cp/a", &json!({"x": 1})).unwrap();
    bank.put("cp/b/c", &json!([1, 2])).unwrap();
    bank.put("other", &json!("y")).unwrap();
    assert_eq!(bank.get("cp/a").unwrap(), Some(json!({"x": 1})));
    assert_eq!(bank.list("cp/").unwrap(), ["cp/a", "cp/b/c"]);
    bank.delete("cp/a").unwrap();
    bank.delete("cp/a").unwrap();
    assert_eq!(bank.list("").unwrap(), ["cp/b/c", "other"]);
    for bad in ["", "../x", "a//b", "/abs", "a/./b"] {
        assert_eq!(
            bank.put(bad, &json!(1)).unwrap_err().to_string(),
            format!("bank key `{bad}` is not valid: keys are `/`-separated names, none empty, `.` or `..`")
        );
    }
    std::fs::write(dir.join("broken.json"), "{not json").unwrap();
    let err = bank.get("broken").unwrap_err();
    assert!(matches!(err, BankError::Corrupt { .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "bank file `{}` is not JSON: ",
            dir.join("broken.json").display()
        )),
        "{err}"
    );
}

// ---- configuration ----

fn registry(log: &Log) -> Registry {
    let mut r = Registry::new();
    for kind in ["server", "volume", "image"] {
        let log = Arc::clone(log);
        r.plugin(kind, move |section| {
            let skip = match section.get("skip") {
                None => vec![],
                Some("pre") => vec![Hook::Pre],
                Some(other) => return Err(format!("`skip = {other}`: only `pre` can be skipped")),
            };
            Ok(Arc::new(Logging {
                types: vec![kind.to_owned()],
                skip,
                log: Arc::clone(&log),
            }) as Arc<dyn ProtectionPlugin>)
        });
    }
    r
}

const GOOD: &str = "\
# An infrastructure provider.
[provider]
name = OS Infra Provider
id = cf56bd3e
description = Protects servers and volumes
bank = file-system
plugin = server
plugin = volume

; the bank's own section
[file-system]
path = BANK

[volume]
skip = pre
";

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn providers_load_from_a_directory_of_conf_files() {
    let log = Log::default();
    let dir = tmp("conf-good");
    let bank_dir = dir.join("bank");
    let good = GOOD.replace("BANK", bank_dir.to_str().unwrap());
    let second = good
        .replace("cf56bd3e", "b2")
        .replace("OS Infra Provider", "Second")
        .replace("plugin = volume\n", "plugin = image\n")
        .replace("[volume]\nskip = pre\n", "");
    write(
        &dir,
        &[
            ("b.conf", &second),
            ("a.conf", &good),
            ("notes.txt", "not a provider"),
        ],
    );
    let providers = config::load_dir(&dir, &registry(&log)).unwrap();
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["OS Infra Provider", "Second"]);
    let p = &providers[0];
    assert_eq!(p.id, "cf56bd3e");
    assert_eq!(p.description, "Protects servers and volumes");
    assert_eq!(p.resource_types(), ["server", "volume"]);
    assert_eq!(providers[1].resource_types(), ["image", "server"]);

    // The plugin got its section: volumes have no pre activity.
    let mut g = ResourceGraph::new();
    let vm = g.add(Resource::new("server", "vm"));
    let vol = g.add(Resource::new("volume", "v"));
    g.link(vm, vol).unwrap();
    let activity = p.flow(Operation::Protect, &g, "cp").unwrap();
    assert_eq!(activity.atom("volume:v", Hook::Pre), None);
    // The bank got its section.
    p.bank.put("cp/x", &json!(1)).unwrap();
    assert!(bank_dir.join("cp/x.json").is_file());
}

fn load_err(name: &str, files: &[(&str, &str)]) -> (PathBuf, ConfigError) {
    let dir = tmp(name);
    write(&dir, files);
    let err = config::load_dir(&dir, &registry(&Log::default())).unwrap_err();
    (dir, err)
}

#[test]
fn configuration_errors_name_the_file_and_line() {
    let (dir, err) = load_err(
        "conf-unknown-plugin",
        &[(
            "p.conf",
            &GOOD.replace("plugin = volume", "plugin = volumes"),
        )],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:8: unknown plugin `volumes`; registered plugins: `image`, `server`, `volume`",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-unknown-bank",
        &[(
            "p.conf",
            &GOOD.replace("bank = file-system", "bank = swift"),
        )],
    );
    // The object-store bank is registered with its feature.
    let banks = if cfg!(feature = "object-store") {
        "`file-system`, `object-store`"
    } else {
        "`file-system`"
    };
    assert_eq!(
        err.to_string(),
        format!(
            "{}:6: unknown bank `swift`; registered banks: {banks}",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-no-provider",
        &[("p.conf", "[file-system]\npath = /tmp/x\n")],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no `[provider]` section: a provider file needs one, with `name`, `id`, `bank` and `plugin` lines",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-duplicate-id",
        &[
            ("a.conf", GOOD),
            ("b.conf", &GOOD.replace("OS Infra Provider", "Other")),
        ],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: provider id `cf56bd3e` is already used by `{}`",
            dir.join("b.conf").display(),
            dir.join("a.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-missing-key",
        &[("p.conf", &GOOD.replace("id = cf56bd3e\n", ""))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: `[provider]` has no `id`",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-syntax",
        &[("p.conf", &GOOD.replace("[volume]", "[volume"))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:14: `[volume` is not `key = value`, a `[section]` or a comment",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-rejected",
        &[("p.conf", &GOOD.replace("skip = pre", "skip = post"))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:14: plugin `volume`: `skip = post`: only `pre` can be skipped",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-bank-rejected",
        &[("p.conf", &GOOD.replace("path = BANK\n", ""))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:11: bank `file-system`: section `[file-system]` has no `path`",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-unknown-key",
        &[("p.conf", &GOOD.replace("description", "descripton"))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:5: unknown key `descripton` in `[provider]`; its keys are `name`, `id`, `description`, `bank`, `plugin`",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-twice",
        &[(
            "p.conf",
            &GOOD.replace(
                "bank = file-system\n",
                "bank = file-system\nbank = file-system\n",
            ),
        )],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:7: `bank` is given twice in `[provider]` (first on line 6)",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err("conf-outside", &[("p.conf", &format!("name = x\n{GOOD}"))]);
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1: `name` is outside any section: put a `[provider]` line above it",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-two-plugins",
        &[(
            "p.conf",
            &GOOD.replace("plugin = volume", "plugin = volume\nplugin = volume"),
        )],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:9: provider `OS Infra Provider`: plugins `volume` and `volume` both handle resource type `volume`",
            dir.join("p.conf").display()
        )
    );

    let (dir, err) = load_err(
        "conf-stray-section",
        &[("p.conf", &GOOD.replace("[volume]", "[volumes]"))],
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}:14: section `[volumes]` configures nothing: this provider's bank is `file-system` and its plugins are `server`, `volume`",
            dir.join("p.conf").display()
        )
    );

    let missing = tmp("conf-missing-dir");
    let err = config::load_dir(&missing, &Registry::new()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read `{}`: ", missing.display())),
        "{err}"
    );
}
