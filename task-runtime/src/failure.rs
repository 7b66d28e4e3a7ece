//! Failures: what a task's error becomes once the engine holds it.
//!
//! A [`Failure`] keeps two things: a structured description (type name, message,
//! cause chain) that can be persisted and sent between processes, and — while the
//! failure stays in the process that produced it — the original error value, so
//! that callers can downcast back to their own error type.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a task failed: the task's own error, or something the engine detected
/// before the task's function was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The task's function returned an error.
    Task,
    /// The task's function panicked.
    Panic,
    /// An argument could not be decoded, or a resource was missing: the task's
    /// function was never called, so there is nothing for its revert to undo.
    Argument,
    /// The task's result could not be encoded or does not match its `provides`.
    Result,
    /// The task ran past its timeout: an async task was cancelled, a sync
    /// task's late result was discarded.
    Timeout,
    /// A decider on a link in front of the atom panicked: the task's function
    /// was never called, so there is nothing for its revert to undo.
    Decider,
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

/// The structured form of a failure, as persisted and sent between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// What kind of failure this is.
    pub kind: FailureKind,
    /// The Rust type name of the original error (`std::any::type_name`).
    pub type_name: String,
    /// The error's `Display` text.
    pub message: String,
    /// The `Display` texts of the error's `source()` chain, outermost first.
    pub causes: Vec<String>,
}

/// A task's failure: structured, cheap to clone, and downcastable to the original
/// error while in the process that produced it.
///
/// ```
/// use taskwire_runtime::Failure;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("quota exceeded for {0}")]
/// struct QuotaError(String);
///
/// let failure = Failure::from_error(QuotaError("ssd".into()));
/// assert_eq!(failure.to_string(), "quota exceeded for ssd");
/// assert!(failure.type_name().ends_with("QuotaError"));
/// assert_eq!(failure.downcast_ref::<QuotaError>().unwrap().0, "ssd");
/// ```
#[derive(Clone)]
pub struct Failure {
    inner: Arc<Inner>,
}

struct Inner {
    record: FailureRecord,
    original: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Failure {
    /// Wraps a task's error, keeping it for downcasting.
    ///
    /// A `Failure` passed in is returned as it is, not wrapped a second time.
    pub fn from_error<E>(error: E) -> Failure
    where
        E: StdError + Send + Sync + 'static,
    {
        Failure::from_boxed(
            FailureKind::Task,
            std::any::type_name::<E>(),
            Box::new(error),
        )
    }

    /// Wraps a boxed error of the given kind.
    pub fn from_boxed(
        kind: FailureKind,
        type_name: &str,
        error: Box<dyn StdError + Send + Sync + 'static>,
    ) -> Failure {
        let error = match error.downcast::<Failure>() {
            Ok(failure) => return *failure,
            Err(error) => error,
        };
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        Failure {
            inner: Arc::new(Inner {
                record: FailureRecord {
                    kind,
                    type_name: type_name.to_owned(),
                    message: error.to_string(),
                    causes,
                },
                original: Some(error),
            }),
        }
    }

    /// A failure with a message and no original error (engine-detected problems).
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure::from_record(FailureRecord {
            kind,
            type_name: "taskwire::Failure".to_owned(),
            message: message.into(),
            causes: Vec::new(),
        })
    }

    /// Rebuilds a failure from its structured form (read from a logbook or a
    /// remote worker). It cannot be downcast: the original value is gone.
    pub fn from_record(record: FailureRecord) -> Failure {
        Failure {
            inner: Arc::new(Inner {
                record,
                original: None,
            }),
        }
    }

    /// A failure describing a panic payload.
    pub fn from_panic(task: &str, payload: &(dyn std::any::Any + Send)) -> Failure {
        let what = panic_message(payload);
        Failure::new(
            FailureKind::Panic,
            format!("task `{task}` panicked: {what}"),
        )
    }

    /// The structured form of this failure.
    pub fn record(&self) -> &FailureRecord {
        &self.inner.record
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> FailureKind {
        self.inner.record.kind
    }

    /// The Rust type name of the original error.
    pub fn type_name(&self) -> &str {
        &self.inner.record.type_name
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.inner.record.message
    }

    /// The messages of the error's causes, outermost first.
    pub fn causes(&self) -> &[String] {
        &self.inner.record.causes
    }

    /// The original error, if it is of type `E` and this failure was produced in
    /// this process. For an `anyhow::Error` (feature `anyhow`), as
    /// `anyhow::Error::downcast_ref` finds it: the error it was made from,
    /// or a context it was given.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let original = self.inner.original.as_deref()?;
        #[cfg(feature = "anyhow")]
        if let Some(anyhow) = original.downcast_ref::<Anyhow>() {
            return anyhow.0.chain().find_map(|e| e.downcast_ref::<E>());
        }
        original.downcast_ref::<E>()
    }

    /// Whether the original error is of type `E`.
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.downcast_ref::<E>().is_some()
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("kind", &self.inner.record.kind)
            .field("type_name", &self.inner.record.type_name)
            .field("message", &self.inner.record.message)
            .field("causes", &self.inner.record.causes)
            .finish()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.record.message)
    }
}

impl StdError for Failure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let original = self.inner.original.as_ref()?;
        original.source()
    }
}

impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        self.inner.record == other.inner.record
    }
}

impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.record.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Failure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Failure, D::Error> {
        FailureRecord::deserialize(deserializer).map(Failure::from_record)
    }
}

/// The failures of a flow so far, by atom name, as handed to reverts.
///
/// Cheap to clone; ordered by atom name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failures {
    map: Arc<BTreeMap<String, Failure>>,
}

impl Failures {
    /// Failures from (atom name, failure) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Failure)>) -> Failures {
        Failures {
            map: Arc::new(pairs.into_iter().collect()),
        }
    }

    /// The failure of the named atom.
    pub fn get(&self, atom: &str) -> Option<&Failure> {
        self.map.get(atom)
    }

    /// How many atoms failed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no atom failed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The failures, by atom name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// An `anyhow::Error` kept as a failure's original error: its message is
/// the outermost (a context, if it has one), its causes the chain under it;
/// [`Failure::downcast_ref`] looks through the chain, as anyhow does.
#[cfg(feature = "anyhow")]
#[derive(Debug)]
pub(crate) struct Anyhow(pub(crate) anyhow::Error);

#[cfg(feature = "anyhow")]
impl std::fmt::Display for Anyhow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(feature = "anyhow")]
impl StdError for Anyhow {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}
