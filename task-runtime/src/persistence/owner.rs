//! Lease owners that name a process, so that a dead one is known at once.
//!
//! The default owner of an engine's lease is
//! `host/pid/start/boot-pidns`: the host name, the process id, the process's
//! start time (clock ticks since boot, from `/proc/<pid>/stat`), the first 8
//! characters of the kernel's boot id and the inode of the process's pid
//! namespace. Another process on the same host (same boot, same pid
//! namespace) can then tell whether the owner still runs: if `/proc/<pid>`
//! is gone, or belongs to a process that started at another time (a reused
//! pid), the owner is dead and its lease is taken over at once instead of
//! waiting for it to expire. Owners on other hosts, in other pid namespaces,
//! or named by hand (`Engine::owner`) are never judged: their leases expire
//! as usual. Where `/proc` is missing (not Linux) the owner is `host/pid`.
//!
//! An engine's default owner adds `#n`, a number of its own in the process,
//! so that two engines of one process are two owners: the second to resume
//! a flow the first runs is refused, as any other owner would be.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// This process's identity as a lease owner: `host/pid/start/boot-pidns`
/// (host name, process id, the process's start time in clock ticks since
/// boot, the first 8 characters of the kernel's boot id, and the inode of
/// the pid namespace), or `host/pid` where `/proc` is missing. A process on
/// the same host can tell from it whether the owner still runs, and take a
/// dead owner's lease at once; owners on other hosts are never judged.
///
/// ```
/// let owner = taskwire_runtime::persistence::default_owner();
/// assert!(owner.contains(&format!("/{}", std::process::id())));
/// ```
pub fn default_owner() -> String {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            let me = Identity::current();
            match (me.start, &me.boot, me.pidns) {
                (Some(start), Some(boot), Some(ns)) => {
                    format!("{}/{}/{start}/{boot}-{ns}", me.host, me.pid)
                }
                _ => format!("{}/{}", me.host, me.pid),
            }
        })
        .clone()
}

/// A new engine's default owner: [`default_owner`]`#n`.
pub(crate) fn engine_owner() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}#{}",
        default_owner(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `owner` names a process of this host that no longer runs (so its
/// lease can be taken over at once). `false` whenever that cannot be known.
pub(crate) fn owner_is_gone(owner: &str) -> bool {
    let Some(theirs) = Parsed::parse(owner) else {
        return false;
    };
    let me = Identity::current();
    let (Some(boot), Some(ns)) = (&me.boot, me.pidns) else {
        return false;
    };
    if theirs.host != me.host || theirs.pidns != ns {
        return false;
    }
    if theirs.boot != boot {
        // The host restarted since: every process of that boot is gone.
        return true;
    }
    if theirs.pid == me.pid {
        return theirs.start != me.start.unwrap_or(0);
    }
    match start_time(&format!("/proc/{}/stat", theirs.pid)) {
        Some(start) => start != theirs.start,
        // No such process (or a stat file that cannot be read: gone).
        None => !std::path::Path::new(&format!("/proc/{}", theirs.pid)).exists(),
    }
}

/// What identifies this process.
struct Identity {
    host: String,
    pid: u32,
    start: Option<u64>,
    boot: Option<String>,
    pidns: Option<u64>,
}

impl Identity {
    fn current() -> &'static Identity {
        static ME: OnceLock<Identity> = OnceLock::new();
        ME.get_or_init(|| Identity {
            host: host_name(),
            pid: std::process::id(),
            start: start_time("/proc/self/stat"),
            boot: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|b| b.trim().chars().filter(|c| *c != '-').take(8).collect())
                .filter(|b: &String| b.len() == 8),
            pidns: std::fs::read_link("/proc/self/ns/pid").ok().and_then(|l| {
                // `pid:[4026531836]`
                let l = l.to_string_lossy().into_owned();
                l.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
            }),
        })
    }
}

/// An owner string in the default form.
#[derive(Debug, PartialEq)]
struct Parsed<'a> {
    host: &'a str,
    pid: u32,
    start: u64,
    boot: &'a str,
    pidns: u64,
}

impl<'a> Parsed<'a> {
    fn parse(owner: &'a str) -> Option<Parsed<'a>> {
        // An engine's number (`#n`) says nothing of its process.
        let owner = match owner.rsplit_once('#') {
            Some((process, n)) if n.bytes().all(|b| b.is_ascii_digit()) => process,
            _ => owner,
        };
        let mut parts = owner.rsplitn(4, '/');
        let (tail, start, pid, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let (boot, pidns) = tail.split_once('-')?;
        Some(Parsed {
            host,
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
            boot: (boot.len() == 8).then_some(boot)?,
            pidns: pidns.parse().ok()?,
        })
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Field 22 of a `/proc/<pid>/stat` file: the start time in clock ticks
/// since boot. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis.
fn start_time(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_owner_parses_and_is_alive() {
        let owner = default_owner();
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let parsed = Parsed::parse(&owner).expect("the default form");
        assert_eq!(parsed.pid, std::process::id());
        assert!(!owner_is_gone(&owner), "{owner}");
        let engine = engine_owner();
        assert!(engine.starts_with(&format!("{owner}#")), "{engine}");
        assert_ne!(engine, engine_owner(), "each engine is an owner of its own");
        assert!(!owner_is_gone(&engine), "{engine}");
    }

    #[test]
    fn a_dead_or_reused_pid_is_gone_and_strangers_are_not_judged() {
        let owner = default_owner();
        let Some(me) = Parsed::parse(&owner) else {
            return;
        };
        // A child that has exited: its pid names no process (or another).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = format!("{}/{pid}/{}/{}-{}", me.host, me.start, me.boot, me.pidns);
        assert!(owner_is_gone(&dead), "{dead}");
        assert!(owner_is_gone(&format!("{dead}#3")), "{dead}#3");
        // This process under another start time: a reused pid.
        let reused = format!(
            "{}/{}/{}/{}-{}",
            me.host,
            me.pid,
            me.start + 1,
            me.boot,
            me.pidns
        );
        assert!(owner_is_gone(&reused));
        // An earlier boot of this host.
        let rebooted = format!("{}/{}/{}/ffffffff-{}", me.host, me.pid, me.start, me.pidns);
        assert_eq!(owner_is_gone(&rebooted), me.boot != "ffffffff");
        // Another host, another pid namespace, a hand-written name: unknown.
        let elsewhere = format!("other-host/{pid}/{}/{}-{}", me.start, me.boot, me.pidns);
        assert!(!owner_is_gone(&elsewhere));
        let other_ns = format!("{}/{pid}/{}/{}-1", me.host, me.start, me.boot);
        assert!(!owner_is_gone(&other_ns));
        assert!(!owner_is_gone("conductor-a"));
        assert!(!owner_is_gone(&format!("{}/{pid}", me.host)));
    }
}
