//! Helpers of the distribution tests: a PostgreSQL database and a Redis,
//! ZooKeeper or etcd jobboard of the test's own, removed afterwards.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call: `{test}_{pid}_{n}`.
pub fn unique(test: &str) -> String {
    format!(
        "{}_{}_{}",
        test.replace(['-', ':'], "_"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A PostgreSQL database of the test's own, dropped afterwards.
#[cfg(feature = "postgres")]
pub struct PgDb(pub String);

#[cfg(feature = "postgres")]
impl PgDb {
    fn admin() -> ::postgres::Client {
        ::postgres::Client::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            ::postgres::NoTls,
        )
        .expect("PostgreSQL on 127.0.0.1:5432")
    }

    pub fn new(test: &str) -> PgDb {
        let name = format!("tw_{}", unique(test));
        PgDb::admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        PgDb(name)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
    }

    /// A connection to this database, to look at or spoil rows.
    pub fn client(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.url(), ::postgres::NoTls).unwrap()
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = PgDb::admin()
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
    }
}

pub const REDIS: &str = "redis://127.0.0.1:6379/0";

/// A Redis board name of the test's own; its keys are deleted afterwards.
#[cfg(feature = "redis")]
pub struct RedisBoard(pub String);

#[cfg(feature = "redis")]
impl RedisBoard {
    pub fn new(test: &str) -> RedisBoard {
        RedisBoard(format!("tw_{}", unique(test)))
    }

    pub fn open(&self) -> taskwire::jobboard::RedisJobBoard {
        taskwire::jobboard::RedisJobBoard::open(REDIS, &self.0).unwrap()
    }

    /// A plain connection, to look at or spoil keys.
    pub fn conn(&self) -> ::redis::Connection {
        ::redis::Client::open(REDIS)
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

#[cfg(feature = "redis")]
impl Drop for RedisBoard {
    fn drop(&mut self) {
        if let Ok(board) = taskwire::jobboard::RedisJobBoard::open(REDIS, &self.0) {
            let _ = board.purge();
        }
    }
}

/// The ZooKeeper the tests use, and the chroot under which they work.
pub const ZOOKEEPER: &str = "zookeeper://127.0.0.1:2181/taskwire-test";

/// A ZooKeeper board name of the test's own; its nodes are deleted
/// afterwards.
#[cfg(feature = "zookeeper")]
pub struct ZkBoard(pub String);

#[cfg(feature = "zookeeper")]
impl ZkBoard {
    pub fn new(test: &str) -> ZkBoard {
        ZkBoard(format!("tw_{}", unique(test)))
    }

    pub fn url() -> String {
        std::env::var("TASKWIRE_TEST_ZOOKEEPER")
            .map(|servers| format!("zookeeper://{servers}/taskwire-test"))
            .unwrap_or_else(|_| ZOOKEEPER.to_owned())
    }

    pub fn open(&self) -> taskwire::jobboard::ZookeeperJobBoard {
        taskwire::jobboard::ZookeeperJobBoard::open(&ZkBoard::url(), &self.0).unwrap()
    }

    /// The board's node `path` (under `/boards/<board>`), from outside.
    pub fn set(&self, path: &str, data: &[u8]) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let servers = ZkBoard::url().trim_start_matches("zookeeper://").to_owned();
        rt.block_on(async {
            let client = ::zookeeper_client::Client::connect(&servers).await.unwrap();
            client
                .set_data(&format!("/boards/{}{path}", self.0), data, None)
                .await
                .unwrap();
        });
    }
}

#[cfg(feature = "zookeeper")]
impl Drop for ZkBoard {
    fn drop(&mut self) {
        if let Ok(board) = taskwire::jobboard::ZookeeperJobBoard::open(&ZkBoard::url(), &self.0) {
            let _ = board.purge();
        }
    }
}

/// The etcd the tests use, and the key prefix under which they work.
pub const ETCD: &str = "etcd://127.0.0.1:2379/taskwire-test";

/// An etcd board name of the test's own; its keys are deleted afterwards.
#[cfg(feature = "etcd")]
pub struct EtcdBoard(pub String);

#[cfg(feature = "etcd")]
impl EtcdBoard {
    pub fn new(test: &str) -> EtcdBoard {
        EtcdBoard(format!("tw_{}", unique(test)))
    }

    /// [`ETCD`], or the servers of `TASKWIRE_TEST_ETCD` (`host:port[,…]`).
    pub fn url() -> String {
        std::env::var("TASKWIRE_TEST_ETCD")
            .map(|servers| format!("etcd://{servers}/taskwire-test"))
            .unwrap_or_else(|_| ETCD.to_owned())
    }

    pub fn open(&self) -> taskwire::jobboard::EtcdJobBoard {
        taskwire::jobboard::EtcdJobBoard::open(&EtcdBoard::url(), &self.0).unwrap()
    }

    /// The board's key `path` (under `/taskwire-test/boards/<board>/`), set
    /// from outside.
    pub fn set(&self, path: &str, data: &[u8]) {
        let key = format!("/taskwire-test/boards/{}/{path}", self.0);
        EtcdBoard::raw(|mut client| async move {
            client.put(key, data, None).await.unwrap();
        });
    }

    /// Revokes the lease that holds the claim key of `job`, from outside (as
    /// etcd does when a lease expires); the lease's id.
    pub fn revoke_claim_lease(&self, job: &str) -> i64 {
        let key = format!("/taskwire-test/boards/{}/claims/{job}", self.0);
        EtcdBoard::raw(|mut client| async move {
            let got = client.get(key, None).await.unwrap();
            let lease = got.kvs().first().expect("a claim key").lease();
            assert_ne!(lease, 0, "the claim key is attached to a lease");
            client.lease_revoke(lease).await.unwrap();
            lease
        })
    }

    /// Runs `f` with a plain client of the tests' etcd; panics after 10 s.
    fn raw<T, F, Fut>(f: F) -> T
    where
        F: FnOnce(::etcd_client::Client) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let url = EtcdBoard::url();
        let servers = url
            .trim_start_matches("etcd://")
            .trim_end_matches("/taskwire-test");
        let endpoints: Vec<String> = servers.split(',').map(str::to_owned).collect();
        rt.block_on(async {
            let run = async {
                let client = ::etcd_client::Client::connect(endpoints, None)
                    .await
                    .unwrap();
                f(client).await
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), run)
                .await
                .expect("etcd answers within 10 s")
        })
    }
}

/// Deletes the board's keys directly (a board whose schema a test spoiled
/// cannot be opened to purge itself).
#[cfg(feature = "etcd")]
impl Drop for EtcdBoard {
    fn drop(&mut self) {
        let prefix = format!("/taskwire-test/boards/{}/", self.0);
        let _ = std::panic::catch_unwind(|| {
            EtcdBoard::raw(|mut client| async move {
                let options = ::etcd_client::DeleteOptions::new().with_prefix();
                let _ = client.delete(prefix, Some(options)).await;
            })
        });
    }
}

/// A MariaDB database of the test's own, dropped afterwards.
#[cfg(feature = "mysql")]
pub struct MariaDb(pub String);

#[cfg(feature = "mysql")]
impl MariaDb {
    fn admin() -> ::mysql::Conn {
        ::mysql::Conn::new(::mysql::Opts::from_url("mysql://root@127.0.0.1:3306/mysql").unwrap())
            .expect("MariaDB on 127.0.0.1:3306")
    }

    pub fn new(test: &str) -> MariaDb {
        use ::mysql::prelude::Queryable;
        let name = format!("tw_{}", unique(test));
        MariaDb::admin()
            .query_drop(format!("CREATE DATABASE {name}"))
            .unwrap();
        MariaDb(name)
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.0)
    }
}

#[cfg(feature = "mysql")]
impl Drop for MariaDb {
    fn drop(&mut self) {
        use ::mysql::prelude::Queryable;
        let _ = MariaDb::admin().query_drop(format!("DROP DATABASE IF EXISTS {}", self.0));
    }
}

/// A scratch directory, removed afterwards.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("taskwire-{}", unique(test)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A RabbitMQ namespace of the test's own: its exchange and queues are
/// deleted afterwards.
#[cfg(feature = "amqp")]
pub struct Namespace(pub String);

#[cfg(feature = "amqp")]
impl Namespace {
    pub fn new(test: &str) -> Namespace {
        Namespace(format!("tw.{}", unique(test)))
    }

    pub fn broker(&self) -> taskwire::worker::Broker {
        taskwire::worker::Broker::new(AMQP, self.0.clone())
    }
}

/// `rabbitmqctl` with its output.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The broker's ids of the connections whose client-given name contains
/// `part`.
pub fn connections(part: &str) -> Vec<String> {
    // The client's connection name is among its client properties.
    let list = rabbitmqctl(&["list_connections", "pid", "client_properties", "--silent"]);
    list.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, properties)| properties.contains(part))
        .map(|(pid, _)| pid.to_owned())
        .collect()
}

/// Closes a broker connection, as a broker restart or a network cut would.
pub fn close_connection(pid: &str) {
    rabbitmqctl(&["close_connection", pid, "closed by a taskwire test"]);
}

#[cfg(feature = "amqp")]
impl Drop for Namespace {
    fn drop(&mut self) {
        let queues = rabbitmqctl(&["list_queues", "name", "--silent"]);
        let prefix = format!("{}.", self.0);
        let names: Vec<String> = queues
            .lines()
            .filter(|q| q.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        let exchange = format!("{}.hello", self.0);
        let cleanup = async move {
            use amqprs::channel::{ExchangeDeleteArguments, QueueDeleteArguments};
            let args = amqprs::connection::OpenConnectionArguments::new(
                "127.0.0.1",
                5672,
                "guest",
                "guest",
            );
            let conn = amqprs::connection::Connection::open(&args).await.ok()?;
            let channel = conn.open_channel(None).await.ok()?;
            for q in &names {
                let _ = channel.queue_delete(QueueDeleteArguments::new(q)).await;
            }
            let _ = channel
                .exchange_delete(ExchangeDeleteArguments::new(&exchange))
                .await;
            let _ = channel.close().await;
            let _ = conn.close().await;
            Some(())
        };
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(cleanup)
        })
        .join()
        .unwrap();
    }
}
