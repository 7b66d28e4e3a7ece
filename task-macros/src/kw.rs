//! The option names of `#[task(...)]`, as constants (serde_derive's
//! `symbol.rs`).

use std::fmt;

use syn::Path;

/// An option name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Symbol(pub(crate) &'static str);

/// `crate = path`: where taskwire is, if not at `::taskwire`.
pub(crate) const CRATE: Symbol = Symbol("crate");
/// `name = "registry name"`.
pub(crate) const NAME: Symbol = Symbol("name");
/// `priority = N`: the default priority of the task's plans in a plan map.
pub(crate) const PRIORITY: Symbol = Symbol("priority");
/// `provides = "x"` or `provides = ["a", "b"]`.
pub(crate) const PROVIDES: Symbol = Symbol("provides");
/// `requires = ["a", "b"]`.
pub(crate) const REQUIRES: Symbol = Symbol("requires");
/// `revert_requires = ["a", "b"]`: values only the revert reads.
pub(crate) const REVERT_REQUIRES: Symbol = Symbol("revert_requires");
/// `revert_with = path::to::function`.
pub(crate) const REVERT_WITH: Symbol = Symbol("revert_with");
/// `version = "major.minor"`.
pub(crate) const VERSION: Symbol = Symbol("version");

/// Every option, in the order messages list them.
pub(crate) const TASK_OPTIONS: [Symbol; 8] = [
    CRATE,
    NAME,
    PRIORITY,
    PROVIDES,
    REQUIRES,
    REVERT_REQUIRES,
    REVERT_WITH,
    VERSION,
];

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// "`a`, `b`, `c`".
pub(crate) fn list(symbols: &[Symbol]) -> String {
    let quoted: Vec<String> = symbols.iter().map(|s| format!("`{s}`")).collect();
    quoted.join(", ")
}
