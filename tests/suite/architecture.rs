//! The layers of `runtime/src` and the dependency rules of DESIGN §1,
//! checked on the source itself: every `crate::…` path (and `super::…`
//! path to a sibling file) in the code, comments left out.
//!
//! A file belongs to a *part*: `layer::sub` for a file under a layer's
//! sub-folder or sub-file (`engine::worker`, `contract::queue`), else the
//! layer itself (`store`, `executor`). Parts depend down the layer order
//! only (API → application → scheduler service → backends → contracts);
//! no two parts import each other, directly or round a longer loop; no two
//! files of one folder do; and the rules of DESIGN §1 hold between parts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The layers, from the top down: a layer may import only itself and the
/// layers after it.
const LAYERS: [&str; 12] = [
    "cli", "server", "http", "app", "engine", "plugins", "executor", "doors", "backends", "store",
    "contract", "support",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
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

/// A line without its `//` comment (doc comments included); a `//` inside
/// a string literal (`"sqlite://…"`) is not a comment.
fn strip_comment(line: &str) -> &str {
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '/' if !in_string && line[i + 1..].starts_with('/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The code of a file without its comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(strip_comment).collect::<Vec<_>>().join("\n")
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The paths after each `prefix::` in `code`, each cut to its first two
/// segments (`prefix::a::b::c` gives `a::b`, `prefix::{a, b::c}` gives `a`
/// and `b::c`).
fn paths(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let needle = format!("{prefix}::");
    for (at, _) in code.match_indices(&needle) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + needle.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(two_segments(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(two_segments(item.trim()));
        } else {
            found.insert(two_segments(rest));
        }
    }
    found.remove("");
    found
}

/// `a::b::…` as `a::b`; `a` alone (or `a::{…}`, `a::*`) as `a`.
fn two_segments(path: &str) -> String {
    let first = ident(path);
    match path[first.len()..].strip_prefix("::").map(ident) {
        Some(second) if !second.is_empty() => format!("{first}::{second}"),
        _ => first,
    }
}

/// The layers that are folders of parts, and their parts.
fn parts_of_layers() -> BTreeMap<String, BTreeSet<String>> {
    let mut layers = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let layer = path.file_name().unwrap().to_string_lossy().into_owned();
        let parts: BTreeSet<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .filter(|p| p != "mod")
            .collect();
        layers.insert(layer, parts);
    }
    layers
}

/// The part a path inside the crate names (`engine::worker`, `store`).
fn part_of(path: &str, layers: &BTreeMap<String, BTreeSet<String>>, split: &BTreeSet<&str>) -> String {
    let mut segments = path.split("::");
    let layer = segments.next().unwrap_or_default().to_owned();
    match (segments.next(), layers.get(&layer)) {
        (Some(sub), Some(parts)) if split.contains(layer.as_str()) && parts.contains(sub) => {
            format!("{layer}::{sub}")
        }
        _ => layer,
    }
}

/// The layers whose sub-folders and files are parts of their own; the
/// others (`store`, `executor`, `cli`, `server`, `support`) are one part.
const SPLIT: [&str; 7] = ["contract", "backends", "engine", "plugins", "doors", "http", "app"];

/// Part → the parts its files name.
fn part_graph() -> Graph {
    let layers = parts_of_layers();
    let split: BTreeSet<&str> = SPLIT.into();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let segments: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|s| s != "mod")
            .collect();
        if segments == ["lib"] || segments == ["main"] {
            continue;
        }
        let part = part_of(&segments.join("::"), &layers, &split);
        let uses: BTreeSet<String> =
            paths(&code(&file), "crate").iter().map(|p| part_of(p, &layers, &split)).collect();
        let entry = graph.entry(part.clone()).or_default();
        entry.extend(uses.into_iter().filter(|p| *p != part));
    }
    graph
}

/// The layer of a part.
fn layer(part: &str) -> &str {
    part.split("::").next().unwrap()
}

/// Each edge of `graph` that goes up the layer order (or to a layer that
/// is not in it), as `from -> to`.
fn upward(graph: &Graph) -> Vec<String> {
    let rank = |part: &str| LAYERS.iter().position(|l| *l == layer(part));
    let mut wrong = Vec::new();
    for (from, tos) in graph {
        for to in tos {
            match (rank(from), rank(to)) {
                (Some(a), Some(b)) if a <= b => {}
                _ => wrong.push(format!("{from} -> {to}")),
            }
        }
    }
    wrong
}

/// Within each folder: file → the sibling files it names through `super::`
/// (the folder's `mod.rs` is the module itself, not a sibling).
fn sibling_graphs() -> BTreeMap<String, Graph> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
    for file in files {
        let dir = file.parent().unwrap();
        if dir == src() || file.file_name().unwrap() == "mod.rs" {
            continue;
        }
        let siblings: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "mod.rs")
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let module = dir.strip_prefix(src()).unwrap().display().to_string();
        // A sibling is named as `super::file` or `crate::module::file`.
        let code = code(&file);
        let own = format!("crate::{}", module.replace('/', "::"));
        let named = paths(&code, "super").into_iter().chain(paths(&code, &own));
        let uses: BTreeSet<String> =
            named.map(|p| ident(&p)).filter(|m| siblings.contains(m) && *m != name).collect();
        graphs.entry(module).or_default().insert(name, uses);
    }
    graphs
}

/// A loop in `graph`, if there is one, as the path round it.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_folder_is_a_layer_in_the_order() {
    let folders: BTreeSet<String> = parts_of_layers().into_keys().collect();
    let known: BTreeSet<String> = LAYERS.iter().map(|l| l.to_string()).collect();
    let unknown: Vec<_> = folders.difference(&known).collect();
    assert!(unknown.is_empty(), "folders that are no layer of LAYERS: {unknown:?}");
    let loose: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs") && n != "lib.rs" && n != "main.rs")
        .collect();
    assert!(loose.is_empty(), "files outside the layer folders: {loose:?}");
}

/// Over this many lines (before its `#[cfg(test)]` module), a file holds
/// two concerns.
const MAX_LINES: usize = 400;

#[test]
fn no_file_is_over_400_lines_before_its_tests() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let lines = text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).count();
            (lines > MAX_LINES)
                .then(|| format!("{} ({lines} lines)", file.strip_prefix(src()).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn parts_depend_down_the_layers_without_cycles() {
    let graph = part_graph();
    assert!(graph.len() > 15, "read the parts: {graph:?}");
    assert_eq!(upward(&graph), Vec::<String>::new(), "imports up the layer order");
    assert_eq!(find_cycle(&graph), None, "a cycle between parts");
    for (module, files) in sibling_graphs() {
        assert_eq!(find_cycle(&files), None, "a cycle between the files of {module}");
    }
}

#[test]
fn the_rules_of_design_hold_between_parts() {
    let graph = part_graph();
    let may_not = |part: &str, forbidden: &[&str]| {
        let uses = graph.get(part).cloned().unwrap_or_default();
        let broken: Vec<&String> =
            uses.iter().filter(|u| forbidden.iter().any(|f| *u == f || layer(u) == *f)).collect();
        assert!(broken.is_empty(), "{part} must not import {broken:?} (it imports {uses:?})");
    };
    // The executor and the registry know no store, schedule, queue or
    // anything above them.
    for part in ["executor", "plugins::registry"] {
        may_not(part, &["store", "backends", "engine", "app", "http", "server", "cli", "plugins::artifacts"]);
        may_not(part, &["contract::schedule", "contract::queue", "contract::job", "doors::secrets"]);
    }
    // The store knows no schedule, queue, executor or plugin code.
    may_not("store", &["contract::schedule", "contract::queue", "executor", "plugins", "doors"]);
    // Guest projects know only the registry's naming rule.
    let guest: Vec<_> = graph["plugins::guest"].iter().filter(|p| !p.starts_with("support")).collect();
    assert!(guest.iter().all(|p| *p == "plugins::registry"), "guest may import only the registry: {guest:?}");
    // Secrets are read by the worker (a run's grants), the application
    // layer and the CLI; the executor sees values only as a run's doors.
    for part in ["executor", "plugins::registry", "store", "contract", "engine::scheduler", "backends"] {
        may_not(part, &["doors::secrets"]);
    }
    // Backends implement the contracts; they know no engine or front end.
    for backend in ["backends::local", "backends::redis"] {
        may_not(backend, &["engine", "app", "http", "server", "cli", "executor", "plugins"]);
    }
    // The front ends reach schedules only through the scheduler service,
    // and the dashboard knows nothing of the API.
    may_not("http::api", &["backends", "engine::worker", "executor"]);
    may_not("http::ui", &["backends", "engine::worker", "executor", "http::api"]);
    for dir in ["http", "app"] {
        let mut files = Vec::new();
        rust_files(&src().join(dir), &mut files);
        for file in files {
            assert!(
                !code(&file).contains("schedule::backend"),
                "{} reaches the schedule backend",
                file.display()
            );
        }
    }
    // The scheduler service speaks no HTTP and runs no task; the worker
    // decides nothing about schedules; the conductor of workflow runs
    // queues and reads, and runs no plugin.
    may_not("engine::scheduler", &["engine::worker", "engine::reload", "executor", "plugins"]);
    may_not("engine::worker", &["engine::scheduler", "contract::schedule"]);
    may_not("engine::workflow", &["engine::worker", "engine::scheduler", "executor", "plugins"]);
}

#[test]
fn the_reader_sees_paths_groups_layers_and_cycles_but_not_comments() {
    let code = "use crate::a::b;\nuse crate::{c, d::e::f};\nlet x = crate::f::g(); // crate::h\nsupercrate::i;\n\
                let u = \"sqlite://x\"; crate::j::k();";
    let code: String = code.lines().map(strip_comment).collect::<Vec<_>>().join("\n");
    assert_eq!(paths(&code, "crate"), ["a::b", "c", "d::e", "f::g", "j::k"].map(String::from).into());
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (from, to) in edges {
            g.entry(from.to_string()).or_default().insert(to.to_string());
        }
        g
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c")])), None);
    let cycle = find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).expect("a loop of three");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    // A store that imported the engine, or a part of no known layer, is
    // caught; imports down the order are not.
    let down =
        graph(&[("http::api", "engine::scheduler"), ("engine::worker", "store"), ("store", "contract::job")]);
    assert!(upward(&down).is_empty());
    let up = graph(&[("store", "engine::worker"), ("contract::job", "nowhere")]);
    assert_eq!(upward(&up), ["contract::job -> nowhere", "store -> engine::worker"]);
}
