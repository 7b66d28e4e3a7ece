//! `dir:///path`: one JSON file per object, each written atomically (a
//! temporary file, fsync, rename, fsync of the directory), so that a crash
//! leaves either the old or the new version of a file, never a torn one.
//!
//! ```text
//! VERSION                       the layout's version ("1")
//! logbooks/<uuid>.json          a LogBook
//! flows/<uuid>/flow.json        a FlowDetail
//! flows/<uuid>/lease.json       its lease (owner, token, expiry)
//! flows/<uuid>/atoms/<uuid>.json  its AtomDetails
//! ```
//!
//! Leases and fencing are checked under a lock shared by every `DirBackend`
//! of the process open on the same directory, and, across processes, under
//! an OS file lock on `LOCK` (`flock` on Unix, `LockFileEx` on Windows),
//! held for each lease operation and each fenced write: two processes on one
//! directory cannot both own a flow; the second is refused with
//! `LeaseHeld`, naming the directory, the flow and the owner. A process that
//! holds `LOCK` longer than `lock_timeout` (`dir:///path?lock_timeout=5s`,
//! default 10 s; a stopped process, say) makes the others' calls fail with
//! `Locked`, naming the file, rather than hang. The OS lock is advisory and
//! local: a directory shared over NFS may not honour it. The directory is
//! for development and small deployments; use SQLite, PostgreSQL or MySQL
//! for more.
//!
//! `file:///path` is the same backend (TaskFlow's `file` alias of `dir`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    check_lease_flow, now_ms, redact_url, sort_atoms, AtomDetail, Backend, FlowDetail, FlowSummary,
    Lease, LeaseRow, LogBook, LogBookSummary, ObjectKind, PersistenceError,
};

/// The layout version this code writes and reads.
const LAYOUT_VERSION: u32 = 1;

/// How long a call waits for another process to give the directory's lock
/// up, by default.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A logbook kept as JSON files in a directory (`dir:///path`).
#[derive(Debug)]
pub struct DirBackend {
    root: PathBuf,
    url: String,
    /// Serializes lease operations and fenced writes (one per directory).
    lock: Arc<DirLock>,
    /// How long to wait for another process's hold on `LOCK`.
    lock_timeout: Duration,
    tmp_counter: AtomicU64,
}

/// A directory's lock: a mutex between the threads of this process, which
/// holds `LOCK` (opened on first use, once per process and directory: the
/// OS locks of two handles of one process would conflict as those of two
/// processes do), whose OS lock is taken between processes.
#[derive(Debug)]
struct DirLock {
    file: Mutex<Option<File>>,
}

/// Held while a lease operation or a fenced write runs: the mutex, and the
/// OS lock of the file it holds.
struct DirGuard<'a> {
    file: MutexGuard<'a, Option<File>>,
}

impl Drop for DirGuard<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file.as_ref() {
            let _ = file.unlock();
        }
    }
}

/// The stored form of a lease.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    owner: Option<String>,
    token: u64,
    expires_at: i64,
}

/// The lock of a directory, shared by its backends in this process.
fn directory_lock(root: PathBuf) -> Arc<DirLock> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Weak<DirLock>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    locks.retain(|_, lock| lock.strong_count() > 0);
    if let Some(lock) = locks.get(&root).and_then(Weak::upgrade) {
        return lock;
    }
    let lock = Arc::new(DirLock {
        file: Mutex::new(None),
    });
    locks.insert(root, Arc::downgrade(&lock));
    lock
}

impl DirBackend {
    /// Opens `dir:///abs/path` (or `dir://relative/path`, or the same with
    /// `file://`), creating the directory and its layout if needed. The
    /// query may set `lock_timeout` (`500ms`, `5s`, …; default 10 s): how
    /// long a call waits for another process's hold on the directory's
    /// lock before it fails with [`PersistenceError::Locked`].
    pub fn open_url(url: &str) -> Result<DirBackend, PersistenceError> {
        let (rest, options) = crate::url_options::take_options(url, &["lock_timeout"]);
        let invalid = |reason: String| PersistenceError::InvalidUrl {
            url: redact_url(url),
            reason,
        };
        let path = rest
            .strip_prefix("dir://")
            .or_else(|| rest.strip_prefix("file://"))
            .unwrap_or(&rest);
        if let Some((_, query)) = path.split_once('?') {
            let keys: Vec<&str> = query
                .split('&')
                .map(|p| p.split('=').next().unwrap_or(p))
                .collect();
            return Err(invalid(format!(
                "unknown option {} for a directory; the one option is `lock_timeout`",
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let path = path.split('#').next().unwrap_or_default();
        if path.is_empty() {
            return Err(invalid(
                "no directory: write dir:///absolute/path or dir://relative/path".into(),
            ));
        }
        let mut lock_timeout = LOCK_TIMEOUT;
        for (key, value) in options {
            lock_timeout = crate::url_options::parse_duration(&key, &value).map_err(invalid)?;
        }
        DirBackend::open_with(path, lock_timeout)
    }

    /// Opens a directory, creating it and its layout if needed.
    pub fn open(root: impl AsRef<Path>) -> Result<DirBackend, PersistenceError> {
        DirBackend::open_with(root, LOCK_TIMEOUT)
    }

    fn open_with(
        root: impl AsRef<Path>,
        lock_timeout: Duration,
    ) -> Result<DirBackend, PersistenceError> {
        let root = root.as_ref().to_path_buf();
        let url = format!("dir://{}", root.display());
        fs::create_dir_all(&root).map_err(|source| PersistenceError::Io {
            backend: url.clone(),
            operation: "create directory",
            path: root.clone(),
            source,
        })?;
        let canonical = fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        let backend = DirBackend {
            url,
            root,
            lock: directory_lock(canonical),
            lock_timeout,
            tmp_counter: AtomicU64::new(0),
        };
        let _guard = backend.guard()?;
        backend.migrate()?;
        drop(_guard);
        Ok(backend)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn migrate(&self) -> Result<(), PersistenceError> {
        let version_path = self.root.join("VERSION");
        match fs::read_to_string(&version_path) {
            Ok(text) => {
                let found: u32 = text.trim().parse().map_err(|_| PersistenceError::Corrupt {
                    backend: self.url.clone(),
                    table: "VERSION",
                    uuid: String::new(),
                    column: "(file)",
                    reason: format!(
                        "`{}` holds {:?}, not a version number",
                        version_path.display(),
                        text.trim()
                    ),
                })?;
                if found > LAYOUT_VERSION {
                    return Err(PersistenceError::SchemaTooNew {
                        backend: self.url.clone(),
                        found,
                        known: LAYOUT_VERSION,
                    });
                }
                for table in ["logbooks", "flows"] {
                    if !self.root.join(table).is_dir() {
                        return Err(self.missing(table));
                    }
                }
                // Versions before LAYOUT_VERSION would be upgraded here.
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                for dir in [self.root.join("logbooks"), self.root.join("flows")] {
                    fs::create_dir_all(&dir).map_err(|e| self.io("create directory", &dir, e))?;
                }
                self.sync_dir(&self.root)?;
                self.write_atomic(&version_path, format!("{LAYOUT_VERSION}\n").as_bytes())
            }
            Err(e) => Err(self.io("read", &version_path, e)),
        }
    }

    /// Takes the directory's lock: this process's threads first, then the
    /// OS lock of `LOCK` against other processes, waiting at most
    /// `lock_timeout` for it.
    fn guard(&self) -> Result<DirGuard<'_>, PersistenceError> {
        let mut slot = self.lock.file.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.root.join("LOCK");
        let file = match slot.take() {
            Some(file) => file,
            None => fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| self.io("open the lock file", &path, e))?,
        };
        let until = std::time::Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_millis(1);
        let locked = loop {
            match file.try_lock() {
                Ok(()) => break Ok(()),
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    break Err(PersistenceError::Locked {
                        backend: self.url.clone(),
                        path: path.clone(),
                        waited: self.lock_timeout,
                    })
                }
                Err(fs::TryLockError::Error(e)) => break Err(self.io("lock", &path, e)),
            }
        };
        *slot = Some(file);
        locked.map(|()| DirGuard { file: slot })
    }

    fn io(&self, operation: &'static str, path: &Path, source: io::Error) -> PersistenceError {
        PersistenceError::Io {
            backend: self.url.clone(),
            operation,
            path: path.to_path_buf(),
            source,
        }
    }

    fn missing(&self, table: &str) -> PersistenceError {
        PersistenceError::MissingTable {
            backend: self.url.clone(),
            table: format!("{table}/"),
            version: LAYOUT_VERSION,
        }
    }

    fn not_found(&self, kind: ObjectKind, uuid: Uuid) -> PersistenceError {
        let table = match kind {
            ObjectKind::LogBook => "logbooks",
            _ => "flows",
        };
        if !self.root.join(table).is_dir() {
            return self.missing(table);
        }
        PersistenceError::NotFound {
            backend: self.url.clone(),
            kind,
            uuid,
        }
    }

    fn book_path(&self, uuid: Uuid) -> PathBuf {
        self.root.join("logbooks").join(format!("{uuid}.json"))
    }

    fn flow_dir(&self, uuid: Uuid) -> PathBuf {
        self.root.join("flows").join(uuid.to_string())
    }

    fn sync_dir(&self, dir: &Path) -> Result<(), PersistenceError> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io("fsync directory", dir, e))
    }

    /// Writes `bytes` to `path` atomically and durably.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), PersistenceError> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        let written = File::create(&tmp).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.io("write", &tmp, e));
        }
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(self.io("rename into", path, e));
        }
        match path.parent() {
            Some(parent) => self.sync_dir(parent),
            None => Ok(()),
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
            column: "(file)",
            source,
        })
    }

    /// Reads and decodes a file; `Ok(None)` if it does not exist.
    fn read<T: DeserializeOwned>(
        &self,
        path: &Path,
        table: &'static str,
        uuid: &str,
    ) -> Result<Option<T>, PersistenceError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("read", path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PersistenceError::Corrupt {
                backend: self.url.clone(),
                table,
                uuid: uuid.to_owned(),
                column: "(file)",
                reason: format!("`{}`: {e}", path.display()),
            })
    }

    /// The ids of the entries of `dir` (`<uuid>.json` files, or `<uuid>`
    /// directories when `dirs`), skipping anything else (temporary files).
    fn ids(&self, dir: &Path, dirs: bool) -> Result<Vec<Uuid>, PersistenceError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("list", dir, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io("list", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stem = if dirs {
                Some(name)
            } else {
                name.strip_suffix(".json")
            };
            if let Some(id) = stem.and_then(|s| Uuid::parse_str(s).ok()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn load_book(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.read(&self.book_path(uuid), "logbooks", &uuid.to_string())?
            .ok_or_else(|| self.not_found(ObjectKind::LogBook, uuid))
    }

    fn load_flow_detail(&self, uuid: Uuid) -> Result<FlowDetail, PersistenceError> {
        self.read(
            &self.flow_dir(uuid).join("flow.json"),
            "flowdetails",
            &uuid.to_string(),
        )?
        .ok_or_else(|| self.not_found(ObjectKind::FlowDetail, uuid))
    }

    fn all_flows(&self) -> Result<Vec<FlowDetail>, PersistenceError> {
        let dir = self.root.join("flows");
        if !dir.is_dir() {
            return Err(self.missing("flows"));
        }
        let mut flows = Vec::new();
        for id in self.ids(&dir, true)? {
            match self.load_flow_detail(id) {
                Ok(flow) => flows.push(flow),
                // A directory left by a crash before its flow.json was written.
                Err(PersistenceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        flows.sort_by_key(|f| (f.created_at, f.uuid));
        Ok(flows)
    }

    fn lease_row(&self, flow: Uuid) -> Result<LeaseRow, PersistenceError> {
        let dir = self.flow_dir(flow);
        if !dir.join("flow.json").is_file() {
            return Err(self.not_found(ObjectKind::FlowDetail, flow));
        }
        let file: Option<LeaseFile> =
            self.read(&dir.join("lease.json"), "leases", &flow.to_string())?;
        Ok(file
            .map(|f| LeaseRow {
                owner: f.owner,
                token: f.token,
                expires_at: f.expires_at,
            })
            .unwrap_or_default())
    }

    fn write_lease(&self, flow: Uuid, row: &LeaseRow) -> Result<(), PersistenceError> {
        let file = LeaseFile {
            owner: row.owner.clone(),
            token: row.token,
            expires_at: row.expires_at,
        };
        let bytes = self.encode(ObjectKind::FlowDetail, flow, &file)?;
        self.write_atomic(&self.flow_dir(flow).join("lease.json"), &bytes)
    }
}

impl Backend for DirBackend {
    fn url(&self) -> &str {
        &self.url
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        if !self.root.join("logbooks").is_dir() {
            return Err(self.missing("logbooks"));
        }
        let bytes = self.encode(ObjectKind::LogBook, book.uuid, book)?;
        self.write_atomic(&self.book_path(book.uuid), &bytes)
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.load_book(uuid)
    }

    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        let dir = self.root.join("logbooks");
        if !dir.is_dir() {
            return Err(self.missing("logbooks"));
        }
        let flows = self.all_flows()?;
        let mut list = Vec::new();
        for id in self.ids(&dir, false)? {
            let book = match self.load_book(id) {
                Ok(book) => book,
                Err(PersistenceError::NotFound { .. }) => continue, // deleted meanwhile
                Err(e) => return Err(e),
            };
            let flows = flows
                .iter()
                .filter(|f| f.logbook_uuid == id)
                .map(FlowSummary::from)
                .collect();
            list.push(LogBookSummary { book, flows });
        }
        list.sort_by_key(|s| (s.book.created_at, s.book.uuid));
        Ok(list)
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        let _guard = self.guard()?;
        let path = self.book_path(uuid);
        if !path.is_file() {
            return Err(self.not_found(ObjectKind::LogBook, uuid));
        }
        // Flows first: a crash half-way leaves the logbook, and deleting it
        // again finishes the job.
        for flow in self.all_flows()?.iter().filter(|f| f.logbook_uuid == uuid) {
            let dir = self.flow_dir(flow.uuid);
            fs::remove_dir_all(&dir).map_err(|e| self.io("remove directory", &dir, e))?;
        }
        self.sync_dir(&self.root.join("flows"))?;
        fs::remove_file(&path).map_err(|e| self.io("remove", &path, e))?;
        self.sync_dir(&self.root.join("logbooks"))
    }

    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        let _guard = self.guard()?;
        if !self.book_path(flow.logbook_uuid).is_file() {
            return Err(self.not_found(ObjectKind::LogBook, flow.logbook_uuid));
        }
        if let Some(lease) = lease {
            super::check_lease_for(&self.url, flow.uuid, lease)?;
            self.lease_row(flow.uuid)?.check(&self.url, lease)?;
        }
        let dir = self.flow_dir(flow.uuid);
        if !dir.is_dir() {
            let atoms = dir.join("atoms");
            fs::create_dir_all(&atoms).map_err(|e| self.io("create directory", &atoms, e))?;
            self.sync_dir(&dir)?;
            self.sync_dir(&self.root.join("flows"))?;
        }
        let bytes = self.encode(ObjectKind::FlowDetail, flow.uuid, flow)?;
        self.write_atomic(&dir.join("flow.json"), &bytes)
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        let flow = self.load_flow_detail(uuid)?;
        let dir = self.flow_dir(uuid).join("atoms");
        let mut atoms = Vec::new();
        for id in self.ids(&dir, false)? {
            let path = dir.join(format!("{id}.json"));
            if let Some(atom) = self.read(&path, "atomdetails", &id.to_string())? {
                atoms.push(atom);
            }
        }
        sort_atoms(&mut atoms);
        Ok((flow, atoms))
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        if !self.book_path(logbook).is_file() {
            return Err(self.not_found(ObjectKind::LogBook, logbook));
        }
        let mut flows = self.all_flows()?;
        flows.retain(|f| f.logbook_uuid == logbook);
        Ok(flows)
    }

    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        let _guard = self.guard()?;
        if let Some(lease) = lease {
            check_lease_flow(&self.url, atoms, lease)?;
            self.lease_row(lease.flow_uuid)?.check(&self.url, lease)?;
        }
        for atom in atoms {
            if !self.flow_dir(atom.flow_uuid).join("flow.json").is_file() {
                return Err(self.not_found(ObjectKind::FlowDetail, atom.flow_uuid));
            }
        }
        for atom in atoms {
            let bytes = self.encode(ObjectKind::AtomDetail, atom.uuid, atom)?;
            let path = self
                .flow_dir(atom.flow_uuid)
                .join("atoms")
                .join(format!("{}.json", atom.uuid));
            self.write_atomic(&path, &bytes)?;
        }
        Ok(())
    }

    fn acquire_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let _guard = self.guard()?;
        let lease = self
            .lease_row(flow)?
            .acquire(&self.url, flow, owner, ttl, now_ms())?;
        self.write_lease(flow, &LeaseRow::from(&lease))?;
        Ok(lease)
    }

    fn take_over_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let _guard = self.guard()?;
        let lease = self.lease_row(flow)?.taken(flow, owner, ttl, now_ms());
        self.write_lease(flow, &LeaseRow::from(&lease))?;
        Ok(lease)
    }

    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, PersistenceError> {
        let _guard = self.guard()?;
        let row = self
            .lease_row(lease.flow_uuid)?
            .renewed(&self.url, lease, ttl, now_ms())?;
        self.write_lease(lease.flow_uuid, &row)?;
        Ok(Lease {
            expires_at: row.expires_at,
            ..lease.clone()
        })
    }

    fn release_lease(&self, lease: &Lease) -> Result<(), PersistenceError> {
        let _guard = self.guard()?;
        let row = self
            .lease_row(lease.flow_uuid)?
            .released(&self.url, lease)?;
        self.write_lease(lease.flow_uuid, &row)
    }

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        Ok(self.lease_row(flow)?.to_lease(flow))
    }
}
