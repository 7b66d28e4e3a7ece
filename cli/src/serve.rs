//! `taskwire serve`: the web dashboard ([`taskwire_dashboard`]) over the
//! logbook of `--url` and, given `--board`, its jobboard.

use std::io::Write;
use std::net::SocketAddr;

use taskwire_dashboard::{ServeError, ServeOptions};

use crate::{age, board, logbook, CliError, Global, ServeArgs};

pub(crate) fn serve(g: &Global, args: &ServeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let listen: SocketAddr = args.listen.trim().parse().map_err(|e| {
        CliError::Usage(format!(
            "--listen `{}` is not an address such as 127.0.0.1:8080 or [::1]:8080: {e}",
            args.listen
        ))
    })?;
    let poll = age("--poll", &args.poll)?;
    let mut options = ServeOptions::new(logbook::open(g)?);
    if g.board.is_some() {
        options.jobboard = Some(board::open(g)?);
    }
    options.listen = listen;
    options.allow_remote = args.allow_remote;
    options.allow_actions = args.allow_actions;
    options.action_token = args.action_token.clone();
    options.poll_interval = poll;
    // Refuse bad options before binding, with the same words as the server.
    taskwire_dashboard::Dashboard::new(&options).map_err(serve_error)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Config(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(async {
        let check = options.clone();
        let listener = bind(&check).await?;
        let addr = listener.local_addr().map_err(CliError::Output)?;
        let mode = if check.allow_actions {
            "actions allowed with the token"
        } else {
            "read-only"
        };
        writeln!(
            out,
            "taskwire: dashboard of {} on http://{addr} ({mode}); stop it with Ctrl-C",
            check.backend.url()
        )?;
        out.flush()?;
        taskwire_dashboard::serve_on(listener, options)
            .await
            .map_err(serve_error)
    })
}

/// Binds `options.listen`, refusing a remote address unless allowed.
async fn bind(options: &ServeOptions) -> Result<tokio::net::TcpListener, CliError> {
    if !options.listen.ip().is_loopback() && !options.allow_remote {
        return Err(serve_error(ServeError::NotLoopback {
            addr: options.listen,
        }));
    }
    tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| {
            serve_error(ServeError::Bind {
                addr: options.listen,
                source,
            })
        })
}

fn serve_error(e: ServeError) -> CliError {
    let message = match &e {
        ServeError::NotLoopback { .. } => format!("{e} (--allow-remote)"),
        ServeError::Token { .. } => {
            format!("{e} (--action-token or TASKWIRE_ACTION_TOKEN)")
        }
        _ => e.to_string(),
    };
    match e {
        ServeError::NotLoopback { .. }
        | ServeError::Token { .. }
        | ServeError::PollInterval
        | ServeError::Bind { .. } => CliError::Config(message),
        _ => CliError::Failed(message),
    }
}
