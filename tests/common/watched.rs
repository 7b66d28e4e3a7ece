//! A real backend with a hook on its writes: each write (one commit) is
//! passed on unchanged, and the hook hears of it first. Shared by the tests
//! (`mod common`) and the `persisted_chain` benchmark (by path).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use taskwire::persistence::{
    AtomDetail, Backend, FlowDetail, Lease, LogBook, LogBookSummary, PersistenceError, Uuid,
};

/// A write the watched backend was asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write<'a> {
    /// `save_records`: a step's records, in one transaction.
    Records(Option<&'a FlowDetail>, &'a [AtomDetail]),
    /// `save_atoms` or `save_atom`.
    Atoms(&'a [AtomDetail]),
    /// Any other write, by the method's name.
    Other(&'static str),
}

type Hook = dyn Fn(Write<'_>) + Send + Sync;

/// `inner`, with `hook` told of every write before it is made.
pub(crate) struct Watched {
    inner: Arc<dyn Backend>,
    hook: Box<Hook>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Watched").field(&self.inner).finish()
    }
}

impl Watched {
    pub(crate) fn new(
        inner: Arc<dyn Backend>,
        hook: impl Fn(Write<'_>) + Send + Sync + 'static,
    ) -> Self {
        Watched {
            inner,
            hook: Box::new(hook),
        }
    }

    fn other<T>(&self, method: &'static str, write: impl FnOnce() -> T) -> T {
        (self.hook)(Write::Other(method));
        write()
    }
}

impl Backend for Watched {
    fn url(&self) -> &str {
        self.inner.url()
    }
    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        self.other("save_logbook", || self.inner.save_logbook(book))
    }
    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.inner.load_logbook(uuid)
    }
    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        self.inner.list_logbooks()
    }
    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        self.other("delete_logbook", || self.inner.delete_logbook(uuid))
    }
    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        self.other("save_flow", || self.inner.save_flow(flow, lease))
    }
    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        self.inner.load_flow(uuid)
    }
    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        self.inner.list_flows(logbook)
    }
    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        (self.hook)(Write::Atoms(atoms));
        self.inner.save_atoms(atoms, lease)
    }
    fn save_atom(&self, atom: &AtomDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        (self.hook)(Write::Atoms(std::slice::from_ref(atom)));
        self.inner.save_atom(atom, lease)
    }
    fn save_records(
        &self,
        flow: Option<&FlowDetail>,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        (self.hook)(Write::Records(flow, atoms));
        self.inner.save_records(flow, atoms, lease)
    }
    fn acquire_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        self.other("acquire_lease", || {
            self.inner.acquire_lease(flow, owner, ttl)
        })
    }
    fn take_over_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        self.other("take_over_lease", || {
            self.inner.take_over_lease(flow, owner, ttl)
        })
    }
    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, PersistenceError> {
        self.other("renew_lease", || self.inner.renew_lease(lease, ttl))
    }
    fn release_lease(&self, lease: &Lease) -> Result<(), PersistenceError> {
        self.other("release_lease", || self.inner.release_lease(lease))
    }
    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        self.inner.current_lease(flow)
    }
}
