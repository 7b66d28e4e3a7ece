//! The `taskwire` command: an operator's view of logbooks, jobboards and
//! workers — and the same commands as a library, to mount in a binary of
//! your own so that `flow resume` and `flow take-over` find the flow
//! factories that binary registers (`flow_factory!`).
//!
//! ```no_run
//! // src/bin/ops.rs of your application: your factories are linked in.
//! fn main() -> std::process::ExitCode {
//!     taskwire_cli::main()
//! }
//! ```
//!
//! Or within an argument parser of your own (the commands are a
//! [`clap::Args`]):
//!
//! ```
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Ops {
//!     #[command(flatten)]
//!     taskwire: taskwire_cli::Cli,
//! }
//!
//! let ops = Ops::try_parse_from(["ops", "--url", "memory://", "logbooks", "--json"]).unwrap();
//! let mut out = Vec::new();
//! let code = taskwire_cli::run(ops.taskwire, &mut out);
//! assert_eq!(code, std::process::ExitCode::SUCCESS);
//! assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
//! ```
//!
//! **Where it looks.** The logbook is `--url` or `TASKWIRE_URL`
//! (default [`DEFAULT_URL`], `taskwire.db` in the working directory); the
//! command never creates one: a missing SQLite file is an error. Jobboards
//! are `--board` / `TASKWIRE_BOARD` (with `--board-name` /
//! `TASKWIRE_BOARD_NAME`, default `taskwire`), remote workers' broker
//! `--broker` / `TASKWIRE_BROKER` (with `--namespace` /
//! `TASKWIRE_NAMESPACE`, default `taskwire`).
//!
//! **Output.** Tables for people by default; `--json` everywhere for
//! scripts (one JSON document on standard output). Errors are one line on
//! standard error, `taskwire: error: …`, and the exit code says what kind
//! ([`Exit`]).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod board;
mod logbook;
#[cfg(feature = "dashboard")]
mod serve;
mod text;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use taskwire_runtime::jobboard::JobBoardError;
use taskwire_runtime::persistence::{PersistenceError, Uuid};
use taskwire_runtime::{ResumeError, RunError};

pub use clap;

/// The logbook used when neither `--url` nor `TASKWIRE_URL` names one:
/// `taskwire.db` in the working directory.
pub const DEFAULT_URL: &str = "sqlite://taskwire.db";

/// The operator's commands over a logbook, a jobboard and workers.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "taskwire",
    version,
    about = "An operator's view of taskwire logbooks, jobboards and workers",
    after_help = "Exit codes: 0 success, 1 other error, 2 bad usage, 3 not found, \
                  4 server unreachable or not answering, 5 bad URL or configuration, \
                  6 refused (lease held, job claimed, flow ended, ...), \
                  7 a resumed flow ended FAILURE or REVERTED."
)]
pub struct Cli {
    /// Where to look.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The logbook: sqlite://path, postgres://…, mysql://…, dir:///path.
    #[arg(long, env = "TASKWIRE_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,
    /// The jobboard: redis://host:port/db, postgres://…, zookeeper://host:port/chroot or
    /// etcd://host:port/prefix (features `zookeeper`, `etcd`) (jobs, dead).
    #[arg(long, env = "TASKWIRE_BOARD", global = true)]
    pub board: Option<String>,
    /// The jobboard's name on its server.
    #[arg(
        long,
        env = "TASKWIRE_BOARD_NAME",
        default_value = "taskwire",
        global = true
    )]
    pub board_name: String,
    /// The AMQP broker of remote workers: amqp://user:pw@host:port/vhost (workers).
    #[arg(long, env = "TASKWIRE_BROKER", global = true)]
    pub broker: Option<String>,
    /// The workers' namespace on the broker.
    #[arg(
        long,
        env = "TASKWIRE_NAMESPACE",
        default_value = "taskwire",
        global = true
    )]
    pub namespace: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Lists the logbooks, with the states of their flows.
    Logbooks,
    /// Lists flows.
    Flows {
        /// What to do with flows.
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Looks at or acts on one flow.
    Flow {
        /// What to do with the flow.
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Deletes old logbooks.
    Prune(PruneArgs),
    /// The jobs of the jobboard.
    Jobs {
        /// What to do with jobs.
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// The jobboard's dead jobs (failed too many times).
    Dead {
        /// What to do with dead jobs.
        #[command(subcommand)]
        command: DeadCommand,
    },
    /// Remote workers, from their heartbeats.
    Workers {
        /// What to do with workers.
        #[command(subcommand)]
        command: WorkersCommand,
    },
    /// Serves the web dashboard over the logbook (and `--board`'s jobboard).
    #[cfg(feature = "dashboard")]
    Serve(ServeArgs),
}

/// `serve` (its `Debug` output leaves the action token out)
#[cfg(feature = "dashboard")]
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Where to listen: a loopback address unless `--allow-remote`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Allows a non-loopback `--listen` address (the dashboard has no login).
    #[arg(long)]
    pub allow_remote: bool,
    /// Allows actions (resume a flow, cancel a job, requeue a dead job),
    /// each confirmed with the action token.
    #[arg(long)]
    pub allow_actions: bool,
    /// The action token (at least 16 characters); better given through the
    /// environment than on a command line that `ps` shows.
    #[arg(long, env = "TASKWIRE_ACTION_TOKEN", hide_env_values = true)]
    pub action_token: Option<String>,
    /// How often live pages look for changes.
    #[arg(long, default_value = "1s")]
    pub poll: String,
}

#[cfg(feature = "dashboard")]
impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("allow_remote", &self.allow_remote)
            .field("allow_actions", &self.allow_actions)
            .field(
                "action_token",
                &self.action_token.as_ref().map(|_| "<hidden>"),
            )
            .field("poll", &self.poll)
            .finish()
    }
}

/// `flows …`
#[derive(Debug, Clone, Subcommand)]
pub enum FlowsCommand {
    /// Lists flows of every logbook, newest first, a page at a time.
    List(ListArgs),
}

/// The order of `flows list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    /// By creation time.
    Created,
    /// By last change.
    Updated,
}

/// `flows list` options.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only flows in this state (repeat for several): pending, running,
    /// success, failure, reverting, reverted, suspending, suspended, resuming.
    #[arg(long = "state", value_name = "STATE")]
    pub states: Vec<String>,
    /// Only flows whose name contains this text.
    #[arg(long, conflicts_with = "prefix")]
    pub name: Option<String>,
    /// Only flows whose name starts with this text.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only flows of this logbook (its id).
    #[arg(long)]
    pub logbook: Option<String>,
    /// Only flows created less than this long ago (`90s`, `15m`, `2h`, `7d`).
    #[arg(long, value_name = "AGE")]
    pub newer_than: Option<String>,
    /// Only flows created more than this long ago.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Newest first by creation or by last change.
    #[arg(long, value_enum, default_value = "created")]
    pub sort: Sort,
    /// The most flows to list (1 to 10000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Go on after this cursor (printed under the previous page).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
}

/// `flow …`
#[derive(Debug, Clone, Subcommand)]
pub enum FlowCommand {
    /// Shows a flow: its atoms with state, attempts and times, results,
    /// failures with their causes, and retry histories.
    Show {
        /// The flow detail's id.
        id: String,
    },
    /// Draws a flow's graph, coloured by the states of its atoms.
    Picture {
        /// The flow detail's id.
        id: String,
        /// Graphviz DOT (the default).
        #[arg(long, conflicts_with = "mermaid")]
        dot: bool,
        /// A Mermaid flowchart.
        #[arg(long)]
        mermaid: bool,
    },
    /// Runs a flow on from where its logbook says it stopped, with the flow
    /// factory this binary registers under the recorded name.
    Resume {
        /// The flow detail's id.
        id: String,
        /// The lease's owner (default: this process on this host).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Takes a flow from a stuck owner: waits up to `--grace` for its lease
    /// to be given up or expire, then takes it anyway (the old owner's writes
    /// are refused from then on) and runs the flow on.
    TakeOver {
        /// The flow detail's id.
        id: String,
        /// How long to wait for the owner first (`0s` takes it at once).
        #[arg(long, default_value = "0s")]
        grace: String,
        /// The new owner (default: this process on this host).
        #[arg(long)]
        owner: Option<String>,
        /// Only fence the old owner: take the lease and give it back at once,
        /// without running the flow (no flow factory needed).
        #[arg(long)]
        fence_only: bool,
    },
}

/// `prune` options.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Delete logbooks whose last change is older than this (`30d`, `12h`).
    #[arg(long, value_name = "AGE")]
    pub older_than: String,
    /// Delete logbooks with unfinished flows too (by default they are kept:
    /// they may still be resumed).
    #[arg(long)]
    pub include_unfinished: bool,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `jobs …`
#[derive(Debug, Clone, Subcommand)]
pub enum JobsCommand {
    /// Lists the jobs, oldest first.
    List {
        /// Only jobs in this state: ready, claimed, done, dead.
        #[arg(long)]
        state: Option<String>,
    },
    /// Shows a job with its failures.
    Show {
        /// The job's id.
        id: String,
    },
    /// Posts a job running a flow factory.
    Post(PostArgs),
    /// Cancels a job that has not run to its end: deletes it from the board.
    Cancel {
        /// The job's id.
        id: String,
        /// Cancel a job a conductor holds too (its claim is lost; the flow
        /// it runs goes on until the conductor learns it).
        #[arg(long)]
        force: bool,
    },
}

/// `jobs post` options.
#[derive(Debug, Clone, Args)]
pub struct PostArgs {
    /// The flow factory's registered name.
    pub factory: String,
    /// The factory's parameters, as JSON.
    #[arg(long, default_value = "null")]
    pub params: String,
    /// An engine input, `name=JSON` (a value that is not JSON is a string).
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// A name for people (default: the factory's).
    #[arg(long)]
    pub name: Option<String>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
    /// Failures before the job is dead.
    #[arg(long)]
    pub max_failures: Option<u32>,
    /// The logbook to record the run in (its id).
    #[arg(long)]
    pub logbook: Option<String>,
}

/// `dead …`
#[derive(Debug, Clone, Subcommand)]
pub enum DeadCommand {
    /// Lists the dead jobs with their last failure.
    List,
    /// Makes a dead job ready again, its failures cleared.
    Requeue {
        /// The job's id.
        id: String,
    },
}

/// `workers …`
#[derive(Debug, Clone, Subcommand)]
pub enum WorkersCommand {
    /// Lists the live workers: listens to their heartbeats for a while.
    List {
        /// How long to listen (more than the workers' heartbeat period).
        #[arg(long, default_value = "3s")]
        listen: String,
    },
}

/// What an exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// 0: done.
    Success = 0,
    /// 1: another error (a corrupt logbook, output that cannot be written).
    Failure = 1,
    /// 2: bad usage: unknown option, malformed id, duration or JSON.
    Usage = 2,
    /// 3: the logbook, flow, job or factory named is not there.
    NotFound = 3,
    /// 4: a server cannot be reached or does not answer in time.
    Unavailable = 4,
    /// 5: a URL or configuration cannot be used (unknown scheme, feature
    /// compiled out, schema too new).
    Config = 5,
    /// 6: refused: another owner holds the flow, the job is claimed or not
    /// dead, the flow has ended, the flow cannot be rebuilt.
    Refused = 6,
    /// 7: a resumed flow ran to its end and ended FAILURE or REVERTED.
    FlowFailed = 7,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The logbook failed.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// The jobboard failed.
    #[error(transparent)]
    Board(#[from] JobBoardError),
    /// A flow could not be taken up again.
    #[error(transparent)]
    Resume(Box<ResumeError>),
    /// A flow's run stopped.
    #[error(transparent)]
    Run(Box<RunError>),
    /// The broker of remote workers failed.
    #[cfg(feature = "amqp")]
    #[error(transparent)]
    Broker(#[from] taskwire_runtime::worker::BrokerError),
    /// Bad input: what and why.
    #[error("{0}")]
    Usage(String),
    /// Something asked for is not there.
    #[error("{0}")]
    NotFound(String),
    /// A URL or configuration cannot be used.
    #[error("{0}")]
    Config(String),
    /// The command refuses.
    #[error("{0}")]
    Refused(String),
    /// A resumed flow ended FAILURE or REVERTED (the summary was printed).
    #[error("{0}")]
    FlowFailed(String),
    /// Another failure, said in words (the dashboard's server stopped).
    #[error("{0}")]
    Failed(String),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<ResumeError> for CliError {
    fn from(e: ResumeError) -> CliError {
        CliError::Resume(Box::new(e))
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> CliError {
        CliError::Run(Box::new(e))
    }
}

fn persistence_exit(e: &PersistenceError) -> Exit {
    match e {
        PersistenceError::NotFound { .. } => Exit::NotFound,
        PersistenceError::Backend { .. } | PersistenceError::TimedOut { .. } => Exit::Unavailable,
        PersistenceError::InvalidUrl { .. }
        | PersistenceError::UnknownScheme { .. }
        | PersistenceError::FeatureDisabled { .. }
        | PersistenceError::SchemaTooNew { .. }
        | PersistenceError::MissingTable { .. } => Exit::Config,
        PersistenceError::LeaseHeld { .. } | PersistenceError::Fenced { .. } => Exit::Refused,
        PersistenceError::InvalidCursor { .. } | PersistenceError::InvalidQuery { .. } => {
            Exit::Usage
        }
        _ => Exit::Failure,
    }
}

impl CliError {
    /// The exit code of the error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Persistence(e) => persistence_exit(e),
            CliError::Board(e) => match e {
                JobBoardError::NotFound { .. } => Exit::NotFound,
                JobBoardError::Backend { .. } | JobBoardError::TimedOut { .. } => Exit::Unavailable,
                JobBoardError::UnknownScheme { .. }
                | JobBoardError::FeatureDisabled { .. }
                | JobBoardError::InvalidUrl { .. }
                | JobBoardError::SchemaTooNew { .. } => Exit::Config,
                JobBoardError::NotDead { .. }
                | JobBoardError::NotCancelled { .. }
                | JobBoardError::Lost { .. } => Exit::Refused,
                _ => Exit::Failure,
            },
            CliError::Resume(e) => match &**e {
                ResumeError::Persistence(p) => persistence_exit(p),
                _ => Exit::Refused,
            },
            CliError::Run(e) => match &**e {
                RunError::Persistence { source, .. } | RunError::LeaseLost { source, .. } => {
                    persistence_exit(source)
                }
                RunError::Resume(ResumeError::Persistence(p)) => persistence_exit(p),
                RunError::Failed { .. } | RunError::RevertFailed { .. } => Exit::FlowFailed,
                _ => Exit::Refused,
            },
            #[cfg(feature = "amqp")]
            CliError::Broker(e) => {
                if e.operation == "parse the URL" {
                    Exit::Config
                } else {
                    Exit::Unavailable
                }
            }
            CliError::Usage(_) => Exit::Usage,
            CliError::NotFound(_) => Exit::NotFound,
            CliError::Config(_) => Exit::Config,
            CliError::Refused(_) => Exit::Refused,
            CliError::FlowFailed(_) => Exit::FlowFailed,
            CliError::Failed(_) | CliError::Output(_) => Exit::Failure,
        }
    }
}

/// Runs `cli`, writing its output to `out` and an error, if any, as one
/// line on standard error; returns the exit code ([`Exit`]).
pub fn run(cli: Cli, out: &mut impl Write) -> ExitCode {
    match execute(&cli, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("taskwire: error: {}", text::one_line(&e.to_string()));
            e.exit().into()
        }
    }
}

/// Runs `cli`, writing its output to `out`.
pub fn execute(cli: &Cli, out: &mut impl Write) -> Result<(), CliError> {
    let g = &cli.global;
    let out: &mut dyn Write = out;
    match &cli.command {
        Command::Logbooks => logbook::logbooks(g, out),
        Command::Flows {
            command: FlowsCommand::List(args),
        } => logbook::list(g, args, out),
        Command::Flow { command } => match command {
            FlowCommand::Show { id } => logbook::show(g, &flow_id(id)?, out),
            FlowCommand::Picture { id, mermaid, .. } => {
                logbook::picture(g, &flow_id(id)?, *mermaid, out)
            }
            FlowCommand::Resume { id, owner } => {
                logbook::resume(g, &flow_id(id)?, owner.as_deref(), None, out)
            }
            FlowCommand::TakeOver {
                id,
                grace,
                owner,
                fence_only,
            } => {
                let grace = age("--grace", grace)?;
                if *fence_only {
                    logbook::fence(g, &flow_id(id)?, owner.as_deref(), grace, out)
                } else {
                    logbook::resume(g, &flow_id(id)?, owner.as_deref(), Some(grace), out)
                }
            }
        },
        Command::Prune(args) => logbook::prune(g, args, out),
        Command::Jobs { command } => board::jobs(g, command, out),
        Command::Dead { command } => board::dead(g, command, out),
        Command::Workers { command } => board::workers(g, command, out),
        #[cfg(feature = "dashboard")]
        Command::Serve(args) => serve::serve(g, args, out),
    }
}

/// Parses the command line of this process and runs it on standard output.
pub fn main() -> ExitCode {
    main_with_args(std::env::args_os())
}

/// Parses `args` (the first is the program's name) and runs the command on
/// standard output: what a `main` of your own calls.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // A bug must not print a backtrace at an operator: one line, exit 1.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "taskwire: error: internal error (please report it): {}",
            text::one_line(&message)
        );
    }));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => Exit::Usage.into(),
            };
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli, &mut out)))
        .unwrap_or_else(|_| Exit::Failure.into());
    let _ = out.flush();
    code
}

/// A flow detail's id.
fn flow_id(text: &str) -> Result<Uuid, CliError> {
    id("flow", text)
}

/// An id of `what`, or a usage error naming it.
pub(crate) fn id(what: &str, text: &str) -> Result<Uuid, CliError> {
    Uuid::parse_str(text.trim()).map_err(|e| {
        CliError::Usage(format!(
            "`{text}` is not a {what} id (a uuid such as 5f0c6c9e-8a53-4f4b-9d57-3f7a3c6a1e01): {e}"
        ))
    })
}

/// A duration option (`90s`, `15m`, `2h`, `7d`), or a usage error naming it.
pub(crate) fn age(option: &str, text: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        CliError::Usage(format!(
            "{option} `{text}` is not a duration such as 90s, 15m, 2h or 7d: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_ids_and_durations_are_named() {
        let e = id("flow", "nope").unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        assert!(e.to_string().starts_with("`nope` is not a flow id"), "{e}");
        let e = age("--older-than", "soon").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--older-than `soon` is not a duration"),
            "{e}"
        );
        assert_eq!(age("--grace", "2m").unwrap(), Duration::from_secs(120));
    }
}
