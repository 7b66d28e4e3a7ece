//! Retry atoms: controllers of one subflow that decide what happens when an
//! atom inside it fails (TaskFlow's retry controllers, with delays).
//!
//! A retry is attached to a flow with [`Flow::retry`](crate::Flow::retry). It
//! becomes the flow's first atom: it runs before the subflow's atoms, may
//! provide a value to them (the attempt number, the next of a list of values),
//! and when one of them fails it decides:
//!
//! - [`Decision::Retry`]: revert what the subflow did, then run the retry and
//!   the subflow again;
//! - [`Decision::Revert`]: revert the subflow (and the retry) only. The flow
//!   ends REVERTED; what ran outside the subflow is left as it is, unless an
//!   enclosing retry decides otherwise, or the engine defers reverts
//!   ([`Engine::defer_reverts`](crate::Engine::defer_reverts)), in which case
//!   the enclosing flow's resolution applies (no enclosing retry: revert all);
//! - [`Decision::RevertAll`]: revert the whole flow.
//!
//! Each attempt is remembered in the retry's [`History`]: the value it
//! provided and the failures of its subflow. The history is recorded in the
//! logbook with the retry atom, handed to the controller, and visible to the
//! subflow's tasks ([`Call::retry_history`], [`TaskCtx::retry_history`]).
//!
//! Built-in controllers: [`Times`], [`ForEach`], [`ParameterizedForEach`],
//! [`AlwaysRevert`], [`AlwaysRevertAll`]; custom code implements [`Retry`].
//! Delays between attempts ([`Delay`]) are fixed or exponential with jitter.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use serde_json::json;
//! use taskwire_runtime::retry::{Delay, RetryAtom, Times};
//! use taskwire_runtime::{Engine, Failure, FailureKind, Flow, FnTask};
//!
//! let calls = Arc::new(AtomicU32::new(0));
//! let seen = Arc::clone(&calls);
//! let flaky = FnTask::new("flaky").requires(["attempt"]).provides("done").run(move |call| {
//!     seen.fetch_add(1, Ordering::SeqCst);
//!     match call.arg::<u32>(0)? {
//!         1 | 2 => Err(Failure::new(FailureKind::Task, "not yet")),
//!         n => Ok(json!(n)),
//!     }
//! });
//! let flow = Flow::linear("work")
//!     .add(flaky)
//!     .retry(RetryAtom::new("again", Times::new(3)).provides("attempt").delay(Delay::fixed(Duration::from_millis(1))));
//! let done = Engine::new(flow).run().unwrap();
//! assert_eq!(done.get::<u32>("done").unwrap(), 3);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::failure::{Failure, FailureKind};
use crate::task::{Call, FnTask, TaskSpec, Text};

pub use crate::history::{Attempt, Decision, History};
pub use crate::task::TaskCtx;

/// What a retry controller is given: its history, and the values it declared
/// with [`RetryAtom::requires`].
#[derive(Debug)]
pub struct RetryCall<'a> {
    pub(crate) call: &'a Call<'a>,
    pub(crate) history: &'a History,
}

impl RetryCall<'_> {
    /// The attempts so far. While executing, the attempt about to start is
    /// not in it yet; while deciding, the failed attempt is the last one.
    pub fn history(&self) -> &History {
        self.history
    }

    /// The retry atom's name.
    pub fn atom(&self) -> &str {
        self.call.atom()
    }

    /// Decodes the value the retry requires under `name`.
    pub fn get<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, Failure> {
        let index = self
            .call
            .meta()
            .value_args()
            .position(|(n, _)| n == name)
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Argument,
                    format!(
                        "retry `{}` reads `{name}`, but does not require it: add it with `RetryAtom::requires`",
                        self.atom()
                    ),
                )
            })?;
        self.call.arg(index)
    }
}

/// A retry controller: custom code deciding what to do when its subflow fails.
///
/// ```
/// use taskwire_runtime::retry::{Decision, Retry, RetryCall};
/// use taskwire_runtime::{Flow, FnTask};
///
/// /// Retries while the failures say the host was busy, at most 5 times.
/// struct WhileBusy;
///
/// impl Retry for WhileBusy {
///     fn on_failure(&self, call: &RetryCall<'_>) -> Decision {
///         let history = call.history();
///         let busy = history
///             .last()
///             .is_some_and(|a| a.failures.iter().all(|(_, f)| f.message().contains("busy")));
///         if busy && history.len() < 5 { Decision::Retry } else { Decision::RevertAll }
///     }
/// }
///
/// let flow = Flow::linear("book")
///     .add(FnTask::new("reserve").run(|_| Ok(serde_json::json!(null))))
///     .retry(WhileBusy);
/// assert_eq!(flow.atoms()[0].atom_name(), "book_retry");
/// ```
pub trait Retry: Send + Sync + 'static {
    /// The values the controller reads ([`RetryCall::get`]), besides those
    /// given with [`RetryAtom::requires`].
    fn requires(&self) -> Vec<Text> {
        Vec::new()
    }

    /// The value this attempt provides to the subflow (under the retry's
    /// `provides` name). By default the attempt number, from 1.
    fn execute(&self, call: &RetryCall<'_>) -> Result<Value, Failure> {
        Ok(json!(call.history().len() + 1))
    }

    /// What to do now that an atom of the subflow failed (the failure is in
    /// the last attempt of the history).
    fn on_failure(&self, call: &RetryCall<'_>) -> Decision;

    /// Undoes what `execute` did, when the subflow is reverted for good.
    fn revert(&self, _call: &RetryCall<'_>) -> Result<(), Failure> {
        Ok(())
    }

    /// How long to wait before the next attempt; `None` uses the retry atom's
    /// [`Delay`].
    fn delay(&self, _history: &History) -> Option<Duration> {
        None
    }
}

/// Retries up to `attempts` attempts in all, then reverts the subflow (or
/// everything, with [`Times::revert_all`]). Provides the attempt number.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    attempts: u32,
    revert_all: bool,
}

impl Times {
    /// At most `attempts` attempts (1 = no retry).
    pub fn new(attempts: u32) -> Times {
        Times {
            attempts,
            revert_all: false,
        }
    }

    /// When the attempts are used up, revert the whole flow.
    pub fn revert_all(mut self) -> Times {
        self.revert_all = true;
        self
    }
}

fn give_up(revert_all: bool) -> Decision {
    if revert_all {
        Decision::RevertAll
    } else {
        Decision::Revert
    }
}

impl Retry for Times {
    fn on_failure(&self, call: &RetryCall<'_>) -> Decision {
        if call.history().len() < self.attempts as usize {
            Decision::Retry
        } else {
            give_up(self.revert_all)
        }
    }
}

/// Tries the subflow with each value in turn (provided under the retry's
/// name), until one attempt succeeds; when all failed, reverts the subflow
/// (or everything, with [`ForEach::revert_all`]).
#[derive(Debug, Clone)]
pub struct ForEach {
    values: Vec<Value>,
    revert_all: bool,
}

impl ForEach {
    /// The values to try, in order.
    pub fn new<T: Serialize>(values: impl IntoIterator<Item = T>) -> ForEach {
        ForEach {
            values: values
                .into_iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect(),
            revert_all: false,
        }
    }

    /// When every value failed, revert the whole flow.
    pub fn revert_all(mut self) -> ForEach {
        self.revert_all = true;
        self
    }
}

/// The value of attempt `history.len() + 1`, or a failure naming the retry.
fn next_value(values: &[Value], call: &RetryCall<'_>) -> Result<Value, Failure> {
    values.get(call.history().len()).cloned().ok_or_else(|| {
        Failure::new(
            FailureKind::Task,
            if values.is_empty() {
                format!("retry `{}` has no values to try", call.atom())
            } else {
                format!(
                    "retry `{}` tried all of its {} values",
                    call.atom(),
                    values.len()
                )
            },
        )
    })
}

impl Retry for ForEach {
    fn execute(&self, call: &RetryCall<'_>) -> Result<Value, Failure> {
        next_value(&self.values, call)
    }

    fn on_failure(&self, call: &RetryCall<'_>) -> Decision {
        if call.history().len() < self.values.len() {
            Decision::Retry
        } else {
            give_up(self.revert_all)
        }
    }
}

/// Like [`ForEach`], with the values read from a value of the flow (an array
/// named by [`ParameterizedForEach::new`], which the retry atom requires).
#[derive(Debug, Clone)]
pub struct ParameterizedForEach {
    name: Text,
    revert_all: bool,
}

impl ParameterizedForEach {
    /// Tries each element of the array provided under `name`.
    pub fn new(name: impl Into<Text>) -> ParameterizedForEach {
        ParameterizedForEach {
            name: name.into(),
            revert_all: false,
        }
    }

    /// When every value failed, revert the whole flow.
    pub fn revert_all(mut self) -> ParameterizedForEach {
        self.revert_all = true;
        self
    }

    fn values(&self, call: &RetryCall<'_>) -> Result<Vec<Value>, Failure> {
        call.get::<Vec<Value>>(&self.name)
    }
}

impl Retry for ParameterizedForEach {
    fn requires(&self) -> Vec<Text> {
        vec![self.name.clone()]
    }

    fn execute(&self, call: &RetryCall<'_>) -> Result<Value, Failure> {
        next_value(&self.values(call)?, call)
    }

    fn on_failure(&self, call: &RetryCall<'_>) -> Decision {
        match self.values(call) {
            Ok(values) if call.history().len() < values.len() => Decision::Retry,
            _ => give_up(self.revert_all),
        }
    }
}

/// Never retries: reverts the subflow.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysRevert;

impl Retry for AlwaysRevert {
    fn on_failure(&self, _call: &RetryCall<'_>) -> Decision {
        Decision::Revert
    }
}

/// Never retries: reverts the whole flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysRevertAll;

impl Retry for AlwaysRevertAll {
    fn on_failure(&self, _call: &RetryCall<'_>) -> Decision {
        Decision::RevertAll
    }
}

/// How long to wait before each new attempt.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Delay {
    /// No wait.
    #[default]
    None,
    /// The same wait before every new attempt.
    Fixed(Duration),
    /// `first`, then multiplied by `factor` for each further attempt, at most
    /// `max`; with `jitter` in 0.0–1.0, each wait is drawn at random between
    /// `(1 - jitter)` and 1 times that (so many retrying clients spread out).
    Exponential {
        /// The wait before the second attempt.
        first: Duration,
        /// The growth per attempt.
        factor: f64,
        /// The longest wait.
        max: Duration,
        /// The random part, 0.0 (none) to 1.0 ("full jitter").
        jitter: f64,
    },
}

impl Delay {
    /// A fixed wait.
    pub fn fixed(wait: Duration) -> Delay {
        Delay::Fixed(wait)
    }

    /// Exponential backoff from `first`, doubling, capped at `max`, no jitter.
    pub fn exponential(first: Duration, max: Duration) -> Delay {
        Delay::Exponential {
            first,
            factor: 2.0,
            max,
            jitter: 0.0,
        }
    }

    /// The same backoff with another growth factor (exponential only).
    pub fn factor(self, factor: f64) -> Delay {
        match self {
            Delay::Exponential {
                first, max, jitter, ..
            } => Delay::Exponential {
                first,
                factor,
                max,
                jitter,
            },
            other => other,
        }
    }

    /// The same backoff with jitter (exponential only; clamped to 0.0–1.0).
    pub fn jitter(self, jitter: f64) -> Delay {
        match self {
            Delay::Exponential {
                first, factor, max, ..
            } => Delay::Exponential {
                first,
                factor,
                max,
                jitter: jitter.clamp(0.0, 1.0),
            },
            other => other,
        }
    }

    /// The longest wait before attempt `attempt` (2 = the first retry), before
    /// jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        match *self {
            Delay::None => Duration::ZERO,
            _ if attempt < 2 => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Exponential {
                first, factor, max, ..
            } => {
                let grown = first.as_secs_f64() * factor.max(1.0).powi(attempt as i32 - 2);
                if grown.is_finite() && grown < max.as_secs_f64() {
                    Duration::from_secs_f64(grown)
                } else {
                    max
                }
            }
        }
    }

    /// The wait before attempt `attempt` (2 = the first retry), jitter drawn.
    pub fn before(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        match *self {
            Delay::Exponential { jitter, .. } if jitter > 0.0 => {
                ceiling.mul_f64(1.0 - jitter * fastrand::f64())
            }
            _ => ceiling,
        }
    }
}

/// A retry controller as an atom of a flow: its name, what it requires and
/// provides, and the delay between attempts.
#[derive(Clone)]
pub struct RetryAtom {
    pub(crate) name: Option<Text>,
    pub(crate) controller: Arc<dyn Retry>,
    pub(crate) requires: Vec<Text>,
    pub(crate) provides: Option<Text>,
    pub(crate) delay: Delay,
}

impl fmt::Debug for RetryAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryAtom")
            .field("name", &self.name)
            .field("requires", &self.requires)
            .field("provides", &self.provides)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl RetryAtom {
    /// A retry atom named `name` running `controller`.
    pub fn new(name: impl Into<Text>, controller: impl Retry) -> RetryAtom {
        RetryAtom {
            name: Some(name.into()),
            ..RetryAtom::from(controller)
        }
    }

    /// The values the controller reads ([`RetryCall::get`]).
    pub fn requires(mut self, names: impl IntoIterator<Item = impl Into<Text>>) -> RetryAtom {
        self.requires.extend(names.into_iter().map(Into::into));
        self
    }

    /// Provides each attempt's value under `name` to the subflow.
    pub fn provides(mut self, name: impl Into<Text>) -> RetryAtom {
        self.provides = Some(name.into());
        self
    }

    /// Waits before each new attempt.
    pub fn delay(mut self, delay: Delay) -> RetryAtom {
        self.delay = delay;
        self
    }

    /// The atom this retry runs as, named `default_name` unless named.
    pub(crate) fn into_spec(self, default_name: &str) -> (TaskSpec, Arc<dyn Retry>, Delay) {
        let name = self.name.unwrap_or_else(|| default_name.to_owned().into());
        // A name both the controller and `requires` give is read once (the
        // flow macro asks for `requires` to check what it cannot see).
        let mut requires = self.controller.requires();
        for name in self.requires {
            if !requires.contains(&name) {
                requires.push(name);
            }
        }
        let mut task = FnTask::new(name).requires(requires);
        if let Some(p) = self.provides {
            task = task.provides(p);
        }
        let exec = Arc::clone(&self.controller);
        let revert = Arc::clone(&self.controller);
        let spec = task
            .run(move |call| with_history(call, |c| exec.execute(c)))
            .revert(move |call| with_history(call, |c| revert.revert(c)))
            .into_spec();
        (spec, self.controller, self.delay)
    }
}

impl<R: Retry> From<R> for RetryAtom {
    fn from(controller: R) -> RetryAtom {
        RetryAtom {
            name: None,
            controller: Arc::new(controller),
            requires: Vec::new(),
            provides: None,
            delay: Delay::None,
        }
    }
}

fn with_history<T>(
    call: &Call<'_>,
    f: impl FnOnce(&RetryCall<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let empty = History::default();
    let history = call.retry_history().unwrap_or(&empty);
    f(&RetryCall { call, history })
}
