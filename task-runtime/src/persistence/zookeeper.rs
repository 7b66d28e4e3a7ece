//! `zookeeper://host:port[,host:port…]/chroot`: a logbook kept as znodes of a
//! ZooKeeper ensemble, under a chroot of its own.
//!
//! ```text
//! /schema                         the layout's version ("1")
//! /logbooks/<uuid>                a LogBook (JSON)
//! /logbooks/<uuid>/<flow uuid>    (empty) the flows of that logbook
//! /flows/<uuid>                   a FlowDetail (JSON)
//! /flows/<uuid>/lease             its lease: owner, fencing token, expiry
//! /flows/<uuid>/owner             ephemeral: the session of the lease's holder
//! /flows/<uuid>/atoms/<uuid>      its AtomDetails (JSON)
//! ```
//!
//! Every write is one ZooKeeper `multi` (all or nothing). A write under a
//! lease carries a version check of the lease node in the same `multi`, so a
//! lease that changed hands fences the write as the SQL backends' row lock
//! does. The holder of a lease also holds the ephemeral `owner` node with its
//! session: when that session ends (the process died, or lost the ensemble
//! for longer than the session timeout), the node goes with it, and another
//! owner may take the lease at once, before its expiry.
//!
//! The connection is a session driven by a private runtime thread (it sends
//! the session's heartbeats); every call waits at most `query_timeout` for
//! its answer. A session that expired is replaced on the next call.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zookeeper_client as zk;

use super::zk::{absent, ephemeral, exists, persistent, Batch, Fail, Res, Session, CONFLICT_TRIES};

use super::{
    check_lease_flow, check_lease_for, now_ms, redact_url, sort_atoms, AtomDetail, Backend,
    FlowDetail, FlowSummary, Lease, LeaseRow, LogBook, LogBookSummary, ObjectKind,
    PersistenceError,
};

/// The layout version this code writes and reads.
const LAYOUT_VERSION: u32 = 1;

/// A logbook kept in ZooKeeper (`zookeeper://host:port/chroot`).
#[derive(Debug)]
pub struct ZookeeperBackend {
    url: String,
    session: Session,
    /// Atom nodes known to exist (created or written by this backend): their
    /// writes need no existence check. A node deleted meanwhile fails the
    /// `multi`, which is then tried again with a create.
    atoms_known: Mutex<HashSet<Uuid>>,
}

/// The stored form of a lease.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LeaseNode {
    owner: Option<String>,
    token: u64,
    expires_at: i64,
}

impl From<&LeaseRow> for LeaseNode {
    fn from(row: &LeaseRow) -> LeaseNode {
        LeaseNode {
            owner: row.owner.clone(),
            token: row.token,
            expires_at: row.expires_at,
        }
    }
}

/// One operation of a `multi`, remembered to explain its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// The logbook must exist.
    BookExists(Uuid),
    /// The flow detail must exist.
    FlowExists(Uuid),
    /// The lease node must not have changed since it was read.
    LeaseUnchanged,
    /// Creates a node that was absent when looked at.
    Create,
    /// Replaces a node that was present when looked at.
    Replace(Option<Uuid>),
    /// Deletes a node that was present when looked at.
    Delete,
}

fn book_path(uuid: Uuid) -> String {
    format!("/logbooks/{uuid}")
}

fn flow_path(uuid: Uuid) -> String {
    format!("/flows/{uuid}")
}

fn atom_path(flow: Uuid, atom: Uuid) -> String {
    format!("/flows/{flow}/atoms/{atom}")
}

impl ZookeeperBackend {
    /// Opens `zookeeper://host:port[,host:port…]/chroot[?key=value…]`,
    /// creating the chroot and its layout if needed.
    ///
    /// Keys: `session_timeout` (how long the ensemble keeps this backend's
    /// session, and so its leases' `owner` nodes, without hearing from it;
    /// default `10s`), `connect_timeout` (establishing the session, and how
    /// long a connection may stay silent before the client gives it up;
    /// default `10s`), `query_timeout` (each call's answer; default `30s`) and
    /// `timeout` (sets `connect_timeout` and `query_timeout` at once), and
    /// `max_request` (the largest write, in bytes or with a unit: `16MiB`;
    /// default 1 MiB less one byte, ZooKeeper's default `jute.maxbuffer`).
    ///
    /// **Big values.** A ZooKeeper server refuses (and closes the connection
    /// of) any request larger than its `jute.maxbuffer`: an atom's result or
    /// failure, as JSON with the rest of its write, must fit. A write larger
    /// than `max_request` is refused here, naming the object and its size;
    /// raise `jute.maxbuffer` on the servers (`-Djute.maxbuffer=…`) and
    /// `max_request` here together to keep bigger values.
    pub fn open(url: &str) -> Result<ZookeeperBackend, PersistenceError> {
        let session = Session::parse(url).map_err(|reason| PersistenceError::InvalidUrl {
            url: redact_url(url),
            reason,
        })?;
        let backend = ZookeeperBackend {
            url: redact_url(url),
            session,
            atoms_known: Mutex::new(HashSet::new()),
        };
        backend.migrate()?;
        Ok(backend)
    }

    /// The chroot under which the logbook's nodes are.
    pub fn chroot(&self) -> &str {
        &self.session.chroot
    }

    /// Runs one call against the ensemble (see [`Session::call`]), naming
    /// `operation` in its errors.
    fn call<T, F, Fut>(&self, operation: &str, f: F) -> Result<T, PersistenceError>
    where
        F: FnOnce(zk::Client) -> Fut,
        Fut: Future<Output = Res<T>>,
    {
        self.session.call(f).map_err(|fail| match fail {
            Fail::Own(e) => match e.downcast::<PersistenceError>() {
                Ok(e) => *e,
                Err(e) => PersistenceError::Backend {
                    backend: self.url.clone(),
                    operation: operation.to_owned(),
                    source: e,
                },
            },
            Fail::TimedOut { bound, after } => PersistenceError::TimedOut {
                backend: self.url.clone(),
                operation: operation.to_owned(),
                bound,
                after,
            },
            Fail::TooLarge { bytes, max } => PersistenceError::Backend {
                backend: self.url.clone(),
                operation: operation.to_owned(),
                source: Fail::too_large(bytes, max).into(),
            },
            Fail::Zk(e) => PersistenceError::Backend {
                backend: self.url.clone(),
                operation: format!("{operation} (ZooKeeper {})", self.session.servers),
                source: Box::new(e),
            },
        })
    }

    fn migrate(&self) -> Result<(), PersistenceError> {
        self.call("open the logbook", |c| async move {
            match absent(c.get_data("/schema").await)? {
                Some((bytes, _)) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let found: u32 =
                        text.trim().parse().map_err(|_| PersistenceError::Corrupt {
                            backend: self.url.clone(),
                            table: "schema",
                            uuid: String::new(),
                            column: "(node)",
                            reason: format!(
                                "`{}/schema` holds {:?}, not a version number",
                                self.session.chroot,
                                text.trim()
                            ),
                        })?;
                    if found > LAYOUT_VERSION {
                        return Err(PersistenceError::SchemaTooNew {
                            backend: self.url.clone(),
                            found,
                            known: LAYOUT_VERSION,
                        }
                        .into());
                    }
                    for table in ["logbooks", "flows"] {
                        if !exists(&c, &format!("/{table}")).await? {
                            return Err(self.missing(table).into());
                        }
                    }
                    // Versions before LAYOUT_VERSION would be upgraded here.
                    Ok(())
                }
                None => {
                    let mut batch = Batch::<Op>::new(&c);
                    batch.create("/logbooks", b"", &persistent(), Op::Create)?;
                    batch.create("/flows", b"", &persistent(), Op::Create)?;
                    batch.create(
                        "/schema",
                        LAYOUT_VERSION.to_string().as_bytes(),
                        &persistent(),
                        Op::Create,
                    )?;
                    match batch.commit(self.session.max_request).await? {
                        Ok(()) => Ok(()),
                        // Another process laid it out meanwhile (or left
                        // part of an old layout): read it as it is.
                        Err((_, zk::Error::NodeExists)) => Ok(()),
                        Err((_, e)) => Err(e.into()),
                    }
                }
            }
        })
    }

    fn missing(&self, table: &str) -> PersistenceError {
        PersistenceError::MissingTable {
            backend: self.url.clone(),
            table: format!("{table}/"),
            version: LAYOUT_VERSION,
        }
    }

    /// `NotFound`, or `MissingTable` when the object's parent node is gone.
    async fn not_found(&self, c: &zk::Client, kind: ObjectKind, uuid: Uuid) -> Fail {
        let table = match kind {
            ObjectKind::LogBook => "logbooks",
            _ => "flows",
        };
        match c.check_stat(&format!("/{table}")).await {
            Ok(None) => self.missing(table).into(),
            Ok(Some(_)) => PersistenceError::NotFound {
                backend: self.url.clone(),
                kind,
                uuid,
            }
            .into(),
            Err(e) => e.into(),
        }
    }

    fn encode<T: Serialize>(
        &self,
        kind: ObjectKind,
        uuid: Uuid,
        value: &T,
    ) -> Result<Vec<u8>, PersistenceError> {
        serde_json::to_vec(value).map_err(|source| PersistenceError::Encode {
            backend: self.url.clone(),
            kind,
            uuid,
            column: "(node)",
            source,
        })
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8], table: &'static str, path: &str) -> Res<T> {
        serde_json::from_slice(bytes).map_err(|e| {
            PersistenceError::Corrupt {
                backend: self.url.clone(),
                table,
                uuid: path.rsplit('/').next().unwrap_or(path).to_owned(),
                column: "(node)",
                reason: format!("`{}{path}`: {e}", self.session.chroot),
            }
            .into()
        })
    }

    /// The uuids among a node's children (skipping any other name).
    async fn children(&self, c: &zk::Client, path: &str) -> Res<Option<Vec<Uuid>>> {
        Ok(absent(c.list_children(path).await)?.map(|names| {
            names
                .iter()
                .filter_map(|n| Uuid::parse_str(n).ok())
                .collect()
        }))
    }

    /// The flow details at these paths, skipping those deleted meanwhile;
    /// the reads go out together.
    async fn flows_at(&self, c: &zk::Client, ids: &[Uuid]) -> Res<Vec<FlowDetail>> {
        let paths: Vec<String> = ids.iter().map(|id| flow_path(*id)).collect();
        let reads: Vec<_> = paths.iter().map(|p| c.get_data(p)).collect();
        let mut flows = Vec::with_capacity(ids.len());
        for (read, path) in reads.into_iter().zip(&paths) {
            if let Some((bytes, _)) = absent(read.await)? {
                flows.push(self.decode(&bytes, "flowdetails", path)?);
            }
        }
        flows.sort_by_key(|f: &FlowDetail| (f.created_at, f.uuid));
        Ok(flows)
    }

    /// The lease as stored, with its node's version; `NotFound` when the
    /// flow detail is not there.
    async fn lease_row(&self, c: &zk::Client, flow: Uuid) -> Res<(LeaseRow, i32)> {
        let path = format!("{}/lease", flow_path(flow));
        match absent(c.get_data(&path).await)? {
            Some((bytes, stat)) => {
                let node: LeaseNode = self.decode(&bytes, "leases", &path)?;
                let row = LeaseRow {
                    owner: node.owner,
                    token: node.token,
                    expires_at: node.expires_at,
                };
                Ok((row, stat.version))
            }
            None => Err(self.not_found(c, ObjectKind::FlowDetail, flow).await),
        }
    }

    /// Adds the lease's check to a batch: `Fenced` now if it is not current.
    async fn check_lease(
        &self,
        c: &zk::Client,
        batch: &mut Batch<'_, Op>,
        lease: &Lease,
    ) -> Res<()> {
        let (row, version) = self.lease_row(c, lease.flow_uuid).await?;
        row.check(&self.url, lease)?;
        batch.check(
            &format!("{}/lease", flow_path(lease.flow_uuid)),
            version,
            Op::LeaseUnchanged,
        )
    }

    /// Saves a flow detail (if given) and atoms of flows that exist, in one
    /// `multi`, checked against the lease if given.
    fn save_all(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if let Some(lease) = lease {
            if let Some(flow) = flow {
                check_lease_for(&self.url, flow.uuid, lease)?;
            }
            check_lease_flow(&self.url, atoms, lease)?;
        }
        let mut encoded = Vec::with_capacity(atoms.len());
        for atom in atoms {
            let bytes = self.encode(ObjectKind::AtomDetail, atom.uuid, atom)?;
            encoded.push((atom, atom_path(atom.flow_uuid, atom.uuid), bytes));
        }
        let flow_bytes = flow
            .map(|f| self.encode(ObjectKind::FlowDetail, f.uuid, f))
            .transpose()?;
        let operation = match (flow, atoms.len()) {
            (Some(_), 0) => "save flow detail",
            (None, _) => "save atom details",
            (Some(_), _) => "save flow and atom details",
        };
        self.call(operation, |c| async move {
            // Atoms this call found missing (to create) or present.
            let mut create: HashSet<Uuid> = {
                let known = self.atoms_known.lock().unwrap_or_else(|e| e.into_inner());
                atoms
                    .iter()
                    .filter(|a| !known.contains(&a.uuid))
                    .map(|a| a.uuid)
                    .collect()
            };
            for _ in 0..CONFLICT_TRIES {
                let mut batch = Batch::<Op>::new(&c);
                if let Some(lease) = lease {
                    self.check_lease(&c, &mut batch, lease).await?;
                }
                if let (Some(flow), Some(bytes)) = (flow, &flow_bytes) {
                    self.add_flow(&c, &mut batch, flow, bytes).await?;
                }
                let mut flows_checked = HashSet::new();
                for (atom, path, bytes) in &encoded {
                    let parent = atom.flow_uuid;
                    if flow.map(|f| f.uuid) != Some(parent) && flows_checked.insert(parent) {
                        batch.check(&flow_path(parent), -1, Op::FlowExists(parent))?;
                    }
                    if create.contains(&atom.uuid) {
                        batch.create(path, bytes, &persistent(), Op::Create)?;
                    } else {
                        batch.set(path, bytes, None, Op::Replace(Some(atom.uuid)))?;
                    }
                }
                match batch.commit(self.session.max_request).await? {
                    Ok(()) => {
                        let mut known = self.atoms_known.lock().unwrap_or_else(|e| e.into_inner());
                        known.extend(atoms.iter().map(|a| a.uuid));
                        return Ok(());
                    }
                    Err((Op::FlowExists(id), zk::Error::NoNode)) => {
                        return Err(self.not_found(&c, ObjectKind::FlowDetail, id).await)
                    }
                    Err((Op::BookExists(id), zk::Error::NoNode)) => {
                        return Err(self.not_found(&c, ObjectKind::LogBook, id).await)
                    }
                    Err((Op::Replace(Some(id)), zk::Error::NoNode)) => {
                        self.atoms_known
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        create.insert(id);
                    }
                    Err((Op::Create, zk::Error::NodeExists)) => {
                        // Which one is not said: read them all again.
                        create.clear();
                        let paths: Vec<&String> = encoded.iter().map(|(_, p, _)| p).collect();
                        let stats: Vec<_> = paths.iter().map(|p| c.check_stat(p)).collect();
                        for ((atom, _, _), stat) in encoded.iter().zip(stats) {
                            if absent(stat.await)?.flatten().is_none() {
                                create.insert(atom.uuid);
                            }
                        }
                    }
                    Err((Op::Create, zk::Error::NoNode)) => {
                        // A parent went away (the flow, or its logbook, was
                        // deleted meanwhile): the next round names it.
                    }
                    // The lease or a node changed meanwhile: read again.
                    Err((_, zk::Error::BadVersion | zk::Error::NoNode | zk::Error::NodeExists)) => {
                    }
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(Fail::Zk(zk::Error::UnexpectedError(format!(
                "the nodes kept changing under {CONFLICT_TRIES} tries"
            ))))
        })
    }

    /// Adds the creation or replacement of a flow detail to a batch.
    async fn add_flow(
        &self,
        c: &zk::Client,
        batch: &mut Batch<'_, Op>,
        flow: &FlowDetail,
        bytes: &[u8],
    ) -> Res<()> {
        let path = flow_path(flow.uuid);
        let member = format!("{}/{}", book_path(flow.logbook_uuid), flow.uuid);
        batch.check(
            &book_path(flow.logbook_uuid),
            -1,
            Op::BookExists(flow.logbook_uuid),
        )?;
        match absent(c.get_data(&path).await)? {
            None => {
                batch.create(&path, bytes, &persistent(), Op::Create)?;
                batch.create(&format!("{path}/atoms"), b"", &persistent(), Op::Create)?;
                let lease =
                    self.encode(ObjectKind::FlowDetail, flow.uuid, &LeaseNode::default())?;
                batch.create(&format!("{path}/lease"), &lease, &persistent(), Op::Create)?;
                batch.create(&member, b"", &persistent(), Op::Create)?;
            }
            Some((old, stat)) => {
                batch.set(&path, bytes, Some(stat.version), Op::Replace(None))?;
                // A flow detail that moved to another logbook (rare).
                let old_book = serde_json::from_slice::<serde_json::Value>(&old)
                    .ok()
                    .and_then(|v| v.get("logbook_uuid")?.as_str()?.parse::<Uuid>().ok());
                if old_book != Some(flow.logbook_uuid) {
                    if let Some(old_book) = old_book {
                        let old_member = format!("{}/{}", book_path(old_book), flow.uuid);
                        if absent(c.check_stat(&old_member).await)?.flatten().is_some() {
                            batch.delete(&old_member, None, Op::Delete)?;
                        }
                    }
                    if absent(c.check_stat(&member).await)?.flatten().is_none() {
                        batch.create(&member, b"", &persistent(), Op::Create)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Changes a flow's lease: `decide` gets the stored row and whether its
    /// holder's session is gone, and returns the new row (or refuses). The
    /// `owner` node follows: this session's when the lease is held, none when
    /// it is released.
    fn change_lease(
        &self,
        operation: &str,
        flow: Uuid,
        decide: impl Fn(&LeaseRow, bool) -> Result<LeaseRow, PersistenceError>,
    ) -> Result<LeaseRow, PersistenceError> {
        self.call(operation, |c| async move {
            let lease_path = format!("{}/lease", flow_path(flow));
            let owner_path = format!("{}/owner", flow_path(flow));
            let session = c.session_id();
            for _ in 0..CONFLICT_TRIES {
                let (row, version) = self.lease_row(&c, flow).await?;
                let holder = absent(c.get_data(&owner_path).await)?;
                let session_gone = row.owner.is_some() && holder.is_none();
                let new = decide(&row, session_gone)?;
                let mut batch = Batch::<Op>::new(&c);
                let bytes = self.encode(ObjectKind::FlowDetail, flow, &LeaseNode::from(&new))?;
                batch.set(&lease_path, &bytes, Some(version), Op::LeaseUnchanged)?;
                let ours = holder
                    .as_ref()
                    .is_some_and(|(_, stat)| stat.ephemeral_owner == session.0);
                match (&new.owner, &holder) {
                    (Some(_), Some(_)) if ours => {}
                    (Some(owner), _) => {
                        if let Some((_, stat)) = &holder {
                            batch.delete(&owner_path, Some(stat.version), Op::Delete)?;
                        }
                        batch.create(&owner_path, owner.as_bytes(), &ephemeral(), Op::Create)?;
                    }
                    (None, Some((_, stat))) => {
                        batch.delete(&owner_path, Some(stat.version), Op::Delete)?
                    }
                    (None, None) => {}
                }
                match batch.commit(self.session.max_request).await? {
                    Ok(()) => return Ok(new),
                    // Changed meanwhile: decide again on what is there now.
                    Err((_, zk::Error::BadVersion | zk::Error::NoNode | zk::Error::NodeExists)) => {
                    }
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(Fail::Zk(zk::Error::UnexpectedError(format!(
                "the lease kept changing under {CONFLICT_TRIES} tries"
            ))))
        })
    }
}

impl Backend for ZookeeperBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        self.call("save logbook", |c| async move {
            let bytes = self.encode(ObjectKind::LogBook, book.uuid, book)?;
            let path = book_path(book.uuid);
            match c.create(&path, &bytes, &persistent()).await {
                Ok(_) => Ok(()),
                Err(zk::Error::NodeExists) => {
                    Ok(c.set_data(&path, &bytes, None).await.map(drop)?)
                }
                Err(zk::Error::NoNode) => Err(self.missing("logbooks").into()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.call("load logbook", |c| async move {
            let path = book_path(uuid);
            match absent(c.get_data(&path).await)? {
                Some((bytes, _)) => self.decode(&bytes, "logbooks", &path),
                None => Err(self.not_found(&c, ObjectKind::LogBook, uuid).await),
            }
        })
    }

    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        self.call("list logbooks", |c| async move {
            let ids = self
                .children(&c, "/logbooks")
                .await?
                .ok_or_else(|| self.missing("logbooks"))?;
            let paths: Vec<String> = ids.iter().map(|id| book_path(*id)).collect();
            let reads: Vec<_> = paths
                .iter()
                .map(|p| (c.get_data(p), c.list_children(p)))
                .collect();
            let mut list = Vec::with_capacity(ids.len());
            for ((data, children), path) in reads.into_iter().zip(&paths) {
                let (Some((bytes, _)), Some(flow_ids)) =
                    (absent(data.await)?, absent(children.await)?)
                else {
                    continue; // deleted meanwhile
                };
                let book: LogBook = self.decode(&bytes, "logbooks", path)?;
                let flow_ids: Vec<Uuid> = flow_ids.iter().filter_map(|n| n.parse().ok()).collect();
                let flows = self
                    .flows_at(&c, &flow_ids)
                    .await?
                    .iter()
                    .map(FlowSummary::from)
                    .collect();
                list.push(LogBookSummary { book, flows });
            }
            list.sort_by_key(|s| (s.book.created_at, s.book.uuid));
            Ok(list)
        })
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        self.call("delete logbook", |c| async move {
            let path = book_path(uuid);
            for _ in 0..CONFLICT_TRIES {
                let Some(flows) = self.children(&c, &path).await? else {
                    return Err(self.not_found(&c, ObjectKind::LogBook, uuid).await);
                };
                let mut batch = Batch::<Op>::new(&c);
                for flow in &flows {
                    let dir = flow_path(*flow);
                    let atoms = self
                        .children(&c, &format!("{dir}/atoms"))
                        .await?
                        .unwrap_or_default();
                    for atom in &atoms {
                        batch.delete(&atom_path(*flow, *atom), None, Op::Delete)?;
                    }
                    for child in ["atoms", "lease", "owner"] {
                        let child = format!("{dir}/{child}");
                        if absent(c.check_stat(&child).await)?.flatten().is_some() {
                            batch.delete(&child, None, Op::Delete)?;
                        }
                    }
                    if absent(c.check_stat(&dir).await)?.flatten().is_some() {
                        batch.delete(&dir, None, Op::Delete)?;
                    }
                    batch.delete(&format!("{path}/{flow}"), None, Op::Delete)?;
                }
                batch.delete(&path, None, Op::Delete)?;
                match batch.commit(self.session.max_request).await? {
                    Ok(()) => {
                        let mut known = self.atoms_known.lock().unwrap_or_else(|e| e.into_inner());
                        known.clear();
                        return Ok(());
                    }
                    // Something was added or removed meanwhile: look again.
                    Err((_, zk::Error::NoNode | zk::Error::NotEmpty)) => {}
                    Err((_, e)) => return Err(e.into()),
                }
            }
            Err(Fail::Zk(zk::Error::UnexpectedError(format!(
                "the logbook kept changing under {CONFLICT_TRIES} tries"
            ))))
        })
    }

    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        self.save_all(Some(flow), &[], lease)
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        self.call("load flow detail", |c| async move {
            let path = flow_path(uuid);
            let atoms_path = format!("{path}/atoms");
            let (data, children) = (c.get_data(&path), c.list_children(&atoms_path));
            let Some((bytes, _)) = absent(data.await)? else {
                return Err(self.not_found(&c, ObjectKind::FlowDetail, uuid).await);
            };
            let flow: FlowDetail = self.decode(&bytes, "flowdetails", &path)?;
            let ids: Vec<Uuid> = absent(children.await)?
                .unwrap_or_default()
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect();
            let paths: Vec<String> = ids.iter().map(|id| atom_path(uuid, *id)).collect();
            let reads: Vec<_> = paths.iter().map(|p| c.get_data(p)).collect();
            let mut atoms = Vec::with_capacity(ids.len());
            for (read, path) in reads.into_iter().zip(&paths) {
                if let Some((bytes, _)) = absent(read.await)? {
                    atoms.push(self.decode(&bytes, "atomdetails", path)?);
                }
            }
            sort_atoms(&mut atoms);
            Ok((flow, atoms))
        })
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        self.call("list flow details", |c| async move {
            match self.children(&c, &book_path(logbook)).await? {
                Some(ids) => self.flows_at(&c, &ids).await,
                None => Err(self.not_found(&c, ObjectKind::LogBook, logbook).await),
            }
        })
    }

    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if atoms.is_empty() {
            return Ok(());
        }
        self.save_all(None, atoms, lease)
    }

    fn save_records(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        if flow.is_none() && atoms.is_empty() {
            return Ok(());
        }
        self.save_all(flow, atoms, lease)
    }

    fn acquire_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let row = self.change_lease("acquire lease", flow, |row, session_gone| {
            let now = now_ms();
            let lease = match session_gone {
                // The holder's session ended: its lease went with it.
                true => row.taken(flow, owner, ttl, now),
                false => row.acquire(&self.url, flow, owner, ttl, now)?,
            };
            Ok(LeaseRow::from(&lease))
        })?;
        Ok(row.held_by(flow, owner))
    }

    fn take_over_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let row = self.change_lease("take over lease", flow, |row, _| {
            Ok(LeaseRow::from(&row.taken(flow, owner, ttl, now_ms())))
        })?;
        Ok(row.held_by(flow, owner))
    }

    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, PersistenceError> {
        let row = self.change_lease("renew lease", lease.flow_uuid, |row, _| {
            row.renewed(&self.url, lease, ttl, now_ms())
        })?;
        Ok(Lease {
            expires_at: row.expires_at,
            ..lease.clone()
        })
    }

    fn release_lease(&self, lease: &Lease) -> Result<(), PersistenceError> {
        self.change_lease("release lease", lease.flow_uuid, |row, _| {
            row.released(&self.url, lease)
        })
        .map(drop)
    }

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        self.call("read lease", |c| async move {
            Ok(self.lease_row(&c, flow).await?.0.to_lease(flow))
        })
    }
}

impl Drop for ZookeeperBackend {
    fn drop(&mut self) {
        // The leases' `owner` nodes go now, not when the session times out.
        self.session.close();
    }
}
