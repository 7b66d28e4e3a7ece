//! A terminal progress bar for runs (feature `progress-bar`, with `indicatif`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use indicatif::ProgressStyle;
pub use indicatif::{ProgressBar, ProgressDrawTarget};

use crate::flow::Flow;
use crate::listener::{AtomEvent, FlowEvent, Listener, ProgressEvent, RunStart};
use crate::state::{AtomState, FlowState};

/// Shows a run as a progress bar on stderr: atoms done out of the total, the
/// atoms running (or reverting) now with the progress their tasks report,
/// and how the flow ended.
///
/// The bar is sized when the run starts, from the atoms the engine compiled
/// (whatever total it was made with), and starts at the atoms already done:
/// a run taken up from its logbook ([`Engine::resume`](crate::Engine::resume))
/// or going on after a suspension shows the atoms that had finished. An
/// atom is done once it ends SUCCESS, FAILURE or IGNORE, and counts once: a
/// retry that runs it again does not take it off the count, so the bar never
/// goes back. Atoms show by their short names (`create_db_entry`, not
/// `my_app::volumes::create_db_entry`), unless two of the flow's would read
/// the same.
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
    run: Mutex<Run>,
}

/// What the bar knows of the run.
#[derive(Debug, Default)]
struct Run {
    /// Atoms running or reverting now, with their last reported progress.
    current: BTreeMap<String, (AtomState, f32)>,
    /// The atoms counted done.
    done: HashSet<String>,
    /// The name each atom shows as, when it is not its short name.
    shown: HashMap<String, String>,
}

impl Run {
    fn shown<'n>(&'n self, atom: &'n str) -> &'n str {
        match self.shown.get(atom) {
            Some(name) => name,
            None => crate::picture::short_name(atom),
        }
    }
}

/// Whether an atom in `state` has finished executing, for the count.
fn is_done(state: AtomState) -> bool {
    matches!(
        state,
        AtomState::Success | AtomState::Failure | AtomState::Ignore
    )
}

const TEMPLATE: &str = "{prefix:>9} [{bar:30}] {pos}/{len} {wide_msg}";

impl ProgressBarListener {
    /// A bar for a flow of `total` atoms, drawn on stderr (the run resizes
    /// it to the atoms it compiled when it starts).
    pub fn new(total: u64) -> ProgressBarListener {
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::new(total).with_style(style);
        bar.set_prefix("pending");
        ProgressBarListener {
            bar,
            run: Mutex::new(Run::default()),
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

    fn show(&self, run: &Run) {
        let current = &run.current;
        let mut parts = Vec::new();
        for (atom, (state, progress)) in current.iter().take(3) {
            // The short name (`create_db_entry`, not its module path).
            let atom = run.shown(atom);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for ProgressBarListener {
    /// A bar sized when the run starts.
    fn default() -> ProgressBarListener {
        ProgressBarListener::new(0)
    }
}

impl Listener for ProgressBarListener {
    fn on_start(&self, start: &RunStart<'_>) {
        let mut run = self.lock();
        let names = start.atoms;
        run.shown = names
            .iter()
            .zip(crate::picture::shown_names(names))
            .filter(|(name, shown)| crate::picture::short_name(name) != *shown)
            .map(|(name, shown)| ((*name).to_owned(), shown.to_owned()))
            .collect();
        run.current.clear();
        run.done = names
            .iter()
            .zip(start.states)
            .filter(|(_, state)| is_done(**state))
            .map(|(name, _)| (*name).to_owned())
            .collect();
        // From a finished or abandoned bar (a suspended run going on) too.
        self.bar.reset();
        self.bar.set_length(names.len() as u64);
        self.bar.set_position(run.done.len() as u64);
        self.show(&run);
    }

    fn on_flow(&self, e: &FlowEvent<'_>) {
        let state = e.state.to_string().to_lowercase();
        self.bar.set_prefix(state);
        let message = format!("flow `{}` {}", e.flow, e.state);
        match e.state {
            FlowState::Success => self.bar.finish_with_message(message),
            FlowState::Reverted | FlowState::Failure | FlowState::Suspended => {
                self.lock().current.clear();
                self.bar.abandon_with_message(message);
            }
            _ => {}
        }
    }

    fn on_atom(&self, e: &AtomEvent<'_>) {
        let mut run = self.lock();
        match e.state {
            AtomState::Running | AtomState::Reverting => {
                run.current.insert(e.atom.to_owned(), (e.state, 0.0));
            }
            // Counted once: a retry that runs an atom again (PENDING or
            // RETRYING, then RUNNING) does not take it off the count.
            state if is_done(state) => {
                run.current.remove(e.atom);
                if run.done.insert(e.atom.to_owned()) {
                    self.bar.inc(1);
                }
            }
            _ => {
                run.current.remove(e.atom);
            }
        }
        self.show(&run);
    }

    fn on_progress(&self, e: &ProgressEvent<'_>) {
        let mut run = self.lock();
        if let Some(entry) = run.current.get_mut(e.atom) {
            entry.1 = e.progress;
        }
        self.show(&run);
    }
}
