//! The errors a `#[task]` may return: any [`std::error::Error`] (`Send +
//! Sync + 'static`), and the error types Rust code writes that are not one:
//! `String`, `&'static str`, `Box<dyn Error + Send + Sync>` and, with the
//! `anyhow` feature, `anyhow::Error` ([`IntoFailure`]). Each becomes a
//! [`Failure`] that keeps the original error for
//! [`Failure::downcast_ref`] where it has a type of its own (a boxed error,
//! an `anyhow::Error` made from one).
//!
//! The two kinds cannot share one blanket trait (std may one day make
//! `String` an `Error`, so coherence refuses both impls), so `#[task]`
//! picks the conversion at the call site, by method resolution
//! ([`ReturnOf`]).

use std::cell::Cell;
use std::error::Error as StdError;

use crate::failure::{Failure, FailureKind};

/// An error a task may return that is not a [`std::error::Error`]: `String`,
/// `&'static str`, `Box<dyn Error + Send + Sync>`, `anyhow::Error` (feature
/// `anyhow`), or a type of yours that implements it.
///
/// ```
/// use taskwire_runtime::task::IntoFailure;
///
/// let failure = IntoFailure::into_failure(String::from("disk full"));
/// assert_eq!(failure.to_string(), "disk full");
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("no quota left")]
/// struct QuotaError;
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(QuotaError);
/// assert!(boxed.into_failure().downcast_ref::<QuotaError>().is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's error",
    label = "a task's error must implement `std::error::Error + Send + Sync + 'static`",
    note = "or be `String`, `&'static str`, `Box<dyn Error + Send + Sync>` or `anyhow::Error` (taskwire's `anyhow` feature), or implement `taskwire::IntoFailure`"
)]
pub trait IntoFailure {
    /// The failure that stands for this error.
    fn into_failure(self) -> Failure;
}

impl IntoFailure for String {
    fn into_failure(self) -> Failure {
        Failure::from_boxed(FailureKind::Task, "String", self.into())
    }
}

impl IntoFailure for &'static str {
    fn into_failure(self) -> Failure {
        Failure::from_boxed(FailureKind::Task, "&str", self.into())
    }
}

impl IntoFailure for Box<dyn StdError + Send + Sync + 'static> {
    fn into_failure(self) -> Failure {
        Failure::from_boxed(FailureKind::Task, "Box<dyn Error + Send + Sync>", self)
    }
}

#[cfg(feature = "anyhow")]
impl IntoFailure for anyhow::Error {
    fn into_failure(self) -> Failure {
        Failure::from_boxed(
            FailureKind::Task,
            "anyhow::Error",
            Box::new(crate::failure::Anyhow(self)),
        )
    }
}

/// A task function's return on its way to the engine: `#[task]` writes
/// `(&&ReturnOf::new(ret)).to_result()`, which method resolution answers
/// with the first that fits: [`ViaError`] (a `Result` whose error is an
/// `Error`), [`TaskError`] (any other `Result`: its error must be an
/// [`IntoFailure`]), [`ViaValue`] (a plain value, the success). A `Result`
/// is known by its type, not by how the return type is written, so a
/// `Result` under an alias of any name is one. Not public API.
#[doc(hidden)]
pub struct ReturnOf<R>(Cell<Option<R>>);

impl<R> std::fmt::Debug for ReturnOf<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReturnOf")
    }
}

impl<R> ReturnOf<R> {
    #[doc(hidden)]
    pub fn new(ret: R) -> ReturnOf<R> {
        ReturnOf(Cell::new(Some(ret)))
    }

    fn take(&self) -> R {
        self.0.take().expect("a return is taken once")
    }
}

/// See [`ReturnOf`]. Not public API.
#[doc(hidden)]
pub trait ViaError {
    type Ok;
    fn to_result(&self) -> Result<Self::Ok, Failure>;
}

impl<T, E: StdError + Send + Sync + 'static> ViaError for &ReturnOf<Result<T, E>> {
    type Ok = T;
    fn to_result(&self) -> Result<T, Failure> {
        self.take().map_err(Failure::from_error)
    }
}

/// See [`ReturnOf`]. Not public API.
#[doc(hidden)]
pub trait TaskError<E> {
    type Ok;
    fn to_result(&self) -> Result<Self::Ok, Failure>
    where
        E: IntoFailure;
}

impl<T, E> TaskError<E> for &&ReturnOf<Result<T, E>> {
    type Ok = T;
    fn to_result(&self) -> Result<T, Failure>
    where
        E: IntoFailure,
    {
        self.take().map_err(IntoFailure::into_failure)
    }
}

/// See [`ReturnOf`]. Not public API.
#[doc(hidden)]
pub trait ViaValue {
    type Ok;
    fn to_result(&self) -> Result<Self::Ok, Failure>;
}

impl<T> ViaValue for ReturnOf<T> {
    type Ok = T;
    fn to_result(&self) -> Result<T, Failure> {
        Ok(self.take())
    }
}
