//! `cargo xtask imports`: the modules of each crate import one way — no circles.
//!
//! A module here is a top-level module of a crate's `src/` (a file `x.rs` or a folder
//! `x/` with everything under it). An edge `a → b` is any `crate::b` written in `a` outside
//! a comment. A circle among them fails the check and is printed, shortest first, so the
//! layering in STYLE.md ("config must not know connections; errors and events are the
//! ground floor") is kept by the build rather than by review.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose modules are checked.
const CRATES: &[&str] = &[
    "circuit",
    "health",
    "failover",
    "multidb-client",
    "multidb-testkit",
];

/// Checks every crate; `Err` lists the circles found.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for name in CRATES {
        let graph = graph(&root.join(name).join("src"))?;
        let circles = circles(&graph);
        let modules = graph.len();
        if circles.is_empty() {
            eprintln!("xtask: [imports] {name}: {modules} modules, no import circle");
        }
        for circle in circles {
            problems.push(format!("{name}: {}", circle.join(" -> ")));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "[imports] import circles:\n  {}",
            problems.join("\n  ")
        ))
    }
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph(src: &Path) -> Result<Graph, String> {
    let mut graph = Graph::new();
    for file in rust_files(src)? {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let Some(first) = relative.components().next() else {
            continue;
        };
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(&file)
            .map_err(|e| format!("[imports] cannot read {}: {e}", file.display()))?;
        let edges = graph.entry(module.clone()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let is_module = target
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase());
                if is_module && target != module {
                    edges.insert(target);
                }
            }
        }
    }
    Ok(graph)
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| format!("[imports] cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("[imports] {e}"))?.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}

/// Every elementary circle, each once (rotated to start at its smallest module).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    fn walk(graph: &Graph, path: &mut Vec<String>, found: &mut BTreeSet<Vec<String>>) {
        let Some(last) = path.last().cloned() else {
            return;
        };
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(at) = path.iter().position(|m| m == next) {
                let mut circle = path[at..].to_vec();
                let start = circle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| *m)
                    .map_or(0, |(i, _)| i);
                circle.rotate_left(start);
                found.insert(circle);
            } else if graph.contains_key(next) {
                path.push(next.clone());
                walk(graph, path, found);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for module in graph.keys() {
        walk(graph, &mut vec![module.clone()], &mut found);
    }
    let mut circles: Vec<_> = found.into_iter().collect();
    circles.sort_by_key(Vec::len);
    circles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::new();
        for (a, b) in edges {
            graph
                .entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
            graph.entry((*b).to_owned()).or_default();
        }
        graph
    }

    #[test]
    fn a_layered_graph_has_no_circle() {
        assert!(
            circles(&g(&[
                ("client", "config"),
                ("config", "error"),
                ("client", "error")
            ]))
            .is_empty()
        );
    }

    #[test]
    fn circles_are_found_once_and_shortest_first() {
        let found = circles(&g(&[
            ("a", "b"),
            ("b", "a"),
            ("b", "c"),
            ("c", "d"),
            ("d", "b"),
        ]));
        assert_eq!(found, [vec!["a", "b"], vec!["b", "c", "d"]]);
    }
}
