//! The commands over a logbook: logbooks, flows list, flow show / picture /
//! resume / take-over, prune.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use taskwire_runtime::factory::{self, FactoryError};
use taskwire_runtime::persistence::{
    self, default_owner, now_ms, AtomDetail, AtomType, Backend, Cursor, EntryKind, FlowDetail,
    FlowOrder, FlowQuery, NameMatch, PersistenceError, RetentionPolicy, Uuid,
};
use taskwire_runtime::retry::History;
use taskwire_runtime::{Engine, Failure, Flow, FlowState, FnTask, Picture, ResumeError, RunError};

use crate::text::{self, Table};
use crate::{age, CliError, Global, ListArgs, PruneArgs, Sort};

/// Opens the logbook; never creates one (a missing SQLite file is an error).
pub(crate) fn open(g: &Global) -> Result<Arc<dyn Backend>, CliError> {
    if let Some(rest) = g.url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or_default();
        if !path.is_empty() && !std::path::Path::new(path).exists() {
            return Err(CliError::NotFound(format!(
                "no logbook at `{}`: the file does not exist (name one with --url or TASKWIRE_URL{})",
                g.url,
                if g.url == crate::DEFAULT_URL {
                    "; the default is taskwire.db in the working directory"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(persistence::open(&g.url)?)
}

pub(crate) fn json_out(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|e| CliError::Output(std::io::Error::other(e)))?;
    writeln!(out)?;
    Ok(())
}

/// `logbooks`
pub(crate) fn logbooks(g: &Global, out: &mut dyn Write) -> Result<(), CliError> {
    let books = open(g)?.list_logbooks()?;
    if g.json {
        return json_out(out, &books);
    }
    if books.is_empty() {
        writeln!(out, "no logbooks in {}", g.url)?;
        return Ok(());
    }
    let mut table = Table::new(&["ID", "NAME", "FLOWS", "STATES", "CREATED", "LAST CHANGE"]);
    for summary in &books {
        let mut counts: Vec<(FlowState, usize)> = Vec::new();
        for f in &summary.flows {
            match counts.iter_mut().find(|(s, _)| *s == f.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((f.state, 1)),
            }
        }
        counts.sort_by_key(|(s, _)| s.as_str());
        let states: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        table.row(vec![
            summary.book.uuid.to_string(),
            summary.book.name.clone(),
            summary.flows.len().to_string(),
            states.join(", "),
            text::time(summary.book.created_at),
            text::ago(summary.last_change()),
        ]);
    }
    table.write(out)?;
    Ok(())
}

fn flow_state(text: &str) -> Result<FlowState, CliError> {
    FlowState::from_name(&text.trim().to_ascii_uppercase()).ok_or_else(|| {
        let known: Vec<String> = FlowState::ALL
            .iter()
            .map(|s| s.as_str().to_ascii_lowercase())
            .collect();
        CliError::Usage(format!(
            "--state `{text}` is not a flow state; known: {}",
            known.join(", ")
        ))
    })
}

/// `flows list`
pub(crate) fn list(g: &Global, args: &ListArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut q = FlowQuery::new().limit(args.limit).order(match args.sort {
        Sort::Created => FlowOrder::Created,
        Sort::Updated => FlowOrder::Updated,
    });
    for state in &args.states {
        q.states.push(flow_state(state)?);
    }
    q.name = match (&args.name, &args.prefix) {
        (Some(part), _) => Some(NameMatch::Contains(part.clone())),
        (None, Some(prefix)) => Some(NameMatch::Prefix(prefix.clone())),
        (None, None) => None,
    };
    if let Some(book) = &args.logbook {
        q.logbook = Some(crate::id("logbook", book)?);
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    if let Some(newer) = &args.newer_than {
        q.created_after = Some(now.saturating_sub(ms(age("--newer-than", newer)?)));
    }
    if let Some(older) = &args.older_than {
        q.created_before = Some(now.saturating_sub(ms(age("--older-than", older)?)));
    }
    if let Some(after) = &args.after {
        q.after = Some(after.parse::<Cursor>()?);
    }
    if q.limit == 0 || q.limit > persistence::MAX_PAGE {
        return Err(CliError::Usage(format!(
            "--limit {} is not between 1 and {}",
            q.limit,
            persistence::MAX_PAGE
        )));
    }
    let page = open(g)?.query_flows(&q)?;
    if g.json {
        return json_out(out, &page);
    }
    if page.flows.is_empty() {
        writeln!(out, "no flows")?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID", "NAME", "STATE", "ATOMS", "LOGBOOK", "CREATED", "UPDATED",
    ]);
    for row in &page.flows {
        table.row(vec![
            row.uuid.to_string(),
            row.name.clone(),
            row.state.to_string(),
            row.atoms.to_string(),
            row.logbook_name.clone(),
            text::time(row.created_at),
            text::ago(row.updated_at),
        ]);
    }
    table.write(out)?;
    if let Some(next) = page.next {
        writeln!(out, "more: --after {next}")?;
    }
    Ok(())
}

/// What `flow show` says of an atom beyond its detail: how many times it
/// was started, and when its last execution started and ended.
struct Times {
    attempts: usize,
    started: Option<i64>,
    ended: Option<i64>,
}

impl Times {
    fn of(atom: &AtomDetail) -> Times {
        let timeline = atom.timeline();
        let mut executions = timeline.iter().filter(|e| e.kind == EntryKind::Execute);
        let attempts = executions.clone().count();
        let last = executions.next_back();
        Times {
            attempts,
            started: last.map(|e| e.start),
            ended: last.and_then(|e| e.end),
        }
    }

    fn duration(&self) -> Option<i64> {
        Some(self.ended? - self.started?)
    }
}

fn history(atom: &AtomDetail) -> Option<History> {
    serde_json::from_value(atom.meta.get("history")?.clone()).ok()
}

fn write_failure(out: &mut dyn Write, indent: &str, failure: &Failure) -> std::io::Result<()> {
    writeln!(
        out,
        "{indent}{:?} `{}`: {}",
        failure.kind(),
        failure.type_name(),
        text::one_line(failure.message())
    )?;
    for cause in failure.causes() {
        writeln!(out, "{indent}  caused by: {}", text::one_line(cause))?;
    }
    Ok(())
}

/// `flow show`
pub(crate) fn show(g: &Global, id: &Uuid, out: &mut dyn Write) -> Result<(), CliError> {
    let backend = open(g)?;
    let (flow, atoms) = backend.load_flow(*id)?;
    let book = backend.load_logbook(flow.logbook_uuid).ok();
    let lease = backend.current_lease(*id)?;
    if g.json {
        let atoms: Vec<Value> = atoms
            .iter()
            .map(|a| {
                let t = Times::of(a);
                let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut v {
                    map.insert("attempts".into(), json!(t.attempts));
                    map.insert("started_at".into(), json!(t.started));
                    map.insert("ended_at".into(), json!(t.ended));
                    map.insert("duration_ms".into(), json!(t.duration()));
                }
                v
            })
            .collect();
        return json_out(
            out,
            &json!({
                "flow": flow,
                "logbook": book.as_ref().map(|b| json!({"uuid": b.uuid, "name": b.name})),
                "lease": lease,
                "atoms": atoms,
            }),
        );
    }
    writeln!(out, "flow      {} ({})", flow.name, flow.uuid)?;
    writeln!(out, "state     {}", flow.state)?;
    match &book {
        Some(b) => writeln!(out, "logbook   {} ({})", b.name, b.uuid)?,
        None => writeln!(out, "logbook   {}", flow.logbook_uuid)?,
    }
    writeln!(
        out,
        "created   {}   updated {} ({})",
        text::time(flow.created_at),
        text::time(flow.updated_at),
        text::ago(flow.updated_at)
    )?;
    if let Some(name) = flow.meta.get("factory").and_then(Value::as_str) {
        writeln!(out, "factory   {name}")?;
    }
    match &lease {
        Some(l) if l.expires_at > now_ms() => writeln!(
            out,
            "lease     held by `{}` (token {}) until {}",
            l.owner,
            l.token,
            text::time(l.expires_at)
        )?,
        Some(l) => writeln!(
            out,
            "lease     expired (last held by `{}`, token {})",
            l.owner, l.token
        )?,
        None => writeln!(out, "lease     free")?,
    }
    writeln!(out)?;
    let mut table = Table::new(&[
        "#",
        "ATOM",
        "TYPE",
        "STATE",
        "INTENTION",
        "VERSION",
        "ATTEMPTS",
        "STARTED",
        "ENDED",
        "DURATION",
        "RESULT",
    ]);
    for a in &atoms {
        let t = Times::of(a);
        table.row(vec![
            a.position.to_string(),
            a.name.clone(),
            a.atom_type.to_string(),
            a.state.to_string(),
            a.intention.as_str().to_owned(),
            a.version.clone(),
            t.attempts.to_string(),
            t.started.map_or("-".into(), text::time),
            t.ended.map_or("-".into(), text::time),
            t.duration().map_or("-".into(), text::duration),
            a.result
                .as_ref()
                .map_or("-".into(), |r| text::preview(r, 40)),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "no atoms recorded yet")?;
    } else {
        table.write(out)?;
    }
    let failed: Vec<&AtomDetail> = atoms
        .iter()
        .filter(|a| a.failure.is_some() || a.revert_failure.is_some())
        .collect();
    if !failed.is_empty() {
        writeln!(out, "\nfailures:")?;
        for a in failed {
            if let Some(f) = &a.failure {
                writeln!(out, "  {} ({}):", a.name, a.state)?;
                write_failure(out, "    ", f)?;
            }
            if let Some(f) = &a.revert_failure {
                writeln!(out, "  {} (revert):", a.name)?;
                write_failure(out, "    ", f)?;
            }
        }
    }
    for a in atoms.iter().filter(|a| a.atom_type == AtomType::Retry) {
        let Some(h) = history(a) else { continue };
        if h.is_empty() {
            continue;
        }
        writeln!(out, "\nretry history of {}:", a.name)?;
        for (i, attempt) in h.attempts().iter().enumerate() {
            writeln!(
                out,
                "  attempt {}: value {}{}",
                i + 1,
                text::preview(&attempt.value, 40),
                attempt
                    .decision
                    .map_or(String::new(), |d| format!(", then {d}"))
            )?;
            for (atom, failure) in &attempt.failures {
                writeln!(out, "    {atom} failed:")?;
                write_failure(out, "      ", failure)?;
            }
        }
    }
    Ok(())
}

/// A flow of the recorded atoms alone (no edges), when the factory is not
/// in this binary.
fn bare_flow(detail: &FlowDetail, atoms: &[AtomDetail]) -> Flow {
    let mut flow = Flow::unordered(detail.name.clone());
    for a in atoms {
        flow.push(FnTask::new(a.name.clone()).run(|_| Ok(Value::Null)));
    }
    flow
}

/// `flow picture`
pub(crate) fn picture(
    g: &Global,
    id: &Uuid,
    mermaid: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (detail, atoms) = open(g)?.load_flow(*id)?;
    let inputs: Vec<String> = match detail.meta.get("inputs") {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let params = detail.meta.get("params").cloned().unwrap_or(Value::Null);
    let built = match detail.meta.get("factory").and_then(Value::as_str) {
        None => None,
        Some(name) => match factory::build(name, &params) {
            Ok(flow) => Some(flow),
            Err(FactoryError::Unknown { .. }) => None,
            Err(e) => return Err(CliError::Refused(format!("flow detail {id}: {e}"))),
        },
    };
    let edges = built.is_some();
    let flow = built.unwrap_or_else(|| bare_flow(&detail, &atoms));
    let picture = Picture::of_flow(&flow, &inputs)
        .map_err(|e| CliError::Refused(format!("flow detail {id}: {e}")))?
        .recorded(&detail, &atoms);
    let text = if mermaid {
        picture.to_mermaid()
    } else {
        picture.to_dot()
    };
    if !edges {
        eprintln!(
            "taskwire: note: this binary has no flow factory for flow detail {id}: its atoms are drawn without edges (run the command from a binary that mounts taskwire::cli and registers the factory)"
        );
    }
    if g.json {
        return json_out(
            out,
            &json!({
                "flow": id,
                "format": if mermaid { "mermaid" } else { "dot" },
                "edges": edges,
                "text": text,
            }),
        );
    }
    write!(out, "{text}")?;
    Ok(())
}

fn unknown_factory_hint(e: ResumeError) -> CliError {
    match e {
        ResumeError::Factory {
            source: source @ FactoryError::Unknown { .. },
            flow,
        } => CliError::Refused(format!(
            "flow detail {flow}: {source}; run the command from a binary that registers it and mounts taskwire::cli"
        )),
        e => e.into(),
    }
}

/// `flow resume`, and `flow take-over` with a grace.
pub(crate) fn resume(
    g: &Global,
    id: &Uuid,
    owner: Option<&str>,
    take_over: Option<Duration>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let backend = open(g)?;
    let (detail, _) = backend.load_flow(*id)?;
    if detail.state.is_final() {
        if g.json {
            return json_out(
                out,
                &json!({"flow": id, "name": detail.name, "state": detail.state, "ran": false}),
            );
        }
        writeln!(
            out,
            "flow {id} ({}) has already ended {}; nothing to resume",
            detail.name, detail.state
        )?;
        return Ok(());
    }
    let previous = backend.current_lease(*id)?;
    let mut engine = Engine::resume(backend.clone(), *id).map_err(unknown_factory_hint)?;
    if let Some(owner) = owner {
        engine = engine.owner(owner);
    }
    if let Some(grace) = take_over {
        engine = engine.take_over(grace);
    }
    let result = engine.run();
    let (detail, _) = backend.load_flow(*id)?;
    let failed = match &result {
        Ok(_) => None,
        Err(e @ (RunError::Failed { .. } | RunError::RevertFailed { .. })) => Some(e.to_string()),
        Err(_) => None,
    };
    if let Err(e) = result {
        if failed.is_none() {
            return Err(match e {
                RunError::Resume(r) => unknown_factory_hint(r),
                e => e.into(),
            });
        }
    }
    if g.json {
        json_out(
            out,
            &json!({
                "flow": id,
                "name": detail.name,
                "state": detail.state,
                "ran": true,
                "taken_from": take_over.and(previous.as_ref()).map(|l| json!({"owner": l.owner, "token": l.token})),
                "error": failed,
            }),
        )?;
    } else {
        if let (Some(_), Some(l)) = (take_over, &previous) {
            writeln!(
                out,
                "took flow {id} over from `{}` (token {})",
                l.owner, l.token
            )?;
        }
        writeln!(out, "flow {id} ({}) ended {}", detail.name, detail.state)?;
    }
    match failed {
        Some(message) => Err(CliError::FlowFailed(message)),
        None => Ok(()),
    }
}

/// `flow take-over --fence-only`
pub(crate) fn fence(
    g: &Global,
    id: &Uuid,
    owner: Option<&str>,
    grace: Duration,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let backend = open(g)?;
    let previous = backend.current_lease(*id)?;
    let owner = owner.map_or_else(|| format!("{}/cli", default_owner()), str::to_owned);
    let ttl = Duration::from_secs(30);
    let deadline = Instant::now() + grace;
    let lease = loop {
        match backend.acquire_lease(*id, &owner, ttl) {
            Ok(lease) => break lease,
            Err(PersistenceError::LeaseHeld { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(PersistenceError::LeaseHeld { .. }) => {
                break backend.take_over_lease(*id, &owner, ttl)?
            }
            Err(e) => return Err(e.into()),
        }
    };
    backend.release_lease(&lease)?;
    if g.json {
        return json_out(
            out,
            &json!({
                "flow": id,
                "taken_from": previous.as_ref().map(|l| json!({"owner": l.owner, "token": l.token})),
                "token": lease.token,
            }),
        );
    }
    match previous {
        Some(l) => writeln!(
            out,
            "flow {id}: lease taken from `{}` (token {}) and given back with token {}; writes under the old lease are refused from now on",
            l.owner, l.token, lease.token
        )?,
        None => writeln!(
            out,
            "flow {id}: nobody held its lease; it is free with token {}",
            lease.token
        )?,
    }
    Ok(())
}

/// `prune`
pub(crate) fn prune(g: &Global, args: &PruneArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let policy = RetentionPolicy {
        older_than: age("--older-than", &args.older_than)?,
        only_finished: !args.include_unfinished,
    };
    let backend = open(g)?;
    let deleted = if args.dry_run {
        let now = now_ms();
        let mut books = backend.list_logbooks()?;
        books.retain(|b| policy.selects(b, now));
        books
    } else {
        backend.prune(&policy)?
    };
    if g.json {
        return json_out(out, &json!({"dry_run": args.dry_run, "logbooks": deleted}));
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    writeln!(out, "{verb} {} logbook(s)", deleted.len())?;
    if !deleted.is_empty() {
        let mut table = Table::new(&["ID", "NAME", "FLOWS", "LAST CHANGE"]);
        for b in &deleted {
            table.row(vec![
                b.book.uuid.to_string(),
                b.book.name.clone(),
                b.flows.len().to_string(),
                text::time(b.last_change()),
            ]);
        }
        table.write(out)?;
    }
    Ok(())
}
