//! The flow's graph as SVG: a layered layout (each atom one layer below its
//! furthest predecessor), nodes coloured by state through CSS classes
//! (`state-FAILURE`…, the colours of `taskwire_runtime::picture`).

use std::fmt::Write as _;

use taskwire_runtime::persistence::AtomDetail;

use crate::html::esc;

const NODE_W: i64 = 170;
const NODE_H: i64 = 46;
const GAP_X: i64 = 30;
const GAP_Y: i64 = 44;
const MARGIN: i64 = 12;

/// The SVG of `atoms` with `edges` (indices into `atoms`).
pub(crate) fn svg(atoms: &[AtomDetail], edges: &[(usize, usize)]) -> String {
    let n = atoms.len();
    if n == 0 {
        return r#"<p class="muted">This flow has no atoms.</p>"#.to_owned();
    }
    // Longest path from the sources; at most n rounds in a DAG (a cycle,
    // which a compiled plan cannot have, stops after n rounds anyway).
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for &(a, b) in edges {
            if a < n && b < n && layer[b] < layer[a] + 1 {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;
    // Within a layer: by the mean column of predecessors, then position.
    let mut column = vec![0f64; n];
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (d, row) in rows.iter_mut().enumerate() {
        let mut members: Vec<(f64, usize)> = (0..n)
            .filter(|&i| layer[i] == d)
            .map(|i| {
                let preds: Vec<f64> = edges
                    .iter()
                    .filter(|&&(a, b)| b == i && a < n)
                    .map(|&(a, _)| column[a])
                    .collect();
                let key = if preds.is_empty() {
                    i as f64
                } else {
                    preds.iter().sum::<f64>() / preds.len() as f64
                };
                (key, i)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (c, &(_, i)) in members.iter().enumerate() {
            column[i] = c as f64;
        }
        *row = members.into_iter().map(|(_, i)| i).collect();
    }
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1) as i64;
    let width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X;
    let height = MARGIN * 2 + depth as i64 * NODE_H + (depth as i64 - 1) * GAP_Y;
    let mut pos = vec![(0i64, 0i64); n];
    for (d, row) in rows.iter().enumerate() {
        let row_w = row.len() as i64 * NODE_W + (row.len() as i64 - 1) * GAP_X;
        let x0 = (width - row_w) / 2;
        for (c, &i) in row.iter().enumerate() {
            pos[i] = (
                x0 + c as i64 * (NODE_W + GAP_X),
                MARGIN + d as i64 * (NODE_H + GAP_Y),
            );
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="graph" id="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="flow graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>
"##
    );
    for &(a, b) in edges {
        if a >= n || b >= n {
            continue;
        }
        let (x1, y1) = (pos[a].0 + NODE_W / 2, pos[a].1 + NODE_H);
        let (x2, y2) = (pos[b].0 + NODE_W / 2, pos[b].1);
        let my = (y1 + y2) / 2;
        let _ = writeln!(
            out,
            r##"<path class="edge" d="M {x1} {y1} C {x1} {my}, {x2} {my}, {x2} {y2}" fill="none" stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>"##
        );
    }
    for (i, atom) in atoms.iter().enumerate() {
        let (x, y) = pos[i];
        let state = atom.state.as_str();
        let name: String = if atom.name.chars().count() > 22 {
            format!("{}…", atom.name.chars().take(21).collect::<String>())
        } else {
            atom.name.clone()
        };
        let retry = if atom.atom_type == taskwire_runtime::persistence::AtomType::Retry {
            " (retry)"
        } else {
            ""
        };
        // An atom whose execution or revert failed is highlighted whatever
        // its state now (a failed task is reverted first, so it ends
        // REVERTED): thick red outline, and the error in its tooltip.
        let failure = atom.failure.as_ref().or(atom.revert_failure.as_ref());
        let (failed, why, mark) = match failure {
            Some(f) => (
                " failed",
                format!(" (failed: {})", esc(f.message())),
                " · failed",
            ),
            None => ("", String::new(), ""),
        };
        let _ = writeln!(
            out,
            r#"<g class="atom state-{state}{failed}" data-atom="{full}" data-state="{state}"><title>{full}: {state}{why}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7"/><text class="name" x="{tx}" y="{ty1}" text-anchor="middle">{name}{retry}</text><text class="state" x="{tx}" y="{ty2}" text-anchor="middle">{state}{mark}</text></g>"#,
            full = esc(&atom.name),
            name = esc(&name),
            tx = x + NODE_W / 2,
            ty1 = y + 19,
            ty2 = y + 37,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_runtime::persistence::Uuid;
    use taskwire_runtime::AtomState;

    #[test]
    fn a_diamond_has_three_layers_and_coloured_nodes() {
        let flow = Uuid::new_v4();
        let mut atoms: Vec<AtomDetail> = ["a", "b", "c", "<d>"]
            .iter()
            .enumerate()
            .map(|(i, n)| AtomDetail::new(flow, *n, i as u32))
            .collect();
        atoms[2].state = AtomState::Failure;
        let svg = svg(&atoms, &[(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(svg.matches("<g class=\"atom").count(), 4);
        assert_eq!(svg.matches("class=\"edge\"").count(), 4);
        assert!(svg.contains(r#"<g class="atom state-FAILURE" data-atom="c""#));
        atoms[3].state = AtomState::Reverted;
        atoms[3].failure = Some(taskwire_runtime::Failure::new(
            taskwire_runtime::FailureKind::Task,
            "disk full",
        ));
        let flat = super::svg(&atoms, &[]);
        assert!(
            flat.contains(r#"<g class="atom state-REVERTED failed" data-atom="&lt;d&gt;" data-state="REVERTED"><title>&lt;d&gt;: REVERTED (failed: disk full)</title>"#),
            "{flat}"
        );
        assert!(svg.contains("&lt;d&gt;"), "names are escaped");
        // Three layers: the sink sits at the third row.
        assert!(svg.contains(r#"height="250""#), "{svg}");
    }
}
