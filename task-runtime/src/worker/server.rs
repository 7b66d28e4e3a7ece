//! The worker: runs the tasks it has registered for engines that ask.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicPublishArguments, BasicQosArguments, Channel,
    ExchangeDeclareArguments,
};
use amqprs::connection::Connection;
use amqprs::BasicProperties;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

use super::{
    backoff, connection_args, decode, encode, expiring_queue, Bounds, Broker, BrokerError, Message,
    Offer, Waited, WireAction, WireOutcome, Within, WorkerError,
};
use crate::failure::{Failure, FailureKind, Failures};
use crate::persistence::{redact_url, Uuid};
use crate::registry::{Registry, RegistryError};
use crate::task::{Call, Invocation, Resources, RevertInfo, TaskDef, Version};

/// How long a worker keeps the result of an attempt, to answer a repeated
/// request for it (after a broken connection) without running it again.
const KEEP_RESULTS: Duration = Duration::from_secs(600);

/// A worker: the tasks of a [`Registry`], run for engines that send them
/// through the broker.
///
/// ```no_run
/// # #[allow(dead_code)]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use taskwire_runtime::worker::{Broker, Worker};
/// use taskwire_runtime::Registry;
///
/// let broker = Broker::new("amqp://guest:guest@127.0.0.1:5672/%2f", "volumes");
/// let worker = Worker::new("node-1", broker, Registry::global()?.clone())
///     .idempotent(["storage::reserve_quota"])
///     .capacity(8)
///     .start()?;
/// // ... until told to stop:
/// worker.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Worker {
    name: String,
    broker: Broker,
    registry: Registry,
    idempotent: BTreeSet<String>,
    resources: Resources,
    heartbeat: Duration,
    capacity: usize,
}

impl Worker {
    /// A worker named `name` (its id adds a random suffix, so that a restarted
    /// worker is a new one) offering every task of `registry`, none of them
    /// idempotent unless said so.
    pub fn new(name: impl Into<String>, broker: Broker, registry: Registry) -> Worker {
        Worker {
            name: name.into(),
            broker,
            registry,
            idempotent: BTreeSet::new(),
            resources: Resources::default(),
            heartbeat: Duration::from_secs(1),
            capacity: 4,
        }
    }

    /// Declares tasks idempotent (running one twice is harmless): if this
    /// worker dies while running one, the engine sends it to another worker.
    /// A task not declared so is never run twice blindly.
    pub fn idempotent(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Worker {
        self.idempotent.extend(names.into_iter().map(Into::into));
        self
    }

    /// A resource for the tasks (`Res<T>`).
    pub fn resource<T: Send + Sync + 'static>(mut self, value: T) -> Worker {
        self.resources.insert(value);
        self
    }

    /// How often the worker says it is alive (default 1 s).
    pub fn heartbeat(mut self, every: Duration) -> Worker {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// How many tasks run at once (default 4).
    pub fn capacity(mut self, n: usize) -> Worker {
        self.capacity = n.clamp(1, u16::MAX as usize);
        self
    }

    /// Starts the worker on the current tokio runtime; it connects (and
    /// reconnects) in the background. An idempotent name that is not a
    /// registered task is an error.
    pub fn start(self) -> Result<WorkerHandle, RegistryError> {
        for name in &self.idempotent {
            self.registry.get(name)?;
        }
        let id = format!(
            "{}-{}",
            self.name,
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let tasks: HashMap<String, Arc<TaskDef>> = self
            .registry
            .iter()
            .map(|d| (d.meta.name.to_string(), Arc::new(d.clone())))
            .collect();
        let offers = self
            .registry
            .iter()
            .map(|d| Offer {
                name: d.meta.name.to_string(),
                version: d.meta.version.to_string(),
                idempotent: self.idempotent.contains(d.meta.name.as_ref()),
            })
            .collect();
        let bounds = connection_args(&self.broker.url, "")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            bounds,
            queue: self.broker.worker_queue(&id),
            id: id.clone(),
            broker: self.broker,
            tasks,
            offers,
            resources: Arc::new(self.resources),
            heartbeat: self.heartbeat,
            capacity: self.capacity,
            attempts: Mutex::new(HashMap::new()),
            outbox: Mutex::new(Vec::new()),
            session: Mutex::new(None),
            slots: Arc::new(Semaphore::new(self.capacity)),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::clone(&inner).supervise(stopped));
        Ok(WorkerHandle {
            id,
            stop,
            task: Some(task),
        })
    }
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    id: String,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WorkerHandle {
    /// The worker's id (its name and a random suffix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops taking requests, lets running tasks finish and send their
    /// results, says goodbye, and disconnects.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

enum Slot {
    Running,
    Done {
        reply_to: String,
        body: Vec<u8>,
        at: Instant,
    },
}

struct Inner {
    id: String,
    queue: String,
    broker: Broker,
    tasks: HashMap<String, Arc<TaskDef>>,
    offers: Vec<Offer>,
    resources: Arc<Resources>,
    heartbeat: Duration,
    capacity: usize,
    /// Attempts seen: running, or done with the result kept.
    attempts: Mutex<HashMap<Uuid, Slot>>,
    /// Results not yet published (the connection was down).
    outbox: Mutex<Vec<(String, Vec<u8>)>>,
    /// The live channel and its generation.
    session: Mutex<Option<(u64, Channel)>>,
    slots: Arc<Semaphore>,
    /// How long to wait on the broker (from the URL; the defaults if it is
    /// malformed, which the session then reports).
    bounds: Bounds,
}

enum End {
    Stopped,
    Lost(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    async fn supervise(self: Arc<Inner>, mut stop: watch::Receiver<bool>) {
        let mut delay = Duration::from_millis(50);
        let mut generation = 0;
        loop {
            generation += 1;
            match self.session(generation, &mut stop).await {
                Ok(End::Stopped) => return,
                Ok(End::Lost(why)) => {
                    tracing::warn!(worker = %self.id, %why, "lost the broker; reconnecting");
                }
                Err(e) => tracing::warn!(worker = %self.id, error = %e, "cannot reach the broker"),
            }
            *lock(&self.session) = None;
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = backoff(&mut delay) => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn broker_error(&self, operation: &str, e: Waited) -> BrokerError {
        BrokerError {
            url: redact_url(&self.broker.url),
            operation: operation.to_owned(),
            message: e.to_string(),
        }
    }

    async fn session(
        self: &Arc<Inner>,
        generation: u64,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<End, BrokerError> {
        let (args, bounds) =
            connection_args(&self.broker.url, &format!("taskwire worker {}", self.id))?;
        let conn = Connection::open(&args)
            .within(bounds.connect_timeout, "connect_timeout")
            .await
            .map_err(|e| self.broker_error("connect", e))?;
        let closed = conn.clone();
        let mut closed = std::pin::pin!(async move { closed.listen_network_io_failure().await });
        let channel = conn
            .open_channel(None)
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("open a channel", e))?;
        channel
            .exchange_declare(ExchangeDeclareArguments::new(
                &self.broker.hello_exchange(),
                "fanout",
            ))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("declare the hello exchange", e))?;
        channel
            .queue_declare(expiring_queue(&self.queue))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("declare the worker's queue", e))?;
        channel
            .basic_qos(BasicQosArguments::new(0, self.capacity as u16, false))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("set the prefetch", e))?;
        let (_, mut deliveries) = channel
            .basic_consume_rx(BasicConsumeArguments::new(&self.queue, &self.id))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(|e| self.broker_error("consume the worker's queue", e))?;
        *lock(&self.session) = Some((generation, channel.clone()));
        let unsent: Vec<_> = std::mem::take(&mut *lock(&self.outbox));
        for (to, body) in unsent {
            self.publish(&to, body).await;
        }
        tracing::info!(worker = %self.id, queue = %self.queue, "connected");
        let mut tick = tokio::time::interval(self.heartbeat);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.forget_old_results();
                    if let Err(e) = self.hello(&channel, false).await {
                        return Ok(End::Lost(e.to_string()));
                    }
                }
                delivery = deliveries.recv() => {
                    let Some(delivery) = delivery else {
                        return Ok(End::Lost("the channel closed".to_owned()));
                    };
                    self.delivery(generation, &channel, delivery).await;
                }
                _ = &mut closed => return Ok(End::Lost("the connection closed".to_owned())),
                _ = stop.changed() => {
                    // Take nothing new; let running tasks finish and answer.
                    let _ = channel
                        .basic_cancel(amqprs::channel::BasicCancelArguments::new(&self.id))
                        .within(bounds.timeout, "timeout")
                        .await;
                    // Keep saying it is alive while they run.
                    let drained = Arc::clone(&self.slots);
                    let mut drained = std::pin::pin!(drained.acquire_many_owned(self.capacity as u32));
                    loop {
                        tokio::select! {
                            _ = &mut drained => break,
                            _ = tick.tick() => {
                                if self.hello(&channel, true).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let bye = encode(&Message::Bye { worker: self.id.clone() });
                    let _ = channel
                        .basic_publish(BasicProperties::default(), bye, BasicPublishArguments::new(&self.broker.hello_exchange(), ""))
                        .within(bounds.timeout, "timeout")
                        .await;
                    *lock(&self.session) = None;
                    let _ = channel.close().within(bounds.timeout, "timeout").await;
                    let _ = conn.close().within(bounds.timeout, "timeout").await;
                    return Ok(End::Stopped);
                }
            }
        }
    }

    /// Says the worker is alive; each request bounded by the URL's
    /// `timeout`.
    async fn hello(&self, channel: &Channel, draining: bool) -> Result<(), Waited> {
        let holds = lock(&self.attempts)
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Running))
            .map(|(a, _)| *a)
            .collect();
        let mut passive = amqprs::channel::QueueDeclareArguments::new(&self.queue);
        passive.passive(true);
        let backlog = match channel
            .queue_declare(passive)
            .within(self.bounds.timeout, "timeout")
            .await?
        {
            Some((_, ready, _)) => ready,
            None => 0,
        };
        let hello = encode(&Message::Hello {
            worker: self.id.clone(),
            queue: self.queue.clone(),
            tasks: self.offers.clone(),
            holds,
            capacity: self.capacity,
            backlog,
            draining,
            heartbeat_ms: self.heartbeat.as_millis() as u64,
        });
        channel
            .basic_publish(
                BasicProperties::default(),
                hello,
                BasicPublishArguments::new(&self.broker.hello_exchange(), ""),
            )
            .within(self.bounds.timeout, "timeout")
            .await
    }

    fn forget_old_results(&self) {
        lock(&self.attempts).retain(|_, slot| match slot {
            Slot::Running => true,
            Slot::Done { at, .. } => at.elapsed() < KEEP_RESULTS,
        });
    }

    /// Publishes to a queue through the default exchange; kept for later if
    /// the connection is down.
    async fn publish(&self, to: &str, body: Vec<u8>) {
        let channel = lock(&self.session).as_ref().map(|(_, c)| c.clone());
        let sent = match channel {
            Some(channel) => channel
                .basic_publish(
                    BasicProperties::default(),
                    body.clone(),
                    BasicPublishArguments::new("", to),
                )
                .within(self.bounds.timeout, "timeout")
                .await
                .is_ok(),
            None => false,
        };
        if !sent {
            lock(&self.outbox).push((to.to_owned(), body));
        }
    }

    /// Acknowledges a delivery, if its channel is still the live one.
    async fn ack(&self, generation: u64, tag: u64) {
        let channel = match &*lock(&self.session) {
            Some((g, c)) if *g == generation => c.clone(),
            _ => return,
        };
        let _ = channel
            .basic_ack(BasicAckArguments::new(tag, false))
            .within(self.bounds.timeout, "timeout")
            .await;
    }

    async fn delivery(
        self: &Arc<Inner>,
        generation: u64,
        channel: &Channel,
        delivery: amqprs::channel::ConsumerMessage,
    ) {
        let Some(deliver) = delivery.deliver else {
            return;
        };
        let tag = deliver.delivery_tag();
        let body = delivery.content.unwrap_or_default();
        let message = match decode(&body) {
            Ok(message) => message,
            Err(why) => {
                tracing::warn!(worker = %self.id, %why, "dropped a message that is not a request");
                let _ = channel
                    .basic_ack(BasicAckArguments::new(tag, false))
                    .within(self.bounds.timeout, "timeout")
                    .await;
                return;
            }
        };
        let Message::Request {
            attempt,
            atom,
            task,
            version,
            args,
            action,
            reply_to,
            traceparent,
            tracestate,
        } = message
        else {
            let _ = channel
                .basic_ack(BasicAckArguments::new(tag, false))
                .within(self.bounds.timeout, "timeout")
                .await;
            return;
        };
        let repeat = {
            let mut attempts = lock(&self.attempts);
            match attempts.get(&attempt) {
                Some(Slot::Running) => Some(None),
                Some(Slot::Done { reply_to, body, .. }) => {
                    Some(Some((reply_to.clone(), body.clone())))
                }
                None => {
                    attempts.insert(attempt, Slot::Running);
                    None
                }
            }
        };
        match repeat {
            // A repeat of a running attempt: its result will come.
            Some(None) => {
                let _ = channel
                    .basic_ack(BasicAckArguments::new(tag, false))
                    .within(self.bounds.timeout, "timeout")
                    .await;
            }
            // A repeat of a finished attempt: its result again, not a new run.
            Some(Some((to, body))) => {
                self.publish(&to, body).await;
                let _ = channel
                    .basic_ack(BasicAckArguments::new(tag, false))
                    .within(self.bounds.timeout, "timeout")
                    .await;
            }
            None => {
                let this = Arc::clone(self);
                // The task's span continues the engine's trace.
                let span = tracing::info_span!(
                    "worker.task",
                    worker = %self.id,
                    atom = %atom,
                    task = %task,
                    version = %version,
                    action = match action {
                        WireAction::Execute => "execute",
                        WireAction::Revert { .. } => "revert",
                    },
                    outcome = tracing::field::Empty,
                    error = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                );
                crate::telemetry::set_parent(
                    &span,
                    &crate::telemetry::TraceContext {
                        traceparent,
                        tracestate,
                    },
                );
                tokio::spawn(async move {
                    let _slot = Arc::clone(&this.slots).acquire_owned().await;
                    let started = encode(&Message::Started {
                        attempt,
                        worker: this.id.clone(),
                    });
                    this.publish(&reply_to, started).await;
                    let outcome = this
                        .run(&atom, &task, &version, args, action)
                        .instrument(span.clone())
                        .await;
                    match &outcome {
                        WireOutcome::Ok(_) => {
                            span.record("outcome", "SUCCESS");
                        }
                        WireOutcome::Failure(failure) => {
                            span.record("outcome", "FAILURE");
                            span.record("error", tracing::field::display(&failure.message));
                            span.record("otel.status_code", "ERROR");
                        }
                    }
                    drop(span);
                    let body = encode(&Message::Result {
                        attempt,
                        worker: this.id.clone(),
                        outcome,
                    });
                    lock(&this.attempts).insert(
                        attempt,
                        Slot::Done {
                            reply_to: reply_to.clone(),
                            body: body.clone(),
                            at: Instant::now(),
                        },
                    );
                    this.publish(&reply_to, body).await;
                    this.ack(generation, tag).await;
                });
            }
        }
    }

    async fn run(
        &self,
        atom: &str,
        task: &str,
        version: &str,
        args: serde_json::Map<String, Value>,
        action: WireAction,
    ) -> WireOutcome {
        let failed = |e: WorkerError| WireOutcome::Failure(Failure::from_error(e).record().clone());
        let Some(def) = self.tasks.get(task).cloned() else {
            return failed(WorkerError::UnknownTask {
                worker: self.id.clone(),
                task: task.to_owned(),
                near: crate::registry::near_names(task, self.tasks.keys().map(String::as_str)),
            });
        };
        let asked = Version::parse(version);
        if asked.is_none_or(|v| v.major != def.meta.version.major) {
            return failed(WorkerError::Version {
                worker: self.id.clone(),
                task: task.to_owned(),
                have: def.meta.version.to_string(),
                asked: version.to_owned(),
            });
        }
        if matches!(action, WireAction::Revert { .. }) && def.revert.is_none() {
            return failed(WorkerError::NoRevert {
                worker: self.id.clone(),
                task: task.to_owned(),
            });
        }
        let values: Vec<Option<Value>> = def
            .meta
            .value_args()
            .map(|(name, _)| args.get(name).cloned())
            .collect();
        let prepared = match action {
            WireAction::Execute => None,
            WireAction::Revert {
                result,
                failure,
                failures,
            } => {
                let result = match failure {
                    Some(f) => Err(Failure::from_record(f)),
                    None => Ok(result.unwrap_or(Value::Null)),
                };
                let failures =
                    Failures::from_pairs(failures.into_iter().filter_map(|(atom, f)| {
                        Some((atom, serde_json::from_value::<Failure>(f).ok()?))
                    }));
                Some((result, failures))
            }
        };
        let resources = Arc::clone(&self.resources);
        let atom = atom.to_owned();
        let name = atom.clone();
        // The task's code runs inside the request's `worker.task` span.
        let span = tracing::Span::current();
        let inner = span.clone();
        let call = tokio::task::spawn_blocking(move || {
            let _entered = inner.enter();
            let values: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            let mut call = Call::new(&name, &def.meta, &values, &resources);
            let invocation = match &prepared {
                None => std::panic::catch_unwind(AssertUnwindSafe(|| def.exec.call(&call))),
                Some((result, failures)) => {
                    call.revert = Some(RevertInfo {
                        result: result.as_ref(),
                        failures,
                    });
                    let revert = def.revert.as_ref().expect("checked");
                    // What the revert returns goes back as its result.
                    std::panic::catch_unwind(AssertUnwindSafe(|| revert.call(&call)))
                }
            };
            invocation
                .unwrap_or_else(|panic| Invocation::Ready(Err(Failure::from_panic(&name, &*panic))))
        })
        .await;
        let result = match call {
            Ok(Invocation::Ready(result)) => result,
            Ok(Invocation::Pending(future)) => match tokio::spawn(future.instrument(span)).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(Failure::from_panic(&atom, &*e.into_panic())),
                Err(e) => Err(Failure::new(
                    FailureKind::Panic,
                    format!("task `{atom}` did not finish: {e}"),
                )),
            },
            Err(e) if e.is_panic() => Err(Failure::from_panic(&atom, &*e.into_panic())),
            Err(e) => Err(Failure::new(
                FailureKind::Panic,
                format!("task `{atom}` did not finish: {e}"),
            )),
        };
        match result {
            Ok(value) => WireOutcome::Ok(value),
            Err(failure) => WireOutcome::Failure(failure.record().clone()),
        }
    }
}
