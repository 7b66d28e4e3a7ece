//! The task registry: tasks found by name (by remote workers, flow factories and
//! flows built from configuration).
//!
//! `#[task]` submits every task to [`inventory`]; [`Registry::from_inventory`]
//! collects them. inventory relies on the platform's static constructors: on
//! platforms where it registers nothing (some embedded and wasm targets, where
//! `__wasm_call_ctors` must be called), use [`Registry::register`] explicitly —
//! the explicit API is always there, and looking up an unknown name is an error,
//! never a silent miss.

use std::collections::btree_map::{BTreeMap, Entry};
use std::sync::{Arc, OnceLock};

use crate::task::{DefRef, TaskDef, TaskSpec};

/// A task submitted to the inventory by `#[task]`.
#[derive(Debug)]
pub struct TaskRegistration {
    def: &'static TaskDef,
}

impl TaskRegistration {
    /// A registration of a static task definition.
    pub const fn new(def: &'static TaskDef) -> TaskRegistration {
        TaskRegistration { def }
    }
}

inventory::collect!(TaskRegistration);

/// An error of the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two tasks share one name.
    #[error("two tasks are named `{name}`: one defined at {first}, the other at {second}; give one of them another name with `#[task(name = \"..\")]`")]
    Duplicate {
        /// The shared name.
        name: String,
        /// Where the first is defined (`file:line`).
        first: String,
        /// Where the second is defined (`file:line`).
        second: String,
    },
    /// No task has this name.
    #[error("no task is registered under the name `{name}`{}", suggestion(.near))]
    Unknown {
        /// The name looked up.
        name: String,
        /// Registered names that look alike.
        near: Vec<String>,
    },
}

pub(crate) fn suggestion(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        format!(" (did you mean {}?)", list.join(" or "))
    }
}

/// Tasks by name.
///
/// ```
/// # use taskwire_runtime::{FnTask, Registry};
/// # use serde_json::json;
/// let mut registry = Registry::new();
/// registry.register(FnTask::new("ping").run(|_| Ok(json!("pong"))).into_def()).unwrap();
/// assert!(registry.get("ping").is_ok());
/// let err = registry.get("pnig").unwrap_err();
/// assert_eq!(err.to_string(), "no task is registered under the name `pnig` (did you mean `ping`?)");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Registry {
    tasks: BTreeMap<String, DefRef>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Every task `#[task]` submitted in this program. Two tasks with one name
    /// are an error naming both definitions.
    pub fn from_inventory() -> Result<Registry, RegistryError> {
        let mut registry = Registry::new();
        for registration in inventory::iter::<TaskRegistration> {
            registry.insert(DefRef::Static(registration.def))?;
        }
        Ok(registry)
    }

    /// The program's registry, collected from the inventory once.
    pub fn global() -> Result<&'static Registry, RegistryError> {
        static GLOBAL: OnceLock<Result<Registry, RegistryError>> = OnceLock::new();
        GLOBAL
            .get_or_init(Registry::from_inventory)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Adds a task; a name already taken is an error.
    pub fn register(&mut self, def: impl Into<RegistryEntry>) -> Result<(), RegistryError> {
        self.insert(def.into().0)
    }

    fn insert(&mut self, def: DefRef) -> Result<(), RegistryError> {
        match self.tasks.entry(def.meta.name.to_string()) {
            Entry::Vacant(slot) => {
                slot.insert(def);
                Ok(())
            }
            Entry::Occupied(slot) => {
                let at = |d: &TaskDef| format!("{}:{}", d.meta.location.file, d.meta.location.line);
                Err(RegistryError::Duplicate {
                    name: slot.key().clone(),
                    first: at(slot.get()),
                    second: at(&def),
                })
            }
        }
    }

    /// The task named `name`.
    pub fn get(&self, name: &str) -> Result<&TaskDef, RegistryError> {
        self.tasks
            .get(name)
            .map(|d| &**d)
            .ok_or_else(|| RegistryError::Unknown {
                name: name.to_owned(),
                near: self.near(name),
            })
    }

    /// The task named `name`, as an atom to add to a flow.
    pub fn spec(&self, name: &str) -> Result<TaskSpec, RegistryError> {
        self.get(name)?;
        Ok(TaskSpec::new(self.tasks[name].clone()))
    }

    /// All tasks, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = &TaskDef> {
        self.tasks.values().map(|d| &**d)
    }

    /// How many tasks are registered.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is registered.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn near(&self, name: &str) -> Vec<String> {
        near_names(name, self.tasks.keys().map(String::as_str))
    }
}

/// Up to three of `names` that look like `name` (same last path segment, or
/// at most two edits away from it).
pub(crate) fn near_names<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let last = |n: &str| n.rsplit("::").next().unwrap_or(n).to_owned();
    let wanted = last(name);
    names
        .filter(|k| {
            let have = last(k);
            have == wanted || edit_distance(&have, &wanted) <= 2
        })
        .take(3)
        .map(str::to_owned)
        .collect()
}

/// Something that can be registered: a static or shared task definition.
#[derive(Debug)]
pub struct RegistryEntry(DefRef);

impl From<&'static TaskDef> for RegistryEntry {
    fn from(def: &'static TaskDef) -> RegistryEntry {
        RegistryEntry(DefRef::Static(def))
    }
}

impl From<Arc<TaskDef>> for RegistryEntry {
    fn from(def: Arc<TaskDef>) -> RegistryEntry {
        RegistryEntry(DefRef::Shared(def))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}
