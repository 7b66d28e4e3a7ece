//! Static description of a task: what it requires, provides and reverts.

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

/// One parameter of a task's function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name: the value's name for required and optional ones.
    pub name: Text,
    /// The parameter's type as written, for messages.
    pub ty: Text,
    /// How it is filled.
    pub kind: ParamKind,
}

impl Param {
    /// A parameter description.
    pub const fn new(name: &'static str, ty: &'static str, kind: ParamKind) -> Param {
        Param {
            name: Cow::Borrowed(name),
            ty: Cow::Borrowed(ty),
            kind,
        }
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
