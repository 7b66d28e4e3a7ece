//! The engine's side: sends atoms to workers and waits for their results.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicConsumeArguments, BasicPublishArguments, Channel, ExchangeDeclareArguments,
    QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::Connection;
use amqprs::BasicProperties;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, Notify};

use super::{
    backoff, connection_args, decode, encode, expiring_queue, Bounds, Broker, BrokerError, Message,
    Offer, Waited, WireAction, WireOutcome, Within, WorkerError,
};
use crate::engine::executor::{Action, Executor, Request};
use crate::failure::Failure;
use crate::persistence::{redact_url, Uuid};
use crate::task::{BoxFuture, TaskMeta, Version};

/// Which tasks go to workers.
type Handles = dyn Fn(&TaskMeta) -> bool + Send + Sync;

/// How a [`WorkerExecutor`] waits for workers and judges them dead.
#[derive(Clone)]
pub struct ExecutorConfig {
    no_worker_timeout: Duration,
    broker_timeout: Duration,
    missed_heartbeats: u32,
    max_tries: u32,
    tick: Duration,
    handles: Option<Arc<Handles>>,
}

impl std::fmt::Debug for ExecutorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorConfig")
            .field("no_worker_timeout", &self.no_worker_timeout)
            .field("broker_timeout", &self.broker_timeout)
            .field("missed_heartbeats", &self.missed_heartbeats)
            .field("max_tries", &self.max_tries)
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl Default for ExecutorConfig {
    fn default() -> ExecutorConfig {
        ExecutorConfig {
            no_worker_timeout: Duration::from_secs(30),
            broker_timeout: Duration::from_secs(30),
            missed_heartbeats: 3,
            max_tries: 3,
            tick: Duration::from_millis(50),
            handles: None,
        }
    }
}

impl ExecutorConfig {
    /// How long a request waits for a worker that offers its task (default
    /// 30 s).
    pub fn no_worker_timeout(mut self, d: Duration) -> Self {
        self.no_worker_timeout = d;
        self
    }

    /// How long requests wait for a broker that was lost (default 30 s):
    /// once the executor has been without a connection for that long, every
    /// request it holds fails with [`WorkerError::BrokerAway`], and so do
    /// new ones, at each failed try to reach it, until it is back. A broker
    /// that stops answering is found lost after two AMQP heartbeats (the
    /// URL's `heartbeat`), and each try to reach it again waits at most the
    /// URL's `connect_timeout` and `timeout`.
    pub fn broker_timeout(mut self, d: Duration) -> Self {
        self.broker_timeout = d;
        self
    }

    /// How many heartbeat periods of a worker's silence make it dead
    /// (default 3).
    pub fn missed_heartbeats(mut self, n: u32) -> Self {
        self.missed_heartbeats = n.max(1);
        self
    }

    /// How many workers a request is sent to, one after another as they die,
    /// before giving up (default 3).
    pub fn max_tries(mut self, n: u32) -> Self {
        self.max_tries = n.max(1);
        self
    }

    /// How often the executor checks on its requests (default 50 ms).
    pub fn tick(mut self, d: Duration) -> Self {
        self.tick = d.max(Duration::from_millis(1));
        self
    }

    /// Sends only the tasks `f` selects to workers; the others run in the
    /// engine's process.
    pub fn only(mut self, f: impl Fn(&TaskMeta) -> bool + Send + Sync + 'static) -> Self {
        self.handles = Some(Arc::new(f));
        self
    }
}

/// What a [`WorkerExecutor`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Requests sent (each attempt once, repeats not counted).
    pub sent: u64,
    /// Requests sent to another worker because theirs died.
    pub resent: u64,
    /// Requests sent again to the same worker, under the same attempt id,
    /// because they looked lost.
    pub repeated: u64,
    /// Results ignored: for attempts already settled or abandoned.
    pub ignored_results: u64,
    /// Connections to the broker opened (1 without interruptions).
    pub connections: u64,
}

/// An [`Executor`] that sends atoms to remote [`Worker`](super::Worker)s over
/// AMQP. Cheap to clone; the connection is shared, and closed when the last
/// clone is dropped.
///
/// ```no_run
/// # #[allow(dead_code)]
/// # async fn demo(flow: taskwire_runtime::Flow) -> Result<(), Box<dyn std::error::Error>> {
/// use taskwire_runtime::worker::{Broker, ExecutorConfig, WorkerExecutor};
/// use taskwire_runtime::Engine;
///
/// let broker = Broker::new("amqp://guest:guest@127.0.0.1:5672/%2f", "volumes");
/// let executor = WorkerExecutor::connect(broker, ExecutorConfig::default()).await?;
/// let done = Engine::new(flow).executor(executor.clone()).max_workers(8).run_async().await?;
/// println!("{}", done.flow_state());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WorkerExecutor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WorkerExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerExecutor")
            .field("id", &self.inner.id)
            .field("namespace", &self.inner.broker.namespace)
            .finish_non_exhaustive()
    }
}

struct Seen {
    queue: String,
    tasks: Vec<Offer>,
    heartbeat: Duration,
    draining: bool,
    last: Instant,
    assigned: usize,
}

impl Seen {
    fn silence_limit(&self, missed: u32) -> Duration {
        self.heartbeat * missed.max(1)
    }
}

struct Pending {
    atom: String,
    task: String,
    version: Version,
    args: Map<String, Value>,
    /// The attempt's trace context, sent with the request.
    trace: crate::telemetry::TraceContext,
    action: WireAction,
    worker: Option<String>,
    idempotent: bool,
    started: bool,
    sent_at: Option<Instant>,
    created: Instant,
    tries: u32,
    misses: u8,
    tx: oneshot::Sender<Result<Value, Failure>>,
}

#[derive(Default)]
struct State {
    channel: Option<Channel>,
    connected_at: Option<Instant>,
    workers: HashMap<String, Seen>,
    pending: HashMap<Uuid, Pending>,
    stats: ExecutorStats,
}

struct Inner {
    id: String,
    broker: Broker,
    config: ExecutorConfig,
    /// How long to wait on the broker, from its URL.
    bounds: Bounds,
    reply_queue: String,
    state: Mutex<State>,
    send: mpsc::UnboundedSender<Uuid>,
    workers_changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A live session's channels and consumers.
struct Session {
    conn: Connection,
    /// Kept open while the session lives.
    _channel: Channel,
    replies: mpsc::UnboundedReceiver<amqprs::channel::ConsumerMessage>,
    hellos: mpsc::UnboundedReceiver<amqprs::channel::ConsumerMessage>,
}

impl WorkerExecutor {
    /// Connects to the broker (on the current tokio runtime; the connection
    /// is kept, and restored when it breaks, in the background). An error if
    /// the broker cannot be reached now.
    pub async fn connect(
        broker: Broker,
        config: ExecutorConfig,
    ) -> Result<WorkerExecutor, BrokerError> {
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let (_, bounds) = connection_args(&broker.url, "")?;
        let (send, to_send) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            bounds,
            reply_queue: broker.engine_queue(&id),
            id,
            broker,
            config,
            state: Mutex::new(State::default()),
            send,
            workers_changed: Notify::new(),
        });
        let session = inner.open().await?;
        tokio::spawn(run(Arc::downgrade(&inner), session, to_send));
        Ok(WorkerExecutor { inner })
    }

    /// The executor's id: its connection is named `taskwire engine {id}`,
    /// its reply queue `{namespace}.engine.{id}`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// What the executor did so far.
    pub fn stats(&self) -> ExecutorStats {
        lock(&self.inner.state).stats
    }

    /// The live workers (not silent for too long) and what they offer.
    pub fn workers(&self) -> Vec<(String, Vec<Offer>)> {
        let state = lock(&self.inner.state);
        let missed = self.inner.config.missed_heartbeats;
        let mut list: Vec<_> = state
            .workers
            .iter()
            .filter(|(_, w)| w.last.elapsed() <= w.silence_limit(missed))
            .map(|(id, w)| (id.clone(), w.tasks.clone()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Waits until at least `n` workers are live, for at most `timeout`;
    /// whether they are.
    pub async fn wait_for_workers(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.workers_changed.notified();
            if self.workers().len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.workers().len() >= n;
            }
        }
    }
}

impl Executor for WorkerExecutor {
    fn handles(&self, task: &TaskMeta) -> bool {
        self.inner.config.handles.as_ref().is_none_or(|f| f(task))
    }

    fn execute(&self, request: Request) -> BoxFuture<Result<Value, Failure>> {
        let (tx, rx) = oneshot::channel();
        let attempt = Uuid::new_v4();
        let (atom, task) = (request.atom.clone(), request.task.clone());
        let action = match request.action {
            Action::Execute => WireAction::Execute,
            Action::Revert { result, failures } => {
                let (result, failure) = match result {
                    Ok(v) => (Some(v), None),
                    Err(f) => (None, Some(f.record().clone())),
                };
                WireAction::Revert {
                    result,
                    failure,
                    failures: failures
                        .iter()
                        .map(|(a, f)| {
                            (a.to_owned(), serde_json::to_value(f).unwrap_or(Value::Null))
                        })
                        .collect(),
                }
            }
        };
        lock(&self.inner.state).pending.insert(
            attempt,
            Pending {
                atom: request.atom,
                task: request.task,
                version: request.version,
                args: request.args,
                trace: request.trace,
                action,
                worker: None,
                idempotent: false,
                started: false,
                sent_at: None,
                created: Instant::now(),
                tries: 0,
                misses: 0,
                tx,
            },
        );
        let _ = self.inner.send.send(attempt);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(Failure::from_error(WorkerError::Stopped { atom, task })))
        })
    }
}

/// The background loop: keeps a session open, sends requests, reads
/// results and hellos, and checks on requests every tick.
async fn run(inner: Weak<Inner>, mut session: Session, mut to_send: mpsc::UnboundedReceiver<Uuid>) {
    let mut delay = Duration::from_millis(50);
    loop {
        let closed = session.conn.clone();
        let mut closed = std::pin::pin!(async move { closed.listen_network_io_failure().await });
        let tick = match inner.upgrade() {
            Some(inner) => inner.config.tick,
            None => return,
        };
        let mut tick = tokio::time::interval(tick);
        let why = loop {
            tokio::select! {
                attempt = to_send.recv() => {
                    let (Some(attempt), Some(inner)) = (attempt, inner.upgrade()) else { return };
                    inner.dispatch(attempt).await;
                }
                reply = session.replies.recv() => {
                    let Some(reply) = reply else { break "the reply consumer stopped" };
                    let Some(inner) = inner.upgrade() else { return };
                    inner.on_message(reply.content.as_deref().unwrap_or_default());
                }
                hello = session.hellos.recv() => {
                    let Some(hello) = hello else { break "the hello consumer stopped" };
                    let Some(inner) = inner.upgrade() else { return };
                    inner.on_message(hello.content.as_deref().unwrap_or_default());
                }
                _ = tick.tick() => {
                    let Some(inner) = inner.upgrade() else { return };
                    inner.check().await;
                }
                _ = &mut closed => break "the connection closed",
            }
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        tracing::warn!(executor = %strong.id, why, "lost the broker; reconnecting");
        {
            let mut state = lock(&strong.state);
            state.channel = None;
            state.connected_at = None;
        }
        drop(strong);
        let lost_at = Instant::now();
        session = loop {
            backoff(&mut delay).await;
            let Some(strong) = inner.upgrade() else {
                return;
            };
            match strong.open().await {
                Ok(session) => break session,
                Err(e) => {
                    tracing::warn!(executor = %strong.id, error = %e, "cannot reach the broker");
                    strong.fail_if_away(lost_at, &e);
                }
            }
        };
        delay = Duration::from_millis(50);
    }
}

impl Inner {
    fn broker_error(&self, operation: &str, e: Waited) -> BrokerError {
        BrokerError {
            url: redact_url(&self.broker.url),
            operation: operation.to_owned(),
            message: e.to_string(),
        }
    }

    /// Fails every request held once the broker has been away for
    /// [`ExecutorConfig::broker_timeout`].
    fn fail_if_away(&self, lost_at: Instant, last: &BrokerError) {
        let away = lost_at.elapsed();
        if away < self.config.broker_timeout {
            return;
        }
        let settled: Vec<Pending> = {
            let mut state = lock(&self.state);
            state.pending.drain().map(|(_, p)| p).collect()
        };
        for p in settled {
            if let Some(w) = p.worker.as_ref() {
                if let Some(seen) = lock(&self.state).workers.get_mut(w) {
                    seen.assigned = seen.assigned.saturating_sub(1);
                }
            }
            let _ = p.tx.send(Err(Failure::from_error(WorkerError::BrokerAway {
                atom: p.atom,
                task: p.task,
                url: redact_url(&self.broker.url),
                away,
                error: last.message.clone(),
            })));
        }
    }

    /// Opens a session: the reply queue, the hello queue, their consumers.
    async fn open(&self) -> Result<Session, BrokerError> {
        let (args, bounds) =
            connection_args(&self.broker.url, &format!("taskwire engine {}", self.id))?;
        let conn = Connection::open(&args)
            .within(bounds.connect_timeout, "connect_timeout")
            .await
            .map_err(|e| self.broker_error("connect", e))?;
        let channel = conn
            .open_channel(None)
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("open a channel", e))?;
        let exchange = self.broker.hello_exchange();
        channel
            .exchange_declare(ExchangeDeclareArguments::new(&exchange, "fanout"))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("declare the hello exchange", e))?;
        channel
            .queue_declare(expiring_queue(&self.reply_queue))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("declare the reply queue", e))?;
        let (hello_queue, _, _) = channel
            .queue_declare(QueueDeclareArguments::exclusive_server_named())
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("declare the hello queue", e))?
            .expect("not no-wait");
        channel
            .queue_bind(QueueBindArguments::new(&hello_queue, &exchange, ""))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("bind the hello queue", e))?;
        let consume = |queue: &str| {
            let mut args = BasicConsumeArguments::new(queue, "");
            args.manual_ack(false);
            args
        };
        let (_, replies) = channel
            .basic_consume_rx(consume(&self.reply_queue))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("consume the reply queue", e))?;
        let (_, hellos) = channel
            .basic_consume_rx(consume(&hello_queue))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("consume the hello queue", e))?;
        let unsent: Vec<Uuid> = {
            let mut state = lock(&self.state);
            state.channel = Some(channel.clone());
            state.connected_at = Some(Instant::now());
            state.stats.connections += 1;
            // Workers were not heard while the connection was down: judge
            // them only from now on.
            let now = Instant::now();
            for w in state.workers.values_mut() {
                w.last = now;
            }
            state
                .pending
                .iter()
                .filter(|(_, p)| p.worker.is_none())
                .map(|(a, _)| *a)
                .collect()
        };
        for attempt in unsent {
            let _ = self.send.send(attempt);
        }
        Ok(Session {
            conn,
            _channel: channel,
            replies,
            hellos,
        })
    }

    /// Sends `attempt` to the least busy live worker that offers its task.
    async fn dispatch(&self, attempt: Uuid) {
        let (channel, queue, body) = {
            let mut state = lock(&self.state);
            let Some(channel) = state.channel.clone() else {
                return;
            };
            let missed = self.config.missed_heartbeats;
            let State {
                workers,
                pending,
                stats,
                ..
            } = &mut *state;
            let Some(p) = pending.get_mut(&attempt) else {
                return;
            };
            if p.worker.is_some() {
                return;
            }
            let chosen = workers
                .iter_mut()
                .filter(|(_, w)| !w.draining && w.last.elapsed() <= w.silence_limit(missed))
                .filter_map(|(id, w)| {
                    let offer = w.tasks.iter().find(|o| {
                        o.name == p.task
                            && Version::parse(&o.version)
                                .is_some_and(|v| v.major == p.version.major)
                    })?;
                    Some((id, offer.idempotent, w))
                })
                .min_by_key(|(id, _, w)| (w.assigned, (*id).clone()));
            let Some((id, idempotent, w)) = chosen else {
                return;
            };
            w.assigned += 1;
            p.worker = Some(id.clone());
            p.idempotent = idempotent;
            p.started = false;
            p.sent_at = Some(Instant::now());
            p.tries += 1;
            p.misses = 0;
            stats.sent += 1;
            (channel, w.queue.clone(), self.request_body(attempt, p))
        };
        self.publish(&channel, &queue, body).await;
    }

    fn request_body(&self, attempt: Uuid, p: &Pending) -> Vec<u8> {
        encode(&Message::Request {
            attempt,
            atom: p.atom.clone(),
            task: p.task.clone(),
            version: p.version.to_string(),
            args: p.args.clone(),
            action: p.action.clone(),
            reply_to: self.reply_queue.clone(),
            traceparent: p.trace.traceparent.clone(),
            tracestate: p.trace.tracestate.clone(),
        })
    }

    async fn publish(&self, channel: &Channel, queue: &str, body: Vec<u8>) {
        // A publish that fails (the connection broke) is repaired by the
        // checks: the worker's hellos will not list it, and it is sent again.
        if let Err(e) = channel
            .basic_publish(
                BasicProperties::default(),
                body,
                BasicPublishArguments::new("", queue),
            )
            .within(self.bounds.timeout, "timeout")
            .await
        {
            tracing::debug!(executor = %self.id, error = %e, "publish failed");
        }
    }

    fn on_message(&self, body: &[u8]) {
        let message = match decode(body) {
            Ok(m) => m,
            Err(why) => {
                tracing::warn!(executor = %self.id, %why, "ignored a message");
                return;
            }
        };
        let mut state = lock(&self.state);
        match message {
            Message::Hello {
                worker,
                queue,
                tasks,
                holds,
                capacity,
                heartbeat_ms,
                backlog,
                draining,
            } => {
                let new = !state.workers.contains_key(&worker);
                let heartbeat = Duration::from_millis(heartbeat_ms.max(1));
                let assigned = state.workers.get(&worker).map_or(0, |w| w.assigned);
                state.workers.insert(
                    worker.clone(),
                    Seen {
                        queue,
                        tasks,
                        heartbeat,
                        draining,
                        last: Instant::now(),
                        assigned,
                    },
                );
                // Requests this worker should hold but does not list, while it
                // has room and nothing waits in its queue, look lost; after two
                // such hellos they are sent again under the same attempt.
                let holds: HashSet<Uuid> = holds.into_iter().collect();
                let room = holds.len() < capacity && backlog == 0;
                for (attempt, p) in state.pending.iter_mut() {
                    if p.worker.as_deref() != Some(worker.as_str()) {
                        continue;
                    }
                    if holds.contains(attempt) || !room {
                        p.misses = 0;
                    } else if p.sent_at.is_some_and(|t| t.elapsed() > heartbeat) {
                        p.misses += 1;
                    }
                }
                drop(state);
                if new {
                    self.workers_changed.notify_waiters();
                    // Requests waiting for a worker may go to this one.
                    let waiting: Vec<Uuid> = lock(&self.state)
                        .pending
                        .iter()
                        .filter(|(_, p)| p.worker.is_none())
                        .map(|(a, _)| *a)
                        .collect();
                    for attempt in waiting {
                        let _ = self.send.send(attempt);
                    }
                }
            }
            Message::Bye { worker } => {
                // It finished its running tasks and sent their results before
                // saying goodbye; what it had not started waits in its queue,
                // which nobody reads any more: send it elsewhere.
                state.workers.remove(&worker);
                let State { pending, stats, .. } = &mut *state;
                let unstarted: Vec<Uuid> = pending
                    .iter()
                    .filter(|(_, p)| p.worker.as_deref() == Some(worker.as_str()) && !p.started)
                    .map(|(a, _)| *a)
                    .collect();
                let mut fresh = Vec::new();
                for attempt in unstarted {
                    if let Some(mut p) = pending.remove(&attempt) {
                        p.worker = None;
                        let id = Uuid::new_v4();
                        pending.insert(id, p);
                        stats.resent += 1;
                        fresh.push(id);
                    }
                }
                drop(state);
                for attempt in fresh {
                    let _ = self.send.send(attempt);
                }
            }
            Message::Started { attempt, .. } => {
                if let Some(p) = state.pending.get_mut(&attempt) {
                    p.started = true;
                }
            }
            Message::Result {
                attempt, outcome, ..
            } => match state.pending.remove(&attempt) {
                Some(p) => {
                    if let Some(w) = p.worker.as_ref().and_then(|w| state.workers.get_mut(w)) {
                        w.assigned = w.assigned.saturating_sub(1);
                    }
                    let result = match outcome {
                        WireOutcome::Ok(v) => Ok(v),
                        WireOutcome::Failure(record) => Err(Failure::from_record(record)),
                    };
                    let _ = p.tx.send(result);
                }
                None => state.stats.ignored_results += 1,
            },
            Message::Request { .. } => {}
        }
    }

    /// Every tick: dead workers' requests go elsewhere (or fail), lost
    /// requests are sent again, requests without a worker time out.
    async fn check(&self) {
        let mut resend = Vec::new();
        let mut repeat = Vec::new();
        let channel = {
            let mut state = lock(&self.state);
            let Some(connected_at) = state.connected_at else {
                return;
            };
            let channel = state.channel.clone();
            let missed = self.config.missed_heartbeats;
            let dead: Vec<(String, Duration)> = state
                .workers
                .iter()
                .filter(|(_, w)| {
                    let limit = w.silence_limit(missed);
                    w.last.elapsed() > limit && connected_at.elapsed() > limit
                })
                .map(|(id, w)| (id.clone(), w.last.elapsed()))
                .collect();
            for (id, _) in &dead {
                state.workers.remove(id);
            }
            let State {
                pending,
                stats,
                workers,
                ..
            } = &mut *state;
            // Requests whose engine stopped waiting (a timeout cancelled
            // them): forget them; a result that comes is ignored.
            pending.retain(|_, p| !p.tx.is_closed());
            let mut settled = Vec::new();
            for (attempt, p) in pending.iter_mut() {
                match &p.worker {
                    Some(w) => {
                        if let Some((_, silent)) = dead.iter().find(|(d, _)| d == w) {
                            if p.started && !p.idempotent {
                                settled.push((
                                    *attempt,
                                    Failure::from_error(WorkerError::MayHaveRun {
                                        atom: p.atom.clone(),
                                        task: p.task.clone(),
                                        worker: w.clone(),
                                        silent: *silent,
                                    }),
                                ));
                            } else if p.tries >= self.config.max_tries {
                                settled.push((
                                    *attempt,
                                    Failure::from_error(WorkerError::GaveUp {
                                        atom: p.atom.clone(),
                                        task: p.task.clone(),
                                        tries: p.tries,
                                    }),
                                ));
                            } else {
                                resend.push(*attempt);
                            }
                        } else if p.misses >= 2 {
                            p.misses = 0;
                            p.sent_at = Some(Instant::now());
                            if let Some(seen) = workers.get(w) {
                                stats.repeated += 1;
                                repeat.push((seen.queue.clone(), self.request_body(*attempt, p)));
                            }
                        }
                    }
                    None if p.created.elapsed() > self.config.no_worker_timeout => {
                        let offered = workers
                            .values()
                            .flat_map(|w| w.tasks.iter())
                            .filter(|o| o.name == p.task)
                            .map(|o| format!("version {}", o.version))
                            .collect();
                        settled.push((
                            *attempt,
                            Failure::from_error(WorkerError::NoWorker {
                                task: p.task.clone(),
                                version: p.version.to_string(),
                                namespace: self.broker.namespace.clone(),
                                waited: p.created.elapsed(),
                                offered,
                            }),
                        ));
                    }
                    None => {}
                }
            }
            for (attempt, failure) in settled {
                if let Some(p) = pending.remove(&attempt) {
                    let _ = p.tx.send(Err(failure));
                }
            }
            // A request of a dead worker goes out again under a new attempt
            // id: whatever the dead worker might still say about the old one
            // is ignored.
            for attempt in std::mem::take(&mut resend) {
                if let Some(mut p) = pending.remove(&attempt) {
                    p.worker = None;
                    p.started = false;
                    let fresh = Uuid::new_v4();
                    pending.insert(fresh, p);
                    stats.resent += 1;
                    resend.push(fresh);
                }
            }
            channel
        };
        for attempt in resend {
            self.dispatch(attempt).await;
        }
        if let Some(channel) = channel {
            for (queue, body) in repeat {
                self.publish(&channel, &queue, body).await;
            }
        }
    }
}
