//! A terminal progress bar for runs (feature `progress-bar`, with `indicatif`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use indicatif::ProgressStyle;
pub use indicatif::{ProgressBar, ProgressDrawTarget};

use crate::flow::Flow;
use crate::listener::{AtomEvent, FlowEvent, Listener, ProgressEvent};
use crate::state::{AtomState, FlowState};

/// Shows a run as a progress bar on stderr: atoms done out of the total, the
/// atoms running (or reverting) now with the progress their tasks report,
/// and how the flow ended.
///
/// When stderr is not a terminal the bar draws nothing (indicatif hides
/// itself), so piped or captured output is not garbled; print what a program
/// must always show with [`ProgressBarListener::suspend`] or after the run.
///
/// ```
/// # use taskwire_runtime::{Engine, Flow, FnTask, ProgressBarListener};
/// # use serde_json::json;
/// use taskwire_runtime::progress_bar::ProgressDrawTarget;
/// use std::sync::Arc;
///
/// let flow = Flow::linear("f")
///     .add(FnTask::new("a").run(|call| { call.progress(0.5); Ok(json!(1)) }))
///     .add(FnTask::new("b").run(|_| Ok(json!(2))));
/// let bar = Arc::new(ProgressBarListener::for_flow(&flow).with_draw_target(ProgressDrawTarget::hidden()));
/// Engine::new(flow).listener(Arc::clone(&bar)).run().unwrap();
/// assert_eq!((bar.bar().position(), bar.bar().length()), (2, Some(2)));
/// assert_eq!(bar.bar().message(), "flow `f` SUCCESS");
/// ```
#[derive(Debug)]
pub struct ProgressBarListener {
    bar: ProgressBar,
    /// Atoms running or reverting now, with their last reported progress.
    current: Mutex<BTreeMap<String, (AtomState, f32)>>,
}

const TEMPLATE: &str = "{prefix:>9} [{bar:30}] {pos}/{len} {wide_msg}";

impl ProgressBarListener {
    /// A bar for a flow of `total` atoms, drawn on stderr.
    pub fn new(total: u64) -> ProgressBarListener {
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::new(total).with_style(style);
        bar.set_prefix("pending");
        ProgressBarListener {
            bar,
            current: Mutex::new(BTreeMap::new()),
        }
    }

    /// A bar for `flow`: its length is the number of atoms.
    pub fn for_flow(flow: &Flow) -> ProgressBarListener {
        ProgressBarListener::new(flow.atoms().len() as u64)
    }

    /// Draws somewhere else (`ProgressDrawTarget::hidden()` in tests).
    pub fn with_draw_target(self, target: ProgressDrawTarget) -> ProgressBarListener {
        self.bar.set_draw_target(target);
        self
    }

    /// The underlying bar: its position, length, prefix and message.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Runs `f` (printing, say) with the bar cleared, then redraws it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    fn show(&self, current: &BTreeMap<String, (AtomState, f32)>) {
        let mut parts = Vec::new();
        for (atom, (state, progress)) in current.iter().take(3) {
            // The short name (`create_db_entry`, not its module path).
            let atom = crate::picture::short_name(atom);
            let verb = if *state == AtomState::Reverting {
                "reverting "
            } else {
                ""
            };
            if *progress > 0.0 {
                parts.push(format!("{verb}{atom} {:.0}%", progress * 100.0));
            } else {
                parts.push(format!("{verb}{atom}"));
            }
        }
        if current.len() > 3 {
            parts.push(format!("+{} more", current.len() - 3));
        }
        self.bar.set_message(parts.join(", "));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (AtomState, f32)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Listener for ProgressBarListener {
    fn on_flow(&self, e: &FlowEvent<'_>) {
        let state = e.state.to_string().to_lowercase();
        self.bar.set_prefix(state);
        let message = format!("flow `{}` {}", e.flow, e.state);
        match e.state {
            FlowState::Success => self.bar.finish_with_message(message),
            FlowState::Reverted | FlowState::Failure | FlowState::Suspended => {
                self.lock().clear();
                self.bar.abandon_with_message(message);
            }
            _ => {}
        }
    }

    fn on_atom(&self, e: &AtomEvent<'_>) {
        let mut current = self.lock();
        match e.state {
            AtomState::Running | AtomState::Reverting => {
                current.insert(e.atom.to_owned(), (e.state, 0.0));
            }
            AtomState::Success | AtomState::Failure | AtomState::Ignore => {
                current.remove(e.atom);
                self.bar.inc(1);
            }
            // A retry runs its atoms again: they are not done any more.
            AtomState::Pending | AtomState::Retrying if e.previous != AtomState::Pending => {
                current.remove(e.atom);
                self.bar.dec(1);
            }
            _ => {
                current.remove(e.atom);
            }
        }
        self.show(&current);
    }

    fn on_progress(&self, e: &ProgressEvent<'_>) {
        let mut current = self.lock();
        if let Some(entry) = current.get_mut(e.atom) {
            entry.1 = e.progress;
        }
        self.show(&current);
    }
}
