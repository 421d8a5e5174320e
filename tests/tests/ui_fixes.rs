//! Every fix the UI suite prints compiles when pasted. Each error of `ui/fail/*.stderr`
//! carries its fix as code:
//! - `help: keep both branches in the graph with `cond!`: `…`` replaces the branch it is
//!   about;
//! - `replace `old` with `new`` replaces the text the error points at (`x.is_traced()` with
//!   `false`, `x` with `x.sizes()` in a `println!`, `async fn` with `fn`);
//! - `put `#[ferrex::export_fn]` on `fn f``, `put `#[…]` on the `impl T` block that defines
//!   `m`` (or `the `impl Trait for T` block`, or `the `impl` block that defines `m``) inserts
//!   the attribute there.
//!
//! Every program whose errors all carry such a fix is fixed and built (trybuild `pass`,
//! which also runs its `main`), except where the fix makes strict export read a body that
//! breaks the graph on purpose: then the fixed program must fail with exactly the errors of
//! `ui/fixed/<case>.stderr`, all inside the body the fix made visible. Programs with an
//! error whose fix is prose (keep state in a `#[buffer]`, assert on sizes, …) are listed in
//! [`PROSE_ONLY`]; a new case must be one or the other, so every printed fix is tried.

use std::path::{Path, PathBuf};

/// Where the fixed programs are written, under the crate.
const PASTED: &str = "ui/fixed/pasted";

const COND_PREFIX: &str = "help: keep both branches in the graph with `cond!`: `";

/// Cases with at least one error whose fix is advice, not code to paste, each with why it
/// stays prose: the fix moves state into a tensor the user must design (a `#[buffer]` and
/// its update), deletes or restructures code whose replacement depends on intent, or
/// changes a signature.
const PROSE_ONLY: &[(&str, &str)] = &[
    ("branch_on_unbacked", "the predicate is a symbolic value read from data (`sym_item`): turning it back into a tensor predicate needs the tensor it came from, which the case does not keep"),
    ("catch_unwind", "the fix removes the `catch_unwind` and keeps one of its paths: which one is the user's intent"),
    ("data_access", "writing through `.data()` becomes `set_item_` with the user's indices and value, spread over statements"),
    ("data_access_item", "a value read with `.item()` stays a tensor: every later use of it changes, not one expression"),
    ("data_branch_match", "a `match` with several arms has no two-branch `cond!` form; the printed `cond!` is a template"),
    ("data_read_on_field", "as `data_access_item`: the read value's uses change"),
    ("early_return", "the fix deletes the error path (`?`, `return Err`) and returns tensors: a restructuring"),
    ("export_fn_body", "the errors are inside the helper's body, which the fix (`#[export_fn]`) made visible on purpose"),
    ("foreign_tensor_method", "turning a trait method into a free `#[export_fn]` moves its body out of the trait impl"),
    ("forward_returns_impl_trait", "the return type to name depends on what forward returns"),
    ("forward_signature", "each odd signature (async, generic, `impl Trait`, patterns) changes differently"),
    ("function_as_value", "which named function replaces the value is only known when the model runs"),
    ("function_value_paths", "as `function_as_value`"),
    ("generic_field_unmarked", "`#[module]` or `#[config]` is the user's choice about the field"),
    ("global_state", "the state moves into a `#[buffer]` tensor: a new field, its initial value and an in-place update"),
    ("global_state_any_name", "as `global_state`"),
    ("interior_mutability", "as `global_state`: a `Cell` field becomes a `#[buffer]`"),
    ("interior_mutability_aliases", "as `interior_mutability`"),
    ("interior_mutability_reached", "as `interior_mutability`"),
    ("mut_self", "`&mut self` becomes `&self` with the mutated state moved into a `#[buffer]`"),
    ("opaque_constructed", "`<Gain as Source>::value()` is a trait's function: the fix calls an inherent one instead, a rewrite of the call"),
    ("opaque_container_method", "as `foreign_tensor_method`, for a container's extension trait"),
    ("opaque_macro", "the fix writes out the macro's expansion, which only the compiler knows"),
    ("opaque_macro_no_tensor", "as `opaque_macro`, and a function held in a value (`function_as_value`)"),
    ("outside_world", "as `global_state`: the outside value becomes an input or a `#[config]` field"),
    ("panic_branch", "a panic on data becomes an assert on sizes or a check of the outputs: the user's intent"),
    ("panic_on_data", "as `panic_branch`"),
    ("pointer_identity", "an address has no tensor-op equivalent: the fix removes its use"),
    ("several_graph_breaks", "as `data_access_item`, with several breaks of other kinds"),
    ("shared_state_reached", "as `global_state`"),
    ("static_mut", "as `global_state`"),
    ("trait_call_by_path", "as `foreign_tensor_method`: the trait's method becomes a free `#[export_fn]`, moved out of its impl"),
    ("unsafe_block", "the unsafe code moves into a registered op: a new kernel and meta function"),
];

/// Cases whose printed code fix has nowhere to go in their program, and why.
const NOT_PASTEABLE: &[(&str, &str)] = &[(
    "trait_method_of_model",
    "the method is a trait's default method: no impl block of the model defines it, so \
     `#[export_module(helpers)]` has nowhere to go (the other printed fix, moving the method \
     into the `#[export_module]` block, is an edit, not a paste)",
)];

/// A fix printed with an error.
#[derive(Clone, Debug, PartialEq)]
enum Fix {
    /// A `cond!` call that replaces the branch whose condition is at the error.
    Cond(String),
    /// `#[attr]` on `fn name`.
    OnFn { attr: String, name: String },
    /// `old`, written where the error points, replaced by `new`.
    Replace { old: String, new: String },
    /// `#[attr]` on the `impl` block (of `ty`, if named) that defines `method`.
    OnImpl {
        attr: String,
        ty: Option<String>,
        method: String,
    },
}

/// One error of a `.stderr`: its fix (if it has one) and where it points.
struct Reported {
    fix: Option<Fix>,
    line: usize,
    column: usize,
}

/// The text between the first pair of backticks after `from` in `s`, and the rest.
fn ticked(s: &str) -> Option<(&str, &str)> {
    let a = s.find('`')?;
    let b = a + 1 + s[a + 1..].find('`')?;
    Some((&s[a + 1..b], &s[b + 1..]))
}

/// `replace `old` with `new``.
fn replace_fix(line: &str) -> Option<Fix> {
    let at = line.find("replace `")?;
    let (old, rest) = ticked(&line[at..])?;
    let rest = rest.strip_prefix(" with ")?;
    let (new, _) = ticked(rest)?;
    Some(Fix::Replace {
        old: old.to_string(),
        new: new.to_string(),
    })
}

/// `put `#[…]` on `fn f`` / `put `#[…]` on the `impl T` block that defines `m``.
fn attribute_fix(line: &str) -> Option<Fix> {
    let at = line.find("put `#[")?;
    let (attr, rest) = ticked(&line[at..])?;
    let rest = rest.strip_prefix(" on ")?;
    if let Some(rest) = rest.strip_prefix("the ") {
        let (imp, rest) = ticked(rest)?;
        let ty = imp
            .strip_prefix("impl")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let rest = rest.strip_prefix(" block that defines ")?;
        let (method, _) = ticked(rest)?;
        return Some(Fix::OnImpl {
            attr: attr.to_string(),
            ty: ty.map(str::to_string),
            method: method.to_string(),
        });
    }
    let (item, _) = ticked(rest)?;
    let name = item.strip_prefix("fn ")?;
    Some(Fix::OnFn {
        attr: attr.to_string(),
        name: name.to_string(),
    })
}

fn reported(stderr: &str) -> Vec<Reported> {
    let mut out: Vec<Reported> = Vec::new();
    let mut fix = None;
    let mut pending: Option<(usize, usize)> = None;
    let mut flush = |fix: &mut Option<Fix>, pending: &mut Option<(usize, usize)>| {
        if let Some((line, column)) = pending.take() {
            out.push(Reported {
                fix: fix.take(),
                line,
                column,
            });
        }
        *fix = None;
    };
    for line in stderr.lines() {
        if line.starts_with("error") {
            flush(&mut fix, &mut pending);
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(COND_PREFIX) {
            fix = rest.strip_suffix('`').map(|c| Fix::Cond(c.to_string()));
        } else if fix.is_none() {
            fix = attribute_fix(trimmed).or_else(|| replace_fix(trimmed));
        }
        if pending.is_none() {
            if let Some(at) = trimmed.strip_prefix("--> ") {
                let mut parts = at.rsplitn(3, ':');
                let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
                pending = Some((line, column));
            }
        }
    }
    flush(&mut fix, &mut pending);
    out
}

/// The byte offset of 1-based `line`, `column` in `text`.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.lines().take(line - 1).map(|l| l.len() + 1).sum();
    start + column - 1
}

/// The offset just past the `{…}` block that starts at or after `from`.
fn block_end(text: &str, from: usize) -> Option<usize> {
    let open = from + text[from..].find('{')?;
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The span of the `if` whose condition starts at `cond`: from `if` to the end of its
/// last block (`else if` chains included), or to the end of the enclosing body when the
/// fix takes the rest of the function as its false branch.
fn branch_span(text: &str, cond: usize, fix: &str) -> Option<(usize, usize)> {
    let start = text[..cond].rfind("if")?;
    let mut end = block_end(text, cond)?;
    loop {
        let rest = &text[end..];
        let trimmed = rest.trim_start();
        if trimmed.starts_with("else") {
            let at = end + (rest.len() - trimmed.len()) + "else".len();
            end = block_end(text, at)?;
        } else {
            break;
        }
    }
    let then = &text[start..end];
    let returns_early = then.contains("return") && !fix.starts_with("let ");
    if returns_early {
        // The rest of the body is the false branch: replace up to the body's `}`.
        let mut depth = 0i64;
        for (i, c) in text[end..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return Some((start, end + i)),
                '}' => depth -= 1,
                _ => {}
            }
        }
        return None;
    }
    Some((start, end))
}

/// The offset of the start of the line holding `at`.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Whether `body` defines `fn name`.
fn defines(body: &str, name: &str) -> bool {
    body.contains(&format!("fn {name}(")) || body.contains(&format!("fn {name}<"))
}

/// Where an attribute fix inserts its line: the start of the line of `fn name`, or of the
/// unmarked `impl` block that defines the method.
fn attribute_site(text: &str, fix: &Fix) -> Option<usize> {
    match fix {
        Fix::OnFn { name, .. } => {
            let at = text
                .match_indices(&format!("fn {name}"))
                .map(|(i, _)| i)
                .find(|&i| {
                    let after = &text[i + 3 + name.len()..];
                    after.starts_with('(') || after.starts_with('<')
                })?;
            Some(line_start(text, at))
        }
        Fix::OnImpl { ty, method, .. } => {
            let mut from = 0;
            while let Some(i) = text[from..].find("impl") {
                let at = from + i;
                from = at + 4;
                let start = line_start(text, at);
                if !text[start..at].trim().is_empty() {
                    continue;
                }
                let header_end = at + text[at..].find('{')?;
                let header = &text[at..header_end];
                if ty.as_ref().is_some_and(|t| !header_names(header, t)) {
                    continue;
                }
                let end = block_end(text, at)?;
                let marked = text[..start].trim_end().ends_with(']');
                if defines(&text[header_end..end], method) && !marked {
                    return Some(start);
                }
            }
            None
        }
        Fix::Cond(_) | Fix::Replace { .. } => None,
    }
}

/// Whether an `impl` header names `ty`: a type (`Gain`), or a trait and a type (`Clone for
/// Gain`, the trait's path and arguments aside).
fn header_names(header: &str, ty: &str) -> bool {
    let has_word = |text: &str, w: &str| {
        text.split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|x| x == w)
    };
    match (ty.split_once(" for "), header.split_once(" for ")) {
        (Some((tr, t)), Some((head, tail))) => has_word(head, tr) && has_word(tail, t),
        (Some(_), None) => false,
        (None, _) => has_word(header, ty),
    }
}

/// One edit of a program: `text[start..end]` replaced by `with`.
struct Edit {
    start: usize,
    end: usize,
    with: String,
}

/// The program of `source` with the fixes of `errors` applied; `None` when a fix cannot
/// be placed.
fn fixed(source: &str, errors: &[Reported]) -> Option<String> {
    let mut edits: Vec<Edit> = Vec::new();
    for e in errors {
        let fix = e.fix.as_ref()?;
        let edit = match fix {
            Fix::Cond(c) => {
                let (start, end) = branch_span(source, offset(source, e.line, e.column), c)?;
                Edit {
                    start,
                    end,
                    with: c.clone(),
                }
            }
            Fix::Replace { old, new } => {
                let start = offset(source, e.line, e.column);
                if !source[start..].starts_with(old.as_str()) {
                    return None;
                }
                Edit {
                    start,
                    end: start + old.len(),
                    with: new.clone(),
                }
            }
            Fix::OnFn { attr, .. } | Fix::OnImpl { attr, .. } => {
                let at = attribute_site(source, fix)?;
                let indent: String = source[at..].chars().take_while(|c| *c == ' ').collect();
                Edit {
                    start: at,
                    end: at,
                    with: format!("{indent}{attr}\n"),
                }
            }
        };
        if !edits
            .iter()
            .any(|d| d.start == edit.start && d.with == edit.with)
        {
            edits.push(edit);
        }
    }
    // Last first, so earlier offsets stay valid.
    edits.sort_by_key(|e| std::cmp::Reverse((e.start, e.end)));
    let mut text = source.to_string();
    for e in edits {
        text.replace_range(e.start..e.end, &e.with);
    }
    Some(text)
}

/// What the test does with each case.
struct Plan {
    /// Fixed programs that must build and run.
    pass: Vec<PathBuf>,
    /// Fixed programs that must fail with `ui/fixed/<case>.stderr`.
    fail: Vec<PathBuf>,
    /// Cases whose errors all carry code fixes but one could not be placed.
    unplaceable: Vec<String>,
    /// Cases with a prose fix that are not in `PROSE_ONLY`, and listed ones that are not.
    unlisted: Vec<String>,
}

fn plan(dir: &Path) -> Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui/fail");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&ui)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    let mut plan = Plan {
        pass: Vec::new(),
        fail: Vec::new(),
        unplaceable: Vec::new(),
        unlisted: Vec::new(),
    };
    for stderr_path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
    {
        let name = stderr_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
        let errors = reported(&stderr);
        let prose = errors.is_empty() || errors.iter().any(|e| e.fix.is_none());
        if prose != PROSE_ONLY.iter().any(|(n, _)| *n == name) {
            plan.unlisted.push(name);
            continue;
        }
        if prose {
            continue;
        }
        let source = std::fs::read_to_string(stderr_path.with_extension("rs")).unwrap_or_default();
        let Some(text) = fixed(&source, &errors) else {
            if !NOT_PASTEABLE.iter().any(|(n, _)| *n == name) {
                plan.unplaceable.push(name);
            }
            continue;
        };
        let text = format!(
            "// {name}.rs with the fixes of its errors pasted in.\n#[allow(unused_imports)]\nuse ferrex::cond;\n{text}"
        );
        let path = dir.join(format!("{name}.rs"));
        std::fs::write(&path, &text).unwrap_or_default();
        let expected = root.join(format!("ui/fixed/{name}.stderr"));
        if expected.exists() {
            let _ = std::fs::copy(&expected, path.with_extension("stderr"));
            plan.fail.push(path);
        } else {
            plan.pass.push(path);
        }
    }
    plan
}

#[test]
fn every_fix_compiles_when_pasted() {
    // Inside the crate (ignored by git), so that trybuild prints paths relative to it and
    // the expected `ui/fixed/*.stderr` hold no machine's absolute path.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(PASTED);
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if entry
            .path()
            .extension()
            .is_some_and(|e| e == "rs" || e == "stderr")
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let plan = plan(&dir);
    assert!(
        plan.unlisted.is_empty(),
        "these UI cases print a prose fix and are not in PROSE_ONLY, or are listed and print \
         only code fixes: {:?}",
        plan.unlisted
    );
    assert!(
        plan.unplaceable.is_empty(),
        "a fix of these UI cases names no place in its program: {:?}",
        plan.unplaceable
    );
    assert!(
        plan.pass.len() + plan.fail.len() >= 10,
        "expected the cond!, export_fn and helpers fixes of at least 10 cases, found {}",
        plan.pass.len() + plan.fail.len()
    );
    let relative = |p: &PathBuf| {
        p.strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let t = trybuild::TestCases::new();
    for path in &plan.pass {
        t.pass(relative(path));
    }
    for path in &plan.fail {
        t.compile_fail(relative(path));
    }
}

#[test]
fn fixes_are_parsed_from_the_printed_notes() {
    assert_eq!(
        attribute_fix(
            "= note: put `#[ferrex::export_fn]` on `fn double` (its body is then checked)"
        ),
        Some(Fix::OnFn {
            attr: "#[ferrex::export_fn]".into(),
            name: "double".into()
        })
    );
    assert_eq!(
        attribute_fix(
            "= note: put `#[export_module(helpers)]` on the `impl Model` block that defines \
             `gate` (its methods …)"
        ),
        Some(Fix::OnImpl {
            attr: "#[export_module(helpers)]".into(),
            ty: Some("Model".into()),
            method: "gate".into()
        })
    );
    let src = "struct A;\nimpl A {\n    fn f(&self) {}\n}\n#[export_module]\nimpl A {\n    fn g(&self) {}\n}\n";
    let fix = Fix::OnImpl {
        attr: "#[x]".into(),
        ty: None,
        method: "f".into(),
    };
    assert_eq!(attribute_site(src, &fix), Some(10));
}
