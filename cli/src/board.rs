//! The commands over a jobboard and workers: jobs, dead, workers.

use std::io::Write;
use std::sync::Arc;

use serde_json::{json, Value};
use taskwire_runtime::jobboard::{self, Job, JobBoard, JobState, NewJob};

use crate::logbook::json_out as write_json;
use crate::text::{self, Table};
use crate::{CliError, DeadCommand, Global, JobsCommand, PostArgs, WorkersCommand};

pub(crate) fn open(g: &Global) -> Result<Arc<dyn JobBoard>, CliError> {
    let url = g.board.as_deref().ok_or_else(|| {
        CliError::Usage("no jobboard: name one with --board URL or TASKWIRE_BOARD".to_owned())
    })?;
    Ok(jobboard::open(url, &g.board_name)?)
}

fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "name": job.spec.name,
        "factory": job.spec.factory,
        "params": job.spec.params,
        "inputs": job.spec.inputs,
        "priority": job.spec.priority,
        "max_failures": job.spec.max_failures,
        "logbook": job.spec.logbook,
        "state": job.state,
        "owner": job.owner,
        "token": job.token,
        "expires_at": job.expires_at,
        "flow": job.flow,
        "outcome": job.outcome,
        "failures": job.failures,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    })
}

fn job_state(text: &str) -> Result<JobState, CliError> {
    JobState::from_name(&text.trim().to_ascii_lowercase()).ok_or_else(|| {
        CliError::Usage(format!(
            "--state `{text}` is not a job state; known: ready, claimed, done, dead"
        ))
    })
}

fn job_table(jobs: &[Job], out: &mut dyn Write, dead: bool) -> Result<(), CliError> {
    if jobs.is_empty() {
        writeln!(out, "{}", if dead { "no dead jobs" } else { "no jobs" })?;
        return Ok(());
    }
    let mut table = if dead {
        Table::new(&["ID", "NAME", "FACTORY", "FAILURES", "LAST FAILURE", "DIED"])
    } else {
        Table::new(&[
            "ID", "NAME", "FACTORY", "STATE", "PRIORITY", "FAILURES", "OWNER", "FLOW", "POSTED",
        ])
    };
    for job in jobs {
        let failures = format!("{}/{}", job.failures.len(), job.max_failures());
        if dead {
            table.row(vec![
                job.id.to_string(),
                job.spec.name.clone(),
                job.spec.factory.clone(),
                failures,
                job.failures
                    .last()
                    .map_or("-".into(), |f| text::one_line(&f.message)),
                text::ago(job.updated_at),
            ]);
        } else {
            let state = match (job.state, job.outcome) {
                (JobState::Done, Some(outcome)) => format!("done ({outcome})"),
                (state, _) => state.to_string(),
            };
            table.row(vec![
                job.id.to_string(),
                job.spec.name.clone(),
                job.spec.factory.clone(),
                state,
                job.spec.priority.to_string(),
                failures,
                job.owner.clone().unwrap_or_else(|| "-".into()),
                job.flow.map_or("-".into(), |f| f.to_string()),
                text::ago(job.created_at),
            ]);
        }
    }
    table.write(out)?;
    Ok(())
}

fn show_job(job: &Job, out: &mut dyn Write) -> Result<(), CliError> {
    writeln!(out, "job       {} ({})", job.spec.name, job.id)?;
    writeln!(out, "state     {}", job.state)?;
    if let Some(outcome) = job.outcome {
        writeln!(out, "outcome   {outcome}")?;
    }
    writeln!(out, "factory   {}", job.spec.factory)?;
    writeln!(out, "params    {}", text::preview(&job.spec.params, 200))?;
    writeln!(
        out,
        "inputs    {}",
        text::preview(&Value::Object(job.spec.inputs.clone()), 200)
    )?;
    writeln!(out, "priority  {}", job.spec.priority)?;
    if let Some(owner) = &job.owner {
        writeln!(
            out,
            "claim     `{owner}` (token {}){}",
            job.token,
            if job.state == JobState::Claimed {
                format!(", expires {}", text::time(job.expires_at))
            } else {
                String::new()
            }
        )?;
    }
    if let Some(flow) = job.flow {
        writeln!(out, "flow      {flow}")?;
    }
    writeln!(
        out,
        "posted    {}   updated {}",
        text::time(job.created_at),
        text::time(job.updated_at)
    )?;
    writeln!(
        out,
        "failures  {} of {} allowed",
        job.failures.len(),
        job.max_failures()
    )?;
    for f in &job.failures {
        writeln!(
            out,
            "  {}  `{}` (token {}): {}",
            text::time(f.at),
            f.owner,
            f.token,
            text::one_line(&f.message)
        )?;
    }
    Ok(())
}

fn post_job(args: &PostArgs) -> Result<NewJob, CliError> {
    let params: Value = serde_json::from_str(&args.params)
        .map_err(|e| CliError::Usage(format!("--params `{}` is not JSON: {e}", args.params)))?;
    let mut job = NewJob::new(args.factory.clone(), params).priority(args.priority);
    if let Some(name) = &args.name {
        job = job.name(name.clone());
    }
    if let Some(n) = args.max_failures {
        if n == 0 {
            return Err(CliError::Usage("--max-failures must be at least 1".into()));
        }
        job = job.max_failures(n);
    }
    if let Some(book) = &args.logbook {
        job = job.logbook(crate::id("logbook", book)?);
    }
    for input in &args.inputs {
        let (name, value) = input
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--input `{input}` is not NAME=VALUE")))?;
        if name.is_empty() {
            return Err(CliError::Usage(format!("--input `{input}` has no name")));
        }
        let value: Value =
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        job = job.input(name, value);
    }
    Ok(job)
}

/// `jobs …`
pub(crate) fn jobs(g: &Global, command: &JobsCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        JobsCommand::List { state } => {
            let state = state.as_deref().map(job_state).transpose()?;
            let jobs = open(g)?.list(state)?;
            if g.json {
                return write_json(out, &jobs.iter().map(job_json).collect::<Vec<_>>());
            }
            job_table(&jobs, out, false)
        }
        JobsCommand::Show { id } => {
            let job = open(g)?.get(crate::id("job", id)?)?;
            if g.json {
                return write_json(out, &job_json(&job));
            }
            show_job(&job, out)
        }
        JobsCommand::Post(args) => {
            let new = post_job(args)?;
            let job = open(g)?.post(&new)?;
            if g.json {
                return write_json(out, &job_json(&job));
            }
            writeln!(out, "posted job {} ({})", job.id, job.spec.name)?;
            Ok(())
        }
        JobsCommand::Cancel { id, force } => {
            let id = crate::id("job", id)?;
            let board = open(g)?;
            let job = board.get(id)?;
            match job.state {
                JobState::Done => {
                    return Err(CliError::Refused(format!(
                        "{}: job {id} is done ({}); there is nothing to cancel",
                        board.describe(),
                        job.outcome.map_or("-".into(), |o| o.to_string())
                    )))
                }
                JobState::Claimed if !force => {
                    return Err(CliError::Refused(format!(
                        "{}: job {id} is claimed by `{}`, which may be running it; add --force to cancel it anyway",
                        board.describe(),
                        job.owner.as_deref().unwrap_or("?")
                    )))
                }
                _ => {}
            }
            // The board checks the state again as it deletes: a job claimed
            // since the look above is refused, not pulled from its conductor.
            let allowed: &[JobState] = if *force {
                &[JobState::Ready, JobState::Claimed, JobState::Dead]
            } else {
                &[JobState::Ready, JobState::Dead]
            };
            let job = board.cancel(id, allowed)?;
            if g.json {
                return write_json(out, &json!({"cancelled": job_json(&job)}));
            }
            writeln!(
                out,
                "cancelled job {id} ({}), which was {}",
                job.spec.name, job.state
            )?;
            Ok(())
        }
    }
}

/// `dead …`
pub(crate) fn dead(g: &Global, command: &DeadCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        DeadCommand::List => {
            let jobs = open(g)?.list(Some(JobState::Dead))?;
            if g.json {
                return write_json(out, &jobs.iter().map(job_json).collect::<Vec<_>>());
            }
            job_table(&jobs, out, true)
        }
        DeadCommand::Requeue { id } => {
            let id = crate::id("job", id)?;
            let before = open(g)?.requeue(id)?;
            if g.json {
                return write_json(out, &json!({"requeued": job_json(&before)}));
            }
            writeln!(
                out,
                "job {id} ({}) is ready again; its {} failure(s) were cleared",
                before.spec.name,
                before.failures.len()
            )?;
            Ok(())
        }
    }
}

/// `workers …`
#[cfg(feature = "amqp")]
pub(crate) fn workers(
    g: &Global,
    command: &WorkersCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use taskwire_runtime::worker::{observe, Broker};
    let WorkersCommand::List { listen } = command;
    let window = crate::age("--listen", listen)?;
    let url = g.broker.as_deref().ok_or_else(|| {
        CliError::Usage("no broker: name one with --broker URL or TASKWIRE_BROKER".to_owned())
    })?;
    let workers = observe(&Broker::new(url, g.namespace.clone()), window)?;
    if g.json {
        return write_json(out, &workers);
    }
    if workers.is_empty() {
        writeln!(
            out,
            "no workers heard on namespace `{}` in {}",
            g.namespace, listen
        )?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "WORKER",
        "STATUS",
        "RUNNING",
        "BACKLOG",
        "HEARTBEAT",
        "LAST SEEN",
        "TASKS",
    ]);
    for w in &workers {
        let status = match (w.gone, w.draining) {
            (true, _) => "gone",
            (false, true) => "draining",
            _ => "live",
        };
        let tasks: Vec<String> = w
            .tasks
            .iter()
            .map(|t| format!("{}@{}", t.name, t.version))
            .collect();
        table.row(vec![
            w.worker.clone(),
            status.to_owned(),
            format!("{}/{}", w.running, w.capacity),
            w.backlog.to_string(),
            text::duration(i64::try_from(w.heartbeat_ms).unwrap_or(i64::MAX)),
            text::ago(w.last_seen),
            tasks.join(", "),
        ]);
    }
    table.write(out)?;
    Ok(())
}

/// `workers …` without AMQP.
#[cfg(not(feature = "amqp"))]
pub(crate) fn workers(
    _g: &Global,
    _command: &WorkersCommand,
    _out: &mut dyn Write,
) -> Result<(), CliError> {
    Err(CliError::Config(
        "`workers` needs the `amqp` cargo feature of taskwire-cli, which is not enabled".into(),
    ))
}
