//! Casts between the services: in-process (channels between threads) or
//! over AMQP (RabbitMQ), behind one trait.

use std::collections::BTreeMap;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::{Cast, Notification};

/// A failure to reach or use the message bus.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{where_}: {operation}: {message}")]
pub(super) struct BusError {
    /// The broker (its URL without the password) or `in-process`.
    where_: String,
    operation: String,
    message: String,
}

/// How the services reach each other: in-process or over AMQP.
pub(super) trait Bus: Send + Sync {
    /// The casts sent to `topic`, from now on.
    fn listen(&self, topic: &str) -> Result<mpsc::Receiver<Cast>, BusError>;
    /// Sends `cast` to the service listening on `topic`.
    fn cast(&self, topic: &str, cast: &Cast) -> Result<(), BusError>;
    /// Publishes a notification, where the bus has a place for them.
    fn publish(&self, notification: &Notification) -> Result<(), BusError>;
    /// Deletes what the bus declared and closes it.
    fn close(&self);
}

/// Casts over channels between threads.
#[derive(Debug, Default)]
pub(super) struct LocalBus {
    topics: Mutex<BTreeMap<String, mpsc::Sender<Cast>>>,
}

impl Bus for LocalBus {
    fn listen(&self, topic: &str) -> Result<mpsc::Receiver<Cast>, BusError> {
        let (tx, rx) = mpsc::channel();
        self.topics.lock().unwrap().insert(topic.to_owned(), tx);
        Ok(rx)
    }

    fn cast(&self, topic: &str, cast: &Cast) -> Result<(), BusError> {
        // Through JSON, as over the broker: what crosses is what serializes.
        let bytes = serde_json::to_vec(cast).expect("a cast serializes");
        let cast = serde_json::from_slice(&bytes).expect("and comes back");
        let error = |message: &str| BusError {
            where_: "in-process".into(),
            operation: format!("cast to `{topic}`"),
            message: message.into(),
        };
        let topics = self.topics.lock().unwrap();
        let tx = topics
            .get(topic)
            .ok_or_else(|| error("no service listens"))?;
        tx.send(cast).map_err(|_| error("the service has stopped"))
    }

    fn publish(&self, _: &Notification) -> Result<(), BusError> {
        Ok(())
    }

    fn close(&self) {
        self.topics.lock().unwrap().clear();
    }
}

/// Casts over RabbitMQ: a topic exchange, one queue per service.
pub(super) struct AmqpBus {
    rt: tokio::runtime::Runtime,
    connection: Mutex<Option<amqprs::connection::Connection>>,
    channel: amqprs::channel::Channel,
    pub(super) url: String,
    pub(super) exchange: String,
    prefix: String,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus")
            .field("url", &self.url)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

/// The bound on opening the connection and on each request to the broker.
pub(super) const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

impl AmqpBus {
    /// Connects to `url` and declares the exchange `<prefix>cinder`.
    pub(super) fn connect(url: &str, prefix: &str) -> Result<AmqpBus, BusError> {
        let parsed = url::Url::parse(url).map_err(|e| BusError {
            where_: url.to_owned(),
            operation: "parse the URL".into(),
            message: format!("{e}; expected amqp://user:password@host:port/vhost"),
        })?;
        let shown = {
            let mut u = parsed.clone();
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        };
        let bad = |message: String| BusError {
            where_: shown.clone(),
            operation: "parse the URL".into(),
            message,
        };
        if parsed.scheme() != "amqp" {
            return Err(bad(format!(
                "scheme `{}`: expected amqp://user:password@host:port/vhost",
                parsed.scheme()
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("no host".into()))?
            .to_owned();
        let user = match parsed.username() {
            "" => "guest",
            u => u,
        };
        let password = parsed.password().unwrap_or("guest");
        let vhost = match parsed.path().trim_start_matches('/') {
            "" | "%2f" | "%2F" => "/".to_owned(),
            v => v.to_owned(),
        };
        let mut args = amqprs::connection::OpenConnectionArguments::new(
            &host,
            parsed.port().unwrap_or(5672),
            user,
            password,
        );
        args.virtual_host(&vhost)
            .connection_name("taskwire create_volume");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| bad(format!("start the runtime: {e}")))?;
        let exchange = format!("{prefix}cinder");
        let failed = |operation: &str, message: String| BusError {
            where_: shown.clone(),
            operation: operation.to_owned(),
            message,
        };
        let (connection, channel) = rt.block_on(async {
            let connection = bounded(amqprs::connection::Connection::open(&args))
                .await
                .map_err(|m| failed("connect", m))?;
            let channel = bounded(connection.open_channel(None))
                .await
                .map_err(|m| failed("open a channel", m))?;
            let mut declare = amqprs::channel::ExchangeDeclareArguments::new(&exchange, "topic");
            declare.auto_delete(true);
            bounded(channel.exchange_declare(declare.finish()))
                .await
                .map_err(|m| failed(&format!("declare the exchange `{exchange}`"), m))?;
            Ok::<_, BusError>((connection, channel))
        })?;
        Ok(AmqpBus {
            rt,
            connection: Mutex::new(Some(connection)),
            channel,
            url: shown,
            exchange,
            prefix: prefix.to_owned(),
        })
    }

    /// Runs `fut` on the bus's runtime from any thread, even one inside
    /// another runtime (the engine's), and waits for it.
    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .expect("the bus's runtime runs until the bus is dropped")
    }

    fn error(&self, operation: String, message: String) -> BusError {
        BusError {
            where_: self.url.clone(),
            operation,
            message,
        }
    }

    fn send(&self, routing_key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let channel = self.channel.clone();
        let args = amqprs::channel::BasicPublishArguments::new(&self.exchange, routing_key);
        self.run(async move {
            let mut props = amqprs::BasicProperties::default();
            props.with_content_type("application/json");
            bounded(channel.basic_publish(props, bytes, args)).await
        })
    }
}

/// `fut` within [`BROKER_TIMEOUT`], its error as text.
async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, amqprs::error::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(BROKER_TIMEOUT, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {BROKER_TIMEOUT:?}")),
    }
}

impl Bus for AmqpBus {
    fn listen(&self, topic: &str) -> Result<mpsc::Receiver<Cast>, BusError> {
        use amqprs::channel::{BasicConsumeArguments, QueueBindArguments, QueueDeclareArguments};
        let queue = format!("{}{topic}", self.prefix);
        let (channel, exchange, key) = (
            self.channel.clone(),
            self.exchange.clone(),
            topic.to_owned(),
        );
        let q = queue.clone();
        let mut messages = self
            .run(async move {
                bounded(channel.queue_declare(QueueDeclareArguments::transient_autodelete(&q)))
                    .await
                    .map_err(|m| ("declare", m))?;
                bounded(channel.queue_bind(QueueBindArguments::new(&q, &exchange, &key)))
                    .await
                    .map_err(|m| ("bind", m))?;
                let mut consume = BasicConsumeArguments::new(&q, "");
                consume.manual_ack(false);
                let (_, rx) = bounded(channel.basic_consume_rx(consume.finish()))
                    .await
                    .map_err(|m| ("consume", m))?;
                Ok::<_, (&str, String)>(rx)
            })
            .map_err(|(op, m)| self.error(format!("{op} the queue `{queue}`"), m))?;
        let (tx, rx) = mpsc::channel();
        // Ends when the connection does: the service's receiver then ends too.
        self.rt.spawn(async move {
            while let Some(message) = messages.recv().await {
                let Some(content) = message.content else {
                    continue;
                };
                match serde_json::from_slice::<Cast>(&content) {
                    Ok(cast) => {
                        if tx.send(cast).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("queue `{queue}`: a message that is no cast, dropped: {e}"),
                }
            }
        });
        Ok(rx)
    }

    fn cast(&self, topic: &str, cast: &Cast) -> Result<(), BusError> {
        let bytes = serde_json::to_vec(cast).expect("a cast serializes");
        self.send(topic, bytes)
            .map_err(|m| self.error(format!("cast to `{topic}`"), m))
    }

    fn publish(&self, notification: &Notification) -> Result<(), BusError> {
        let topic = format!("notifications.{}", notification.priority.to_lowercase());
        let bytes = serde_json::to_vec(notification).expect("a notification serializes");
        self.send(&topic, bytes)
            .map_err(|m| self.error(format!("publish to `{topic}`"), m))
    }

    fn close(&self) {
        let Some(connection) = self.connection.lock().unwrap().take() else {
            return;
        };
        let channel = self.channel.clone();
        let exchange = self.exchange.clone();
        // One bound for all of it: a broker gone silent costs it once.
        self.run(async move {
            let _ = tokio::time::timeout(BROKER_TIMEOUT, async move {
                let delete = amqprs::channel::ExchangeDeleteArguments::new(&exchange);
                let _ = channel.exchange_delete(delete).await;
                let _ = channel.close().await;
                let _ = connection.close().await;
            })
            .await;
        });
    }
}
