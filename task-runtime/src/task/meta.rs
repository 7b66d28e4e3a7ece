//! Static description of a task: what it requires, provides and reverts.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;

/// A name or text held either statically (from `#[task]`) or owned (tasks built
/// at run time).
pub type Text = Cow<'static, str>;

/// A task's version, `major.minor`. A different major version is incompatible
/// (a logbook written by it is not resumed without an upgrade policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible changes.
    pub major: u32,
    /// Compatible changes.
    pub minor: u32,
}

impl Version {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    /// Parses `"major.minor"` (both decimal numbers).
    ///
    /// ```
    /// # use taskwire_runtime::Version;
    /// assert_eq!(Version::parse("1.2"), Some(Version::new(1, 2)));
    /// assert_eq!(Version::parse("1"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(Version::new(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl Default for Version {
    fn default() -> Version {
        Version::new(1, 0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How the engine fills one parameter of a task's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A value required by name; the flow must provide it.
    Required,
    /// An `Option<T>` value: `None` when nothing provides it.
    Optional,
    /// A resource handed over by type (`Res<T>`); never a requirement.
    Resource,
    /// The task's context (`TaskCtx`); never a requirement.
    Context,
}

/// The Rust type of a value a task takes or provides, as `#[task]` records
/// it: the type as the user wrote it (for messages), and its identity (for
/// [`Flow::compile`](crate::Flow::compile)'s type checks of flows built at
/// run time, and for the engine's check of resources).
///
/// Tasks built at run time ([`FnTask`](crate::FnTask)) take and give JSON
/// values, of no Rust type: they have none, and are not checked.
///
/// ```
/// # use taskwire_runtime::task::ValueType;
/// const SIZE: ValueType = ValueType::of::<u64>("u64");
/// assert!(SIZE.is(&ValueType::of::<u64>("Size")));
/// assert!(!SIZE.is(&ValueType::of::<u32>("u32")));
/// assert_eq!((SIZE.written(), SIZE.type_name()), ("u64", "u64"));
/// ```
#[derive(Clone, Copy)]
pub struct ValueType {
    written: &'static str,
    name: fn() -> &'static str,
    id: fn() -> TypeId,
}

impl ValueType {
    /// The type `T`, written `written` in the task's signature.
    pub const fn of<T: ?Sized + 'static>(written: &'static str) -> ValueType {
        ValueType {
            written,
            name: std::any::type_name::<T>,
            id: TypeId::of::<T>,
        }
    }

    /// The type as written in the task's signature (`u64`, `Reservation`,
    /// `Option<String>`): what messages show.
    pub fn written(&self) -> &'static str {
        self.written
    }

    /// The type's full name ([`std::any::type_name`]).
    pub fn type_name(&self) -> &'static str {
        (self.name)()
    }

    /// The type's identity.
    pub fn type_id(&self) -> TypeId {
        (self.id)()
    }

    /// Whether both are the same type (however each was written).
    pub fn is(&self, other: &ValueType) -> bool {
        // The same function most often (one instance per type in a crate):
        // no call then.
        std::ptr::fn_addr_eq(self.id, other.id) || self.type_id() == other.type_id()
    }
}

impl PartialEq for ValueType {
    fn eq(&self, other: &ValueType) -> bool {
        self.is(other) && self.written == other.written
    }
}

impl Eq for ValueType {}

impl fmt::Debug for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueType")
            .field("written", &self.written)
            .field("type_name", &self.type_name())
            .finish()
    }
}

/// One parameter of a task's function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name: the value's name for required and optional ones.
    pub name: Text,
    /// The parameter's type as written, for messages.
    pub ty: Text,
    /// How it is filled.
    pub kind: ParamKind,
    /// The types of the values it takes, when known (`#[task]` records them;
    /// empty for tasks built at run time): for a required value its type;
    /// for an `Option<T>`, `Option<T>` then `T` (a provider of either fits);
    /// for a `Res<T>`, `T` (the resource's type); none for the context or a
    /// type with a lifetime other than `'static`.
    pub types: &'static [ValueType],
}

impl Param {
    /// A parameter description, of no known type.
    pub const fn new(name: &'static str, ty: &'static str, kind: ParamKind) -> Param {
        Param::typed(name, ty, kind, &[])
    }

    /// A parameter description with the types it takes (see
    /// [`Param::types`]).
    pub const fn typed(
        name: &'static str,
        ty: &'static str,
        kind: ParamKind,
        types: &'static [ValueType],
    ) -> Param {
        Param {
            name: Cow::Borrowed(name),
            ty: Cow::Borrowed(ty),
            kind,
            types,
        }
    }

    /// Whether a value of type `ty` fits this parameter; `None` when the
    /// parameter's type is not known.
    pub fn accepts(&self, ty: &ValueType) -> Option<bool> {
        if self.types.is_empty() {
            return None;
        }
        Some(self.types.iter().any(|t| t.is(ty)))
    }

    /// Whether this parameter is a value (required or optional) as opposed to a
    /// resource or the context.
    pub fn is_value(&self) -> bool {
        matches!(self.kind, ParamKind::Required | ParamKind::Optional)
    }
}

/// What a task provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provides {
    /// Nothing: the result is kept under the atom's name, for its own revert only.
    Nothing,
    /// The whole result under one name.
    One(Text),
    /// A tuple result, element by element.
    Tuple(Cow<'static, [Text]>),
}

impl Provides {
    /// The provided names, in order.
    pub fn names(&self) -> &[Text] {
        match self {
            Provides::Nothing => &[],
            Provides::One(name) => std::slice::from_ref(name),
            Provides::Tuple(names) => names,
        }
    }
}

/// Where a task was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `module_path!()` of the definition.
    pub module: Text,
    /// `file!()` of the definition.
    pub file: Text,
    /// `line!()` of the definition.
    pub line: u32,
}

/// A task's static metadata: everything but its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskMeta {
    /// Registry name; by default `module::fn`.
    pub name: Text,
    /// Version.
    pub version: Version,
    /// The function's parameters, in order.
    pub params: Cow<'static, [Param]>,
    /// Names the task reads through its context (`requires = [..]`), beyond its
    /// parameters.
    pub extra_requires: Cow<'static, [Text]>,
    /// What the task provides.
    pub provides: Provides,
    /// The types of the provided values, in the order of
    /// [`Provides::names`], when known (`#[task]` records them; empty for
    /// tasks built at run time).
    pub output_types: &'static [ValueType],
    /// The revert function's path as written, if the task has one.
    pub revert: Option<Text>,
    /// Whether the function is `async`.
    pub is_async: bool,
    /// The default priority of the task's plans in a plan map
    /// ([`PlanMap`](crate::planmap::PlanMap)), 1 (runs first) to 99 (runs last):
    /// `#[task(priority = N)]`.
    pub priority: Option<u8>,
    /// Where the task was defined.
    pub location: Location,
}

impl TaskMeta {
    /// The names this task requires (must be provided), in order: required
    /// parameters, then `extra_requires`.
    pub fn requires(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|p| p.kind == ParamKind::Required)
            .map(|p| p.name.as_ref())
            .chain(self.extra_requires.iter().map(|n| n.as_ref()))
    }

    /// The names this task reads if present (`Option<T>` parameters).
    pub fn optional(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|p| p.kind == ParamKind::Optional)
            .map(|p| p.name.as_ref())
    }

    /// The type of provided value `elem` (in the order of
    /// [`Provides::names`]), if known.
    pub fn output_type(&self, elem: usize) -> Option<&ValueType> {
        self.output_types.get(elem)
    }

    /// The names of all value arguments the engine must bind, in the order the
    /// task's code reads them: value parameters, then `extra_requires`.
    pub fn value_args(&self) -> impl Iterator<Item = (&str, bool)> {
        self.params
            .iter()
            .filter(|p| p.is_value())
            .map(|p| (p.name.as_ref(), p.kind == ParamKind::Optional))
            .chain(self.extra_requires.iter().map(|n| (n.as_ref(), false)))
    }
}
