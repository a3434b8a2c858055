//! The shape of `src/`, held by tests: no import loop among its files, and
//! the crate's top-level modules in layers that only point down
//! ([`LAYERS`]).
//!
//! Each file of `src/` is a module; an edge runs from a file to every
//! module it names (`use crate::…`, `super::…`, `self::…`, or a path in its
//! code). A module is the file that defines it, so `api/mod.rs` calling
//! `s3::route` is an edge to `api/s3/mod.rs`, and that file taking `Body`
//! from `super::` is an edge back: a loop. Layers point down only — routers
//! to handlers to the storage service to the index and the blob store —
//! and a helper two files share lives below both, never in the router
//! above them. Test modules (`tests.rs`, `*_tests.rs`, `tests/`) may name
//! anything and are left out.
//!
//! A failure lists each loop, every file of it, and the names each edge
//! takes, as `cargo test --test layout` prints them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `crate::a::b` for `src/a/b.rs` and `src/a/b/mod.rs`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    std::iter::once("crate".to_string())
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a readable src/").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if name == "tests.rs" || name.ends_with("_tests.rs") {
                continue;
            }
            out.push(p);
        }
    }
}

/// The code of a file without comments, string literals and `#[cfg(test)]`
/// modules (what a test module names is not the file's dependency).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_test_mod = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if t.starts_with("#[cfg(test)]") {
            pending_test_mod = true;
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if pending_test_mod {
            pending_test_mod = false;
            if t.starts_with("mod ")
                || t.starts_with("pub mod ")
                || t.starts_with("pub(crate) mod ")
            {
                if opens > closes {
                    skip_depth = Some(depth);
                }
                depth = depth + opens - closes.min(depth + opens);
                continue;
            }
        }
        let before = depth;
        depth = (depth + opens).saturating_sub(closes);
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            let _ = before;
            continue;
        }
        // Drop string literals and the rest of a line after `//`.
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                if c == '/' && prev == '/' {
                    kept.pop();
                    break;
                }
                kept.push(c);
            }
            prev = c;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every module path the code names, resolved against `here` and cut to
/// the longest one that is a module of the crate.
fn named_modules(
    code: &str,
    here: &str,
    is_mod_rs: bool,
    modules: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // `use` trees are flattened to paths first: `a::{b, c::d}` → a::b, a::c::d.
    let mut paths: Vec<String> = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim();
        // A re-export (`pub use child::Item`) is the module's face, not a
        // dependency of its file: left out.
        let last = s.rsplit('\n').next().unwrap_or(s).trim_start();
        if last.starts_with("pub use ")
            || last.starts_with("pub(crate) use ")
            || last.starts_with("pub(super) use ")
        {
            continue;
        }
        let body = s
            .rsplit_once("\nuse ")
            .map(|(_, b)| b)
            .or_else(|| s.strip_prefix("use "));
        if let Some(tree) = body {
            flatten(
                tree.split_whitespace().collect::<String>().as_str(),
                "",
                &mut paths,
            );
        }
    }
    // Paths written in the code itself (re-exports aside): from the crate,
    // `super`, `self`, or a child module of this one by its bare name.
    let code: String = code
        .split_inclusive(';')
        .filter(|stmt| {
            let last = stmt
                .rsplit('\n')
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim_start();
            let t = stmt.trim_start();
            // `use` statements were read above, as trees; re-exports are
            // left out for the reason given there.
            !(t.starts_with("use ")
                || last.starts_with("use ")
                || t.starts_with("pub use ")
                || t.starts_with("pub(crate) use ")
                || t.starts_with("pub(super) use ")
                || last.starts_with("pub use ")
                || last.starts_with("pub(crate) use ")
                || last.starts_with("pub(super) use "))
        })
        .collect();
    let code = code.as_str();
    let children: BTreeSet<String> = modules
        .iter()
        .filter_map(|m| m.strip_prefix(&format!("{here}::")))
        .filter(|rest| !rest.contains("::"))
        .map(String::from)
        .collect();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0
            || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let mut j = i;
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == ':')
        {
            j += 1;
        }
        if boundary && j > i {
            let word: String = chars[i..j].iter().collect();
            let first = word.split("::").next().unwrap_or("");
            if word.contains("::")
                && (["crate", "super", "self"].contains(&first) || children.contains(first))
            {
                paths.push(word.trim_end_matches(':').to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    let parent_of = |m: &str| {
        m.rsplit_once("::")
            .map_or("crate".to_string(), |(p, _)| p.to_string())
    };
    for p in paths {
        let mut segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
        let mut base = match segs.first() {
            Some(&"crate") => {
                segs.remove(0);
                "crate".to_string()
            }
            Some(&"self") => {
                segs.remove(0);
                here.to_string()
            }
            Some(&"super") => {
                // A file's `super` is its parent module (for `a/mod.rs`,
                // `a`'s parent; for `a/b.rs`, `a`).
                let mut m = here.to_string();
                while segs.first() == Some(&"super") {
                    segs.remove(0);
                    m = parent_of(&m);
                }
                let _ = is_mod_rs;
                m
            }
            Some(first) if children.contains(*first) => here.to_string(),
            _ => continue,
        };
        let mut item = String::new();
        for s in segs {
            let next = format!("{base}::{s}");
            if modules.contains(&next) {
                base = next;
            } else {
                item = s.to_string();
                break;
            }
        }
        if base != here {
            found.entry(base).or_default().insert(item);
        }
    }
    found
}

/// Flattens a `use` tree into paths.
fn flatten(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = &tree[..open];
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        let pre = format!("{prefix}{head}");
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    flatten(&inner[start..i], &pre, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        flatten(&inner[start..], &pre, out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap_or(tree);
        out.push(
            format!("{prefix}{path}")
                .trim_end_matches("::self")
                .to_string(),
        );
    }
}

/// Strongly connected components of more than one file (Tarjan).
fn loops(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T<'_>, v: &str) {
        t.index.insert(v.to_string(), t.next);
        t.low.insert(v.to_string(), t.next);
        t.next += 1;
        t.stack.push(v.to_string());
        t.on.insert(v.to_string());
        let succ: Vec<String> =
            t.g.get(v)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
        for w in succ {
            if !t.g.contains_key(&w) {
                continue;
            }
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(lw));
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn module_graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let here = module_of(&src, f);
        let text = std::fs::read_to_string(f).expect("a readable source file");
        let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
        let code = code_of(&text);
        graph.insert(here.clone(), named_modules(&code, &here, is_mod, &modules));
    }
    graph
}

#[test]
fn no_import_loop_among_the_files_of_src() {
    let graph = module_graph();
    let found = loops(&graph);
    if found.is_empty() {
        return;
    }
    let mut report = String::new();
    for comp in &found {
        report.push_str(&format!("a loop of {} files:\n", comp.len()));
        for a in comp {
            for (b, names) in graph.get(a).into_iter().flatten() {
                if comp.contains(b) {
                    let names: Vec<&str> = names
                        .iter()
                        .map(String::as_str)
                        .filter(|n| !n.is_empty())
                        .collect();
                    report.push_str(&format!("  {a} -> {b}: {}\n", names.join(", ")));
                }
            }
        }
    }
    panic!("{report}");
}

/// The checker itself: a file naming its parent's item and the parent
/// naming the file is a loop; a child alone is not.
#[test]
fn the_checker_sees_a_loop_through_super() {
    let modules: BTreeSet<String> = ["crate", "crate::a", "crate::a::b"]
        .map(String::from)
        .into();
    let up = named_modules("use super::Body;\n", "crate::a::b", false, &modules);
    assert!(up.contains_key("crate::a"), "{up:?}");
    let down = named_modules(
        "fn f() { b::route(); crate::a::b::x(); }\n",
        "crate::a",
        true,
        &modules,
    );
    assert!(down.contains_key("crate::a::b"), "{down:?}");
    let mut g = BTreeMap::new();
    g.insert("crate::a".to_string(), down);
    g.insert("crate::a::b".to_string(), up);
    assert_eq!(loops(&g).len(), 1);
}

/// The crate's top-level modules from the top down: each may name only
/// modules below it. The command line and the client on top; the server,
/// then the HTTP surfaces (`api`), the shared state they are given (`app`),
/// the storage service and below it its two halves, the index and the blob
/// store; the S3 client the blob store can keep its bytes with
/// (`upstream`); pure pieces (`sigv4`, `clock`, …) at the bottom. (`testing`,
/// the unit tests' support, may name anything.)
const LAYERS: [&str; 23] = [
    "testing",
    "cli",
    "client",
    "server",
    "api",
    "app",
    "tls",
    "throttle",
    "metrics",
    "ops",
    "tokens",
    "storage",
    "index",
    "policy",
    "config",
    "store",
    "upstream",
    "sigv4",
    "failpoint",
    "headers",
    "md5_lane",
    "clock",
    "random",
];

/// The top-level module of a module path (`crate::api::s3` → `api`).
fn top(m: &str) -> &str {
    m.split("::").nth(1).unwrap_or("")
}

#[test]
fn layers_point_down() {
    let graph = module_graph();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == top(m));
    let mut report = String::new();
    for (a, bs) in &graph {
        let Some(ra) = rank(a) else {
            if a != "crate" {
                report.push_str(&format!("{a} is in no layer: add it to LAYERS\n"));
            }
            continue;
        };
        for (b, names) in bs {
            match rank(b) {
                Some(rb) if rb < ra => {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    report.push_str(&format!(
                        "{a} names {b} ({}), a layer above it\n",
                        names.join(", ")
                    ));
                }
                _ => {}
            }
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// Prints the dependencies between the crate's top-level modules (for
/// `cargo test --test layout -- --ignored --nocapture top_level`).
#[test]
#[ignore = "a report, not a check"]
fn top_level_edges() {
    let graph = module_graph();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, bs) in &graph {
        for b in bs.keys() {
            if top(a) != top(b) {
                edges.entry(top(a)).or_default().insert(top(b));
            }
        }
    }
    for (a, bs) in edges {
        println!("{a} -> {}", bs.into_iter().collect::<Vec<_>>().join(", "));
    }
}
