//! The layers of `ferrex` (core), bottom to top, and the rule that each module uses only
//! the modules below it: a `crate::<module>` path (or a name `lib.rs` re-exports from
//! one) in a module's code that names a module above it is an import cycle, and fails
//! here. Comments and `#[cfg(test)]` modules are not code the crate is built from and are
//! skipped. ARCHITECTURE.md ("Layers") draws the same order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. (The symbolic engine and the kernels are crates of their own below
/// all of these, so the compiler enforces their place.)
const LAYERS: &[&str] = &[
    "dtype",
    "error",
    "tensor",
    "ops",
    "tensor_api",
    "module",
    "graph",
    "trace",
    "control_flow",
    "passes",
    "program",
    "export",
    "serialize",
    "nn",
    "strict",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments, string contents and its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '\'' => {
                // A char literal such as '"' must not open a string; lifetimes pass.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\\") || rest.chars().nth(1) == Some('\'') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The names `lib.rs` re-exports at the crate root, with the module each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = rest.split("::").next().unwrap_or("").trim().to_string();
        if !LAYERS.contains(&module.as_str()) {
            continue;
        }
        let items = rest.rsplit("::").next().unwrap_or("");
        for item in items.trim_matches(|c| "{};".contains(c)).split(',') {
            let name = item.split(" as ").last().unwrap_or("").trim();
            if !name.is_empty() {
                names.insert(name.to_string(), module.clone());
            }
        }
    }
    names
}

/// Every module a file's code names through `crate::`.
fn uses(code: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    let name_after = |rest: &str, found: &mut Vec<String>| {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if LAYERS.contains(&name.as_str()) {
            found.push(name);
        } else if let Some(module) = reexports.get(&name) {
            found.push(module.clone());
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `ferrex_kernels::…`, not ours
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b};`: each top-level path of the group.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        name_after(group[start..j].trim_start(), &mut found);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        name_after(group[start..j].trim_start(), &mut found);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            name_after(rest, &mut found);
        }
    }
    found
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let src = src_dir();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "found only {} files under {src:?}",
        files.len()
    );

    let mut seen_modules = std::collections::BTreeSet::new();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap_or(file);
        let first = rel.iter().next().and_then(|c| c.to_str()).unwrap_or("");
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let Some(level) = LAYERS.iter().position(|l| *l == module) else {
            violations.push(format!("{}: module `{module}` has no layer", rel.display()));
            continue;
        };
        seen_modules.insert(module.to_string());
        let code = code_of(&std::fs::read_to_string(file).unwrap_or_default());
        for used in uses(&code, &reexports) {
            let used_level = LAYERS.iter().position(|l| *l == used).unwrap_or(0);
            if used_level > level {
                let v = format!(
                    "{}: `{module}` uses `{used}`, a layer above it",
                    rel.display()
                );
                if !violations.contains(&v) {
                    violations.push(v);
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "import cycles in core:\n{}",
        violations.join("\n")
    );
    let missing: Vec<_> = LAYERS
        .iter()
        .filter(|l| !seen_modules.contains(**l))
        .collect();
    assert!(missing.is_empty(), "layers with no module: {missing:?}");
}

#[test]
fn the_scanner_sees_paths_and_groups_and_skips_comments() {
    let reexports = BTreeMap::from([("Tensor".to_string(), "tensor".to_string())]);
    let code = code_of(
        "use crate::{ops::OpDef, graph::{Arg, Node}, Tensor};\n\
         // crate::program in a comment\n\
         let s = \"crate::export\"; let c = '\"'; crate::trace::begin();\n\
         #[cfg(test)]\nmod tests { use crate::nn; }",
    );
    assert_eq!(
        uses(&code, &reexports),
        ["ops", "graph", "tensor", "trace"].map(String::from)
    );
}
