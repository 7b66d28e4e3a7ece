//! The create_volume example's observable outcomes: it succeeds, reverts the
//! API flow, reschedules to another host, and marks the volume in error when
//! no host can create it. `cargo test` builds the examples; this runs the
//! built binary with a logbook of its own.

use std::path::PathBuf;
use std::process::Command;

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>/examples/create_volume
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    dir.join(format!("create_volume{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example with `args`; gives (succeeded, stdout).
fn run(test: &str, args: &[&str]) -> (bool, String) {
    let db = std::env::temp_dir().join(format!("taskwire-cv-{test}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let out = Command::new(example())
        .args(args)
        .args(["--logbook", &format!("sqlite://{}", db.display())])
        .output()
        .expect("the example is built by `cargo test`");
    let _ = std::fs::remove_file(&db);
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l.trim_end() == line)
}

#[test]
fn it_creates_the_volume_on_the_best_host() {
    let (ok, out) = run("ok", &[]);
    assert!(ok, "{out}");
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-a:/volumes/1000 (allocated raw)"
        ),
        "{out}"
    );
    for flow in [
        "volume_create_api",
        "volume_create_scheduler",
        "volume_create_manager",
    ] {
        assert!(
            has_line(&out, &format!("  flow {flow} is SUCCESS")),
            "{out}"
        );
    }
    assert!(
        has_line(&out, "volumes: {1000: \"available\"}, free quota: 90 GiB"),
        "{out}"
    );
}

#[test]
fn a_failed_commit_reverts_the_api_flow() {
    let (ok, out) = run("commit", &["--fail-at", "commit"]);
    assert!(!ok, "{out}");
    assert!(has_line(&out, "    released reservation 1"), "{out}");
    assert!(has_line(&out, "    deleted database entry 1000"), "{out}");
    assert!(
        has_line(&out, "  flow volume_create_api is REVERTED"),
        "{out}"
    );
    assert!(
        !out.contains("volume_create_scheduler"),
        "nothing was scheduled: {out}"
    );
    assert!(has_line(&out, "volumes: {}, free quota: 100 GiB"), "{out}");
    assert!(
        has_line(
            &out,
            "(the task's own error came back: Injected(\"commit\"))"
        ),
        "{out}"
    );
}

#[test]
fn a_host_that_fails_is_rescheduled_to_the_next() {
    let (ok, out) = run(
        "resched",
        &["--fail-at", "create@host-a", "--source", "image"],
    );
    assert!(ok, "{out}");
    assert!(has_line(&out, "  reschedule         RETRYING"), "{out}");
    assert!(has_line(&out, "rescheduled 1 time(s)"), "{out}");
    assert!(
        has_line(
            &out,
            "volume 1000 available at host-b:/volumes/1000 (copied from image cirros)"
        ),
        "{out}"
    );
}

#[test]
fn when_every_host_fails_the_volume_is_in_error() {
    let (ok, out) = run("allfail", &["--fail-at", "create"]);
    assert!(!ok, "{out}");
    assert!(
        has_line(&out, "  flow volume_create_api is SUCCESS"),
        "{out}"
    );
    assert!(
        has_line(&out, "  flow volume_create_manager is REVERTED"),
        "{out}"
    );
    assert!(has_line(&out, "    volume 1000 marked error"), "{out}");
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 90 GiB"),
        "{out}"
    );
}

#[test]
fn a_scheduler_failure_marks_the_volume_in_error() {
    let (ok, out) = run("sched", &["--fail-at", "schedule"]);
    assert!(!ok, "{out}");
    assert!(
        has_line(&out, "  flow volume_create_scheduler is REVERTED"),
        "{out}"
    );
    assert!(
        has_line(&out, "volumes: {1000: \"error\"}, free quota: 90 GiB"),
        "{out}"
    );
}

#[test]
fn an_unknown_source_is_refused_before_anything_is_reserved() {
    let (ok, out) = run("source", &["--source", "tape"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid request: unknown source `tape`: use raw, snapshot, image or volume"),
        "{out}"
    );
    assert!(has_line(&out, "volumes: {}, free quota: 100 GiB"), "{out}");
}
