//! The crates' modules form no cycle: no module uses one that uses it back, directly or
//! through others. Each top-level module (a file `src/X.rs` or a folder `src/X/`) is a node; a
//! `crate::Y` anywhere in its code (comments aside) is an edge to `Y`. A cycle would mean two
//! concepts that cannot be understood, tested or moved apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `code` without its comments: `//` to the end of the line and `/* */` blocks, but not inside
/// string or character literals (a line holding `"s3://..."` is code to its end).
fn without_comments(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '"' => {
                // A string literal, kept whole (escapes skipped over).
                out.push(c);
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        out.push(chars[i]);
                        i += 1;
                    }
                    if let Some(&ch) = chars.get(i) {
                        out.push(ch);
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            '\'' if chars.get(i + 2) == Some(&'\'') || next == Some('\\') => {
                // A character literal such as '"' or '\n' (a lifetime has no closing quote).
                let end = (i + 1..chars.len().min(i + 12))
                    .find(|&k| k > i + 1 && chars[k] == '\'')
                    .unwrap_or(i);
                i = end + 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The top-level names of `crate::NAME` paths and `crate::{A, B::C, ...}` groups in `code`,
/// outside comments.
fn references(code: &str) -> BTreeSet<String> {
    let code = without_comments(code);
    let name_of = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The items of the group at its top level, each up to its first `::`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(name_of(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || !item.contains("::") {
                    item.push(c);
                }
            }
            found.insert(name_of(&item));
        } else {
            found.insert(name_of(rest));
        }
    }
    found.remove("");
    found
}

/// The module graph of the crate whose sources are in `crate_dir/src`.
fn module_graph(crate_dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let code = std::fs::read_to_string(&file).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(references(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

/// A cycle reachable from `node`, as the path that closes it.
fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

/// The first cycle of `graph`, as the path that closes it.
fn first_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| find_cycle(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_the_library_uses_a_module_that_uses_it_back() {
    let graph = module_graph("cloudtrail-verify");
    assert!(graph.len() > 10, "the graph was read: {graph:?}");
    assert!(
        graph["verifier"].contains("verify"),
        "edges are found: {graph:?}"
    );
    if let Some(cycle) = first_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
    // Sources sit below the trust core: an outside ObjectSource names only `source` types.
    assert!(
        !graph["source"].contains("trust"),
        "source uses trust: {:?}",
        graph["source"]
    );
}

#[test]
fn no_module_of_the_command_line_uses_a_module_that_uses_it_back() {
    let graph = module_graph("cloudtrail-verify-cli");
    assert!(graph.len() > 5, "the graph was read: {graph:?}");
    assert!(
        graph["cli"].contains("shared_args"),
        "edges are found: {graph:?}"
    );
    if let Some(cycle) = first_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn no_module_of_the_posture_crate_uses_a_module_that_uses_it_back() {
    let graph = module_graph("cloudtrail-posture");
    assert!(graph.len() > 3, "the graph was read: {graph:?}");
    if let Some(cycle) = first_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn references_are_read_from_groups_and_lines_holding_urls() {
    let code = "use crate::{alpha, beta::Thing, gamma::{x, y}};\n\
                let url = \"s3://bucket/key\"; crate::delta::f(); // crate::not_this\n\
                /* crate::nor_this */ let c = '\"'; crate::epsilon::g();";
    let found: Vec<String> = references(code).into_iter().collect();
    assert_eq!(found, ["alpha", "beta", "delta", "epsilon", "gamma"]);
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    let cycle = find_cycle(&graph, "a", &mut Vec::new(), &mut BTreeSet::new());
    assert_eq!(cycle.unwrap(), ["a", "b", "c", "a"]);
}
