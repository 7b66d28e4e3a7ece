//! A randomized crash test: a persisted 20-task flow is killed with SIGKILL
//! at random instants — inside tasks, between tasks, and while it reverts
//! after a forced failure — and resumed in a new process each time, on SQLite
//! and (with the `postgres` feature) on PostgreSQL.
//!
//! Checked after every kill, against the logbook as the killed process left
//! it and the side effects the tasks wrote to a file outside the logbook:
//! - no atom recorded SUCCESS executes again;
//! - no atom recorded REVERTED is reverted again;
//! - once an atom is recorded FAILURE, REVERTING or REVERTED, nothing
//!   executes any more (a flow that was reverting goes on reverting);
//! - the logbook never runs ahead of the side effects (an atom recorded
//!   SUCCESS did finish its work, one recorded REVERTED did finish its revert).
//!
//! At the end of a series the flow's state, every atom's state, result,
//! failure and finishing order equal those of an uninterrupted run.
//!
//! The seed comes from the clock, or from `TASKWIRE_CRASH_SEED=<n>` to replay
//! a series (the kill instants are the same; where they land depends on the
//! machine's timing too). It is printed at the start and in every assertion.
//! Run with `--nocapture` to see where the kills landed.
//!
//! It found two engine bugs, fixed since: a flow recorded RESUMING could not
//! be resumed, and `Engine::resume` read the records before it took the
//! lease. The regression tests at the end show each of them without a crash.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire::persistence::{self, AtomDetail, Backend, Uuid};
use taskwire::{
    AtomEvent, AtomState, Engine, Failure, FailureKind, Flow, FlowState, FnTask, Listener, RunError,
};

/// Tasks in the flow.
const TASKS: usize = 20;
/// Kills wanted on each backend (series run until there were this many, and
/// at least `MIN_SERIES`).
const MIN_KILLS: usize = 50;
/// Series on each backend, at least: one in two reverts, one in four runs
/// tasks side by side.
const MIN_SERIES: usize = 4;
/// A series that has been killed this often runs to its end unharmed (so
/// that a series ends even on a machine too slow to make progress).
const MAX_KILLS_PER_SERIES: usize = 60;
/// Where a forced failure is put in a reverting series (the flow runs
/// `t00..=tNN`, the last one fails, then all of them are reverted).
const FAIL_AT: [usize; 3] = [12, 15, 18];

/// The owner of the in-process regression tests' engines (the children
/// use the default owner, which names their process).
const OWNER: &str = "crash-test";

fn atom_name(i: usize) -> String {
    format!("t{i:02}")
}

// ---------------------------------------------------------------------------
// Randomness: splitmix64, so that a seed replays the same choices.

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The seed of this test process: one for all its tests.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("TASKWIRE_CRASH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("TASKWIRE_CRASH_SEED must be an unsigned integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    })
}

// ---------------------------------------------------------------------------
// The flow, and the side effects its tasks leave outside the logbook.

/// Appends `line` to the effects file with one `write` (O_APPEND), so that a
/// kill leaves whole lines only.
fn effect(path: &Path, line: String) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(format!("{line} {}\n", std::process::id()).as_bytes())
        .unwrap();
}

/// In a child, a random pause of a few ms (so that kills land inside tasks
/// and reverts); none in the reference run.
fn pause(lo: u64, hi: u64) {
    static RNG: OnceLock<Option<Mutex<Rng>>> = OnceLock::new();
    let rng = RNG.get_or_init(|| {
        std::env::var("TW_CRASH20_SLEEP_SEED")
            .ok()
            .map(|s| Mutex::new(Rng(s.parse().unwrap())))
    });
    if let Some(rng) = rng {
        let ms = rng.lock().unwrap().range(lo, hi);
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// The flow under test: a chain `t00..t19`, each computing its value from the
/// previous one; with `params.tree`, a graph flow where `tI` takes the value
/// of `t(I/2 - 1)` (a binary tree: up to 8 tasks can run at once).
/// `params.effects` is the effects file; with `params.fail_at = k`, task
/// `tk` fails and the flow reverts.
fn chain20(params: &Value) -> Result<Flow, String> {
    let effects = PathBuf::from(
        params["effects"]
            .as_str()
            .ok_or("`effects` must be a path")?,
    );
    let fail_at = params["fail_at"].as_u64().map(|k| k as usize);
    let tree = params["tree"].as_bool().unwrap_or(false);
    let mut flow = match tree {
        true => Flow::graph("crash_tree20"),
        false => Flow::linear("crash_chain20"),
    };
    for i in 0..TASKS {
        let (e1, e2) = (effects.clone(), effects.clone());
        let input = if tree { i / 2 } else { i };
        flow.push(
            FnTask::new(atom_name(i))
                .requires([format!("v{input}")])
                .provides(format!("v{}", i + 1))
                .run(move |call| {
                    let v: u64 = call.arg(0)?;
                    let atom = call.atom();
                    effect(&e1, format!("exec {atom}"));
                    pause(2, 12);
                    if fail_at == Some(i) {
                        effect(&e1, format!("fail {atom}"));
                        return Err(Failure::new(
                            FailureKind::Task,
                            format!("forced failure of {atom}"),
                        ));
                    }
                    effect(&e1, format!("done {atom}"));
                    Ok(json!(
                        (v.wrapping_mul(1_000_003) + i as u64) % 1_000_000_007
                    ))
                })
                .revert(move |call| {
                    let atom = call.atom();
                    effect(&e2, format!("revert {atom}"));
                    pause(2, 12);
                    effect(&e2, format!("undone {atom}"));
                    Ok(())
                }),
        );
    }
    Ok(flow)
}

taskwire::flow_factory!("tests::crash_chain20", chain20);

/// Notes (in the effects file) that SUCCESS or REVERTED was recorded, then
/// pauses: the window between two atoms where kills land "between tasks".
struct Recorded(PathBuf);

impl Listener for Recorded {
    fn on_atom(&self, e: &AtomEvent<'_>) {
        if matches!(e.state, AtomState::Success | AtomState::Reverted) {
            effect(&self.0, format!("recorded {} {}", e.atom, e.state));
            pause(0, 6);
        }
    }
}

/// The child process: starts the flow (`TW_CRASH20_FLOW=start`, writing its
/// id to `TW_CRASH20_DIR/flow`) or resumes it by id, and runs it. Run by the
/// crash tests, not on its own.
#[test]
#[ignore = "the crash tests run it as a child process"]
fn crash20_child() {
    let url = std::env::var("TW_CRASH20_URL").expect("run by the crash tests");
    let dir = PathBuf::from(std::env::var("TW_CRASH20_DIR").unwrap());
    let what = std::env::var("TW_CRASH20_FLOW").unwrap();
    let effects = dir.join("effects");
    let backend = persistence::open(&url).unwrap();
    let mut engine = if what == "start" {
        let params: Value =
            serde_json::from_str(&std::env::var("TW_CRASH20_PARAMS").unwrap()).expect("params");
        let v0: u64 = std::env::var("TW_CRASH20_V0").unwrap().parse().unwrap();
        Engine::from_factory("tests::crash_chain20", params)
            .unwrap()
            .input("v0", v0)
            .persist(backend)
    } else {
        Engine::resume(backend, what.parse().unwrap()).unwrap()
    }
    // The default owner (this process): the next child takes the killed
    // one's lease over at once, since its process is gone.
    .max_workers(
        std::env::var("TW_CRASH20_WORKERS")
            .unwrap()
            .parse()
            .unwrap(),
    )
    .listener(Recorded(effects.clone()));
    engine.compile().unwrap();
    if what == "start" {
        let tmp = dir.join("flow.tmp");
        std::fs::write(&tmp, engine.flow_uuid().unwrap().to_string()).unwrap();
        std::fs::rename(&tmp, dir.join("flow")).unwrap();
    }
    effect(&effects, "start".to_owned());
    match engine.run() {
        Ok(done) => println!("child: flow ended {}", done.flow_state()),
        Err(RunError::Failed { atom, failure, .. }) => {
            assert_eq!(failure.to_string(), format!("forced failure of {atom}"));
            println!("child: flow reverted after {atom} failed");
        }
        Err(e) => panic!("child: the run went wrong: {e}"),
    }
}

// ---------------------------------------------------------------------------
// The parent.

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "taskwire-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One line of the effects file: what, which atom (and for `recorded`, which
/// state), which process.
#[derive(Debug, Clone, PartialEq)]
struct Effect {
    what: String,
    atom: String,
    state: String,
    pid: u32,
}

fn read_effects(path: &Path) -> Vec<Effect> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Only whole lines: a child may be writing the last one.
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    whole
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let pid = words.last().unwrap().parse().unwrap();
            let word = |i: usize| match words.len() > i + 1 {
                true => words[i].to_owned(),
                false => String::new(),
            };
            Effect {
                what: word(0),
                atom: word(1),
                state: word(2),
                pid,
            }
        })
        .collect()
}

/// When the parent kills a child.
#[derive(Debug, Clone, Copy)]
enum KillPlan {
    /// `ms` after the child was spawned: while it starts, resumes, or runs.
    AfterSpawn(u64),
    /// `ms` after the child wrote `start` (it has compiled the flow and taken
    /// the lease; the run begins).
    AfterStart(u64),
    /// `ms` after the child's `n`-th line `what` (`done`, `recorded`,
    /// `undone`): right after a task or revert finished.
    AfterNth(&'static str, usize, u64),
    /// Not at all: the child runs the flow to its end.
    Never,
}

impl KillPlan {
    /// A random plan; `undone` only where the flow reverts (elsewhere the
    /// line never comes and the child would run to the end).
    fn choose(rng: &mut Rng, reverts: bool) -> KillPlan {
        match rng.range(0, 99) {
            0..=14 => KillPlan::AfterSpawn(rng.range(0, 60)),
            15..=54 => KillPlan::AfterStart(rng.range(0, 60)),
            55..=74 => KillPlan::AfterNth("recorded", rng.range(1, 3) as usize, rng.range(0, 2)),
            75..=89 => KillPlan::AfterNth("done", rng.range(1, 3) as usize, rng.range(0, 1)),
            _ if reverts => KillPlan::AfterNth("undone", rng.range(1, 2) as usize, rng.range(0, 1)),
            _ => KillPlan::AfterNth("recorded", 1, 0),
        }
    }
}

/// What the logbook said when a child died.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    /// Lines in the effects file.
    lines: usize,
    success: BTreeSet<String>,
    reverted: BTreeSet<String>,
    /// Atoms recorded FAILURE, REVERTING or REVERTED: the flow reverts, and
    /// nothing executes any more.
    reverting: BTreeSet<String>,
    flow_state: Option<FlowState>,
}

/// Where kills landed, by the last line the killed child wrote.
#[derive(Debug, Default)]
struct Landed(BTreeMap<&'static str, usize>);

impl Landed {
    fn kind(last: Option<&Effect>) -> &'static str {
        match last.map(|e| e.what.as_str()) {
            None => "before the run (starting, resuming)",
            Some("start") => "between tasks (the run began, no task yet)",
            Some("exec") => "inside a task",
            Some("fail") => "inside a task (the failing one, after it failed)",
            Some("done") => "between tasks (task done, SUCCESS not yet seen)",
            Some("revert") => "during a revert (inside a revert)",
            Some("undone") => "during a revert (revert done, REVERTED not yet seen)",
            Some("recorded") if last.is_some_and(|e| e.state == "REVERTED") => {
                "during a revert (between reverts, REVERTED recorded)"
            }
            Some("recorded") => "between tasks (SUCCESS recorded)",
            Some(other) => panic!("unknown effect {other}"),
        }
    }

    fn total(&self) -> usize {
        self.0.values().sum()
    }
}

struct Parent {
    url: String,
    backend: Arc<dyn Backend>,
    rng: Rng,
    /// `[TASKWIRE_CRASH_SEED=... backend=...]`, in every assertion message.
    tag: String,
    landed: Landed,
    kills: usize,
    children: usize,
    /// With a database server: the ids of the sessions open on the test's
    /// database (see `Parent::settle`).
    sessions: Option<Sessions>,
    /// Children whose sessions were still open once they had died.
    late_sessions: usize,
}

/// What a series runs: the serial chain that succeeds, the serial chain that
/// fails at `fail_at` and reverts, or the tree run by 4 workers (which
/// succeeds: where a parallel run is when a task fails depends on timing, so
/// an uninterrupted run cannot say how it should end).
#[derive(Debug, Clone)]
struct Series {
    fail_at: Option<usize>,
    tree: bool,
    v0: u64,
}

impl Series {
    fn params(&self, effects: &Path) -> Value {
        json!({ "effects": effects, "fail_at": self.fail_at, "tree": self.tree })
    }

    fn workers(&self) -> usize {
        if self.tree {
            4
        } else {
            1
        }
    }
}

/// The ids of the sessions open on the test's database.
type Sessions = Box<dyn FnMut() -> BTreeSet<i32>>;

/// The result of one child: killed, or ended by itself.
enum Ended {
    Killed,
    Exited(ExitStatus),
}

impl Parent {
    fn spawn(&mut self, dir: &Path, flow: Option<Uuid>, series: &Series) -> Child {
        self.children += 1;
        let out = std::fs::File::create(dir.join(format!("child-{}.out", self.children))).unwrap();
        Command::new(std::env::current_exe().unwrap())
            .args([
                "crash20_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TW_CRASH20_URL", &self.url)
            .env("TW_CRASH20_DIR", dir)
            .env(
                "TW_CRASH20_FLOW",
                flow.map_or_else(|| "start".to_owned(), |f| f.to_string()),
            )
            .env(
                "TW_CRASH20_PARAMS",
                series.params(&dir.join("effects")).to_string(),
            )
            .env("TW_CRASH20_V0", series.v0.to_string())
            .env("TW_CRASH20_WORKERS", series.workers().to_string())
            .env("TW_CRASH20_SLEEP_SEED", self.rng.next().to_string())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap()
    }

    /// Watches the child and kills it (SIGKILL) as `plan` says.
    fn watch(&self, child: &mut Child, effects: &Path, plan: KillPlan) -> Ended {
        let pid = child.id();
        let spawned = Instant::now();
        let mut started: Option<Instant> = None;
        let mut nth: Option<Instant> = None;
        let deadline = spawned + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Ended::Exited(status);
            }
            assert!(
                Instant::now() < deadline,
                "{} a child ran for 60 s without ending",
                self.tag
            );
            let kill_at = match plan {
                KillPlan::Never => None,
                KillPlan::AfterSpawn(ms) => Some(spawned + Duration::from_millis(ms)),
                KillPlan::AfterStart(ms) => {
                    if started.is_none()
                        && read_effects(effects)
                            .iter()
                            .any(|e| e.pid == pid && e.what == "start")
                    {
                        started = Some(Instant::now());
                    }
                    started.map(|t| t + Duration::from_millis(ms))
                }
                KillPlan::AfterNth(what, n, ms) => {
                    if nth.is_none()
                        && read_effects(effects)
                            .iter()
                            .filter(|e| e.pid == pid && e.what == what)
                            .count()
                            >= n
                    {
                        nth = Some(Instant::now());
                    }
                    nth.map(|t| t + Duration::from_millis(ms))
                }
            };
            if kill_at.is_some_and(|t| Instant::now() >= t) {
                child.kill().unwrap();
                let status = child.wait().unwrap();
                use std::os::unix::process::ExitStatusExt;
                return match status.signal() {
                    Some(9) => Ended::Killed,
                    // It had ended by itself just before the kill.
                    _ => Ended::Exited(status),
                };
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn snapshot(&self, flow: Uuid, lines: usize) -> Snapshot {
        let (detail, atoms) = self.backend.load_flow(flow).unwrap();
        let with = |state| {
            atoms
                .iter()
                .filter(|a| a.state == state)
                .map(|a| a.name.clone())
                .collect()
        };
        Snapshot {
            lines,
            success: with(AtomState::Success),
            reverted: with(AtomState::Reverted),
            reverting: [
                AtomState::Failure,
                AtomState::Reverting,
                AtomState::Reverted,
            ]
            .into_iter()
            .flat_map(with)
            .collect(),
            flow_state: Some(detail.state),
        }
    }

    /// Runs one series: starts the flow in a child, kills and resumes it
    /// until a child runs it to its end, then compares with an uninterrupted
    /// run.
    fn series(&mut self, number: usize, series: Series) {
        let scratch = Scratch::new("crash20");
        let dir = scratch.0.clone();
        let effects = dir.join("effects");
        let fail_at = series.fail_at;
        let tag = format!(
            "{} series {number} ({series:?}, dir {})",
            self.tag,
            dir.display()
        );
        let mut flow: Option<Uuid> = None;
        let mut before = Snapshot::default();
        let mut kills = 0;
        loop {
            let plan = if kills >= MAX_KILLS_PER_SERIES {
                KillPlan::Never
            } else {
                KillPlan::choose(&mut self.rng, fail_at.is_some())
            };
            let sessions_before = self.sessions.as_mut().map(|sessions| sessions());
            let mut child = self.spawn(&dir, flow, &series);
            let pid = child.id();
            let ended = self.watch(&mut child, &effects, plan);
            if let Some(before) = sessions_before {
                self.settle(&before);
            }
            let ctx = format!("{tag}, child {} (pid {pid}, {plan:?})", self.children);
            let all = read_effects(&effects);
            let new = &all[before.lines.min(all.len())..];
            assert!(
                new.iter().all(|e| e.pid == pid),
                "{ctx}: effects of another process after this child started: {new:?}"
            );

            // No atom recorded SUCCESS executes again; no atom recorded
            // REVERTED is reverted again.
            for e in new {
                assert!(
                    !(e.what == "exec" && before.success.contains(&e.atom)),
                    "{ctx}: {} was recorded SUCCESS when the previous child was killed, and executed again (logbook then: {before:?})",
                    e.atom
                );
                assert!(
                    !(e.what == "revert" && before.reverted.contains(&e.atom)),
                    "{ctx}: {} was recorded REVERTED when the previous child was killed, and was reverted again (logbook then: {before:?})",
                    e.atom
                );
                // A flow that was reverting goes on reverting.
                assert!(
                    e.what != "exec" || before.reverting.is_empty(),
                    "{ctx}: {} executed, though the flow was reverting when the previous child was killed (logbook then: {before:?})",
                    e.atom
                );
            }

            if flow.is_none() {
                match std::fs::read_to_string(dir.join("flow")) {
                    Ok(id) => flow = Some(id.parse().unwrap()),
                    Err(_) => {
                        assert!(
                            matches!(ended, Ended::Killed),
                            "{ctx}: the child ended without recording its flow:\n{}",
                            child_output(&dir, self.children)
                        );
                        // Killed before it said which flow it recorded:
                        // start again.
                        assert!(new.is_empty(), "{ctx}: {new:?}");
                        self.count_kill(None);
                        kills += 1;
                        continue;
                    }
                }
            }
            let uuid = flow.unwrap();
            let now = self.snapshot(uuid, all.len());

            // The logbook does not run ahead of what the tasks did.
            for atom in &now.success {
                assert!(
                    all.iter().any(|e| e.what == "done" && &e.atom == atom),
                    "{ctx}: {atom} is recorded SUCCESS but never finished executing"
                );
            }
            for atom in &now.reverted {
                let reverted = all.iter().any(|e| e.what == "undone" && &e.atom == atom);
                let ran = all.iter().any(|e| e.what == "exec" && &e.atom == atom);
                assert!(
                    reverted || !ran,
                    "{ctx}: {atom} is recorded REVERTED but its revert never finished"
                );
            }

            match ended {
                Ended::Killed => {
                    self.count_kill(new.last());
                    kills += 1;
                    before = now;
                }
                Ended::Exited(status) => {
                    assert!(
                        status.success(),
                        "{ctx}: the child failed ({status}); the logbook when it started: {before:?}; when it ended: {now:?}; its output:\n{}",
                        child_output(&dir, self.children)
                    );
                    assert!(
                        now.flow_state.is_some_and(|s| s.is_final()),
                        "{ctx}: the child ended, the flow is {:?}",
                        now.flow_state
                    );
                    break;
                }
            }
        }
        let flow = flow.unwrap();
        self.compare_with_uninterrupted(&tag, flow, &series, &dir, kills);
    }

    /// Waits until the database server has finished what the dead child had
    /// sent it: until its sessions are gone (`before`: the sessions there
    /// were before the child).
    ///
    /// The next child would see those statements anyway (a resume reads
    /// the records again once it holds the lease); waiting makes the
    /// parent's snapshot of the logbook the one the next child starts from.
    fn settle(&mut self, before: &BTreeSet<i32>) {
        let sessions = self.sessions.as_mut().expect("a server");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut late = false;
        while !sessions().is_subset(before) {
            late = true;
            assert!(
                Instant::now() < deadline,
                "{} the dead child's database sessions are still there after 20 s",
                self.tag
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        self.late_sessions += usize::from(late);
    }

    fn count_kill(&mut self, last: Option<&Effect>) {
        self.kills += 1;
        *self.landed.0.entry(Landed::kind(last)).or_default() += 1;
    }

    /// The series' end equals an uninterrupted run's, from the same inputs.
    fn compare_with_uninterrupted(
        &self,
        tag: &str,
        flow: Uuid,
        series: &Series,
        dir: &Path,
        kills: usize,
    ) {
        let effects = &dir.join("effects");
        let reference_effects = dir.join("reference-effects");
        let memory = persistence::open("memory://").unwrap();
        let mut engine =
            Engine::from_factory("tests::crash_chain20", series.params(&reference_effects))
                .unwrap()
                .input("v0", series.v0)
                .persist(Arc::clone(&memory))
                .max_workers(series.workers());
        let outcome = engine.run();
        assert_eq!(
            outcome.is_ok(),
            series.fail_at.is_none(),
            "{tag}: reference run"
        );
        let (want_detail, want_atoms) = memory.load_flow(engine.flow_uuid().unwrap()).unwrap();
        let (got_detail, got_atoms) = self.backend.load_flow(flow).unwrap();
        assert_eq!(
            got_detail.state, want_detail.state,
            "{tag}: the flow's final state after {kills} kills"
        );
        assert_eq!(got_atoms.len(), want_atoms.len(), "{tag}: atoms");
        if series.tree {
            // The tasks did run side by side: a task started while another
            // one of the same process was running.
            let mut running = HashSet::new();
            let mut side_by_side = 0;
            for e in read_effects(effects) {
                match e.what.as_str() {
                    "exec" => {
                        side_by_side += usize::from(running.iter().any(|(_, pid)| *pid == e.pid));
                        running.insert((e.atom, e.pid));
                    }
                    "done" => {
                        running.remove(&(e.atom, e.pid));
                    }
                    _ => {}
                }
            }
            assert!(side_by_side > 0, "{tag}: no two tasks ran at once");
            // Atoms finish in no fixed order when they run side by side:
            // the order is each number once.
            let mut order: Vec<u64> = got_atoms
                .iter()
                .filter_map(|a| a.meta["done"].as_u64())
                .collect();
            order.sort_unstable();
            assert_eq!(
                order,
                (0..TASKS as u64).collect::<Vec<_>>(),
                "{tag}: the order atoms finished in"
            );
        }
        for (got, want) in got_atoms.iter().zip(&want_atoms) {
            let summary = |a| match series.tree {
                true => summary(a, false),
                false => summary(a, true),
            };
            assert_eq!(
                summary(got),
                summary(want),
                "{tag}: atom {} after {kills} kills (left: crashed and resumed, right: uninterrupted)",
                want.name
            );
        }
        // Whatever ran, ran to its end: every atom that executed in the
        // reference run finished executing (or failed) in the series, and
        // every atom reverted there finished a revert here.
        let want = read_effects(&reference_effects);
        let got = read_effects(effects);
        let ends = |effects: &[Effect], what: &[&str]| -> HashSet<String> {
            effects
                .iter()
                .filter(|e| what.contains(&e.what.as_str()))
                .map(|e| e.atom.clone())
                .collect()
        };
        assert_eq!(
            ends(&got, &["done", "fail"]),
            ends(&want, &["done", "fail"]),
            "{tag}: atoms that finished executing"
        );
        assert_eq!(
            ends(&got, &["undone"]),
            ends(&want, &["undone"]),
            "{tag}: atoms that finished a revert"
        );
    }
}

/// What must equal between a crashed-and-resumed run and an uninterrupted
/// one: state, intention, result, failure, and (`order`) the order it
/// finished in.
fn summary(a: &AtomDetail, order: bool) -> Value {
    json!({
        "name": a.name,
        "state": a.state.to_string(),
        "intention": format!("{:?}", a.intention),
        "result": a.result,
        "failure": a.failure.as_ref().map(|f| format!("{:?}: {f}", f.kind())),
        "revert_failure": a.revert_failure.as_ref().map(ToString::to_string),
        "done": if order { a.meta.get("done") } else { None },
    })
}

fn child_output(dir: &Path, n: usize) -> String {
    std::fs::read_to_string(dir.join(format!("child-{n}.out"))).unwrap_or_default()
}

/// Series on `url` until at least `MIN_KILLS` kills, alternating a flow that
/// succeeds and one that fails near its end and reverts.
fn crash_series(url: String, backend_name: &str, sessions: Option<Sessions>) {
    let seed = seed();
    eprintln!("crash test on {backend_name}: seed {seed} (replay with TASKWIRE_CRASH_SEED={seed})");
    // One stream per backend, both from the one seed.
    let salt = backend_name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let backend = persistence::open(&url).unwrap();
    let mut parent = Parent {
        url,
        backend,
        rng: Rng(seed ^ salt),
        tag: format!("[TASKWIRE_CRASH_SEED={seed} backend={backend_name}]"),
        landed: Landed::default(),
        kills: 0,
        children: 0,
        sessions,
        late_sessions: 0,
    };
    let started = Instant::now();
    let mut number = 0;
    while parent.kills < MIN_KILLS || number < MIN_SERIES {
        let rng = &mut parent.rng;
        let series = Series {
            fail_at: (number % 2 == 1)
                .then(|| FAIL_AT[rng.range(0, FAIL_AT.len() as u64 - 1) as usize]),
            tree: number % 4 == 2,
            v0: rng.range(1, 1_000_000),
        };
        parent.series(number, series);
        number += 1;
    }
    eprintln!(
        "crash test on {backend_name}: {} kills over {number} series and {} child processes in {:.1?} (seed {seed}); where they landed:",
        parent.kills,
        parent.children,
        started.elapsed()
    );
    for (kind, n) in &parent.landed.0 {
        eprintln!("  {n:>3}  {kind}");
    }
    if parent.late_sessions > 0 {
        eprintln!(
            "crash test on {backend_name}: {} dead children's database sessions were still open after the kill (waited for them to end)",
            parent.late_sessions
        );
    }
    assert_eq!(parent.landed.total(), parent.kills);
    // The test of the test: kills landed where they should (with 50 kills
    // each kind gets several; none at all means the plans have drifted).
    for kind in ["inside a task", "between tasks", "during a revert"] {
        assert!(
            parent.landed.0.keys().any(|k| k.starts_with(kind)),
            "{} no kill landed {kind}: {:?}",
            parent.tag,
            parent.landed.0
        );
    }
}

#[test]
fn sqlite_survives_random_kills() {
    let scratch = Scratch::new("crash20-sqlite");
    let url = format!("sqlite://{}", scratch.0.join("log.db").display());
    crash_series(url, "sqlite", None);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_survives_random_kills() {
    /// A database of the test's own, dropped at the end.
    struct Db(String);

    fn admin() -> ::postgres::Client {
        ::postgres::Client::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            ::postgres::NoTls,
        )
        .expect("PostgreSQL on 127.0.0.1:5432")
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ =
                admin().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        }
    }

    let db = Db(format!(
        "taskwire_crash_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    admin()
        .batch_execute(&format!("CREATE DATABASE {}", db.0))
        .unwrap();
    let mut client = admin();
    let name = db.0.clone();
    let sessions = move || -> BTreeSet<i32> {
        client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    crash_series(
        format!("postgres://postgres@127.0.0.1:5432/{}", db.0),
        "postgres",
        Some(Box::new(sessions)),
    );
}

/// Suspends the engine once `atom` is recorded SUCCESS.
struct SuspendAfter(taskwire::Suspender, String);

impl Listener for SuspendAfter {
    fn on_atom(&self, e: &AtomEvent<'_>) {
        if e.atom == self.1 && e.state == AtomState::Success {
            self.0.suspend();
        }
    }
}

/// The first engine bug the crash test found, without a crash: a flow left recorded RESUMING (by a process killed right after
/// `run` recorded it) must be taken up like one left RUNNING.
#[test]
fn a_flow_recorded_resuming_is_taken_up() {
    let scratch = Scratch::new("crash20-resuming");
    let backend = persistence::open("memory://").unwrap();
    let params = json!({ "effects": scratch.0.join("effects"), "fail_at": null });
    let engine = Engine::from_factory("tests::crash_chain20", params)
        .unwrap()
        .input("v0", 7)
        .persist(Arc::clone(&backend))
        .owner(OWNER);
    let suspender = engine.suspender();
    let mut engine = engine.listener(SuspendAfter(suspender, atom_name(4)));
    assert_eq!(engine.run().unwrap().flow_state(), FlowState::Suspended);
    let uuid = engine.flow_uuid().unwrap();
    drop(engine);
    // What a process killed right after `run` recorded RESUMING leaves.
    let (mut detail, _) = backend.load_flow(uuid).unwrap();
    detail.state = FlowState::Resuming;
    backend.save_flow(&detail, None).unwrap();

    let done = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .owner(OWNER)
        .run();
    assert!(done.is_ok(), "{}", done.unwrap_err());
    let (detail, atoms) = backend.load_flow(uuid).unwrap();
    assert_eq!(detail.state, FlowState::Success);
    assert!(atoms.iter().all(|a| a.state == AtomState::Success));
    let execs = read_effects(&scratch.0.join("effects"))
        .into_iter()
        .filter(|e| e.what == "exec")
        .count();
    assert_eq!(execs, TASKS, "every task ran once");
}

/// A second engine bug, seen once in the crash test on PostgreSQL, with
/// `TASKWIRE_CRASH_SEED=1796474110512043736` (series 0, child 11; timing
/// decides whether a replay meets it again): `Engine::resume` reads the records first
/// and takes the lease later (at `compile`/`run`). A write of the previous
/// holder that lands in between — on PostgreSQL or MySQL the statements a
/// killed process had already sent are still executed by the server after
/// the kill, and they pass the fence, since the lease is still theirs — is
/// not seen by the new engine, which runs from a stale view: here it
/// executes again an atom recorded SUCCESS before it took the lease. (In the
/// crash test the stale view was a flow recorded RESUMING while the logbook
/// already said RUNNING, and the resume failed with "cannot go from RESUMING
/// to RESUMING".) Taking the lease before reading, or reading again once it
/// is taken, would close the window.
#[test]
fn a_resume_sees_what_was_recorded_before_it_took_the_lease() {
    let scratch = Scratch::new("crash20-stale");
    let effects = scratch.0.join("effects");
    let backend = persistence::open("memory://").unwrap();
    let params = json!({ "effects": effects, "fail_at": null });
    let mut dying = Engine::from_factory("tests::crash_chain20", params)
        .unwrap()
        .input("v0", 7)
        .persist(Arc::clone(&backend))
        .owner(OWNER);
    dying.compile().unwrap();
    let uuid = dying.flow_uuid().unwrap();
    // (`dying` is kept: dropping it would give its lease back.)
    // The dying process's lease, and its record of t00 running.
    let lease = backend.current_lease(uuid).unwrap().unwrap();
    let (_, atoms) = backend.load_flow(uuid).unwrap();
    let mut t00 = atoms[0].clone();
    t00.state = AtomState::Running;
    backend.save_atom(&t00, Some(&lease)).unwrap();
    let (mut detail, _) = backend.load_flow(uuid).unwrap();
    detail.state = FlowState::Running;
    backend.save_flow(&detail, Some(&lease)).unwrap();

    // A new process reads the records...
    let mut engine = Engine::resume(Arc::clone(&backend), uuid)
        .unwrap()
        .owner(OWNER);
    // ... then the dying process's last statement lands: t00 succeeded.
    t00.state = AtomState::Success;
    t00.result = Some(json!(7_000_021));
    t00.meta = json!({ "done": 0 });
    backend.save_atom(&t00, Some(&lease)).unwrap();
    // ... then the new process takes the lease and runs.
    let done = engine.run().unwrap();
    assert_eq!(done.flow_state(), FlowState::Success);
    let execs: Vec<Effect> = read_effects(&effects)
        .into_iter()
        .filter(|e| e.what == "exec" && e.atom == "t00")
        .collect();
    assert_eq!(
        execs,
        [],
        "t00 was recorded SUCCESS before the new engine took the lease, and executed again"
    );
}
