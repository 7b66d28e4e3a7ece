//! The atoms' timeline as SVG: one row per atom, one bar per execution or
//! revert (a retried atom has several), coloured by the state it ended in.

use std::fmt::Write as _;

use taskwire_runtime::persistence::{AtomDetail, EntryKind, TimelineEntry};
use taskwire_runtime::AtomState;

use crate::html::{duration, esc, time};

const LABEL_W: i64 = 180;
const PLOT_W: i64 = 640;
const ROW_H: i64 = 24;
const TOP: i64 = 26;

/// The SVG timeline of `atoms`; `now` ends the bars still running.
pub(crate) fn svg(atoms: &[AtomDetail], now: i64) -> String {
    let rows: Vec<(&AtomDetail, Vec<TimelineEntry>)> =
        atoms.iter().map(|a| (a, a.timeline())).collect();
    let all = rows.iter().flat_map(|(_, s)| s.iter());
    let start = all.clone().map(|s| s.start).min();
    let Some(start) = start else {
        return r#"<p class="muted" id="timeline">No atom has started yet.</p>"#.to_owned();
    };
    let end = all
        .map(|s| s.end.unwrap_or(now))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let span = (end - start) as f64;
    let x = |t: i64| LABEL_W + (((t - start) as f64 / span) * PLOT_W as f64).round() as i64;
    let width = LABEL_W + PLOT_W + 10;
    let height = TOP + rows.len() as i64 * ROW_H + 8;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg class="gantt" id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="atom timeline">"#
    );
    // Axis: start, middle and end, relative to the first start.
    let mut last_tick = None;
    for k in 0..=4 {
        let t = start + (end - start) * k / 4;
        if last_tick == Some(duration(t - start)) {
            continue; // a short run: fewer ticks than labels
        }
        last_tick = Some(duration(t - start));
        let tx = x(t);
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            out,
            r##"<line x1="{tx}" y1="{TOP}" x2="{tx}" y2="{y2}" stroke="#ddd"/><text class="tick" x="{tx}" y="16" text-anchor="{anchor}">+{}</text>"##,
            duration(t - start),
            y2 = height - 6
        );
    }
    for (r, (atom, spans)) in rows.iter().enumerate() {
        let y = TOP + r as i64 * ROW_H;
        let executions = spans
            .iter()
            .filter(|s| s.kind == EntryKind::Execute)
            .count();
        let tries = if executions > 1 {
            format!(" ×{executions}")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            r#"<text class="row-label" x="4" y="{ty}">{}{tries}</text>"#,
            esc(&atom.name),
            ty = y + 16
        );
        let (mut executes, mut reverts) = (0, 0);
        for s in spans {
            let revert = s.kind == EntryKind::Revert;
            let k = if revert {
                reverts += 1;
                reverts
            } else {
                executes += 1;
                executes
            };
            let x1 = x(s.start);
            let x2 = x(s.end.unwrap_or(now)).max(x1 + 3);
            let state = s.state.map(AtomState::as_str).unwrap_or(if revert {
                "REVERTING"
            } else {
                "RUNNING"
            });
            let kind = if revert { "revert" } else { "execute" };
            let ended = match s.end {
                Some(e) => format!(
                    "ended {} ({}) after {}",
                    time(e),
                    state,
                    duration(e - s.start)
                ),
                None => "still running".to_owned(),
            };
            let _ = writeln!(
                out,
                r#"<rect class="bar {kind} state-{state}" data-atom="{name}" data-attempt="{n}" x="{x1}" y="{by}" width="{w}" height="{h}" rx="3"><title>{name}: {kind} #{n} started {started}, {ended}</title></rect>"#,
                name = esc(&atom.name),
                n = k,
                by = y + 4,
                w = x2 - x1,
                h = ROW_H - 8,
                started = time(s.start),
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use taskwire_runtime::persistence::Uuid;

    #[test]
    fn a_retried_atom_has_one_bar_per_attempt() {
        let flow = Uuid::new_v4();
        let mut a = AtomDetail::new(flow, "flaky", 0);
        a.meta = json!({"timeline": [
            {"kind": "execute", "start": 1000, "end": 1100, "state": "FAILURE"},
            {"kind": "revert", "start": 1100, "end": 1150, "state": "REVERTED"},
            {"kind": "execute", "start": 1200, "end": 2000, "state": "SUCCESS"},
        ]});
        let b = AtomDetail::new(flow, "never", 1);
        let svg = svg(&[a, b], 5000);
        assert_eq!(svg.matches(r#"data-atom="flaky""#).count(), 3);
        assert!(svg.contains("flaky ×2"));
        assert!(svg.contains("bar revert state-REVERTED"));
        assert!(svg.contains("bar execute state-SUCCESS"));
        assert!(!svg.contains(r#"data-atom="never""#));
        assert!(svg.contains("+1.0 s"), "the axis spans the run: {svg}");
    }
}
