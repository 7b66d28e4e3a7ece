//! `memory://`: a logbook in this process's memory, for tests and for flows
//! that need no resumption. Leases work between the engines of the process.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use uuid::Uuid;

use super::{
    check_lease_flow, now_ms, sort_atoms, AtomDetail, Backend, FlowDetail, FlowSummary, Lease,
    LeaseRow, LogBook, LogBookSummary, ObjectKind, PersistenceError,
};

const URL: &str = "memory://";

/// A logbook kept in memory (`memory://`).
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    books: HashMap<Uuid, LogBook>,
    flows: HashMap<Uuid, FlowEntry>,
}

#[derive(Debug)]
struct FlowEntry {
    detail: FlowDetail,
    lease: LeaseRow,
    atoms: HashMap<Uuid, AtomDetail>,
}

fn not_found(kind: ObjectKind, uuid: Uuid) -> PersistenceError {
    PersistenceError::NotFound {
        backend: URL.to_owned(),
        kind,
        uuid,
    }
}

impl MemoryBackend {
    /// An empty logbook store.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent maps:
        // every change below is a single insert or remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn flow_mut(&mut self, uuid: Uuid) -> Result<&mut FlowEntry, PersistenceError> {
        self.flows
            .get_mut(&uuid)
            .ok_or_else(|| not_found(ObjectKind::FlowDetail, uuid))
    }

    fn check(&self, flow: Uuid, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        if let Some(lease) = lease {
            let entry = self
                .flows
                .get(&flow)
                .ok_or_else(|| not_found(ObjectKind::FlowDetail, flow))?;
            entry.lease.check(URL, lease)?;
        }
        Ok(())
    }
}

impl Backend for MemoryBackend {
    fn url(&self) -> &str {
        URL
    }

    fn save_logbook(&self, book: &LogBook) -> Result<(), PersistenceError> {
        self.state().books.insert(book.uuid, book.clone());
        Ok(())
    }

    fn load_logbook(&self, uuid: Uuid) -> Result<LogBook, PersistenceError> {
        self.state()
            .books
            .get(&uuid)
            .cloned()
            .ok_or_else(|| not_found(ObjectKind::LogBook, uuid))
    }

    fn list_logbooks(&self) -> Result<Vec<LogBookSummary>, PersistenceError> {
        let state = self.state();
        let mut list: Vec<LogBookSummary> = state
            .books
            .values()
            .map(|book| {
                let mut flows: Vec<&FlowDetail> = state
                    .flows
                    .values()
                    .map(|f| &f.detail)
                    .filter(|f| f.logbook_uuid == book.uuid)
                    .collect();
                flows.sort_by_key(|f| (f.created_at, f.uuid));
                LogBookSummary {
                    book: book.clone(),
                    flows: flows.into_iter().map(FlowSummary::from).collect(),
                }
            })
            .collect();
        list.sort_by_key(|s| (s.book.created_at, s.book.uuid));
        Ok(list)
    }

    fn delete_logbook(&self, uuid: Uuid) -> Result<(), PersistenceError> {
        let mut state = self.state();
        if state.books.remove(&uuid).is_none() {
            return Err(not_found(ObjectKind::LogBook, uuid));
        }
        let flows: Vec<Uuid> = state
            .flows
            .values()
            .filter(|f| f.detail.logbook_uuid == uuid)
            .map(|f| f.detail.uuid)
            .collect();
        for flow in flows {
            state.flows.remove(&flow);
        }
        Ok(())
    }

    fn save_flow(&self, flow: &FlowDetail, lease: Option<&Lease>) -> Result<(), PersistenceError> {
        let mut state = self.state();
        if let Some(lease) = lease {
            super::check_lease_for(URL, flow.uuid, lease)?;
        }
        if !state.books.contains_key(&flow.logbook_uuid) {
            return Err(not_found(ObjectKind::LogBook, flow.logbook_uuid));
        }
        state.check(flow.uuid, lease)?;
        match state.flows.get_mut(&flow.uuid) {
            Some(entry) => entry.detail = flow.clone(),
            None => {
                state.flows.insert(
                    flow.uuid,
                    FlowEntry {
                        detail: flow.clone(),
                        lease: LeaseRow::default(),
                        atoms: HashMap::new(),
                    },
                );
            }
        }
        Ok(())
    }

    fn load_flow(&self, uuid: Uuid) -> Result<(FlowDetail, Vec<AtomDetail>), PersistenceError> {
        let state = self.state();
        let entry = state
            .flows
            .get(&uuid)
            .ok_or_else(|| not_found(ObjectKind::FlowDetail, uuid))?;
        let mut atoms: Vec<AtomDetail> = entry.atoms.values().cloned().collect();
        sort_atoms(&mut atoms);
        Ok((entry.detail.clone(), atoms))
    }

    fn list_flows(&self, logbook: Uuid) -> Result<Vec<FlowDetail>, PersistenceError> {
        let state = self.state();
        if !state.books.contains_key(&logbook) {
            return Err(not_found(ObjectKind::LogBook, logbook));
        }
        let mut flows: Vec<FlowDetail> = state
            .flows
            .values()
            .filter(|f| f.detail.logbook_uuid == logbook)
            .map(|f| f.detail.clone())
            .collect();
        flows.sort_by_key(|f| (f.created_at, f.uuid));
        Ok(flows)
    }

    fn save_atoms(
        &self,
        atoms: &[AtomDetail],
        lease: Option<&Lease>,
    ) -> Result<(), PersistenceError> {
        let mut state = self.state();
        if let Some(lease) = lease {
            check_lease_flow(URL, atoms, lease)?;
            state.check(lease.flow_uuid, Some(lease))?;
        }
        // Check everything first: all the atoms are saved, or none.
        if let Some(atom) = atoms
            .iter()
            .find(|a| !state.flows.contains_key(&a.flow_uuid))
        {
            return Err(not_found(ObjectKind::FlowDetail, atom.flow_uuid));
        }
        for atom in atoms {
            state
                .flow_mut(atom.flow_uuid)?
                .atoms
                .insert(atom.uuid, atom.clone());
        }
        Ok(())
    }

    fn acquire_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let mut state = self.state();
        let entry = state.flow_mut(flow)?;
        let lease = entry.lease.acquire(URL, flow, owner, ttl, now_ms())?;
        entry.lease = LeaseRow::from(&lease);
        Ok(lease)
    }

    fn take_over_lease(
        &self,
        flow: Uuid,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, PersistenceError> {
        let mut state = self.state();
        let entry = state.flow_mut(flow)?;
        let lease = entry.lease.taken(flow, owner, ttl, now_ms());
        entry.lease = LeaseRow::from(&lease);
        Ok(lease)
    }

    fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, PersistenceError> {
        let mut state = self.state();
        let entry = state.flow_mut(lease.flow_uuid)?;
        entry.lease = entry.lease.renewed(URL, lease, ttl, now_ms())?;
        Ok(Lease {
            expires_at: entry.lease.expires_at,
            ..lease.clone()
        })
    }

    fn release_lease(&self, lease: &Lease) -> Result<(), PersistenceError> {
        let mut state = self.state();
        let entry = state.flow_mut(lease.flow_uuid)?;
        entry.lease = entry.lease.released(URL, lease)?;
        Ok(())
    }

    fn current_lease(&self, flow: Uuid) -> Result<Option<Lease>, PersistenceError> {
        let mut state = self.state();
        Ok(state.flow_mut(flow)?.lease.to_lease(flow))
    }
}
