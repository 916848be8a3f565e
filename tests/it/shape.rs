//! The crate's shape, kept: dependencies between the top-level modules of `src/` point down. Read
//! from the source itself (every `crate::…` path, `super::` paths that leave a module, and the
//! crate root's own module paths; test code left out), then: no cycle between top-level modules,
//! `oci` imports nothing of the crate, `plan` imports neither `cli` nor `store`, and `image` and
//! `layer` import neither `plan` nor `store`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate root's own items (functions in lib.rs) count as the node `lib`; what it re-exports
/// (`pub use error::Error`) counts as the module it comes from.
const ROOT: &str = "lib";

/// What `crate::` paths can name: the top-level modules, and the root's re-exports (name →
/// module).
struct Names {
    modules: BTreeSet<String>,
    reexports: BTreeMap<String, String>,
}

impl Names {
    fn node(&self, name: &str) -> Option<String> {
        if name.is_empty() || name == "self" {
            return None;
        }
        if self.modules.contains(name) {
            return Some(name.into());
        }
        Some(self.reexports.get(name).cloned().unwrap_or_else(|| ROOT.into()))
    }
}

#[test]
fn dependencies_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // The reader works: the edges every build has are there.
    for (from, to) in [("plan", "oci"), ("store", "oci"), ("lib", "plan"), ("commands", "store")] {
        assert!(graph[from].contains(to), "{from} -> {to} not found: the reader is broken\n{graph:#?}");
    }
    let mut problems = Vec::new();
    for cycle in cycles(&graph) {
        problems.push(format!("a cycle between the top-level modules {}", cycle.join(", ")));
    }
    let rules: [(&str, &[&str]); 5] = [
        ("oci", &[]),
        ("plan", &["cli", "store"]),
        ("image", &["plan", "store"]),
        ("layer", &["plan", "store"]),
        ("facts", &["plan", "store", "cli"]),
    ];
    for (module, allowed_none_of) in rules {
        for dep in &graph[module] {
            let forbidden = allowed_none_of.is_empty() || allowed_none_of.contains(&dep.as_str());
            if forbidden {
                problems.push(format!("`{module}` imports `{dep}`"));
            }
        }
    }
    assert!(problems.is_empty(), "{}\n\nthe graph:\n{}", problems.join("\n"), show(&graph));
}

#[test]
fn the_reader_sees_groups_supers_and_skips_tests_and_comments() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
    let names = Names { modules, reexports: [("Error".to_string(), "e".to_string())].into() };
    let text = r#"
        use crate::{a::X, b};
        use super::super::c::Y; // crate::e in a comment
        fn f() -> crate::Error { let s = "crate::e in a string {"; crate::run(); }
        #[cfg(test)]
        mod tests {
            use crate::d::Z;
            fn g() { let c = '{'; }
        }
    "#;
    let deps = deps_of(text, &["x", "y"], &names);
    assert_eq!(deps, ["a", "b", "c", "e", ROOT].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycles(&g), [vec!["a".to_string(), "b".into()]]);
}

/// Every top-level module's dependencies on the others.
fn graph(src: &Path) -> Graph {
    let modules = top_level_modules(src);
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let reexports = reexports(&code_only(&std::fs::read_to_string(src.join("lib.rs")).unwrap()));
    let names = Names { modules, reexports };
    graph.insert(ROOT.into(), BTreeSet::new());
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let mut path: Vec<String> = rel.with_extension("").iter().map(|c| c.to_string_lossy().into_owned()).collect();
        if matches!(path.last().map(String::as_str), Some("mod")) {
            path.pop();
        }
        // `main.rs` is the binary (it reaches the library as `cargo_oci::`); `tests.rs` files
        // are test modules.
        if path == ["main"] || path.last().is_some_and(|p| p == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let (node, module_path): (String, Vec<&str>) = match path.as_slice() {
            [only] if only == "lib" => (ROOT.into(), Vec::new()),
            _ => (path[0].clone(), path.iter().map(String::as_str).collect()),
        };
        let mut deps = deps_of(&text, &module_path, &names);
        deps.remove(&node);
        graph.entry(node).or_default().extend(deps);
    }
    graph
}

fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if p.is_dir() || (p.extension().is_some_and(|x| x == "rs") && name != "lib" && name != "main") {
            out.insert(name);
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The top-level modules (or [`ROOT`]) that the code of one file, at `module_path` (empty: the
/// crate root), names.
fn deps_of(text: &str, module_path: &[&str], names: &Names) -> BTreeSet<String> {
    let code = without_tests(&code_only(text));
    let mut out = BTreeSet::new();
    let add = |out: &mut BTreeSet<String>, name: &str| out.extend(names.node(name));
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let ident_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':');
        let rest = &code[i..];
        if ident_start && rest.starts_with("crate::") {
            for name in names_after(&rest["crate::".len()..]) {
                add(&mut out, &name);
            }
            i += "crate::".len();
            continue;
        }
        if ident_start && rest.starts_with("super::") {
            let mut ups = 0;
            let mut r = rest;
            while let Some(next) = r.strip_prefix("super::") {
                ups += 1;
                r = next;
            }
            // `super` from the file's module: it leaves the top-level module only at the root.
            if ups >= module_path.len() {
                for name in names_after(r) {
                    add(&mut out, &name);
                }
            }
            i += rest.len() - r.len();
            continue;
        }
        // The crate root names its modules directly (`plan::resolve`).
        if module_path.is_empty() && ident_start {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && rest[name.len()..].starts_with("::") && names.modules.contains(&name) {
                out.insert(name.clone());
            }
            if !name.is_empty() {
                i += name.len();
                continue;
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// `pub use module::…::{A, B};` in the crate root: each name re-exported, and its module.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stmt in root.split(';').map(str::trim).filter_map(|s| s.strip_prefix("pub use ")) {
        let Some((module, rest)) = stmt.split_once("::") else { continue };
        let tail = rest.rsplit("::").next().unwrap_or(rest);
        for name in tail.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.split(" as ").last().unwrap_or(name).trim();
            out.insert(name.to_string(), module.trim().to_string());
        }
    }
    out
}

/// The first path segment after `crate::`, or each one in a `{…}` group.
fn names_after(rest: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
    let mut names = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(ident(group[start..i].trim()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(ident(group[start..i].trim()));
                start = i + 1;
            }
            _ => {}
        }
    }
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

/// The text with comments and the insides of string and char literals blanked out (braces and
/// paths in them are not code).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let at = |k: usize| b.get(k).copied().unwrap_or('\0');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == '/' && at(i + 1) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && at(i + 1) == '*' {
            i += 2;
            while i < b.len() && !(b[i] == '*' && at(i + 1) == '/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == 'r' && (at(i + 1) == '#' || at(i + 1) == '"') && (i == 0 || !b[i - 1].is_alphanumeric()) {
            let hashes = (1..).take_while(|k| at(i + *k) == '#').count();
            if at(i + 1 + hashes) != '"' {
                out.push(b[i]);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < b.len() && !(b[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#')) {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == '\'' && (at(i + 2) == '\'' || (at(i + 1) == '\\' && at(i + 3) == '\'')) {
            i += if at(i + 1) == '\\' { 4 } else { 3 };
            out.push_str("' '");
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The code without the items marked `#[cfg(test)]` (test modules, test helpers).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its first `;` outside braces, or at the brace closing its body.
        let mut depth = 0;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The modules of each cycle, sorted (Tarjan's strongly connected components of more than one).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        sccs: Vec<Vec<&'g str>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.g.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w]));
                } else if self.stack.contains(&w) {
                    self.low.insert(v, self.low[v].min(self.index[w]));
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                self.sccs.push(scc);
            }
        }
    }
    let mut t = Tarjan { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), sccs: Vec::new() };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.sccs
        .into_iter()
        .filter(|s| s.len() > 1)
        .map(|mut s| {
            s.sort();
            s.iter().map(|x| x.to_string()).collect()
        })
        .collect()
}

fn show(g: &Graph) -> String {
    g.iter()
        .map(|(k, v)| format!("{k} -> {}", v.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}
