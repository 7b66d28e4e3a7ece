//! The recorder's writer thread: commits batches of records off the async
//! loop, so that a logbook round trip blocks neither the engine's loop nor the
//! other tasks on its runtime. One thread per recorder (a run's writes are
//! ordered, and at most one batch is in flight: the engine waits for each
//! commit before it acts on what it records). It ends when the recorder is
//! dropped.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::Batch;
use crate::persistence::{Backend, PersistenceError};

type Reply = oneshot::Sender<Result<(), PersistenceError>>;

/// A thread that writes batches to one backend.
#[derive(Debug)]
pub(crate) struct Writer {
    backend: Arc<dyn Backend>,
    /// `None` when no thread could be started: batches are written inline.
    jobs: Option<mpsc::Sender<(Batch, Reply)>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(backend: Arc<dyn Backend>) -> Writer {
        let (jobs, queue) = mpsc::channel::<(Batch, Reply)>();
        let target = Arc::clone(&backend);
        let thread = std::thread::Builder::new()
            .name("taskwire-logbook".into())
            .spawn(move || {
                for (batch, reply) in queue {
                    let _ = reply.send(batch.write(&*target));
                }
            });
        match thread {
            Ok(thread) => Writer {
                backend,
                jobs: Some(jobs),
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no writer thread for the logbook; writing inline");
                Writer {
                    backend,
                    jobs: None,
                    thread: None,
                }
            }
        }
    }

    /// Commits `batch`, waiting for the answer without blocking the runtime.
    pub(crate) async fn write(&self, batch: Batch) -> Result<(), PersistenceError> {
        let Some(jobs) = &self.jobs else {
            return batch.write(&*self.backend);
        };
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::SendError((batch, _))) = jobs.send((batch, reply)) {
            // The thread is gone (it cannot panic short of a backend bug).
            return batch.write(&*self.backend);
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(PersistenceError::Backend {
                backend: self.backend.url().to_owned(),
                operation: "commit a batch of records".to_owned(),
                source: "the logbook's writer thread stopped before answering".into(),
            }),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
