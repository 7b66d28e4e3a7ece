//! Cinder's create-volume flows, as taskwire tasks, in three services that
//! cast to each other as Cinder's API, scheduler and volume manager do.
//!
//! - **api** (the caller's thread, answering the request): extract and
//!   validate the request, reserve quota (released again if anything later
//!   fails), create the database entry (deleted again on failure), commit the
//!   quota, cast the request to the scheduler (`cinder-scheduler`) — or, when
//!   the request names its host (`--host`), straight to that host's volume
//!   manager (`cinder-volume.<host>`), bypassing the scheduler;
//! - **scheduler** (a service thread): pick the host with the most room among
//!   those not tried yet, counting the attempts as Cinder's `retry` filter
//!   property does, and cast to that host's manager;
//! - **volume manager** (one service thread per host): notify
//!   `volume.create.start`, create the volume from raw space, a snapshot, an
//!   image or another volume (`--source`), mark it available and notify
//!   `volume.create.end`.
//!
//! **Reschedule by cause.** When the driver fails on a host, the manager's
//! flow reverts (the space on the host is freed) and the manager decides, as
//! Cinder's `OnFailureRescheduleTask` does, by the failure's cause: a failure
//! the driver marks as retryable is cast back to the scheduler, which picks
//! another host; any other failure stops at once. Then, or when no host is
//! left, the volume is marked `error`, its quota is given back and
//! `volume.create.error` is notified. The policy is configurable:
//! `--reschedule retryable` (the default), `any` or `never`, and
//! `--max-attempts N` (Cinder's `scheduler_max_attempts`, default 3). A
//! request with `--host` is never rescheduled: no scheduler placed it.
//!
//! **Notifications** (`volume.create.start`, `.end`, `.error`, with Cinder's
//! payload fields `volume_id`, `size`, `volume_type`, `host`, `status` and
//! `error`) go to a listener, which prints them; with `--amqp` they are also
//! published on the broker, on the `notifications.info` and
//! `notifications.error` topics.
//!
//! **Transport.** By default the services cast to each other in-process
//! (channels between threads), so a plain run needs nothing but Cargo. With
//! `--amqp amqp://guest:guest@127.0.0.1:5672/%2f` every cast and notification
//! goes through RabbitMQ: a topic exchange `<prefix>cinder` and one queue per
//! service (`<prefix>cinder-scheduler`, `<prefix>cinder-volume.host-a`, …),
//! deleted when the run ends; `--prefix` keeps runs apart. Opening the
//! connection and each request to the broker are bounded (5 s each), and the
//! wait for the volume's outcome by `--wait SECS` (30). `--slow-driver SECS`
//! makes the driver take that long, to watch (or cut) a run in flight.
//!
//! Every step of every flow is recorded in one logbook, by default the SQLite
//! file `target/create_volume.db` (`--logbook URL` for another:
//! `dir:///tmp/log`, `postgres://…`, `mysql://…` with their features); the
//! end of the run prints what the logbook holds.
//!
//! ```text
//! cargo run --example create_volume                                  # succeeds
//! cargo run --example create_volume -- --fail-at commit              # fails, and reverts
//! cargo run --example create_volume -- --fail-at create@host-a       # retryable: rescheduled to host-b
//! cargo run --example create_volume -- --fail-at create@host-a:fatal # not retryable: error at once
//! cargo run --example create_volume -- --fail-at create              # every host fails
//! cargo run --example create_volume -- --host host-b                 # bypasses the scheduler
//! cargo run --example create_volume -- --source snapshot             # from a snapshot
//! cargo run --example create_volume -- --amqp amqp://guest:guest@127.0.0.1:5672/%2f
//! ```

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskwire::persistence::Uuid;
use taskwire::prelude::*;
use taskwire::{AtomEvent, Backend, Done, FlowEvent, Listener};

/// The volume services, one per host, with their free GiB.
const HOSTS: [(&str, u64); 2] = [("host-a", 500), ("host-b", 200)];
/// The scheduler's topic.
const SCHEDULER: &str = "cinder-scheduler";

/// A validated request. (`pub(crate)`, as `Retry`: the type of an input of a
/// flow below, whose inputs struct `ui-tests` reaches from outside this file.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VolumeSpec {
    size: u64,
    volume_type: String,
    /// raw, snapshot, image or volume.
    source: String,
}

/// Quota held for the volume until committed or released.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reservation {
    id: u64,
    gigabytes: u64,
}

/// Cinder's `filter_properties['retry']`: how many times the scheduler has
/// placed the volume, and on which hosts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Retry {
    num_attempts: u32,
    hosts: Vec<String>,
}

/// A request as it travels between the services: Cinder's `request_spec`
/// with the `retry` filter property (none when the caller named the host).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Request {
    volume_id: u64,
    spec: VolumeSpec,
    retry: Option<Retry>,
}

/// What one service casts to another.
#[derive(Debug, Serialize, Deserialize)]
enum Cast {
    /// The scheduler's and the volume manager's `create_volume`.
    CreateVolume(Request),
    /// Ends the service (the example's shutdown).
    Stop,
}

/// Where the scheduler placed the volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Placement {
    host: String,
    retry: Retry,
}

#[derive(Debug, thiserror::Error)]
enum VolumeError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("quota exceeded: {requested} GiB requested, {free} GiB free")]
    QuotaExceeded { requested: u64, free: u64 },
    #[error("injected failure at `{0}` (--fail-at)")]
    Injected(String),
    #[error("no valid host: {0}")]
    NoValidHost(String),
    /// The volume driver failed; `retryable` is the driver's verdict.
    #[error("driver on {host}: {reason} ({})", if *retryable { "retryable" } else { "not retryable" })]
    Driver {
        host: String,
        reason: String,
        retryable: bool,
    },
    #[error("{0}")]
    Cast(#[from] BusError),
}

/// When the volume manager casts a failed request back to the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RescheduleOn {
    /// Only failures the driver marks as retryable (Cinder's default).
    Retryable,
    /// Every failure.
    Any,
    /// None: the first failure puts the volume in error.
    Never,
}

/// The reschedule policy: which causes, and how many scheduling attempts.
#[derive(Debug, Clone, Copy)]
struct ReschedulePolicy {
    on: RescheduleOn,
    /// Cinder's `scheduler_max_attempts`.
    max_attempts: u32,
}

impl ReschedulePolicy {
    /// `Ok(())` to reschedule, or why not.
    fn decide(&self, cause: Option<&VolumeError>, retry: Option<&Retry>) -> Result<(), String> {
        let Some(retry) = retry else {
            return Err("the request named its host; no scheduler placed it".into());
        };
        let retryable = matches!(
            cause,
            Some(VolumeError::Driver {
                retryable: true,
                ..
            })
        );
        match self.on {
            RescheduleOn::Never => return Err("rescheduling is off (--reschedule never)".into()),
            RescheduleOn::Retryable if !retryable => {
                return Err("the failure is not retryable".into())
            }
            _ => {}
        }
        if retry.num_attempts >= self.max_attempts {
            return Err(format!(
                "{} of {} scheduling attempts made (--max-attempts)",
                retry.num_attempts, self.max_attempts
            ));
        }
        Ok(())
    }
}

/// The quota service, the database and the hosts' capacity: a resource,
/// handed to tasks by type.
#[derive(Debug)]
struct Cloud {
    free_gigabytes: Mutex<u64>,
    reservations: Mutex<BTreeMap<u64, u64>>,
    volumes: Mutex<BTreeMap<u64, String>>,
    /// Volume id → status, as the database keeps it.
    status: Mutex<BTreeMap<u64, String>>,
    /// Host name → free GiB.
    hosts: Mutex<Vec<(String, u64)>>,
    fail_at: Option<String>,
    policy: ReschedulePolicy,
    /// How long the driver takes to create a volume (`--slow-driver SECS`).
    driver_delay: Duration,
}

impl Cloud {
    fn check(&self, step: &str) -> Result<(), VolumeError> {
        match &self.fail_at {
            Some(s) if s == step => Err(VolumeError::Injected(step.to_owned())),
            _ => Ok(()),
        }
    }

    /// The driver's injected failures: `create@HOST` or `create` (every
    /// host), retryable unless followed by `:fatal`.
    fn driver_check(&self, host: &str) -> Result<(), VolumeError> {
        let Some(spec) = &self.fail_at else {
            return Ok(());
        };
        let (at, fatal) = match spec.strip_suffix(":fatal") {
            Some(at) => (at, true),
            None => (spec.as_str(), false),
        };
        if at == "create" || at == format!("create@{host}") {
            return Err(VolumeError::Driver {
                host: host.to_owned(),
                reason: if fatal {
                    "image unacceptable".into()
                } else {
                    "backend busy".into()
                },
                retryable: !fatal,
            });
        }
        Ok(())
    }

    /// Marks the volume `error` and gives its quota back.
    fn fail_volume(&self, volume_id: u64, size: u64) {
        self.status
            .lock()
            .unwrap()
            .insert(volume_id, "error".into());
        println!("    volume {volume_id} marked error");
        *self.free_gigabytes.lock().unwrap() += size;
        println!("    quota of {size} GiB given back");
    }
}

// Casts between the services.

mod bus;

use bus::{AmqpBus, Bus, BusError, LocalBus, BROKER_TIMEOUT};

// Notifications.

/// Cinder's volume usage payload, with the failure when there is one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Usage {
    volume_id: u64,
    size: u64,
    volume_type: String,
    host: Option<String>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A notification as oslo.messaging sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Notification {
    event_type: String,
    /// `INFO` or `ERROR`.
    priority: String,
    /// `volume.<host>` or `scheduler`.
    publisher_id: String,
    payload: Usage,
}

type NotificationListener = Box<dyn Fn(&Notification) + Send + Sync>;

/// The bus and the notification listeners: a resource, handed to tasks.
struct Messaging {
    bus: Box<dyn Bus>,
    listeners: Mutex<Vec<NotificationListener>>,
}

impl std::fmt::Debug for Messaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messaging").finish_non_exhaustive()
    }
}

impl Messaging {
    /// Tells the listeners, then the bus (a notification the broker did not
    /// take is reported, not fatal: the volume's state is in the database).
    fn notify(&self, event: &str, publisher: &str, payload: Usage) {
        let notification = Notification {
            event_type: format!("volume.create.{event}"),
            priority: if event == "error" { "ERROR" } else { "INFO" }.into(),
            publisher_id: publisher.to_owned(),
            payload,
        };
        for listener in self.listeners.lock().unwrap().iter() {
            listener(&notification);
        }
        if let Err(e) = self.bus.publish(&notification) {
            eprintln!(
                "notification {} not published: {e}",
                notification.event_type
            );
        }
    }
}

fn usage(volume_id: u64, spec: &VolumeSpec, host: Option<&str>, status: &str) -> Usage {
    Usage {
        volume_id,
        size: spec.size,
        volume_type: spec.volume_type.clone(),
        host: host.map(str::to_owned),
        status: status.to_owned(),
        error: None,
    }
}

// The API's flow.

#[task(provides = "volume_spec")]
fn extract_request(
    size: u64,
    volume_type: String,
    source: String,
    host: Option<String>,
    cloud: Res<Cloud>,
) -> Result<VolumeSpec, VolumeError> {
    cloud.check("extract")?;
    if size == 0 {
        return Err(VolumeError::Invalid("size must be at least 1 GiB".into()));
    }
    if !["raw", "snapshot", "image", "volume"].contains(&source.as_str()) {
        return Err(VolumeError::Invalid(format!(
            "unknown source `{source}`: use raw, snapshot, image or volume"
        )));
    }
    if let Some(host) = host {
        let hosts = cloud.hosts.lock().unwrap();
        if !hosts.iter().any(|(h, _)| *h == host) {
            let known: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
            return Err(VolumeError::Invalid(format!(
                "unknown host `{host}`: the volume services run on {}",
                known.join(", ")
            )));
        }
    }
    Ok(VolumeSpec {
        size,
        volume_type,
        source,
    })
}

#[task(provides = "reservation", revert_with = release_quota, version = "1.1")]
async fn reserve_quota(
    volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
) -> Result<Reservation, VolumeError> {
    cloud.check("reserve")?;
    let mut free = cloud.free_gigabytes.lock().unwrap();
    if *free < volume_spec.size {
        return Err(VolumeError::QuotaExceeded {
            requested: volume_spec.size,
            free: *free,
        });
    }
    *free -= volume_spec.size;
    let mut reservations = cloud.reservations.lock().unwrap();
    let id = reservations.len() as u64 + 1;
    reservations.insert(id, volume_spec.size);
    Ok(Reservation {
        id,
        gigabytes: volume_spec.size,
    })
}

/// Gives the quota back when a later step fails.
async fn release_quota(
    _volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
    outcome: Outcome<Reservation>,
    _failures: Failures,
) {
    if let Outcome::Success(reservation) = outcome {
        cloud.reservations.lock().unwrap().remove(&reservation.id);
        *cloud.free_gigabytes.lock().unwrap() += reservation.gigabytes;
        println!("    released reservation {}", reservation.id);
    }
}

#[task(provides = "volume_id", revert_with = delete_db_entry)]
fn create_db_entry(volume_spec: VolumeSpec, cloud: Res<Cloud>) -> Result<u64, VolumeError> {
    cloud.check("db")?;
    let mut volumes = cloud.volumes.lock().unwrap();
    let id = 1000 + volumes.len() as u64;
    volumes.insert(
        id,
        format!("{} GiB {}", volume_spec.size, volume_spec.volume_type),
    );
    cloud.status.lock().unwrap().insert(id, "creating".into());
    Ok(id)
}

/// Deletes the entry when a later step fails.
fn delete_db_entry(
    _volume_spec: VolumeSpec,
    cloud: Res<Cloud>,
    outcome: Outcome<u64>,
    _failures: Failures,
) {
    if let Outcome::Success(id) = outcome {
        cloud.volumes.lock().unwrap().remove(&id);
        cloud.status.lock().unwrap().remove(&id);
        println!("    deleted database entry {id}");
    }
}

#[task]
fn commit_quota(reservation: Reservation, cloud: Res<Cloud>) -> Result<(), VolumeError> {
    cloud.check("commit")?;
    cloud.reservations.lock().unwrap().remove(&reservation.id);
    Ok(())
}

/// Cinder's `VolumeCastTask`: to the scheduler, or straight to the named
/// host's volume manager.
#[task(provides = "cast_to")]
fn volume_cast(
    volume_id: u64,
    volume_spec: VolumeSpec,
    host: Option<String>,
    cloud: Res<Cloud>,
    messaging: Res<Messaging>,
) -> Result<String, VolumeError> {
    cloud.check("cast")?;
    let (topic, retry) = match host {
        Some(host) => (format!("cinder-volume.{host}"), None),
        None => (SCHEDULER.to_owned(), Some(Retry::default())),
    };
    let request = Request {
        volume_id,
        spec: volume_spec,
        retry,
    };
    messaging.bus.cast(&topic, &Cast::CreateVolume(request))?;
    Ok(topic)
}

// The scheduler's flow.

/// Picks the host with the most room among those not tried yet.
#[task(provides = "placement")]
fn schedule_create_volume(
    volume_id: u64,
    volume_spec: VolumeSpec,
    retry: Retry,
    cloud: Res<Cloud>,
) -> Result<Placement, VolumeError> {
    cloud.check("schedule")?;
    let mut retry = retry;
    retry.num_attempts += 1;
    if retry.num_attempts > cloud.policy.max_attempts {
        return Err(VolumeError::NoValidHost(format!(
            "exceeded max scheduling attempts {} for volume {volume_id}",
            cloud.policy.max_attempts
        )));
    }
    let mut hosts: Vec<(String, u64)> = cloud
        .hosts
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, free)| *free >= volume_spec.size && !retry.hosts.contains(h))
        .cloned()
        .collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some((host, _)) = hosts.into_iter().next() else {
        return Err(VolumeError::NoValidHost(format!(
            "no host left with {} GiB (tried: {})",
            volume_spec.size,
            if retry.hosts.is_empty() {
                "none".to_owned()
            } else {
                retry.hosts.join(", ")
            }
        )));
    };
    retry.hosts.push(host.clone());
    Ok(Placement { host, retry })
}

#[task(provides = "cast_to")]
fn cast_to_volume_host(
    volume_id: u64,
    volume_spec: VolumeSpec,
    placement: Placement,
    messaging: Res<Messaging>,
) -> Result<String, VolumeError> {
    let topic = format!("cinder-volume.{}", placement.host);
    let request = Request {
        volume_id,
        spec: volume_spec,
        retry: Some(placement.retry),
    };
    messaging.bus.cast(&topic, &Cast::CreateVolume(request))?;
    Ok(topic)
}

// The volume manager's flow.

/// Cinder's `NotifyVolumeActionTask(db, "create.start")`.
#[task]
fn notify_create_start(
    volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    messaging: Res<Messaging>,
) {
    messaging.notify(
        "start",
        &format!("volume.{host}"),
        usage(volume_id, &volume_spec, Some(&host), "creating"),
    );
}

/// Creates the volume on `host` from its source.
#[task(provides = "location", revert_with = delete_from_host)]
fn create_volume_on_host(
    volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    cloud: Res<Cloud>,
) -> Result<String, VolumeError> {
    std::thread::sleep(cloud.driver_delay);
    cloud.driver_check(&host)?;
    let how = match volume_spec.source.as_str() {
        "snapshot" => "cloned from snapshot snap-1",
        "image" => "copied from image cirros",
        "volume" => "cloned from volume 999",
        _ => "allocated raw",
    };
    let mut hosts = cloud.hosts.lock().unwrap();
    if let Some((_, free)) = hosts.iter_mut().find(|(h, _)| *h == host) {
        *free -= volume_spec.size;
    }
    Ok(format!("{host}:/volumes/{volume_id} ({how})"))
}

/// Frees the space on the host when a later step fails.
fn delete_from_host(
    _volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    cloud: Res<Cloud>,
    outcome: Outcome<String>,
    _failures: Failures,
) {
    if let Outcome::Success(location) = outcome {
        let mut hosts = cloud.hosts.lock().unwrap();
        if let Some((_, free)) = hosts.iter_mut().find(|(h, _)| *h == host) {
            *free += volume_spec.size;
        }
        println!("    deleted {location}");
    }
}

/// Cinder's `CreateVolumeOnFinishTask`: available, and `create.end`.
#[task(provides = "status")]
fn finish_volume(
    volume_id: u64,
    volume_spec: VolumeSpec,
    host: String,
    location: String,
    cloud: Res<Cloud>,
    messaging: Res<Messaging>,
) -> Result<String, VolumeError> {
    cloud.check("finish")?;
    cloud
        .status
        .lock()
        .unwrap()
        .insert(volume_id, "available".into());
    messaging.notify(
        "end",
        &format!("volume.{host}"),
        usage(volume_id, &volume_spec, Some(&host), "available"),
    );
    Ok(format!("volume {volume_id} available at {location}"))
}

/// Prints each state change as it is recorded.
struct Print;

impl Listener for Print {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        println!("flow {} {}", e.flow, e.state);
    }
    fn on_atom(&self, e: &AtomEvent<'_>) {
        let name = e.atom.rsplit("::").next().unwrap_or(e.atom);
        match e.failure {
            Some(f) => println!("  {name:<22} {} ({f})", e.state),
            None => println!("  {name:<22} {}", e.state),
        }
    }
}

// The three services' flows. Their shapes are known when the example is
// compiled, so `flow!` declares them: the compiler checks that every task gets
// what it requires, of the type it takes, and each flow's inputs are a struct
// of its own (`volume_create_api { size: 10, .. }.engine()`).
// `ui-tests/tests/ui/flow/pass/example_create_volume.rs` compiles them too.

taskwire::flow! {
    /// The API's flow: answers the caller as soon as the request is cast.
    pub(crate) linear volume_create_api(size: u64, volume_type: String, source: String, host: Option<String>) {
        extract_request,
        reserve_quota,
        create_db_entry,
        commit_quota,
        volume_cast,
    }
}

taskwire::flow! {
    /// The scheduler's flow: places a request on a host.
    pub(crate) linear volume_create_scheduler(volume_id: u64, volume_spec: VolumeSpec, retry: Retry) {
        schedule_create_volume,
        cast_to_volume_host,
    }
}

taskwire::flow! {
    /// A volume manager's flow: creates the volume on its host.
    pub(crate) linear volume_create_manager(volume_id: u64, volume_spec: VolumeSpec, host: String) {
        notify_create_start,
        create_volume_on_host,
        finish_volume,
    }
}

/// What every service shares: the cloud, the bus, the logbook.
struct Services {
    cloud: Arc<Cloud>,
    messaging: Arc<Messaging>,
    logbook: Arc<dyn Backend>,
    book: Uuid,
}

impl Services {
    /// Runs `engine` (a flow with its inputs) with the services' resources,
    /// listener and logbook.
    fn run(&self, engine: Engine) -> Result<Done, Box<RunError>> {
        engine
            .resource_arc(self.cloud.clone())
            .resource_arc(self.messaging.clone())
            .listener(Print)
            .persist(Arc::clone(&self.logbook))
            .logbook(self.book)
            .run()
            .map_err(Box::new)
    }

    /// The volume ends in error: marked, quota back, `create.error`.
    fn fail(&self, request: &Request, host: Option<&str>, publisher: &str, error: String) {
        self.cloud.fail_volume(request.volume_id, request.spec.size);
        let mut payload = usage(request.volume_id, &request.spec, host, "error");
        payload.error = Some(error);
        self.messaging.notify("error", publisher, payload);
    }

    /// The scheduler service: places each request, or fails the volume.
    fn scheduler(&self, casts: mpsc::Receiver<Cast>) {
        for cast in casts {
            let Cast::CreateVolume(request) = cast else {
                break;
            };
            let result = self.run(
                volume_create_scheduler {
                    volume_id: request.volume_id,
                    volume_spec: request.spec.clone(),
                    retry: request.retry.clone().unwrap_or_default(),
                }
                .engine(),
            );
            match result {
                Ok(done) => {
                    let placement: Placement = done.get("placement").expect("scheduled");
                    println!(
                        "scheduler: volume {} to {} (attempt {})",
                        request.volume_id, placement.host, placement.retry.num_attempts
                    );
                }
                Err(err) => self.fail(&request, None, "scheduler", err.to_string()),
            }
        }
    }

    /// The volume manager of `host`: creates, or reschedules by cause.
    fn manager(&self, host: &str, casts: mpsc::Receiver<Cast>) {
        for cast in casts {
            let Cast::CreateVolume(request) = cast else {
                break;
            };
            let result = self.run(
                volume_create_manager {
                    volume_id: request.volume_id,
                    volume_spec: request.spec.clone(),
                    host: host.to_owned(),
                }
                .engine(),
            );
            let err = match result {
                Ok(done) => {
                    println!("{}", done.get::<String>("status").expect("finished"));
                    continue;
                }
                Err(err) => err,
            };
            let cause = err.downcast_ref::<VolumeError>();
            let publisher = format!("volume.{host}");
            match self.cloud.policy.decide(cause, request.retry.as_ref()) {
                Ok(()) => {
                    let cast = Cast::CreateVolume(request.clone());
                    match self.messaging.bus.cast(SCHEDULER, &cast) {
                        Ok(()) => println!("{host}: volume {} rescheduled", request.volume_id),
                        Err(e) => {
                            println!(
                                "{host}: volume {} could not be rescheduled: {e}",
                                request.volume_id
                            );
                            self.fail(&request, Some(host), &publisher, format!("{err}; {e}"));
                        }
                    }
                }
                Err(why) => {
                    println!(
                        "{host}: volume {} not rescheduled: {why}",
                        request.volume_id
                    );
                    self.fail(&request, Some(host), &publisher, err.to_string());
                }
            }
        }
    }
}

/// The value after `flag`, if given.
fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The reschedule policy from `--reschedule` and `--max-attempts`.
fn policy(args: &[String]) -> Result<ReschedulePolicy, String> {
    let on = match arg(args, "--reschedule").as_deref() {
        None | Some("retryable") => RescheduleOn::Retryable,
        Some("any") => RescheduleOn::Any,
        Some("never") => RescheduleOn::Never,
        Some(other) => {
            return Err(format!(
                "--reschedule `{other}`: use retryable, any or never"
            ))
        }
    };
    let max_attempts = match arg(args, "--max-attempts") {
        None => 3,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(format!("--max-attempts `{n}`: a whole number from 1")),
        },
    };
    Ok(ReschedulePolicy { on, max_attempts })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let wait = match arg(&args, "--wait") {
        None => Duration::from_secs(30),
        Some(s) => Duration::from_secs(
            s.parse()
                .map_err(|e| format!("--wait `{s}`: seconds expected ({e})"))?,
        ),
    };
    let cloud = Arc::new(Cloud {
        free_gigabytes: Mutex::new(100),
        reservations: Mutex::default(),
        volumes: Mutex::default(),
        status: Mutex::default(),
        hosts: Mutex::new(HOSTS.iter().map(|(h, g)| (h.to_string(), *g)).collect()),
        fail_at: arg(&args, "--fail-at"),
        policy: policy(&args)?,
        driver_delay: Duration::from_secs(
            arg(&args, "--slow-driver")
                .map(|s| {
                    s.parse()
                        .map_err(|e| format!("--slow-driver `{s}`: seconds expected ({e})"))
                })
                .transpose()?
                .unwrap_or(0),
        ),
    });
    let source = arg(&args, "--source").unwrap_or_else(|| "raw".to_owned());
    let target = arg(&args, "--host");

    let url =
        arg(&args, "--logbook").unwrap_or_else(|| "sqlite://target/create_volume.db".to_owned());
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let logbook = taskwire::persistence::open(&url)?;
    let book = taskwire::persistence::LogBook::new("create_volume");
    logbook.save_logbook(&book)?;

    let bus: Box<dyn Bus> = match arg(&args, "--amqp") {
        Some(broker) => {
            let prefix = arg(&args, "--prefix").unwrap_or_default();
            match AmqpBus::connect(&broker, &prefix) {
                Ok(bus) => {
                    println!("casting over {} (exchange {})", bus.url, bus.exchange);
                    Box::new(bus)
                }
                Err(e) => {
                    println!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        None => Box::new(LocalBus::default()),
    };
    // The listener: prints each notification, and hands it to the caller.
    let (heard_tx, heard) = mpsc::channel::<Notification>();
    let heard_tx = Mutex::new(heard_tx);
    let print_and_pass: NotificationListener = Box::new(move |n: &Notification| {
        println!(
            "notification {} {}",
            n.event_type,
            serde_json::to_string(&n.payload).expect("serializes")
        );
        let _ = heard_tx.lock().unwrap().send(n.clone());
    });
    let messaging = Arc::new(Messaging {
        bus,
        listeners: Mutex::new(vec![print_and_pass]),
    });
    let services = Arc::new(Services {
        cloud: cloud.clone(),
        messaging: messaging.clone(),
        logbook: logbook.clone(),
        book: book.uuid,
    });

    // The scheduler and one volume manager per host, each on its thread.
    let mut topics = vec![SCHEDULER.to_owned()];
    topics.extend(HOSTS.iter().map(|(h, _)| format!("cinder-volume.{h}")));
    let (stopped_tx, stopped) = mpsc::channel::<()>();
    for topic in &topics {
        let casts = match messaging.bus.listen(topic) {
            Ok(casts) => casts,
            Err(e) => {
                println!("error: {e}");
                messaging.bus.close();
                std::process::exit(1);
            }
        };
        let services = services.clone();
        let topic = topic.clone();
        let stopped_tx = stopped_tx.clone();
        std::thread::spawn(move || {
            match topic.strip_prefix("cinder-volume.") {
                Some(host) => services.manager(host, casts),
                None => services.scheduler(casts),
            }
            let _ = stopped_tx.send(());
        });
    }

    // The API: answers the caller as soon as the request is cast.
    let api = volume_create_api {
        size: 10,
        volume_type: "ssd".to_owned(),
        source,
        host: target,
    };
    let outcome: Result<(), String> = match services.run(api.engine()) {
        Err(err) => {
            println!("error: {err}");
            if let Some(VolumeError::Injected(step)) = err.downcast_ref::<VolumeError>() {
                println!("(the task's own error came back: Injected({step:?}))");
            }
            Err(String::new())
        }
        Ok(done) => {
            let volume_id: u64 = done.get("volume_id").expect("created");
            let topic: String = done.get("cast_to").expect("cast");
            println!("api: volume {volume_id} creating, cast to {topic}");
            // The caller polls the volume; here, the notifications tell.
            let deadline = std::time::Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match heard.recv_timeout(left) {
                    Ok(n) if n.payload.volume_id != volume_id => {}
                    Ok(n) if n.event_type == "volume.create.end" => break Ok(()),
                    Ok(n) if n.event_type == "volume.create.error" => {
                        break Err(format!(
                            "volume {volume_id}: {}",
                            n.payload.error.unwrap_or_default()
                        ))
                    }
                    Ok(_) => {}
                    Err(_) => {
                        break Err(format!(
                            "volume {volume_id}: neither volume.create.end nor .error within {wait:?} (--wait)"
                        ))
                    }
                }
            }
        }
    };

    // Stops the services once their queues are drained, then the bus.
    for topic in &topics {
        let _ = messaging.bus.cast(topic, &Cast::Stop);
    }
    // Bounded: a service whose queue the broker no longer feeds may not
    // hear its stop; the process ends without it.
    let deadline = std::time::Instant::now() + BROKER_TIMEOUT;
    let mut running = topics.len();
    while running > 0 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if stopped.recv_timeout(left).is_err() {
            println!("{running} service(s) did not stop within {BROKER_TIMEOUT:?}");
            break;
        }
        running -= 1;
    }
    messaging.bus.close();

    println!("logbook {url}: logbook {}", book.uuid);
    for flow in logbook.list_flows(book.uuid)? {
        let (detail, atoms) = logbook.load_flow(flow.uuid)?;
        println!("  flow {} is {}", detail.name, detail.state);
        for atom in atoms {
            println!("    {:<40} {}", atom.name, atom.state);
        }
    }
    println!(
        "volumes: {:?}, free quota: {} GiB",
        cloud.status.lock().unwrap(),
        cloud.free_gigabytes.lock().unwrap()
    );
    if let Err(e) = outcome {
        if !e.is_empty() {
            println!("error: {e}");
        }
        std::process::exit(1);
    }
    Ok(())
}
