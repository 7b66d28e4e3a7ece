//! The packed indices of the [`Tables`]: what one `u32` holds, as newtypes
//! whose constructors refuse what does not fit.
//!
//! - A [`ProviderEntry`] is an atom's index (24 bits, [`AtomIndex`]) and one
//!   of its outputs (8 bits: a tuple element, [`OutputIndex`], or the value
//!   of a retry). A provider key of [`Tables::providers`] is the hash of the
//!   output's name (high half) and the entry (low half).
//! - A [`SourceCode`] is where a requirement's value comes from
//!   ([`Tables::sources`]): a provider entry, or, with the reserved output
//!   byte `0xff`, a declared input's index (24 bits), "missing" or "skipped".
//!
//! So a flow holds at most [`MAX_ATOMS`] atoms, a task provides at most
//! [`MAX_OUTPUTS`] values, and a flow declares at most [`MAX_INPUTS`]
//! inputs. The checks report a flow past these limits as a mistake of its
//! own ([`Problem::TooManyOutputs`], [`Problem::TooLarge`]) and leave out of
//! the tables what does not fit, so nothing is misread.

use super::*;

/// How many atoms a flow may hold (an atom's index takes 24 bits).
pub const MAX_ATOMS: usize = 1 << 24;

/// How many values a task may provide: a tuple of at most this many
/// elements (an output takes 8 bits, two values of which are reserved).
pub const MAX_OUTPUTS: usize = 254;

/// How many inputs a flow may declare (an input's index takes 24 bits, two
/// values of which are reserved).
pub const MAX_INPUTS: usize = (1 << 24) - 2;

/// A flow-wide limit of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The atoms a flow holds: at most [`MAX_ATOMS`].
    Atoms,
    /// The inputs a flow declares: at most [`MAX_INPUTS`].
    Inputs,
}

impl Limit {
    /// The most a flow may have.
    pub const fn max(self) -> usize {
        match self {
            Limit::Atoms => MAX_ATOMS,
            Limit::Inputs => MAX_INPUTS,
        }
    }
}

/// The flow-wide limits a flow of `atoms` atoms and `inputs` declared inputs
/// is past, as problems: the builder asks before it describes a flow (a flow
/// that large is not worth describing), [`limit_problems`] after.
pub const fn size_problems(atoms: usize, inputs: usize) -> [Option<Problem<'static>>; 2] {
    [
        if atoms > MAX_ATOMS {
            Some(Problem::TooLarge {
                limit: Limit::Atoms,
                count: atoms,
            })
        } else {
            None
        },
        if inputs > MAX_INPUTS {
            Some(Problem::TooLarge {
                limit: Limit::Inputs,
                count: inputs,
            })
        } else {
            None
        },
    ]
}

/// How many values atom `a` provides, if more than [`MAX_OUTPUTS`].
pub(super) const fn too_many_outputs(a: &AtomDesc<'_>) -> Option<usize> {
    match provided_count(a) {
        n if n > MAX_OUTPUTS => Some(n),
        _ => None,
    }
}

/// Whether flow `d` is within the limits of the tables: [`MAX_ATOMS`],
/// [`MAX_INPUTS`], and [`MAX_OUTPUTS`] for each atom. Past them, the checks
/// report only that ([`limit_problems`]): what the tables left out would
/// make other reports wrong.
pub const fn within_limits(d: &FlowDesc<'_>) -> bool {
    if d.atoms.len() > MAX_ATOMS || d.inputs.len() > MAX_INPUTS {
        return false;
    }
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        if too_many_outputs(&d.atoms[i]).is_some() {
            return false;
        }
        i += 1;
    }
    true
}

/// Every limit flow `d` is past: the flow-wide ones, then each atom that
/// provides too many values.
pub const fn limit_problems<'a>(d: &FlowDesc<'a>, r: &mut Report<'_, '_, 'a>) {
    let [atoms, inputs] = size_problems(d.atoms.len(), d.inputs.len());
    if let Some(p) = atoms {
        r.add(d, p);
    }
    if let Some(p) = inputs {
        r.add(d, p);
    }
    let mut i = 0;
    let end = d.atoms.len();
    while i < end {
        if let Some(count) = too_many_outputs(&d.atoms[i]) {
            r.add(
                d,
                Problem::TooManyOutputs {
                    atom: i as u32,
                    count,
                },
            );
        }
        i += 1;
    }
}

/// The output byte of a retry's value.
const RETRY: u32 = 0xfe;
/// The output byte of the codes that are not provider entries.
const CODE: u32 = 0xff;

/// A value too large for the field it is packed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutOfRange {
    /// An atom's index, [`MAX_ATOMS`] or more.
    #[error("atom index {0} is out of range: a flow holds at most {MAX_ATOMS} atoms")]
    Atom(usize),
    /// An output's index, [`MAX_OUTPUTS`] or more.
    #[error("output index {0} is out of range: a task provides at most {MAX_OUTPUTS} values")]
    Output(usize),
    /// A declared input's index, [`MAX_INPUTS`] or more.
    #[error("input index {0} is out of range: a flow declares at most {MAX_INPUTS} inputs")]
    Input(usize),
}

/// An atom's index in a flow, below [`MAX_ATOMS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AtomIndex(u32);

impl AtomIndex {
    /// Atom `i`, if it fits.
    pub const fn new(i: usize) -> Result<AtomIndex, OutOfRange> {
        if i < MAX_ATOMS {
            Ok(AtomIndex(i as u32))
        } else {
            Err(OutOfRange::Atom(i))
        }
    }

    /// The index.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The index of one of a task's outputs (a tuple's element; a single output
/// is element 0), below [`MAX_OUTPUTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutputIndex(u8);

impl OutputIndex {
    /// Output `k`, if it fits.
    pub const fn new(k: usize) -> Result<OutputIndex, OutOfRange> {
        if k < MAX_OUTPUTS {
            Ok(OutputIndex(k as u8))
        } else {
            Err(OutOfRange::Output(k))
        }
    }

    /// The index.
    pub const fn get(self) -> u32 {
        self.0 as u32
    }
}

/// One value an atom provides: its index and the output (or a retry's
/// value), packed as `atom << 8 | output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProviderEntry(u32);

impl ProviderEntry {
    /// Output `elem` of atom `atom`.
    pub const fn output(atom: AtomIndex, elem: OutputIndex) -> ProviderEntry {
        ProviderEntry((atom.0 << 8) | elem.0 as u32)
    }

    /// The value of the retry atom `atom` (a retry provides one value, JSON,
    /// which the type checks leave alone).
    pub const fn retry(atom: AtomIndex) -> ProviderEntry {
        ProviderEntry((atom.0 << 8) | RETRY)
    }

    /// The providing atom.
    pub const fn atom(self) -> u32 {
        self.0 >> 8
    }

    /// The output: a tuple element, 0 for a single output and for a retry's
    /// value.
    pub const fn elem(self) -> u32 {
        match self.0 & 0xff {
            RETRY => 0,
            k => k,
        }
    }

    /// Whether it is a retry's value.
    pub const fn is_retry(self) -> bool {
        self.0 & 0xff == RETRY
    }

    /// The packed value.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The provider key of this entry for a name of hash `hash`.
    pub const fn key(self, hash: u32) -> u64 {
        ((hash as u64) << 32) | self.0 as u64
    }

    /// The entry of provider key `key` (one [`ProviderEntry::key`] made).
    pub const fn of_key(key: u64) -> ProviderEntry {
        ProviderEntry(key as u32)
    }
}

/// Where a requirement's value comes from, packed into one `u32` of
/// [`Tables::sources`]: a [`ProviderEntry`], or (output byte `0xff`) a
/// declared input, "missing" or "skipped". [`SourceCode::decode`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCode(u32);

impl SourceCode {
    /// Nothing visible provides the value.
    pub const MISSING: SourceCode = SourceCode(u32::MAX);
    /// No value is read (injected, optional and absent, or ambiguous).
    pub const SKIPPED: SourceCode = SourceCode(u32::MAX - 0x100);

    /// The declared input with index `i`, if it fits.
    pub const fn input(i: usize) -> Result<SourceCode, OutOfRange> {
        if i < MAX_INPUTS {
            Ok(SourceCode(((i as u32) << 8) | CODE))
        } else {
            Err(OutOfRange::Input(i))
        }
    }

    /// A value an atom provides.
    pub const fn output(entry: ProviderEntry) -> SourceCode {
        SourceCode(entry.0)
    }

    /// A code read from a table ([`SourceCode::raw`] made it).
    pub const fn from_raw(raw: u32) -> SourceCode {
        SourceCode(raw)
    }

    /// The packed value.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Whether nothing visible provides the value.
    pub const fn is_missing(self) -> bool {
        self.0 == Self::MISSING.0
    }

    /// The providing atom's entry, if an atom provides the value.
    pub const fn entry(self) -> Option<ProviderEntry> {
        if self.0 & 0xff == CODE {
            None
        } else {
            Some(ProviderEntry(self.0))
        }
    }

    /// The declared input's index, if an input provides the value.
    pub const fn input_index(self) -> Option<u32> {
        if self.0 & 0xff == CODE && self.0 != Self::MISSING.0 && self.0 != Self::SKIPPED.0 {
            Some(self.0 >> 8)
        } else {
            None
        }
    }

    /// The code as a [`Source`].
    pub const fn decode(self) -> Source {
        if self.0 == Self::MISSING.0 {
            Source::Missing
        } else if self.0 == Self::SKIPPED.0 {
            Source::Skipped
        } else if let Some(i) = self.input_index() {
            Source::Input(i)
        } else {
            let e = ProviderEntry(self.0);
            Source::Output {
                atom: e.atom(),
                elem: e.elem(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_refuse_what_does_not_fit() {
        assert_eq!(
            AtomIndex::new(MAX_ATOMS - 1).map(AtomIndex::get),
            Ok((1 << 24) - 1)
        );
        assert_eq!(AtomIndex::new(MAX_ATOMS), Err(OutOfRange::Atom(1 << 24)));
        assert_eq!(
            AtomIndex::new(usize::MAX),
            Err(OutOfRange::Atom(usize::MAX))
        );
        assert_eq!(OutputIndex::new(253).map(OutputIndex::get), Ok(253));
        assert_eq!(OutputIndex::new(254), Err(OutOfRange::Output(254)));
        assert_eq!(
            OutOfRange::Atom(1 << 24).to_string(),
            "atom index 16777216 is out of range: a flow holds at most 16777216 atoms"
        );
        assert_eq!(
            OutOfRange::Output(254).to_string(),
            "output index 254 is out of range: a task provides at most 254 values"
        );
        assert_eq!(
            OutOfRange::Input(MAX_INPUTS).to_string(),
            "input index 16777214 is out of range: a flow declares at most 16777214 inputs"
        );
        assert_eq!(OutputIndex::new(256), Err(OutOfRange::Output(256)));
        assert!(SourceCode::input(MAX_INPUTS - 1).is_ok());
        assert_eq!(
            SourceCode::input(MAX_INPUTS),
            Err(OutOfRange::Input(MAX_INPUTS))
        );
    }

    #[test]
    fn codes_read_back_what_was_packed() {
        let last = AtomIndex::new(MAX_ATOMS - 1).unwrap();
        let elems = [0, 1, MAX_OUTPUTS - 1];
        for atom in [
            AtomIndex::new(0).unwrap(),
            AtomIndex::new(1 << 23).unwrap(),
            last,
        ] {
            for k in elems {
                let e = ProviderEntry::output(atom, OutputIndex::new(k).unwrap());
                assert_eq!(
                    (e.atom(), e.elem(), e.is_retry()),
                    (atom.get(), k as u32, false)
                );
                assert_eq!(ProviderEntry::of_key(e.key(u32::MAX)), e);
                let s = SourceCode::output(e).decode();
                assert_eq!(
                    s,
                    Source::Output {
                        atom: atom.get(),
                        elem: k as u32
                    }
                );
            }
            let r = ProviderEntry::retry(atom);
            assert_eq!((r.atom(), r.elem(), r.is_retry()), (atom.get(), 0, true));
            let s = SourceCode::output(r).decode();
            assert_eq!(
                s,
                Source::Output {
                    atom: atom.get(),
                    elem: 0
                }
            );
        }
        for i in [0, 1, 1 << 23, MAX_INPUTS - 1] {
            let code = SourceCode::input(i).unwrap();
            assert_eq!(code.decode(), Source::Input(i as u32));
            assert_eq!(code.entry(), None);
        }
        assert_eq!(SourceCode::MISSING.decode(), Source::Missing);
        assert_eq!(SourceCode::SKIPPED.decode(), Source::Skipped);
        assert_eq!(SourceCode::SKIPPED.input_index(), None);
    }
}
