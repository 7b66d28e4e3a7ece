//! What the pages show, read through the `Backend` trait.

use serde_json::Value;
use taskwire_runtime::persistence::{
    now_ms, AtomDetail, Backend, FlowDetail, FlowOrder, FlowPage, FlowQuery, PersistenceError, Uuid,
};
use taskwire_runtime::FlowState;

use crate::params::FlowFilter;

/// One page of the flows `filter` selects, newest first, through the
/// backend's indexed query.
pub(crate) fn list_flows(
    backend: &dyn Backend,
    filter: &FlowFilter,
) -> Result<FlowPage, PersistenceError> {
    backend.query_flows(&filter.to_query(now_ms()))
}

/// How many of the most recently changed flows the list's event stream
/// compares at each look: a change moves a flow to the top of that order,
/// so that any change since the last look is among them (unless more flows
/// changed than that, which is a change too).
const WATCHED: usize = 200;

/// The most recently changed flows: (uuid, state, updated_at), newest first.
pub(crate) fn flow_marks(
    backend: &dyn Backend,
) -> Result<Vec<(Uuid, FlowState, i64)>, PersistenceError> {
    let query = FlowQuery {
        order: FlowOrder::Updated,
        limit: WATCHED,
        ..FlowQuery::default()
    };
    Ok(backend
        .query_flows(&query)?
        .flows
        .into_iter()
        .map(|r| (r.uuid, r.state, r.updated_at))
        .collect())
}

/// One flow with its atoms, its logbook's name and its graph's edges.
#[derive(Debug, Clone)]
pub(crate) struct FlowView {
    pub(crate) flow: FlowDetail,
    pub(crate) logbook_name: Option<String>,
    pub(crate) atoms: Vec<AtomDetail>,
    /// Edges between indices of `atoms` ("finishes before").
    pub(crate) edges: Vec<(usize, usize)>,
    /// Why the graph has no edges, when it cannot have them.
    pub(crate) structure_note: Option<String>,
}

pub(crate) fn flow_view(backend: &dyn Backend, uuid: Uuid) -> Result<FlowView, PersistenceError> {
    let (flow, mut atoms) = backend.load_flow(uuid)?;
    atoms.sort_by(|a, b| (a.position, &a.name).cmp(&(b.position, &b.name)));
    let logbook_name = backend.load_logbook(flow.logbook_uuid).ok().map(|b| b.name);
    let (edges, structure_note) = match structure(&flow, &atoms) {
        Ok(edges) => (edges, None),
        Err(note) => (Vec::new(), Some(note)),
    };
    Ok(FlowView {
        flow,
        logbook_name,
        atoms,
        edges,
        structure_note,
    })
}

/// The edges of the flow's execution graph, rebuilt from the flow factory
/// its metadata names (a logbook keeps atoms, not edges), compiled against
/// the recorded inputs as the engine did; or why not.
fn structure(flow: &FlowDetail, atoms: &[AtomDetail]) -> Result<Vec<(usize, usize)>, String> {
    let Some(factory) = flow.meta.get("factory").and_then(Value::as_str) else {
        return Err("the run was not started from a flow factory, so its edges are not known; atoms are shown in their order".into());
    };
    let params = flow.meta.get("params").cloned().unwrap_or(Value::Null);
    let built = taskwire_runtime::factory::build(factory, &params)
        .map_err(|e| format!("the flow's edges are not known: {e}"))?;
    let inputs: Vec<&str> = match flow.meta.get("inputs") {
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let plan = built.compile(&inputs).map_err(|e| {
        format!("the flow factory `{factory}` builds a flow that does not compile now: {e}")
    })?;
    // Map plan indices to our atoms by name: the recorded atoms must be the
    // plan's, else the picture would lie.
    let mut index = vec![usize::MAX; plan.atoms().len()];
    for (i, spec) in plan.atoms().iter().enumerate() {
        match atoms.iter().position(|a| a.name == spec.atom_name()) {
            Some(j) => index[i] = j,
            None => {
                return Err(format!(
                    "the flow factory `{factory}` now builds atom `{}`, which this run did not record; edges are not shown",
                    spec.atom_name()
                ))
            }
        }
    }
    if plan.atoms().len() != atoms.len() {
        return Err(format!(
            "the flow factory `{factory}` now builds {} atoms, this run recorded {}; edges are not shown",
            plan.atoms().len(),
            atoms.len()
        ));
    }
    let mut edges: Vec<(usize, usize)> = plan
        .graph()
        .raw_edges()
        .iter()
        .map(|e| (index[e.source().index()], index[e.target().index()]))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    Ok(edges)
}

/// A short preview of a JSON value.
pub(crate) fn preview(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previews_are_cut() {
        assert_eq!(preview(&json!("abcdef"), 4), "\"abc…");
        assert_eq!(preview(&json!(1), 4), "1");
    }
}
