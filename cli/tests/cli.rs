//! The `taskwire` binary against real logbooks (an SQLite file, a PostgreSQL
//! database) that the test fills by running real flows, a Redis jobboard and
//! a RabbitMQ worker: every command, its `--json` and its human output, and
//! bad input for each. `flow resume` and `flow take-over` need the flow
//! factories, which this test binary registers: they run through the
//! library entry (`taskwire::cli`), as a user's own binary would.

#[path = "../../tests/dist/mod.rs"]
mod dist;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use taskwire::persistence::{self, Backend, LogBook, Uuid};
use taskwire::retry::Times;
use taskwire::{Engine, Failure, Flow, FnTask};

// ------------------------------------------------------------ the flows

#[derive(Debug)]
struct ParseError(std::io::Error);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse the export")
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

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
    Ok(Flow::linear("flaky-call")
        .retry(Times::new(3))
        .add(FnTask::new("call").run(|_| {
            Err(Failure::new(
                taskwire::FailureKind::Task,
                "503 from upstream",
            ))
        })))
}

taskwire::flow_factory!("cli_tests::backup", backup);
taskwire::flow_factory!("cli_tests::import", import);
taskwire::flow_factory!("cli_tests::flaky", flaky);

/// The flows a filled logbook holds.
struct Filled {
    book: Uuid,
    ok: Uuid,
    failed: Uuid,
    retried: Uuid,
    /// Compiled, never run, its lease held by a stuck owner.
    stuck: Uuid,
}

fn run(backend: &Arc<dyn Backend>, book: Uuid, factory: &str) -> Uuid {
    let mut engine = Engine::from_factory(factory, json!({}))
        .unwrap()
        .persist(backend.clone())
        .logbook(book);
    let _ = engine.run();
    engine.flow_uuid().unwrap()
}

fn fill(url: &str) -> Filled {
    let backend = persistence::open(url).unwrap();
    let book = LogBook::new("nightly");
    backend.save_logbook(&book).unwrap();
    let ok = run(&backend, book.uuid, "cli_tests::backup");
    let failed = run(&backend, book.uuid, "cli_tests::import");
    let retried = run(&backend, book.uuid, "cli_tests::flaky");
    let mut engine = Engine::from_factory("cli_tests::backup", json!({}))
        .unwrap()
        .persist(backend.clone())
        .logbook(book.uuid)
        .owner("stuck-owner");
    engine.compile().unwrap();
    let stuck = engine.flow_uuid().unwrap();
    // A stuck process: it keeps the lease (its heartbeat renews it).
    std::mem::forget(engine);
    Filled {
        book: book.uuid,
        ok,
        failed,
        retried,
        stuck,
    }
}

// ------------------------------------------------------------ running it

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// A failure: the code, and one line on stderr naming what is wrong.
    fn fails(&self, code: i32, says: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
        assert!(lines[0].starts_with("taskwire: error: "), "{}", self.stderr);
        assert!(self.stderr.contains(says), "{} lacks {says}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }

    fn ok(&self) -> &Out {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The real binary, with `args`, without the caller's TASKWIRE_* settings.
fn tw(args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_taskwire"))
        .args(args)
        .env_remove("TASKWIRE_URL")
        .env_remove("TASKWIRE_BOARD")
        .env_remove("TASKWIRE_BOARD_NAME")
        .env_remove("TASKWIRE_BROKER")
        .env_remove("TASKWIRE_NAMESPACE")
        .output()
        .expect("run taskwire");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The library entry, in this process (which registers the factories).
fn lib(args: &[&str]) -> (std::process::ExitCode, String) {
    use taskwire::cli::clap::Parser;
    let mut all = vec!["taskwire"];
    all.extend_from_slice(args);
    let cli = taskwire::cli::Cli::try_parse_from(all).unwrap();
    let mut out = Vec::new();
    let code = taskwire::cli::run(cli, &mut out);
    (code, String::from_utf8(out).unwrap())
}

// ------------------------------------------------------------ the checks

mod checks {
    use super::*;

    pub(crate) fn logbooks(url: &str, f: &Filled) {
        let out = tw(&["--url", url, "logbooks", "--json"]);
        let books = out.ok().json();
        let books = books.as_array().unwrap();
        assert_eq!(books.len(), 1);
        assert_eq!(books[0]["book"]["name"], "nightly");
        assert_eq!(books[0]["book"]["uuid"], f.book.to_string());
        assert_eq!(books[0]["flows"].as_array().unwrap().len(), 4);
        let out = tw(&["--url", url, "logbooks"]);
        let text = &out.ok().stdout;
        assert!(text.starts_with("ID"), "{text}");
        assert!(text.contains("nightly"), "{text}");
        assert!(text.contains("1 PENDING, 2 REVERTED, 1 SUCCESS"), "{text}");
    }

    pub(crate) fn flows_list(url: &str, f: &Filled) {
        let ids = |v: &Value| -> Vec<String> {
            v["flows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["uuid"].as_str().unwrap().to_owned())
                .collect()
        };
        let all = tw(&["--url", url, "flows", "list", "--json"]).ok().json();
        // Newest first.
        assert_eq!(
            ids(&all),
            [f.stuck, f.retried, f.failed, f.ok].map(|u| u.to_string())
        );
        assert_eq!(all["next"], Value::Null);
        assert_eq!(all["flows"][3]["atoms"], 2);
        assert_eq!(all["flows"][3]["logbook_name"], "nightly");
        let failed = tw(&[
            "--url", url, "flows", "list", "--state", "reverted", "--json",
        ])
        .ok()
        .json();
        assert_eq!(ids(&failed), [f.retried, f.failed].map(|u| u.to_string()));
        let named = tw(&["--url", url, "flows", "list", "--name", "order", "--json"])
            .ok()
            .json();
        assert_eq!(ids(&named), [f.failed.to_string()]);
        let prefixed = tw(&[
            "--url", url, "flows", "list", "--prefix", "nightly-", "--json",
        ])
        .ok()
        .json();
        assert_eq!(ids(&prefixed), [f.stuck, f.ok].map(|u| u.to_string()));
        let book = f.book.to_string();
        let by_book = tw(&[
            "--url",
            url,
            "flows",
            "list",
            "--logbook",
            &book,
            "--newer-than",
            "1h",
            "--json",
        ])
        .ok()
        .json();
        assert_eq!(ids(&by_book).len(), 4);
        let old = tw(&["--url", url, "flows", "list", "--older-than", "1h"]);
        assert_eq!(old.ok().stdout, "no flows\n");

        // Pages of two, through the cursor printed under the first.
        let first = tw(&["--url", url, "flows", "list", "--limit", "2"]);
        let text = &first.ok().stdout;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("ID") && lines[0].contains("STATE"),
            "{text}"
        );
        assert!(
            lines[1].starts_with(&f.stuck.to_string()) && lines[1].contains("PENDING"),
            "{text}"
        );
        let cursor = lines[3].strip_prefix("more: --after ").expect(text);
        let second = tw(&[
            "--url", url, "flows", "list", "--limit", "2", "--after", cursor, "--json",
        ])
        .ok()
        .json();
        assert_eq!(ids(&second), [f.failed, f.ok].map(|u| u.to_string()));
        assert_eq!(second["next"], Value::Null);
        let updated = tw(&[
            "--url", url, "flows", "list", "--sort", "updated", "--limit", "1", "--json",
        ])
        .ok()
        .json();
        let next = updated["next"].as_str().unwrap();
        assert!(next.starts_with('u'), "{next}");

        tw(&["--url", url, "flows", "list", "--state", "broken"])
            .fails(2, "--state `broken` is not a flow state");
        tw(&["--url", url, "flows", "list", "--after", "c12"]).fails(2, "invalid cursor `c12`");
        tw(&["--url", url, "flows", "list", "--limit", "0"])
            .fails(2, "--limit 0 is not between 1 and 10000");
        tw(&["--url", url, "flows", "list", "--newer-than", "soon"])
            .fails(2, "--newer-than `soon` is not a duration");
        tw(&["--url", url, "flows", "list", "--logbook", "42"])
            .fails(2, "`42` is not a logbook id");
        // A cursor of the other order.
        tw(&["--url", url, "flows", "list", "--after", next]).fails(2, "not by created time");
    }

    pub(crate) fn flow_show(url: &str, f: &Filled) {
        let failed = f.failed.to_string();
        let shown = tw(&["--url", url, "flow", "show", &failed, "--json"])
            .ok()
            .json();
        assert_eq!(shown["flow"]["state"], "REVERTED");
        assert_eq!(shown["logbook"]["name"], "nightly");
        let atoms = shown["atoms"].as_array().unwrap();
        assert_eq!(atoms[0]["name"], "fetch");
        assert_eq!(atoms[0]["state"], "REVERTED");
        assert_eq!(atoms[0]["result"], 3);
        assert_eq!(atoms[0]["attempts"], 1);
        assert!(atoms[0]["duration_ms"].as_i64().unwrap() >= 0);
        assert_eq!(atoms[1]["state"], "REVERTED");
        assert_eq!(atoms[1]["failure"]["message"], "cannot parse the export");
        assert_eq!(atoms[1]["failure"]["causes"], json!(["disk on fire"]));

        let text = tw(&["--url", url, "flow", "show", &failed])
            .ok()
            .stdout
            .clone();
        assert!(text.contains("flow      import-orders ("), "{text}");
        assert!(text.contains("state     REVERTED"), "{text}");
        assert!(text.contains("factory   cli_tests::import"), "{text}");
        assert!(text.contains("lease     free"), "{text}");
        let row = text
            .lines()
            .find(|l| l.starts_with("0  fetch"))
            .expect(&text);
        assert!(
            row.contains("TASK") && row.contains("REVERTED") && row.contains("REVERT"),
            "{row}"
        );
        assert!(row.trim_end().ends_with('3'), "{row}");
        assert!(
            text.contains("failures:\n  parse (REVERTED):\n    Task `"),
            "{text}"
        );
        assert!(
            text.contains("cannot parse the export\n      caused by: disk on fire"),
            "{text}"
        );

        let retried = f.retried.to_string();
        let text = tw(&["--url", url, "flow", "show", &retried])
            .ok()
            .stdout
            .clone();
        assert!(
            text.contains("retry history of flaky-call_retry:"),
            "{text}"
        );
        assert!(text.contains("  attempt 3: value "), "{text}");
        assert!(text.contains("    call failed:\n      Task `"), "{text}");
        assert!(text.contains("503 from upstream"), "{text}");
        let json = tw(&["--url", url, "flow", "show", &retried, "--json"])
            .ok()
            .json();
        let call = json["atoms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "call")
            .unwrap()
            .clone();
        assert_eq!(call["attempts"], 3, "{call}");

        let stuck = f.stuck.to_string();
        let text = tw(&["--url", url, "flow", "show", &stuck])
            .ok()
            .stdout
            .clone();
        assert!(
            text.contains("lease     held by `stuck-owner` (token 1)"),
            "{text}"
        );

        let missing = Uuid::new_v4().to_string();
        tw(&["--url", url, "flow", "show", &missing])
            .fails(3, &format!("flow detail {missing} not found"));
        tw(&["--url", url, "flow", "show", "not-an-id"]).fails(2, "`not-an-id` is not a flow id");
        tw(&["--url", url, "flow", "show"]).fails_usage();
    }

    pub(crate) fn flow_picture(url: &str, f: &Filled) {
        let failed = f.failed.to_string();
        // The standalone binary has no factory: atoms without edges, and a note.
        let out = tw(&["--url", url, "flow", "picture", &failed, "--dot"]);
        let dot = &out.ok().stdout;
        assert!(dot.starts_with("digraph"), "{dot}");
        assert!(dot.contains(r#"label="fetch\nREVERTED""#), "{dot}");
        assert!(dot.contains("fillcolor="), "{dot}");
        assert!(!dot.contains("a0 -> a1"), "{dot}");
        assert!(out.stderr.contains("no flow factory"), "{}", out.stderr);
        let out = tw(&[
            "--url",
            url,
            "flow",
            "picture",
            &failed,
            "--mermaid",
            "--json",
        ]);
        let v = out.ok().json();
        assert_eq!(
            (v["format"].as_str(), v["edges"].as_bool()),
            (Some("mermaid"), Some(false))
        );
        assert!(v["text"].as_str().unwrap().starts_with("flowchart"));
        // Through the library, in a binary with the factories: edges too.
        let (code, dot) = lib(&["--url", url, "flow", "picture", &failed]);
        assert_eq!(code, std::process::ExitCode::SUCCESS);
        assert!(dot.contains("import-orders (linear): REVERTED"), "{dot}");
        assert!(dot.contains("a0 -> a1"), "{dot}");
        tw(&[
            "--url",
            url,
            "flow",
            "picture",
            &failed,
            "--dot",
            "--mermaid",
        ])
        .fails_usage();
        let missing = Uuid::new_v4().to_string();
        tw(&["--url", url, "flow", "picture", &missing]).fails(3, "not found");
    }

    pub(crate) fn resume_and_take_over(url: &str, f: &Filled) {
        let stuck = f.stuck.to_string();
        // The binary cannot rebuild the flow.
        tw(&["--url", url, "flow", "resume", &stuck]).fails(
            6,
            "no flow factory is registered under the name `cli_tests::backup`",
        );
        // The library can, but another owner holds the lease.
        let (code, text) = lib(&["--url", url, "flow", "resume", &stuck]);
        assert_eq!(code, std::process::ExitCode::from(6), "{text}");
        let (code, text) = lib(&["--url", url, "flow", "take-over", &stuck, "--grace", "0s"]);
        assert_eq!(code, std::process::ExitCode::SUCCESS, "{text}");
        assert!(
            text.contains("took flow") && text.contains("from `stuck-owner` (token 1)"),
            "{text}"
        );
        assert!(text.contains("(nightly-backup) ended SUCCESS"), "{text}");
        let shown = tw(&["--url", url, "flow", "show", &stuck, "--json"])
            .ok()
            .json();
        assert_eq!(shown["flow"]["state"], "SUCCESS");
        // Ended: nothing to resume (the binary says so without a factory).
        let out = tw(&["--url", url, "flow", "resume", &stuck]);
        assert_eq!(
            out.ok().stdout,
            format!("flow {stuck} (nightly-backup) has already ended SUCCESS; nothing to resume\n")
        );
        tw(&[
            "--url",
            url,
            "flow",
            "take-over",
            &stuck,
            "--grace",
            "never",
        ])
        .fails(2, "--grace `never`");
        // Fencing only, without a factory, in the binary.
        let failed = f.failed.to_string();
        let out = tw(&[
            "--url",
            url,
            "flow",
            "take-over",
            &failed,
            "--fence-only",
            "--json",
        ]);
        let v = out.ok().json();
        assert_eq!(v["flow"], failed);
        assert!(v["token"].as_u64().unwrap() >= 1);
        let missing = Uuid::new_v4().to_string();
        tw(&["--url", url, "flow", "take-over", &missing, "--fence-only"]).fails(3, "not found");
        // A resumed flow that fails and reverts: exit 7, after its summary.
        let backend = persistence::open(url).unwrap();
        let mut engine = Engine::from_factory("cli_tests::import", json!({}))
            .unwrap()
            .persist(backend)
            .logbook(f.book);
        engine.compile().unwrap();
        let pending = engine.flow_uuid().unwrap().to_string();
        drop(engine);
        let (code, text) = lib(&["--url", url, "flow", "resume", &pending]);
        assert_eq!(code, std::process::ExitCode::from(7), "{text}");
        assert!(text.contains("(import-orders) ended REVERTED"), "{text}");
    }

    pub(crate) fn prune(url: &str, _f: &Filled) {
        let backend = persistence::open(url).unwrap();
        let old = LogBook::new("old-runs");
        backend.save_logbook(&old).unwrap();
        run(&backend, old.uuid, "cli_tests::backup");
        std::thread::sleep(Duration::from_millis(20));
        let dry = tw(&[
            "--url",
            url,
            "prune",
            "--older-than",
            "10ms",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
        let names: Vec<&str> = dry["logbooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["book"]["name"].as_str().unwrap())
            .collect();
        // `nightly` has a flow that never ran: kept unless asked.
        assert_eq!(names, ["old-runs"]);
        let out = tw(&["--url", url, "prune", "--older-than", "10ms"]);
        let text = &out.ok().stdout;
        assert!(text.starts_with("deleted 1 logbook(s)\nID"), "{text}");
        assert!(text.contains("old-runs"), "{text}");
        let books = tw(&["--url", url, "logbooks", "--json"]).ok().json();
        assert_eq!(books.as_array().unwrap().len(), 1);
        let kept = tw(&["--url", url, "prune", "--older-than", "30d"])
            .ok()
            .stdout
            .clone();
        assert_eq!(kept, "deleted 0 logbook(s)\n");
        tw(&["--url", url, "prune", "--older-than", "forever"]).fails(2, "--older-than `forever`");
        tw(&["--url", url, "prune"]).fails_usage();
    }
}

impl Out {
    /// A usage error of the argument parser: exit 2, no panic.
    fn fails_usage(&self) {
        assert_eq!(self.code, 2, "{}", self.stderr);
        assert!(self.stderr.contains("error:"), "{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

macro_rules! suite {
    ($module:ident, $store:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn logbooks() {
                let (url, _keep) = $store("logbooks");
                checks::logbooks(&url, &fill(&url));
            }
            #[test]
            fn flows_list() {
                let (url, _keep) = $store("list");
                checks::flows_list(&url, &fill(&url));
            }
            #[test]
            fn flow_show() {
                let (url, _keep) = $store("show");
                checks::flow_show(&url, &fill(&url));
            }
            #[test]
            fn flow_picture() {
                let (url, _keep) = $store("picture");
                checks::flow_picture(&url, &fill(&url));
            }
            #[test]
            fn resume_and_take_over() {
                let (url, _keep) = $store("resume");
                checks::resume_and_take_over(&url, &fill(&url));
            }
            #[test]
            fn prune() {
                let (url, _keep) = $store("prune");
                checks::prune(&url, &fill(&url));
            }
        }
    };
}

fn sqlite(test: &str) -> (String, dist::Scratch) {
    let scratch = dist::Scratch::new(test);
    (
        format!("sqlite://{}", scratch.0.join("log.db").display()),
        scratch,
    )
}

fn postgres(test: &str) -> (String, dist::PgDb) {
    let db = dist::PgDb::new(test);
    (db.url(), db)
}

suite!(sqlite_logbook, sqlite);
suite!(postgres_logbook, postgres);

// ------------------------------------------------------------ where it looks

#[test]
fn bad_urls_and_unreachable_servers_are_one_line_errors() {
    let scratch = dist::Scratch::new("urls");
    let missing = format!("sqlite://{}", scratch.0.join("none.db").display());
    tw(&["--url", &missing, "logbooks"]).fails(3, "the file does not exist");
    assert!(
        !scratch.0.join("none.db").exists(),
        "the command created a logbook"
    );
    tw(&["--url", "redis://127.0.0.1/0", "logbooks"])
        .fails(5, "unknown persistence URL scheme `redis`");
    tw(&["--url", "nonsense", "flows", "list"]).fails(5, "no scheme");
    tw(&[
        "--url",
        "postgres://postgres:secret@127.0.0.1:1/x?timeout=2s",
        "flows",
        "list",
    ])
    .fails(4, "127.0.0.1:1/x");
    let out = tw(&[
        "--url",
        "postgres://postgres:secret@127.0.0.1:1/x?timeout=2s",
        "logbooks",
    ]);
    assert!(!out.stderr.contains("secret"), "{}", out.stderr);
    tw(&[
        "--url",
        "postgres://x@127.0.0.1/db?timeout=soon",
        "logbooks",
    ])
    .fails(5, "`timeout=soon` is not a duration");
    // The default: taskwire.db in the working directory, and the env var.
    let out = Command::new(env!("CARGO_BIN_EXE_taskwire"))
        .args(["logbooks"])
        .current_dir(&scratch.0)
        .env_remove("TASKWIRE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no logbook at `sqlite://taskwire.db`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the default is taskwire.db in the working directory"),
        "{stderr}"
    );
    let (url, _keep) = sqlite("env");
    fill(&url);
    let out = Command::new(env!("CARGO_BIN_EXE_taskwire"))
        .args(["logbooks", "--json"])
        .env("TASKWIRE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nightly"));
    tw(&["frobnicate"]).fails_usage();
    let help = tw(&["--help"]);
    assert!(
        help.ok().stdout.contains("Exit codes: 0 success"),
        "{}",
        help.stdout
    );
}

// ------------------------------------------------------------ jobboard

#[test]
fn jobs_and_dead_jobs_on_a_redis_board() {
    use taskwire::jobboard::{JobBoard, JobState};
    let board = dist::RedisBoard::new("cli-jobs");
    let b = |args: &[&str]| {
        let mut all = vec!["--board", dist::REDIS, "--board-name", board.0.as_str()];
        all.extend_from_slice(args);
        tw(&all)
    };
    assert_eq!(b(&["jobs", "list"]).ok().stdout, "no jobs\n");
    let posted = b(&[
        "jobs",
        "post",
        "cli_tests::backup",
        "--params",
        r#"{"full": true}"#,
        "--input",
        "size=10",
        "--input",
        "owner=alice",
        "--name",
        "backup for alice",
        "--priority",
        "5",
        "--max-failures",
        "1",
        "--json",
    ])
    .ok()
    .json();
    let id = posted["id"].as_str().unwrap().to_owned();
    assert_eq!(posted["state"], "ready");
    assert_eq!(posted["inputs"], json!({"size": 10, "owner": "alice"}));
    assert_eq!(posted["params"], json!({"full": true}));
    assert_eq!(posted["priority"], 5);
    let text = b(&["jobs", "post", "cli_tests::import"])
        .ok()
        .stdout
        .clone();
    assert!(
        text.starts_with("posted job ") && text.ends_with(" (cli_tests::import)\n"),
        "{text}"
    );

    let listed = b(&["jobs", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let text = b(&["jobs", "list", "--state", "ready"]).ok().stdout.clone();
    assert!(
        text.starts_with("ID") && text.contains("backup for alice") && text.contains("0/1"),
        "{text}"
    );
    let shown = b(&["jobs", "show", &id]).ok().stdout.clone();
    assert!(
        shown.contains("job       backup for alice (") && shown.contains("state     ready"),
        "{shown}"
    );
    assert!(shown.contains("failures  0 of 1 allowed"), "{shown}");

    // A conductor claims it and fails: dead.
    let api = board.open();
    let claim = api
        .claim("conductor-1", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    assert_eq!(claim.job.id.to_string(), id);
    b(&["jobs", "cancel", &id]).fails(6, "is claimed by `conductor-1`");
    assert_eq!(
        api.fail(&claim, "logbook unreachable").unwrap(),
        JobState::Dead
    );
    let dead = b(&["dead", "list"]).ok().stdout.clone();
    assert!(
        dead.contains("backup for alice")
            && dead.contains("logbook unreachable")
            && dead.contains("1/1"),
        "{dead}"
    );
    let dead = b(&["dead", "list", "--json"]).ok().json();
    assert_eq!(dead[0]["failures"][0]["owner"], "conductor-1");
    let requeued = b(&["dead", "requeue", &id]).ok().stdout.clone();
    assert!(
        requeued.contains("is ready again; its 1 failure(s) were cleared"),
        "{requeued}"
    );
    assert_eq!(b(&["dead", "list"]).ok().stdout, "no dead jobs\n");
    b(&["dead", "requeue", &id]).fails(6, "is ready, not dead");
    let cancelled = b(&["jobs", "cancel", &id, "--json"]).ok().json();
    assert_eq!(cancelled["cancelled"]["id"], id);
    b(&["jobs", "show", &id]).fails(3, &format!("job {id} not found"));
    // A claimed job goes with --force.
    let claim = api
        .claim("conductor-2", Duration::from_secs(60))
        .unwrap()
        .unwrap();
    let other = claim.job.id.to_string();
    b(&["jobs", "cancel", &other, "--force"]).ok();
    assert!(api.list(None).unwrap().is_empty());

    b(&["jobs", "show", "x"]).fails(2, "`x` is not a job id");
    b(&["jobs", "list", "--state", "lost"]).fails(2, "--state `lost` is not a job state");
    b(&["jobs", "post", "f", "--params", "{oops"]).fails(2, "--params `{oops` is not JSON");
    b(&["jobs", "post", "f", "--input", "novalue"]).fails(2, "--input `novalue` is not NAME=VALUE");
    b(&["jobs", "post", "f", "--max-failures", "0"]).fails(2, "--max-failures must be at least 1");
    b(&["dead", "requeue", &Uuid::new_v4().to_string()]).fails(3, "not found");
    tw(&["jobs", "list"]).fails(
        2,
        "no jobboard: name one with --board URL or TASKWIRE_BOARD",
    );
    tw(&[
        "--board",
        "redis://127.0.0.1:1/0?timeout=1s&connect_timeout=1s",
        "jobs",
        "list",
    ])
    .fails(4, "127.0.0.1:1");
    tw(&["--board", "nats://x", "jobs", "list"]).fails(5, "unknown jobboard URL scheme `nats`");
    tw(&[
        "--board",
        dist::REDIS,
        "--board-name",
        "bad name",
        "jobs",
        "list",
    ])
    .fails(5, "board name `bad name`");
}

#[test]
fn jobs_on_a_postgres_board() {
    let db = dist::PgDb::new("cli-pgjobs");
    let url = db.url();
    let b = |args: &[&str]| {
        let mut all = vec!["--board", url.as_str()];
        all.extend_from_slice(args);
        tw(&all)
    };
    let posted = b(&["jobs", "post", "cli_tests::backup", "--json"])
        .ok()
        .json();
    let id = posted["id"].as_str().unwrap().to_owned();
    let listed = b(&["jobs", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["id"], id);
    b(&["dead", "requeue", &id]).fails(6, "is ready, not dead");
    b(&["jobs", "cancel", &id]).ok();
    assert_eq!(b(&["jobs", "list"]).ok().stdout, "no jobs\n");
}

// ------------------------------------------------------------ workers

#[test]
fn workers_are_listed_from_their_heartbeats() {
    use taskwire::worker::Worker;
    use taskwire::Registry;
    let ns = dist::Namespace::new("cli-workers");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _enter = runtime.enter();
    let mut registry = Registry::new();
    registry
        .register(FnTask::new("ops::resize").run(|_| Ok(json!(1))).into_def())
        .unwrap();
    let handle = Worker::new("w-cli-1", ns.broker(), registry)
        .heartbeat(Duration::from_millis(200))
        .start()
        .unwrap();
    let args = [
        "--broker",
        dist::AMQP,
        "--namespace",
        ns.0.as_str(),
        "workers",
        "list",
        "--listen",
        "1500ms",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let workers = tw(&json_args).ok().json();
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert!(
        workers[0]["worker"]
            .as_str()
            .unwrap()
            .starts_with("w-cli-1"),
        "{workers:?}"
    );
    assert_eq!(workers[0]["tasks"][0]["name"], "ops::resize");
    assert_eq!(workers[0]["heartbeat_ms"], 200);
    assert!(workers[0]["hellos"].as_u64().unwrap() >= 3);
    let text = tw(&args).ok().stdout.clone();
    assert!(
        text.starts_with("WORKER") && text.contains("w-cli-1") && text.contains("live"),
        "{text}"
    );
    assert!(text.contains("ops::resize@1.0"), "{text}");
    drop(handle);
    let empty_ns = dist::Namespace::new("cli-none");
    let text = tw(&[
        "--broker",
        dist::AMQP,
        "--namespace",
        empty_ns.0.as_str(),
        "workers",
        "list",
        "--listen",
        "300ms",
    ])
    .ok()
    .stdout
    .clone();
    assert!(text.starts_with("no workers heard on namespace"), "{text}");
    tw(&["workers", "list"]).fails(
        2,
        "no broker: name one with --broker URL or TASKWIRE_BROKER",
    );
    tw(&[
        "--broker",
        "amqp://guest:guest@127.0.0.1:1/%2f?connect_timeout=1s",
        "workers",
        "list",
    ])
    .fails(4, "connect");
    tw(&["--broker", "http://x", "workers", "list"]).fails(5, "expected amqp://");
    tw(&[
        "--broker",
        dist::AMQP,
        "workers",
        "list",
        "--listen",
        "a while",
    ])
    .fails(2, "--listen `a while`");
}

// ------------------------------------------------------------ the dashboard

/// `taskwire serve` in the background, killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET: the status line's code and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    (code, response)
}

#[test]
fn serve_shows_the_logbook_on_loopback() {
    use std::io::BufRead;
    let (url, _keep) = sqlite("serve");
    let f = fill(&url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskwire"))
        .args(["--url", &url, "serve", "--listen", "127.0.0.1:0"])
        .env_remove("TASKWIRE_ACTION_TOKEN")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    // "taskwire: dashboard of sqlite://… on http://127.0.0.1:PORT (read-only); …"
    assert!(line.contains("(read-only)"), "{line}");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no address in {line}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let (code, page) = http_get(&addr, "/");
    assert_eq!(code, 200, "{page}");
    for flow in [f.ok, f.failed, f.retried] {
        assert!(page.contains(&flow.to_string()), "{flow} not listed");
    }
    let (code, page) = http_get(&addr, &format!("/flows/{}", f.failed));
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("disk on fire"),
        "the failure's cause is shown"
    );
    let (code, page) = http_get(&addr, "/?state=SLEEPY");
    assert_eq!(code, 400, "{page}");
    assert!(page.contains("state"), "{page}");
    // Read-only: an action is refused.
    let (code, _) = http_get(&addr, &format!("/actions/flows/{}/resume", f.stuck));
    assert_eq!(code, 405);
    drop(served);
}

#[test]
fn serve_refuses_what_it_cannot_do_safely() {
    let (url, _keep) = sqlite("serve-bad");
    fill(&url);
    tw(&["--url", &url, "serve", "--listen", "0.0.0.0:0"]).fails(5, "not a loopback address");
    tw(&["--url", &url, "serve", "--listen", "localhost"])
        .fails(2, "--listen `localhost` is not an address");
    tw(&["--url", &url, "serve", "--allow-actions"]).fails(5, "action token is missing");
    tw(&[
        "--url",
        &url,
        "serve",
        "--allow-actions",
        "--action-token",
        "short",
    ])
    .fails(5, "action token is too short");
    tw(&["--url", &url, "serve", "--poll", "0s"]).fails(5, "poll interval");
    tw(&["--url", &url, "serve", "--poll", "often"]).fails(2, "--poll `often`");
    // A missing logbook is not created, as with every command.
    let scratch = dist::Scratch::new("serve-none");
    let missing = format!("sqlite://{}", scratch.0.join("none.db").display());
    tw(&["--url", &missing, "serve"]).fails(3, "the file does not exist");
    // The port is taken: a one-line error, not a panic.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    tw(&["--url", &url, "serve", "--listen", &addr]).fails(5, &format!("cannot listen on {addr}"));
}
