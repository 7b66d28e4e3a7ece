//! The usual case, resolved without the checks' tables: a flat flow (atoms
//! only, no retry; links only in a graph flow), or a tree of linear flows
//! without retries or links, which sees what the linear flow of its atoms
//! in order would. Its names resolve by a walk of its atoms: in a linear flow each argument reads the nearest earlier
//! atom that provides its name (most often the atom just before, which is
//! looked at first); in a graph flow, the one other atom that provides it
//! (a data edge); in an unordered flow, no atom. Else it reads the declared
//! input of that name. A graph flow's links name its atoms, found in the
//! sorted table of their names' hashes; when a data edge or a link goes from
//! a later atom to an earlier one, the graph is searched for a cycle.
//!
//! Nothing here reports a problem: a flow with anything [`check`]'s
//! functions would report (a missing value, two atoms of one name, an
//! ambiguity, an unknown argument, outputs that do not fit, an unread input
//! when those are denied, a link end that names no atom, a cycle) is
//! declined, and [`checked`](super::checked) finds and words every error as
//! the flow macro does. So is a flow with an atom that gives two of its
//! outputs one name (rare, and not worth a rule of its own here). So this
//! path only has to agree with the checks on the sources of a flow without
//! problems: the random-flow tests hold both to the same reference, and the
//! tests below hold this path to the checks on flat flows, problems and all.

use std::collections::HashMap;

use petgraph::algo::is_cyclic_directed;
use petgraph::graph::DiGraph;

use super::{check, sort_keys, Resolved, Shape, ShapeNode, UnusedInputs};
#[cfg(test)]
use super::{ArgSource, Slot};
use crate::flow::FlowKind;
use crate::task::{Provides, TaskSpec};

/// The sources of a flat flow's arguments (and the errors of their values'
/// types), with the node and first link of each of its flows as
/// [`checked`](super::checked) gives them; or `None` for a flow that is not
/// flat or has a problem.
pub(super) fn resolve(
    shape: &Shape,
    specs: &[TaskSpec],
    inputs: &[&str],
    unused: UnusedInputs,
) -> Option<(Resolved, Vec<(u32, u32)>)> {
    let kind = shape.kind;
    let shapes = match kind {
        // Linear flows nested in linear flows see what the linear flow of
        // their atoms in order would (each flow passes on what its last
        // provider of a name gives).
        FlowKind::Linear => linear_tree(shape)?,
        FlowKind::Graph | FlowKind::Unordered => {
            let nested = (shape.children.iter()).any(|c| matches!(c, ShapeNode::Flow(_)));
            let has_links = !shape.links.is_empty();
            if nested || shape.retry.is_some() || has_links && kind != FlowKind::Graph {
                return None;
            }
            1
        }
    };
    // In a graph or unordered flow, the provider of each name: one at most
    // (two children that provide one name are an ambiguity).
    let unique = match kind {
        FlowKind::Linear => HashMap::new(),
        FlowKind::Graph | FlowKind::Unordered => match providers(specs) {
            (map, false) => map,
            (_, true) => return None,
        },
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
            let name = spec.reads(arg);
            let found = match (kind, i.checked_sub(1)) {
                (FlowKind::Linear, Some(prev)) => {
                    let before = provided(&specs[prev]).position(|n| n == name);
                    match before {
                        Some(elem) => Some((prev as u32, elem as u32)),
                        None => {
                            let map = nearest.get_or_insert_with(|| providers(&specs[..i]).0);
                            map.get(name).copied()
                        }
                    }
                }
                (FlowKind::Graph, _) => {
                    let other = unique.get(name).filter(|(p, _)| *p as usize != i);
                    if let Some(&(p, _)) = other {
                        // An input of the same name is an ambiguity.
                        decline |= inputs.contains(&name);
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
            add_provider(map, i, spec);
        }
    }
    if unused == UnusedInputs::Deny && used.contains(&false) {
        return None;
    }
    let atom_name = |i: usize| specs[i].atom_name();
    let names = distinct_keys(names, atom_name)?;
    // Each link's ends: the atoms they name.
    let atom = |name: &str| {
        let hash = u64::from(check::hash(name));
        let at = names.partition_point(|k| k >> 32 < hash);
        let run = names[at..].iter().take_while(|k| *k >> 32 == hash);
        run.map(|&k| k as u32)
            .find(|&i| atom_name(i as usize) == name)
    };
    let mut links = Vec::with_capacity(shape.links.len());
    for (from, to) in &shape.links {
        links.push((atom(from)?, atom(to)?));
    }
    r.link_ends = links.iter().map(|&(a, b)| (Some(a), Some(b))).collect();
    // Edges that all go forwards make no cycle; otherwise look for one.
    let edges = (data_edges.iter().map(|&(_, p, c)| (p, c))).chain(links.iter().copied());
    if edges.clone().any(|(a, b)| a >= b) {
        let graph = DiGraph::<(), (), u32>::from_edges(edges);
        if is_cyclic_directed(&graph) {
            return None;
        }
    }
    r.arg_starts.push(r.args.len() as u32);
    data_edges.sort_unstable();
    r.data_edges = data_edges;
    // The flows' nodes and first links: the root's, node 0 and link 0; the
    // nested linear flows' are read by nothing (they take no links).
    Some((r, vec![(0, 0); shapes]))
}

/// How many flows a tree of linear flows holds, itself included; `None` if
/// a flow in it is not linear, or has a retry or links.
fn linear_tree(shape: &Shape) -> Option<usize> {
    if shape.kind != FlowKind::Linear || shape.retry.is_some() || !shape.links.is_empty() {
        return None;
    }
    (shape.children.iter()).try_fold(1, |n, child| match child {
        ShapeNode::Atom(_) => Some(n),
        ShapeNode::Flow(flow) => Some(n + linear_tree(flow)?),
    })
}

/// The names atom `spec` provides.
fn provided(spec: &TaskSpec) -> impl Iterator<Item = &str> {
    spec.provides().names().iter().map(AsRef::as_ref)
}

/// The nearest provider of each name among `specs`, as `(atom, element)`,
/// and whether a name is provided twice.
fn providers(specs: &[TaskSpec]) -> (HashMap<&str, (u32, u32)>, bool) {
    let mut map = HashMap::new();
    let mut twice = false;
    for (i, spec) in specs.iter().enumerate() {
        twice |= add_provider(&mut map, i, spec);
    }
    (map, twice)
}

/// Adds what atom `i` provides to `map`, in place of earlier providers;
/// whether it provides a name `map` held.
fn add_provider<'s>(map: &mut HashMap<&'s str, (u32, u32)>, i: usize, spec: &'s TaskSpec) -> bool {
    let mut twice = false;
    for (elem, name) in provided(spec).enumerate() {
        twice |= map.insert(name, (i as u32, elem as u32)).is_some();
    }
    twice
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
    distinct_keys((0..n).map(|i| name_key(name(i), i)).collect(), name).is_some()
}

/// The [`name_key`]s sorted, if no two names are equal: sorted by hash, the
/// names of one hash compared.
fn distinct_keys<'a>(mut keys: Vec<u64>, name: impl Fn(usize) -> &'a str) -> Option<Vec<u64>> {
    sort_keys(&mut keys);
    let name = |key: &u64| name(*key as u32 as usize);
    let distinct = keys
        .chunk_by(|a, b| a >> 32 == b >> 32)
        .all(|run| (1..run.len()).all(|j| run[..j].iter().all(|k| name(k) != name(&run[j]))));
    distinct.then_some(keys)
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
            ["a", "b", "c", "d", "e", "f", "g", "h"][self.below(8) as usize]
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
        // In a linear flow, now and then a run of its atoms in a nested
        // flow: mostly linear (a tree of linear flows is walked), sometimes
        // not (left to the checks).
        let atoms = 1 + rng.below(6);
        let nest = match (flow.kind(), rng.below(3)) {
            (FlowKind::Linear, 0) => {
                let (a, b) = (rng.below(atoms + 1), rng.below(atoms + 1));
                let sub = match rng.below(5) {
                    0 => Flow::unordered(format!("sub{case}")),
                    _ => Flow::linear(format!("sub{case}")),
                };
                Some((a.min(b), a.max(b), sub))
            }
            _ => None,
        };
        let mut specs = Vec::new();
        for j in 0..atoms {
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
            specs.push(spec);
        }
        match nest {
            Some((a, b, mut sub)) => {
                let mut specs = specs.into_iter();
                for spec in specs.by_ref().take(a as usize) {
                    flow.push(spec);
                }
                for spec in specs.by_ref().take((b - a) as usize) {
                    sub.push(spec);
                }
                flow.push(sub);
                for spec in specs {
                    flow.push(spec);
                }
            }
            None => {
                for spec in specs {
                    flow.push(spec);
                }
            }
        }
        // Links between children (or to a name no child has), mostly in
        // graph flows (elsewhere they are a mistake).
        let graph = flow.kind() == FlowKind::Graph;
        let children: Vec<String> = flow.children().map(|c| c.name().to_owned()).collect();
        let links = match graph {
            true => rng.below(4),
            false => (rng.below(8) == 0) as u64,
        };
        for _ in 0..links {
            // Mostly from an earlier child to a later one; now and then
            // backwards (a cycle, maybe) or to a name no child has.
            // (A link from a child to itself, now and then: a cycle.)
            let n = children.len() as u64;
            let a = rng.below(n) as usize;
            let b = match rng.below(12) {
                0 => a,
                _ => (a + 1 + rng.below(n.max(2) - 1) as usize) % n as usize,
            };
            let (a, b) = match rng.below(4) {
                0 => (a.max(b), a.min(b)),
                _ => (a.min(b), a.max(b)),
            };
            let to = match rng.below(20) {
                0 => "nothing".to_owned(),
                _ => children[b].clone(),
            };
            flow = flow.link(children[a].clone(), to);
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
        let (mut resolved, mut declined) = (0, 0);
        // Resolved graphs: with links, and with an edge from a later atom
        // to an earlier one (searched for cycles).
        let (mut linked, mut backward) = (0, 0);
        // Resolved trees of linear flows.
        let mut nested = 0;
        for case in 0..40_000 {
            let flow = random_flat(&mut rng, case);
            let Flow { shape, atoms } = flow.clone();
            // Inputs mostly among the names no atom provides (in a graph
            // flow, an input and an atom of one name are an ambiguity).
            let given = |n: &str| atoms.iter().any(|a| provided(a).any(|p| p == n));
            let inputs: Vec<&str> = ["a", "b", "c", "x", "e", "f", "g", "h"]
                .into_iter()
                .filter(|n| rng.below(6) < if given(n) { 1 } else { 4 })
                .collect();
            let unused = match rng.below(3) {
                0 => UnusedInputs::Deny,
                _ => UnusedInputs::Allow,
            };
            let flat = resolve(&shape, &atoms, &inputs, unused);
            let (checked, _) =
                super::super::checked(&shape, &atoms, &inputs, unused).expect("within the limits");
            let at = format!("case {case}, inputs {inputs:?}, {unused:?}: {shape:#?} {atoms:#?}");
            match flat {
                Some((flat, bodies)) => {
                    resolved += 1;
                    nested += (bodies.len() > 1) as u32;
                    linked += !shape.links.is_empty() as u32;
                    let edges = (flat.data_edges.iter().map(|&(_, a, b)| (Some(a), Some(b))))
                        .chain(flat.link_ends.iter().copied());
                    backward += edges.clone().any(|(a, b)| a >= b) as u32;
                    assert_eq!(flat.data_edges, checked.data_edges, "{at}");
                    assert_eq!(flat.link_ends, checked.link_ends, "{at}");
                    assert_eq!(words(&flat.errors), words(&checked.errors), "{at}");
                    assert_eq!(flat.arg_starts, checked.arg_starts, "{at}");
                    assert_eq!(flat.args, checked.args, "{at}");
                    assert_eq!(flat.injected, checked.injected, "{at}");
                }
                None => {
                    // Only a flow that does not compile (a problem the
                    // checks report, a cycle, a bad link), or with two
                    // outputs of one name.
                    declined += 1;
                    let twice =
                        (atoms.iter()).any(|a| !distinct_in(&provided(a).collect::<Vec<_>>()));
                    // (Or one that nests a flow the walk does not take.)
                    let unordered = (shape.children.iter())
                        .any(|c| matches!(c, ShapeNode::Flow(f) if f.kind != FlowKind::Linear));
                    let fails = super::super::compile(flow, &inputs, unused).is_err();
                    assert!(twice || unordered || fails, "declined, {at}");
                }
            }
        }
        assert!(
            resolved > 1_000 && linked > 100 && backward > 40 && nested > 100 && declined > 1_000,
            "{resolved} resolved ({linked} with links, {backward} with an edge backwards, \
             {nested} nested), {declined} declined"
        );
    }

    #[test]
    fn chains_fan_outs_acyclic_graphs_and_linear_trees_are_walked() {
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
        let (flat, _) = resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).expect("flat");
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
        let (flat, _) = resolve(&shape, &atoms, &[], UnusedInputs::Deny).expect("flat");
        let root = ArgSource::Atom(Slot {
            atom: 0,
            elem: None,
        });
        assert_eq!(flat.args, vec![root; 10]);
        assert_eq!(
            flat.data_edges,
            (1..=10).map(|i| (0, 0, i)).collect::<Vec<_>>()
        );
        // A graph written backwards (the reader first) resolves too, once
        // searched for a cycle.
        let mut backwards = Flow::graph("backwards");
        backwards.push(step(1)).push(step(0));
        let Flow { shape, atoms } = backwards.clone();
        let (flat, _) = resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).expect("acyclic");
        assert_eq!(flat.data_edges, vec![(0, 1, 0)]);
        // A chain nested in a linear flow: the atom after it reads its last.
        let mut nested = Flow::linear("nested");
        nested.push(chain.clone()).push(step(100));
        let Flow { shape, atoms } = nested;
        let (flat, bodies) = resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).expect("linear");
        let last = Slot {
            atom: 99,
            elem: None,
        };
        assert_eq!(flat.args[100], ArgSource::Atom(last));
        assert_eq!(bodies.len(), 2);
        // A link back makes a cycle, and an unordered flow in a linear one
        // is not flat: both are left to the checks, which find the cycle.
        let cyclic = backwards.link("t1", "t0");
        let mut around = Flow::unordered("around");
        around.push(step(100));
        let mut mixed = Flow::linear("mixed");
        mixed.push(chain).push(around);
        for (flow, fails) in [(cyclic, true), (mixed, false)] {
            let Flow { shape, atoms } = flow.clone();
            assert!(resolve(&shape, &atoms, &["v0"], UnusedInputs::Deny).is_none());
            let compiled = super::super::compile(flow, &["v0"], UnusedInputs::Deny);
            let errors = compiled.err().map(|e| e.to_string());
            assert_eq!(errors.is_some(), fails, "{errors:?}");
            if let Some(errors) = errors {
                assert!(
                    errors.contains("`t1` -> `t0` -> `t1` form a cycle"),
                    "{errors}"
                );
            }
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
