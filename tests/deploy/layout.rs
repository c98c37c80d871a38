//! The store's modules form layers: none imports another that (directly or not) imports it, so a
//! stored thing's module can be read and changed without the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module of `shared/src/store/` and the sibling modules it names with `super::`.
fn store_imports() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src/store");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("shared/src/store") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name != "mod" {
            modules.insert(name, std::fs::read_to_string(&path).expect("source"));
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, source)| {
            let mut imports = BTreeSet::new();
            for (at, _) in source.match_indices("super::") {
                // `super::x::…`, `super::x;`, or a `super::{x, y::…}` group.
                let rest = &source[at + "super::".len()..];
                let named = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or(""),
                    None => rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                };
                for word in named.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    if names.contains(word) && word != name {
                        imports.insert(word.to_owned());
                    }
                }
            }
            (name.clone(), imports)
        })
        .collect()
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn the_store_modules_import_no_cycle() {
    let graph = store_imports();
    assert!(graph.len() >= 10, "{graph:?}");
    assert!(
        graph["leads"].contains("summary") && graph["write"].contains("ledger"),
        "the import reader misses imports: {graph:?}"
    );
    assert_eq!(cycle(&graph), None, "{graph:?}");
}

#[test]
fn the_cycle_finder_finds_one() {
    let mut graph = store_imports();
    graph
        .get_mut("ledger")
        .expect("ledger")
        .insert("write".to_owned());
    assert!(cycle(&graph).is_some());
}
