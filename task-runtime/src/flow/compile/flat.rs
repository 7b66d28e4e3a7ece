//! The usual case, resolved without the checks' tables: a flat flow (atoms
//! only, no retry, no links). Its names resolve by a walk of its atoms: in a
//! linear flow each argument reads the nearest earlier atom that provides
//! its name (most often the atom just before, which is looked at first); in
//! a graph flow, the one other atom that provides it, which must come
//! earlier in the flow (a graph whose data flow backwards is left to the
//! checks, which look for cycles); in an unordered flow, no atom. Else it
//! reads the declared input of that name.
//!
//! Nothing here reports a problem: a flow with anything [`check`]'s
//! functions would report (a missing value, two atoms of one name, an
//! ambiguity, an unknown argument, outputs that do not fit, an unread input
//! when those are denied) is declined, and [`checked`](super::checked) finds
//! and words every error as the flow macro does. So is a flow with an atom
//! that gives two of its outputs one name (rare, and not worth a rule of its
//! own here). So this path only has to agree with the checks on the sources
//! of a flow without problems: the random-flow tests hold both to the same
//! reference, and the tests below hold this path to the checks on flat
//! flows, problems and all.

use std::collections::HashMap;

use super::{check, sort_keys, Resolved, Shape, ShapeNode, UnusedInputs};
#[cfg(test)]
use super::{ArgSource, Slot};
use crate::flow::FlowKind;
use crate::task::{Provides, TaskSpec};

/// The sources of a flat flow's arguments (and the errors of their values'
/// types), or `None` for a flow that is not flat or has a problem.
pub(super) fn resolve(
    shape: &Shape,
    specs: &[TaskSpec],
    inputs: &[&str],
    unused: UnusedInputs,
) -> Option<Resolved> {
    let kind = shape.kind;
    let nested = shape
        .children
        .iter()
        .any(|c| matches!(c, ShapeNode::Flow(_)));
    if nested || shape.retry.is_some() || !shape.links.is_empty() {
        return None;
    }
    // In a graph or unordered flow, the provider of each name: one at most
    // (two children that provide one name are an ambiguity).
    let unique = match kind {
        FlowKind::Linear => HashMap::new(),
        FlowKind::Graph | FlowKind::Unordered => unique_providers(specs)?,
    };
    let flow: &str = &shape.name;
    let mut used = vec![false; inputs.len()];
    let mut r = Resolved::new(specs.len(), specs.len());
    // In a linear flow, the nearest earlier provider of each name: made at
    // the first name the atom before does not provide (a chain never
    // needs it), then kept up to date.
    let mut nearest: Option<HashMap<&str, (u32, u32)>> = None;
    let mut data_edges = Vec::new();
    // The atoms' names, keyed for `distinct` in the same pass (a large
    // flow's atoms are read once).
    let mut names = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        names.push(name_key(spec.atom_name(), i));
        let outputs = spec.provides().names();
        if outputs.len() > check::MAX_OUTPUTS || !fits(spec) || !known_args(spec) {
            return None;
        }
        if outputs.len() > 1 && !distinct(outputs.len(), |k| &outputs[k]) {
            return None;
        }
        let mut decline = false;
        let source = |_, arg: &str, optional| {
            let name = spec
                .rebind
                .iter()
                .rev()
                .find(|(a, _)| a == arg)
                .map_or(arg, |(_, from)| from.as_ref());
            let found = match (kind, i.checked_sub(1)) {
                (FlowKind::Linear, Some(prev)) => {
                    let before = provided(&specs[prev]).position(|n| n == name);
                    match before {
                        Some(elem) => Some((prev as u32, elem as u32)),
                        None => {
                            let map = nearest.get_or_insert_with(|| providers(&specs[..i]));
                            map.get(name).copied()
                        }
                    }
                }
                (FlowKind::Graph, _) => {
                    let other = unique.get(name).filter(|(p, _)| *p as usize != i);
                    if let Some(&(p, _)) = other {
                        // A provider later in the flow (a cycle, maybe), or
                        // an input of the same name (an ambiguity): left to
                        // the checks.
                        decline |= p as usize > i || inputs.contains(&name);
                        data_edges.push((0, p, i as u32));
                    }
                    other.copied()
                }
                _ => None,
            };
            if let Some((atom, elem)) = found {
                return check::Source::Output { atom, elem };
            }
            match inputs.iter().position(|n| *n == name) {
                Some(input) => {
                    used[input] = true;
                    check::Source::Input(input as u32)
                }
                None if optional => check::Source::Skipped,
                None => {
                    decline = true;
                    check::Source::Missing
                }
            }
        };
        r.bind(flow, specs, i, source, |_| {});
        if decline {
            return None;
        }
        if let Some(map) = &mut nearest {
            for (elem, name) in provided(spec).enumerate() {
                map.insert(name, (i as u32, elem as u32));
            }
        }
    }
    if unused == UnusedInputs::Deny && used.contains(&false) {
        return None;
    }
    if !distinct_keys(names, |i| specs[i].atom_name()) {
        return None;
    }
    r.arg_starts.push(r.args.len() as u32);
    data_edges.sort_unstable();
    r.data_edges = data_edges;
    Some(r)
}

/// The names atom `spec` provides.
fn provided(spec: &TaskSpec) -> impl Iterator<Item = &str> {
    spec.provides().names().iter().map(AsRef::as_ref)
}

/// The nearest provider of each name among `specs`, as `(atom, element)`.
fn providers(specs: &[TaskSpec]) -> HashMap<&str, (u32, u32)> {
    let mut map = HashMap::new();
    for (i, spec) in specs.iter().enumerate() {
        for (elem, name) in provided(spec).enumerate() {
            map.insert(name, (i as u32, elem as u32));
        }
    }
    map
}

/// The provider of each name among `specs`, as `(atom, element)`, or
/// `None` if two provide one.
fn unique_providers(specs: &[TaskSpec]) -> Option<HashMap<&str, (u32, u32)>> {
    let mut map = HashMap::new();
    for (i, spec) in specs.iter().enumerate() {
        for (elem, name) in provided(spec).enumerate() {
            if map.insert(name, (i as u32, elem as u32)).is_some() {
                return None;
            }
        }
    }
    Some(map)
}

/// Whether the names the atom gives to the task's outputs fit them
/// (`provides_as` for a task of one value, `provides_each_as` with as many
/// names as its tuple has).
fn fits(spec: &TaskSpec) -> bool {
    let task = &spec.def.meta.provides;
    match &spec.provides {
        None => true,
        // (The builder never makes it: left to the checks.)
        Some(Provides::Nothing) => false,
        Some(Provides::One(_)) => !matches!(task, Provides::Tuple(_)),
        Some(Provides::Tuple(names)) => {
            matches!(task, Provides::Tuple(_)) && names.len() == task.names().len()
        }
    }
}

/// Whether every argument the atom rebinds or injects is one of its task's.
fn known_args(spec: &TaskSpec) -> bool {
    let known = |arg: &str| spec.def.meta.value_args().any(|(n, _)| n == arg);
    spec.rebind.iter().all(|(arg, _)| known(arg))
        && spec.injected().iter().all(|(arg, _)| known(arg))
}

/// Name `name`, the `i`-th, as a key for [`distinct_keys`]: its hash (the
/// checks' own) and `i`.
fn name_key(name: &str, i: usize) -> u64 {
    (u64::from(check::hash(name)) << 32) | i as u64
}

/// Whether no two of the `n` names `name(i)` are equal.
fn distinct<'a>(n: usize, name: impl Fn(usize) -> &'a str) -> bool {
    distinct_keys((0..n).map(|i| name_key(name(i), i)).collect(), name)
}

/// Whether no two names are equal, given their [`name_key`]s: sorted by
/// hash, the names of one hash compared.
fn distinct_keys<'a>(mut keys: Vec<u64>, name: impl Fn(usize) -> &'a str) -> bool {
    sort_keys(&mut keys);
    let name = |key: &u64| name(*key as u32 as usize);
    keys.chunk_by(|a, b| a >> 32 == b >> 32)
        .all(|run| (1..run.len()).all(|j| run[..j].iter().all(|k| name(k) != name(&run[j]))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::flow::{Flow, FlowError};
    use crate::task::FnTask;

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = (self.0)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }

        fn name(&mut self) -> &'static str {
            ["a", "b", "c", "d", "e"][self.below(5) as usize]
        }
    }

    /// A flat flow of a few atoms reading and providing a few names, with
    /// every kind of mistake now and then: two atoms of one name, unknown
    /// arguments rebound or injected, outputs renamed to fit or not, two
    /// outputs of one name.
    fn random_flat(rng: &mut Lcg, case: u32) -> Flow {
        let mut flow = match rng.below(3) {
            0 => Flow::linear(format!("flow{case}")),
            1 => Flow::unordered(format!("flow{case}")),
            _ => Flow::graph(format!("flow{case}")),
        };
        for j in 0..1 + rng.below(6) {
            let name = match rng.below(40) {
                0 => "t0".to_owned(),
                _ => format!("t{j}"),
            };
            let requires: Vec<&str> = (0..rng.below(3)).map(|_| rng.name()).collect();
            let mut task = FnTask::new(name).requires(requires.clone());
            if rng.below(4) == 0 {
                task = task.optional([["x", "y"][rng.below(2) as usize]]);
            }
            let tuple = rng.below(5) == 0;
            task = match rng.below(3) {
                0 => task,
                _ if tuple => task.provides_each([rng.name(), rng.name()]),
                _ => task.provides(rng.name()),
            };
            let mut spec = TaskSpec::from(task.run(|_| Ok(json!(0))));
            let arg = |rng: &mut Lcg| match (rng.below(12), requires.first()) {
                (0, _) | (_, None) => "zz",
                (_, Some(arg)) => arg,
            };
            if rng.below(4) == 0 {
                spec = spec.rebind(arg(rng), rng.name());
            }
            if rng.below(8) == 0 {
                spec = spec.inject(arg(rng), 1);
            }
            spec = match rng.below(8) {
                0 => spec.provides_as(rng.name()),
                1 => spec.provides_each_as([rng.name(), rng.name()]),
                _ => spec,
            };
            flow.push(spec);
        }
        flow
    }

    /// [`distinct`] for names in a list.
    fn distinct_in(names: &[&str]) -> bool {
        distinct(names.len(), |i| names[i])
    }

    fn words(errors: &[FlowError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn flat_flows_resolve_as_the_checks_do_or_are_left_to_them() {
        let mut rng = Lcg(11);
        let (mut resolved, mut declined, mut backward) = (0, 0, 0);
        let mut graphs = 0;
        for case in 0..10_000 {
            let Flow { shape, atoms } = random_flat(&mut rng, case);
            let inputs: Vec<&str> = ["a", "b", "c", "x", "e"]
                .into_iter()
                .filter(|_| rng.below(3) > 0)
                .collect();
            let unused = match rng.below(3) {
                0 => UnusedInputs::Deny,
                _ => UnusedInputs::Allow,
            };
            let flat = resolve(&shape, &atoms, &inputs, unused);
            let (checked, _) =
                super::super::checked(&shape, &atoms, &inputs, unused).expect("within the limits");
            let at = format!("case {case}, inputs {inputs:?}, {unused:?}: {atoms:#?}");
            match flat {
                Some(flat) => {
                    resolved += 1;
                    graphs += (shape.kind == FlowKind::Graph) as u32;
                    assert_eq!(flat.data_edges, checked.data_edges, "{at}");
                    assert_eq!(words(&flat.errors), words(&checked.errors), "{at}");
                    assert_eq!(flat.arg_starts, checked.arg_starts, "{at}");
                    assert_eq!(flat.args, checked.args, "{at}");
                    assert_eq!(flat.injected, checked.injected, "{at}");
                }
                None => {
                    // Only a flow with a problem the checks report, with
                    // two outputs of one name, or a graph whose data flow
                    // backwards.
                    declined += 1;
                    let twice =
                        (atoms.iter()).any(|a| !distinct_in(&provided(a).collect::<Vec<_>>()));
                    let backwards = (0..atoms.len()).any(|i| {
                        let args = &checked.args
                            [checked.arg_starts[i] as usize..checked.arg_starts[i + 1] as usize];
                        args.iter()
                            .any(|a| matches!(a, ArgSource::Atom(s) if s.atom as usize > i))
                    });
                    let graph = shape.kind == FlowKind::Graph;
                    backward += (graph && backwards && checked.errors.is_empty()) as u32;
                    assert!(
                        twice || graph && backwards || !checked.errors.is_empty(),
                        "declined, {at}"
                    );
                }
            }
        }
        assert!(
            resolved > 500 && graphs > 100 && declined > 500 && backward > 10,
            "{resolved} resolved ({graphs} graphs), {declined} declined \
             ({backward} valid graphs whose data flow backwards)"
        );
    }

    #[test]
    fn chains_and_fan_outs_resolve_here_and_nested_flows_do_not() {
        let step = |i: u32| {
            let task = FnTask::new("inc").requires(["v"]).provides("v");
            TaskSpec::from(task.run(|_| Ok(json!(0))))
                .named(format!("t{i}"))
                .rebind("v", format!("v{i}"))
                .provides_as(format!("v{}", i + 1))
        };
        let mut chain = Flow::linear("chain");
        for i in 0..100 {
            chain.push(step(i));
        }
        let Flow { shape, atoms } = chain.clone();
        let flat = resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).expect("flat");
        assert_eq!(flat.args[0], ArgSource::Input(0));
        for i in 1..100 {
            let slot = Slot {
                atom: i - 1,
                elem: None,
            };
            assert_eq!(flat.args[i as usize], ArgSource::Atom(slot));
        }
        assert!(flat.data_edges.is_empty());
        // A fan-out: one root, leaves that read it.
        let mut fan_out = Flow::graph("fan_out");
        fan_out.push(FnTask::new("root").provides("x").run(|_| Ok(json!(1))));
        for i in 0..10 {
            let leaf = FnTask::new(format!("leaf{i}")).requires(["x"]);
            fan_out.push(leaf.run(|_| Ok(json!(null))));
        }
        let Flow { shape, atoms } = fan_out;
        let flat = resolve(&shape, &atoms, &[], UnusedInputs::Deny).expect("flat");
        let root = ArgSource::Atom(Slot {
            atom: 0,
            elem: None,
        });
        assert_eq!(flat.args, vec![root; 10]);
        assert_eq!(
            flat.data_edges,
            (1..=10).map(|i| (0, 0, i)).collect::<Vec<_>>()
        );
        // A graph written backwards (the reader first) is valid, but left to
        // the checks; so is a nested flow.
        let mut backwards = Flow::graph("backwards");
        backwards.push(step(1)).push(step(0));
        let mut nested = Flow::linear("nested");
        nested.push(chain).push(step(100));
        for flow in [backwards, nested] {
            let Flow { shape, atoms } = flow;
            assert!(resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).is_none());
            let (checked, _) = super::super::checked(&shape, &atoms, &["v0"], UnusedInputs::Deny)
                .expect("within the limits");
            assert_eq!(words(&checked.errors), Vec::<String>::new());
        }
    }

    #[test]
    fn names_of_one_hash_are_told_apart() {
        // Two FNV-1a collisions, among many names (sorted by bucket).
        assert_eq!(check::hash("declinate"), check::hash("macallums"));
        assert_eq!(check::hash("altarage"), check::hash("zinke"));
        let mut names: Vec<String> = (0..1_000).map(|i| format!("n{i}")).collect();
        names.extend(["declinate", "altarage", "macallums", "zinke"].map(String::from));
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(distinct_in(&list));
        for twice in ["zinke", "n999", "declinate"] {
            let mut list = list.clone();
            list.insert(500, twice);
            assert!(!distinct_in(&list), "{twice} twice");
        }
    }
}
