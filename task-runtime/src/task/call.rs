//! The calling convention between the engine and a task's code.
//!
//! The engine resolves every value argument of an atom before calling it and
//! hands the task a [`Call`]: the arguments in the order of
//! [`TaskMeta::value_args`](super::TaskMeta::value_args), the resources, and —
//! for reverts — the atom's outcome and the flow's failures. Task code (written
//! by `#[task]` or by hand) decodes what it needs and returns an [`Invocation`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{CancelToken, Outcome, TaskMeta};
use crate::failure::{Failure, FailureKind, Failures};
use crate::history::History;
use crate::listener::Listeners;

/// A boxed, sendable future, as returned by async tasks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What calling a task's code gives back: a result at once (sync tasks) or a
/// future to await (async tasks).
pub enum Invocation<T = Value> {
    /// The task finished.
    Ready(Result<T, Failure>),
    /// The task is running; await the future.
    Pending(BoxFuture<Result<T, Failure>>),
}

impl<T> std::fmt::Debug for Invocation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invocation::Ready(r) => f
                .debug_tuple("Ready")
                .field(&r.as_ref().map(|_| "..").map_err(|e| e.to_string()))
                .finish(),
            Invocation::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Resources: typed values the engine holds and hands to tasks by type. They are
/// never stored or sent anywhere.
#[derive(Clone, Default)]
pub struct Resources {
    map: HashMap<TypeId, (Arc<dyn Any + Send + Sync>, &'static str)>,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.map.values().map(|(_, name)| name))
            .finish()
    }
}

impl Resources {
    /// Adds (or replaces) the resource of type `T`.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.insert_arc(Arc::new(value));
    }

    /// Adds (or replaces) a shared resource of type `T`.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.map
            .insert(TypeId::of::<T>(), (value, std::any::type_name::<T>()));
    }

    /// Whether there is a resource of the type whose id is `id`.
    pub fn contains(&self, id: TypeId) -> bool {
        self.map.contains_key(&id)
    }

    /// The resource of type `T`, if there is one.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Res<T>> {
        let (any, _) = self.map.get(&TypeId::of::<T>())?;
        Arc::clone(any).downcast::<T>().ok().map(Res)
    }
}

/// A resource handed to a task by type: `fn task(db: Res<Pool>)`.
///
/// Dereferences to `T`; cloning it clones the handle, not the resource.
/// [`Res::new`] makes one, to call a task's function directly (in a unit
/// test, say):
///
/// ```
/// use taskwire_runtime::task::Res;
///
/// struct Quota {
///     limit: u64,
/// }
///
/// // What `#[task]` leaves callable as plain Rust.
/// fn grant(size: u64, quota: Res<Quota>) -> u64 {
///     size.min(quota.limit)
/// }
///
/// assert_eq!(grant(10, Res::new(Quota { limit: 4 })), 4);
/// ```
#[derive(Debug)]
pub struct Res<T: ?Sized>(Arc<T>);

impl<T> Res<T> {
    /// A resource holding `value`, outside any engine.
    pub fn new(value: T) -> Res<T> {
        Res(Arc::new(value))
    }
}

impl<T: ?Sized> Res<T> {
    /// A resource sharing `arc` (the engine's, say: see
    /// [`Engine::resource_arc`](crate::Engine::resource_arc)).
    pub fn from_arc(arc: Arc<T>) -> Res<T> {
        Res(arc)
    }

    /// The shared handle.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> From<Arc<T>> for Res<T> {
    fn from(arc: Arc<T>) -> Res<T> {
        Res(arc)
    }
}

impl<T: ?Sized> Clone for Res<T> {
    fn clone(&self) -> Self {
        Res(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> std::ops::Deref for Res<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The context a task may take as a parameter: its atom's name and the values it
/// declared with `requires = [..]`, read by name.
#[derive(Debug, Clone)]
pub struct TaskCtx {
    atom: Arc<str>,
    values: Arc<[(String, Value)]>,
    listeners: Option<Listeners>,
    history: Option<Arc<History>>,
    cancel: Option<CancelToken>,
}

impl TaskCtx {
    /// A context for `atom` with the given named values.
    pub fn new(atom: &str, values: Vec<(String, Value)>) -> TaskCtx {
        TaskCtx {
            atom: atom.into(),
            values: values.into(),
            listeners: None,
            history: None,
            cancel: None,
        }
    }

    /// The history of the retry controlling this task's subflow (the innermost
    /// one), if any: the attempts so far and their failures.
    pub fn retry_history(&self) -> Option<&History> {
        self.history.as_deref()
    }

    /// Whether the run asked its tasks to stop (it lost its lease: what the
    /// task does next will not be recorded). A long task checks it between
    /// steps and returns early; see [`CancelToken`].
    pub fn is_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// The run's cancellation signal, to wait on in async tasks (a token
    /// that never fires outside an engine).
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone().unwrap_or_default()
    }

    /// Reports how far along the task is (0.0 to 1.0; clamped) to the
    /// engine's listeners ([`Listener::on_progress`](crate::Listener::on_progress)).
    /// Does nothing outside an engine.
    pub fn progress(&self, progress: f32) {
        if let Some(l) = &self.listeners {
            l.progress(&self.atom, progress, None);
        }
    }

    /// Reports progress with details (any serde value).
    pub fn progress_with(&self, progress: f32, details: impl Serialize) {
        if let Some(l) = &self.listeners {
            let details = serde_json::to_value(details).ok();
            l.progress(&self.atom, progress, details.as_ref());
        }
    }

    /// Sets `key` in the metadata of this task's atom (TaskFlow's
    /// `update_atom_metadata`): kept in its atom detail's `meta`, recorded
    /// with the run's next commit, readable with
    /// [`Storage::atom_meta`](crate::storage::Storage::atom_meta), and still
    /// there when the run is resumed. The keys the engine keeps for itself
    /// ([`RESERVED_META`](crate::storage::RESERVED_META): `progress`,
    /// `revert_result`, …) are refused, as is a value that cannot be encoded;
    /// the failure names the task and the key. Does nothing outside an engine.
    pub fn update_meta(&self, key: &str, value: impl Serialize) -> Result<(), Failure> {
        update_meta(&self.atom, self.listeners.as_ref(), key, value)
    }

    /// The name of the atom being run.
    pub fn atom(&self) -> &str {
        &self.atom
    }

    /// Decodes the value named `name`, declared with `requires = [..]`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Failure> {
        let value = self
            .values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Argument,
                    format!(
                        "task `{}` reads `{name}` from its context, but does not declare it: add it to `requires = [..]`",
                        self.atom
                    ),
                )
            })?;
        T::deserialize(value).map_err(|e| {
            Failure::new(
                FailureKind::Argument,
                format!(
                    "task `{}`: value `{name}` cannot be decoded as `{}`: {e}",
                    self.atom,
                    std::any::type_name::<T>()
                ),
            )
        })
    }
}

/// One call of a task's code (execute or revert).
#[derive(Debug)]
pub struct Call<'a> {
    pub(crate) atom: &'a str,
    pub(crate) meta: &'a TaskMeta,
    /// Value arguments in `TaskMeta::value_args` order; `None` = not provided.
    pub(crate) args: &'a [Option<&'a Value>],
    pub(crate) resources: &'a Resources,
    /// For reverts: the atom's outcome and the flow's failures.
    pub(crate) revert: Option<RevertInfo<'a>>,
    /// Where progress reports go.
    pub(crate) listeners: Option<&'a Listeners>,
    /// The history of the innermost retry around the atom.
    pub(crate) history: Option<&'a Arc<History>>,
    /// The run's cancellation signal, if it has one.
    pub(crate) cancel: Option<&'a CancelToken>,
}

#[derive(Debug)]
pub(crate) struct RevertInfo<'a> {
    pub(crate) result: Result<&'a Value, &'a Failure>,
    pub(crate) failures: &'a Failures,
}

impl<'a> Call<'a> {
    /// A call, as the engine builds it. Public for executors outside this crate.
    pub fn new(
        atom: &'a str,
        meta: &'a TaskMeta,
        args: &'a [Option<&'a Value>],
        resources: &'a Resources,
    ) -> Call<'a> {
        Call {
            atom,
            meta,
            args,
            resources,
            revert: None,
            listeners: None,
            history: None,
            cancel: None,
        }
    }

    /// The history of the retry controlling this atom's subflow (the
    /// innermost one), if any; for a retry atom, its own history.
    pub fn retry_history(&self) -> Option<&'a History> {
        self.history.map(|h| &**h)
    }

    /// Gives the call the run's cancellation signal. Public for executors
    /// outside this crate.
    pub fn with_cancel(mut self, cancel: &'a CancelToken) -> Call<'a> {
        self.cancel = Some(cancel);
        self
    }

    /// Whether the run asked its tasks to stop; see [`TaskCtx::is_cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_some_and(CancelToken::is_cancelled)
    }

    /// The run's cancellation signal (one that never fires outside an
    /// engine); see [`CancelToken`].
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.cloned().unwrap_or_default()
    }

    /// The name of the atom being called.
    pub fn atom(&self) -> &str {
        self.atom
    }

    /// The metadata of the task being called.
    pub fn meta(&self) -> &TaskMeta {
        self.meta
    }

    fn arg_name(&self, index: usize) -> &str {
        self.meta
            .value_args()
            .nth(index)
            .map(|(name, _)| name)
            .unwrap_or("?")
    }

    /// The raw value of value argument `index`, if provided.
    pub fn raw(&self, index: usize) -> Option<&'a Value> {
        self.args.get(index).copied().flatten()
    }

    /// Decodes required value argument `index` (in `value_args` order).
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, Failure> {
        match self.raw(index) {
            Some(value) => self.decode(index, value),
            None => Err(Failure::new(
                FailureKind::Argument,
                format!(
                    "task `{}`: argument `{}` was not provided",
                    self.atom,
                    self.arg_name(index)
                ),
            )),
        }
    }

    /// Decodes optional value argument `index`: `None` when not provided (or
    /// provided as `null`).
    pub fn opt_arg<T: DeserializeOwned>(&self, index: usize) -> Result<Option<T>, Failure> {
        match self.raw(index) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.decode(index, value).map(Some),
        }
    }

    fn decode<T: DeserializeOwned>(&self, index: usize, value: &Value) -> Result<T, Failure> {
        T::deserialize(value).map_err(|e| {
            Failure::new(
                FailureKind::Argument,
                format!(
                    "task `{}`: argument `{}` expects `{}`, but its value cannot be decoded: {e}",
                    self.atom,
                    self.arg_name(index),
                    short_type_name::<T>(),
                ),
            )
        })
    }

    /// The resource of type `T`; a missing resource is a failure naming the task
    /// and the type.
    pub fn resource<T: Send + Sync + 'static>(&self) -> Result<Res<T>, Failure> {
        self.resources.get::<T>().ok_or_else(|| {
            Failure::new(
                FailureKind::Argument,
                format!(
                    "task `{}` needs a resource of type `{}`, but the engine has none: add it with `Engine::resource`",
                    self.atom,
                    std::any::type_name::<T>()
                ),
            )
        })
    }

    /// The task's context, holding its `requires = [..]` values.
    pub fn ctx(&self) -> TaskCtx {
        let first_extra = self.meta.params.iter().filter(|p| p.is_value()).count();
        let values = self
            .meta
            .extra_requires
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                self.raw(first_extra + i)
                    .map(|v| (name.to_string(), v.clone()))
            })
            .collect();
        let mut ctx = TaskCtx::new(self.atom, values);
        ctx.listeners = self.listeners.cloned();
        ctx.history = self.history.cloned();
        ctx.cancel = self.cancel.cloned();
        ctx
    }

    /// Reports how far along the task is; see [`TaskCtx::progress`].
    pub fn progress(&self, progress: f32) {
        if let Some(l) = self.listeners {
            l.progress(self.atom, progress, None);
        }
    }

    /// Sets `key` in the atom's metadata; see [`TaskCtx::update_meta`].
    pub fn update_meta(&self, key: &str, value: impl Serialize) -> Result<(), Failure> {
        update_meta(self.atom, self.listeners, key, value)
    }

    /// Decodes the value argument named `name` (a parameter, a
    /// `requires = [..]` name, or one of [`FnTask::revert_requires`](crate::FnTask::revert_requires)),
    /// by the name the task gives it (before any rebind). An unknown name,
    /// a value not provided or one that does not decode is a failure naming
    /// the task and the argument.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Failure> {
        let index = self.meta.value_args().position(|(n, _)| n == name);
        match index {
            Some(index) => self.arg(index),
            None => Err(Failure::new(
                FailureKind::Argument,
                format!(
                    "task `{}` has no argument `{name}`; its arguments are: {}",
                    self.atom,
                    self.meta
                        .value_args()
                        .map(|(n, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// For a revert: the atom's outcome, decoded as `T` (its result when it
    /// succeeded, its failure when it failed).
    pub fn outcome<T: DeserializeOwned>(&self) -> Result<Outcome<T>, Failure> {
        let info = self.revert_info()?;
        match info.result {
            Ok(value) => T::deserialize(value).map(Outcome::Success).map_err(|e| {
                Failure::new(
                    FailureKind::Argument,
                    format!(
                        "task `{}`: its recorded result cannot be decoded as `{}` for its revert: {e}",
                        self.atom,
                        short_type_name::<T>()
                    ),
                )
            }),
            Err(failure) => Ok(Outcome::Failure(failure.clone())),
        }
    }

    /// For a revert: the failures of the flow so far, by atom name.
    pub fn failures(&self) -> Result<Failures, Failure> {
        Ok(self.revert_info()?.failures.clone())
    }

    fn revert_info(&self) -> Result<&RevertInfo<'a>, Failure> {
        self.revert.as_ref().ok_or_else(|| {
            Failure::new(
                FailureKind::Argument,
                format!("task `{}`: outcome requested outside a revert", self.atom),
            )
        })
    }
}

fn update_meta(
    atom: &str,
    listeners: Option<&Listeners>,
    key: &str,
    value: impl Serialize,
) -> Result<(), Failure> {
    if crate::listener::RESERVED_META.contains(&key) {
        return Err(Failure::new(
            FailureKind::Argument,
            format!(
                "task `{atom}` cannot set metadata `{key}`: the engine keeps it ({}); choose another key",
                crate::listener::RESERVED_META.join(", ")
            ),
        ));
    }
    let value = serde_json::to_value(value).map_err(|e| {
        Failure::new(
            FailureKind::Argument,
            format!("task `{atom}`: metadata `{key}` cannot be encoded: {e}"),
        )
    })?;
    if let Some(notes) = listeners.and_then(|l| l.notes.as_ref()) {
        notes.push(atom, key, value);
    }
    Ok(())
}

/// `std::any::type_name` without module paths, for messages: `alloc::string::String`
/// becomes `String`, `core::option::Option<u64>` becomes `Option<u64>`.
pub fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for ch in full.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            segment.push(ch);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(ch);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// Encodes a task's successful result for storage. The error names the task and
/// the type that would not encode; a result holding a NaN or an infinity is
/// refused (JSON cannot hold it), naming where it sits in the value.
pub fn encode<T: Serialize>(atom: &str, value: &T) -> Result<Value, Failure> {
    let refused = |why: String| {
        Failure::new(
            FailureKind::Result,
            format!(
                "task `{atom}`: its result of type `{}` {why}",
                short_type_name::<T>()
            ),
        )
    };
    let json =
        serde_json::to_value(value).map_err(|e| refused(format!("cannot be encoded: {e}")))?;
    super::finite::check(value, &json).map_err(|found| refused(found.to_string()))?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_names_drop_module_paths() {
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(short_type_name::<Option<Vec<u64>>>(), "Option<Vec<u64>>");
        assert_eq!(short_type_name::<(u8, String)>(), "(u8, String)");
    }
}
