//! The runtime's top-level modules import one another without cycles, so that
//! the runtime reads bottom-up (see the layers in `src/lib.rs`).
//!
//! The test reads the sources: every `crate::name` path outside comments and
//! test modules is an edge from the file's top-level module to `name`'s
//! (a name the crate root re-exports counts as the module it comes from).
//! A cycle fails the test with the modules in it and the lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;

/// Code without its comments and `#[cfg(test)]` modules.
fn code_of(source: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let all: Vec<&str> = source.lines().collect();
    for (n, line) in all.iter().enumerate() {
        let trimmed = line.trim_start();
        let next = all.get(n + 1).map_or("", |l| l.trim_start());
        if trimmed.starts_with("#[cfg(test)]") && next.starts_with("mod ") {
            // The test module runs to the end of the file, by the house style.
            break;
        }
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        lines.push((n + 1, code.to_owned()));
    }
    lines
}

/// The identifiers after `crate::` on a line, including those of a
/// `use crate::{a, b::c}` group that starts on it.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item at the group's own depth.
            let (mut depth, mut item_start) = (0, true);
            for (at, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        let name: String = group[at..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        names.push(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut modules = BTreeSet::new();
    // Names the root re-exports: `pub use module::{A, B}` / `pub use module::A`.
    let mut reexports = BTreeMap::new();
    let code: String = code_of(&lib).into_iter().map(|(_, l)| l + "\n").collect();
    for line in code.lines() {
        let line = line.trim();
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|m| m.strip_suffix(';'))
        {
            modules.insert(m.to_owned());
        }
    }
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .rsplit("pub use ")
            .next()
            .filter(|_| statement.contains("pub use "))
        else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split_whitespace().last().unwrap_or("").to_owned();
            if !name.is_empty() {
                reexports.insert(name, module.trim().to_owned());
            }
        }
    }
    assert!(
        modules.len() > 10 && modules.contains("engine") && modules.contains("storage"),
        "the module list was not read from lib.rs: {modules:?}"
    );

    let mut graph = DiGraph::<String, ()>::new();
    let nodes: BTreeMap<String, _> = modules
        .iter()
        .map(|m| (m.clone(), graph.add_node(m.clone())))
        .collect();
    // (from, to) -> where.
    let mut why: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !modules.contains(&top) {
            continue; // lib.rs
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_of(&source) {
            for name in crate_paths(&line) {
                let target = reexports.get(&name).cloned().unwrap_or(name);
                if target != top && modules.contains(&target) {
                    why.entry((top.clone(), target))
                        .or_default()
                        .push(format!("{}:{n}", relative.display()));
                }
            }
        }
    }
    for (from, to) in why.keys() {
        graph.update_edge(nodes[from], nodes[to], ());
    }
    let cycles: Vec<Vec<String>> = tarjan_scc(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.into_iter().map(|n| graph[n].clone()).collect())
        .collect();
    if !cycles.is_empty() {
        let mut report = String::new();
        for cycle in &cycles {
            report += &format!("\nthese modules import each other: {cycle:?}\n");
            for ((from, to), places) in &why {
                if cycle.contains(from) && cycle.contains(to) {
                    report += &format!("  {from} -> {to}: {}\n", places.join(", "));
                }
            }
        }
        panic!("import cycles between the runtime's top-level modules:{report}");
    }
    // The ground floor imports nothing else of the runtime.
    let state_deps: Vec<_> = why.keys().filter(|(from, _)| from == "state").collect();
    assert!(
        state_deps.is_empty(),
        "the state model must import nothing: {state_deps:?}"
    );
}

#[test]
fn the_path_reader_sees_groups_and_plain_paths() {
    assert_eq!(
        crate_paths("use crate::{engine::Engine, flow, storage::{Hooks, Storage}};"),
        ["engine", "flow", "storage"]
    );
    assert_eq!(
        crate_paths("let x = crate::persistence::open(url)?; crate::engine::run()"),
        ["persistence", "engine"]
    );
    let code = code_of("use crate::a; // crate::b\n#[cfg(test)]\nmod tests { use crate::c; }");
    let paths: Vec<String> = code.iter().flat_map(|(_, l)| crate_paths(l)).collect();
    assert_eq!(paths, ["a"]);
}
