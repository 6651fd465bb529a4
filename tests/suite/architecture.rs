//! The dependency rules of DESIGN §1, checked on the source itself: every
//! `crate::…` path (and `super::…` path to a sibling file) in the code of
//! `runtime/src`, comments left out. Parts depend one way (API → scheduler
//! service → backends → contract and leaf types); no two top-level modules
//! import each other, directly or round a longer loop, and no two files of
//! one module do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

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

/// The first segments of the paths after each `prefix::` in `code`
/// (`prefix::a::…` gives `a`, `prefix::{a, b::c}` gives `a` and `b`).
fn heads(code: &str, prefix: &str) -> BTreeSet<String> {
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
                        found.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(ident(item.trim()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

/// Top-level module → the top-level modules its files name.
fn top_level_graph() -> Graph {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let uses = heads(&code(&file), "crate");
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(uses.into_iter().filter(|m| *m != module));
    }
    graph
}

/// Within each module directory: file → the sibling files it names through
/// `super::` (the parent `mod.rs` is the module itself, not a sibling).
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
        let named = heads(&code, "super").into_iter().chain(heads(&code, &own));
        let uses: BTreeSet<String> = named.filter(|m| siblings.contains(m) && *m != name).collect();
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
fn no_module_imports_another_that_imports_it_back() {
    let graph = top_level_graph();
    assert!(graph.len() > 10, "read the modules: {graph:?}");
    assert_eq!(find_cycle(&graph), None, "a cycle between top-level modules");
    for (module, files) in sibling_graphs() {
        assert_eq!(find_cycle(&files), None, "a cycle between the files of {module}");
    }
}

#[test]
fn dependencies_point_one_way() {
    let graph = top_level_graph();
    let may_not = |module: &str, forbidden: &[&str]| {
        let uses = &graph[module];
        let broken: Vec<&&str> = forbidden.iter().filter(|f| uses.contains(**f)).collect();
        assert!(broken.is_empty(), "{module} must not import {broken:?} (it imports {uses:?})");
    };
    let above_the_contract = [
        "api",
        "app",
        "serve",
        "cli",
        "scheduler",
        "worker",
        "reload",
        "backend",
        "local_backend",
        "redis_backend",
    ];
    // The executor and the registry know no store, schedule or API code.
    for part in ["executor", "registry"] {
        may_not(part, &above_the_contract);
        may_not(part, &["store", "schedule", "queue", "job"]);
    }
    // The store knows no schedule, executor or API code.
    may_not("store", &above_the_contract);
    may_not("store", &["schedule", "queue", "executor", "registry"]);
    // The leaves and the contracts point down only.
    for leaf in ["job", "backoff", "sqlite", "text_enum", "outbound", "kv"] {
        let uses: Vec<_> = graph[leaf].iter().filter(|m| *m != "text_enum").collect();
        assert!(uses.is_empty(), "{leaf} is a leaf, yet imports {uses:?}");
    }
    for contract in ["schedule", "queue"] {
        may_not(contract, &above_the_contract);
        may_not(contract, &["store", "executor", "registry"]);
    }
    // Guest projects (SDKs, `taskbox new`, `taskbox build`) know only the
    // registry's naming rule: they never load, run or store anything.
    let uses: Vec<_> = graph["guest"].iter().filter(|m| *m != "registry").collect();
    assert!(uses.is_empty(), "guest may import only the registry, yet imports {uses:?}");
    // Secrets sit on the store; only the API, the CLI, the worker and the
    // app reach them, and the executor sees values only as a run's doors.
    may_not("secrets", &above_the_contract);
    may_not("secrets", &["schedule", "queue", "executor"]);
    for part in ["executor", "registry", "store", "schedule", "queue", "scheduler"] {
        may_not(part, &["secrets"]);
    }
    // Backends implement the contracts; they know no service, worker or API.
    for backend in ["local_backend", "redis_backend"] {
        may_not(backend, &["api", "app", "serve", "cli", "scheduler", "worker", "reload", "backend"]);
    }
    // The API reaches schedules only through the scheduler service.
    may_not("api", &["backend", "local_backend", "redis_backend", "worker", "executor"]);
    let mut api_files = Vec::new();
    rust_files(&src().join("api"), &mut api_files);
    for file in api_files {
        assert!(
            !code(&file).contains("schedule::backend"),
            "{} reaches the schedule backend",
            file.display()
        );
    }
    // The scheduler service speaks no HTTP and runs no task.
    may_not("scheduler", &["api", "app", "serve", "cli", "worker", "executor", "registry", "reload"]);
    may_not("worker", &["api", "app", "serve", "cli", "scheduler", "schedule"]);
}

#[test]
fn the_reader_sees_paths_groups_and_cycles_but_not_comments() {
    let code = "use crate::a::b;\nuse crate::{c, d::e};\nlet x = crate::f::g(); // crate::h\nsupercrate::i;\n\
                let u = \"sqlite://x\"; crate::j::k();";
    let code: String = code.lines().map(strip_comment).collect::<Vec<_>>().join("\n");
    assert_eq!(heads(&code, "crate"), ["a", "c", "d", "f", "j"].map(String::from).into());
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
}
