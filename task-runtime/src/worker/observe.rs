//! Listening to the workers' hellos for a while, for operators: which
//! workers are alive, what they offer, how busy they are.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicConsumeArguments, ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::Connection;
use serde::{Deserialize, Serialize};

use super::{connection_args, decode, Broker, BrokerError, Message, Offer, Waited, Within};
use crate::persistence::{now_ms, redact_url};

/// A worker as its last hello describes it ([`observe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker's id.
    pub worker: String,
    /// The queue it takes requests from.
    pub queue: String,
    /// The tasks it offers.
    pub tasks: Vec<Offer>,
    /// Attempts it holds (delivered and not finished).
    pub running: usize,
    /// How many attempts it runs at once.
    pub capacity: usize,
    /// Requests waiting in its queue.
    pub backlog: u32,
    /// Whether it is stopping (finishing what it runs, taking nothing new).
    pub draining: bool,
    /// Its heartbeat period, in ms.
    pub heartbeat_ms: u64,
    /// When its last hello came (unix ms, this machine's clock).
    pub last_seen: i64,
    /// How many hellos came while listening.
    pub hellos: u32,
    /// Whether it said goodbye while listening (it stopped).
    pub gone: bool,
}

/// Listens to the hellos of the workers of `broker` for `window` (give it
/// more than one heartbeat period, 1 s by default), and returns the workers
/// heard, by id. A worker heard neither hello nor goodbye from is not listed:
/// it is dead, or on another namespace.
pub fn observe(broker: &Broker, window: Duration) -> Result<Vec<WorkerStatus>, BrokerError> {
    let failed = |operation: &str, message: String| BrokerError {
        url: redact_url(&broker.url),
        operation: operation.to_owned(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed("start a runtime", e.to_string()))?;
    let run = async {
        let waited = |operation: &'static str| move |e: Waited| failed(operation, e.to_string());
        let (args, bounds) = connection_args(&broker.url, "taskwire observer")?;
        let conn = Connection::open(&args)
            .within(bounds.connect_timeout, "connect_timeout")
            .await
            .map_err(waited("connect"))?;
        let channel = conn
            .open_channel(None)
            .within(bounds.timeout, "timeout")
            .await
            .map_err(waited("open a channel"))?;
        let exchange = broker.hello_exchange();
        channel
            .exchange_declare(ExchangeDeclareArguments::new(&exchange, "fanout"))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(waited("declare the hello exchange"))?;
        let (queue, _, _) = channel
            .queue_declare(QueueDeclareArguments::exclusive_server_named())
            .within(bounds.timeout, "timeout")
            .await
            .map_err(waited("declare a hello queue"))?
            .ok_or_else(|| failed("declare a hello queue", "no answer".to_owned()))?;
        channel
            .queue_bind(QueueBindArguments::new(&queue, &exchange, ""))
            .within(bounds.timeout, "timeout")
            .await
            .map_err(waited("bind the hello queue"))?;
        let mut consume = BasicConsumeArguments::new(&queue, "");
        consume.manual_ack(false);
        let (_, mut hellos) = channel
            .basic_consume_rx(consume)
            .within(bounds.timeout, "timeout")
            .await
            .map_err(waited("consume the hello queue"))?;
        let mut seen: BTreeMap<String, WorkerStatus> = BTreeMap::new();
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match tokio::time::timeout(left, hellos.recv()).await {
                Err(_) => break,
                Ok(None) => {
                    return Err(failed(
                        "listen to hellos",
                        "the broker closed the consumer".to_owned(),
                    ))
                }
                Ok(Some(message)) => message,
            };
            match decode(message.content.as_deref().unwrap_or_default()) {
                Ok(Message::Hello {
                    worker,
                    queue,
                    tasks,
                    holds,
                    capacity,
                    backlog,
                    draining,
                    heartbeat_ms,
                }) => {
                    let hellos = seen.get(&worker).map_or(0, |w| w.hellos) + 1;
                    seen.insert(
                        worker.clone(),
                        WorkerStatus {
                            worker,
                            queue,
                            tasks,
                            running: holds.len(),
                            capacity,
                            backlog,
                            draining,
                            heartbeat_ms,
                            last_seen: now_ms(),
                            hellos,
                            gone: false,
                        },
                    );
                }
                Ok(Message::Bye { worker }) => {
                    if let Some(w) = seen.get_mut(&worker) {
                        w.gone = true;
                    }
                }
                _ => {}
            }
        }
        let _ = channel.close().within(bounds.timeout, "timeout").await;
        let _ = conn.close().within(bounds.timeout, "timeout").await;
        Ok(seen.into_values().collect())
    };
    runtime.block_on(run)
}
