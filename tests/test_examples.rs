//! The examples run as a user runs them, and do what their docs say: the
//! output they print (not a terminal, so the progress bar stays hidden), their
//! exit codes, and the SQLite logbooks they leave.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// Examples share `target/` files (logbooks, the bank): one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The example's binary, built with this test's features and profile (a
/// no-op when `cargo test` has just built the examples; a fresh build when
/// this file's tests run alone after an example changed).
fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        // The facade's features (keep in step with Cargo.toml): a feature left
        // out here costs a rebuild of the examples, nothing worse.
        let features: Vec<&str> = [
            ("default", cfg!(feature = "default")),
            ("macros", cfg!(feature = "macros")),
            ("sqlite", cfg!(feature = "sqlite")),
            ("postgres", cfg!(feature = "postgres")),
            ("mysql", cfg!(feature = "mysql")),
            ("progress-bar", cfg!(feature = "progress-bar")),
        ]
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--example", "protect", "--example", "chute_update"])
            .args(["--no-default-features", "--features", &features.join(",")])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().unwrap();
        assert!(status.success(), "building the examples failed");
    });
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn run(name: &str, args: &[&str]) -> (Output, String) {
    let out = Command::new(example(name))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    (out, stdout)
}

/// The state the SQLite logbook at `path` holds for the last flow detail the
/// example printed ("flow detail UUID is STATE").
fn recorded_state(path: &str, stdout: &str) -> String {
    let line = stdout
        .lines()
        .rfind(|l| l.contains("flow detail "))
        .unwrap();
    let uuid = line
        .split("flow detail ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let logbook = taskwire::persistence::open(&format!("sqlite://{path}")).unwrap();
    let (detail, _) = logbook.load_flow(uuid.parse().unwrap()).unwrap();
    detail.state.to_string()
}

fn lines_after<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

#[test]
fn chute_update_updates_the_chute() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (out, stdout) = run("chute_update", &[]);
    assert!(out.status.success(), "{stdout}");
    // De-duplicated, skipped, in priority order.
    assert_eq!(
        lines_after(&stdout, "plans, in the order they run:"),
        [
            "41 check_resources(cpu=512, memory_mb=128)",
            "45 reload_on_backout(service=\"network\")",
            "45 reload_on_backout(service=\"firewall\")",
            "54 write_config(content=\"lan 192.168.1.1/24; wan dhcp\", file=\"/etc/config/network\")",
            "55 write_config(content=\"allow tcp 80,443\", file=\"/etc/config/firewall\")",
            "79 reload(service=\"network\")",
            "81 reload(service=\"firewall\")",
            "86 stop_container(chute=\"hello\")",
            "87 start_container(chute=\"hello\", image=\"hello:2\")",
            "96 set_allocation(chute=\"hello\", cpu=512, memory_mb=128)",
        ]
    );
    assert!(
        stdout.contains("skipped: every plan of reload_wifi\n"),
        "{stdout}"
    );
    assert!(stdout.contains("reloads: network, firewall\n"), "{stdout}");
    assert!(
        stdout.contains("outcome: updated\nchute hello runs hello:2, cpu 512 shares\n"),
        "{stdout}"
    );
    assert_eq!(recorded_state("target/chute_update.db", &stdout), "SUCCESS");
}

#[test]
fn chute_update_aborts_back_to_the_old_state() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (out, stdout) = run("chute_update", &["--fail-at", "set_allocation"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        lines_after(&stdout, "abort plans run:"),
        [
            "stop_container(chute=\"hello\")",
            "start_container(chute=\"hello\", image=\"hello:1\")",
            "write_config(content=\"allow tcp 80\", file=\"/etc/config/firewall\")",
            "write_config(content=\"lan 192.168.1.1/24\", file=\"/etc/config/network\")",
            "reload(service=\"firewall\")",
            "reload(service=\"network\")",
        ]
    );
    assert!(
        stdout.contains("outcome: restored (router state equals the old one)\n"),
        "{stdout}"
    );
    assert_eq!(
        recorded_state("target/chute_update.db", &stdout),
        "REVERTED"
    );

    // An abort plan that fails is named, and the result says so.
    let (out, stdout) = run(
        "chute_update",
        &[
            "--fail-at",
            "start_container",
            "--fail-abort",
            "write_config",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains(
        "then abort plan `write_config(content=\"allow tcp 80\", file=\"/etc/config/firewall\")` of plan `write_config(content=\"allow tcp 80,443\", file=\"/etc/config/firewall\")` failed: injected failure in abort plan `write_config` (--fail-abort); the previous state is NOT restored\n"
    ), "{stdout}");
    assert!(stdout.contains("outcome: abort failed"), "{stdout}");
    assert_eq!(recorded_state("target/chute_update.db", &stdout), "FAILURE");
}

/// The checkpoint id on the line of `stdout` that starts with `prefix`.
fn checkpoint_after<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    let line = stdout.lines().find(|l| l.starts_with(prefix)).unwrap();
    line[prefix.len()..].split([' ', ':']).next().unwrap()
}

/// The operation logs in the example's logbook of checkpoint `id`.
fn operation_logs(id: &str) -> Vec<taskwire::activity::OperationLog> {
    let logbook = taskwire::persistence::open("sqlite://target/protect.db").unwrap();
    let mut logs = taskwire::activity::OperationLogs::open(logbook)
        .unwrap()
        .list()
        .unwrap();
    logs.retain(|l| l.checkpoint_id == id);
    logs
}

#[test]
fn protect_protects_verifies_copies_restores_and_deletes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (out, stdout) = run("protect", &[]);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!(
        "providers from {}:\n  OS Infra Provider (cf56bd3e-97a7-4078-b6d5-f36246333fd9): OS::Cinder::Volume, OS::Glance::Image, OS::Nova::Server\n  Volume Provider (2e0c8826-81d6-44e5-bb1d-1e2a4bd3a9d4): OS::Cinder::Volume\n",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/providers.d").display()
    )), "{stdout}");
    // The protectables found what the server uses.
    assert_eq!(
        lines_after(&stdout, "plan `vm1 and its disks` covers:"),
        [
            "OS::Nova::Server:vm1",
            "OS::Cinder::Volume:vol1",
            "OS::Cinder::Volume:vol2",
            "OS::Glance::Image:img1"
        ]
    );
    let checkpoint = checkpoint_after(&stdout, "checkpoint ");
    let saved: Vec<String> = stdout
        .lines()
        .skip_while(|l| !l.contains(" holds 4 items:"))
        .skip(1)
        .take(4)
        .map(|l| l.trim().split_once('/').unwrap().1.to_owned())
        .collect();
    assert_eq!(
        saved,
        [
            "OS-Cinder-Volume/vol1/data",
            "OS-Cinder-Volume/vol2/data",
            "OS-Glance-Image/img1/data",
            "OS-Nova-Server/vm1/metadata"
        ]
    );
    assert_eq!(
        lines_after(&stdout, "checkpoints in the bank:"),
        [format!(
            "{checkpoint} available  plan `vm1 and its disks`, 4 resources, 4 items"
        )]
    );
    let copy = lines_after(&stdout, "checkpoints in the offsite bank:");
    assert_eq!(copy.len(), 1, "{stdout}");
    assert!(
        copy[0].ends_with(&format!(
            " available  plan `vm1 and its disks`, 4 resources, 4 items, copied from {checkpoint}"
        )),
        "{stdout}"
    );
    let copy_id = copy[0].split(' ').next().unwrap();
    assert!(
        stdout.contains(
            "restored from the offsite copy: server vm1 is active, with volumes vol1, vol2; the cloud is as before\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "deleted: checkpoint {checkpoint} is deleted and holds 0 items\n"
        )),
        "{stdout}"
    );
    // Initiate first and Complete last; the server's pre activity before its
    // children's, its post after theirs.
    let protect = lines_after(&stdout, "protect:");
    assert_eq!(protect.first(), Some(&"SUCCESS        initiate_protect"));
    assert_eq!(protect[1], "SUCCESS        OS::Nova::Server:vm1:pre");
    assert_eq!(protect[5], "SUCCESS        OS::Nova::Server:vm1:post");
    assert_eq!(
        protect[protect.len() - 2],
        "SUCCESS        complete_protect"
    );
    for op in ["verify", "copy", "restore", "delete"] {
        let lines = lines_after(&stdout, &format!("{op}:"));
        assert_eq!(
            lines.first().copied(),
            Some(format!("SUCCESS        initiate_{op}").as_str())
        );
        assert_eq!(
            lines[lines.len() - 2],
            format!("SUCCESS        complete_{op}")
        );
    }
    assert_eq!(recorded_state("target/protect.db", &stdout), "SUCCESS");
    // The operation logs, as printed and as the logbook keeps them.
    assert_eq!(
        lines_after(&stdout, "operation logs:"),
        [
            format!("protect  success  checkpoint {checkpoint}"),
            format!("verify   success  checkpoint {checkpoint}"),
            format!("copy     success  checkpoint {checkpoint}"),
            format!("restore  success  checkpoint {copy_id}"),
            format!("delete   success  checkpoint {checkpoint}"),
        ]
    );
    let logs = operation_logs(checkpoint);
    let ops: Vec<String> = logs.iter().map(|l| l.operation.to_string()).collect();
    assert_eq!(ops, ["protect", "verify", "copy", "delete"]);
    assert!(logs
        .iter()
        .all(|l| l.error_info.is_none() && l.ended_at.is_some()));
    assert_eq!(logs[2].extra_info["copy_to"], copy_id);
}

#[test]
fn protect_reverts_a_failed_backup_and_logs_why() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (out, stdout) = run("protect", &["--fail-at", "vol2"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("failed: backup of `vol2` failed: injected failure (--fail-at)\n"),
        "{stdout}"
    );
    let checkpoint = checkpoint_after(&stdout, "outcome: protect reverted; checkpoint ");
    assert!(
        stdout.contains(&format!(
            "outcome: protect reverted; checkpoint {checkpoint} is error, holding 0 items; server vm1 is active\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        lines_after(&stdout, "checkpoints in the bank:"),
        [format!(
            "{checkpoint} error      plan `vm1 and its disks`, 4 resources, 0 items"
        )]
    );
    let why = format!(
        "flow `protect:{checkpoint}` was reverted: task `OS::Cinder::Volume:vol2:parallel` failed: backup of `vol2` failed: injected failure (--fail-at)"
    );
    assert_eq!(
        lines_after(&stdout, "operation logs:"),
        [format!("protect  error    checkpoint {checkpoint}: {why}")]
    );
    assert_eq!(recorded_state("target/protect.db", &stdout), "REVERTED");
    let logs = operation_logs(checkpoint);
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, taskwire::activity::OperationStatus::Error);
    assert_eq!(logs[0].error_info.as_deref(), Some(why.as_str()));
}
