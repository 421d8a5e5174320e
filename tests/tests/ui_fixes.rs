//! Every `cond!` fix the UI suite prints compiles: each `help: keep both branches in the
//! graph with `cond!`: `…`` of `ui/fail/*.stderr` is pasted into its program in place of
//! the branch it is about, and the fixed program must build (trybuild `pass`, which also
//! runs its `main`). A suggestion that stops compiling fails this test.
//!
//! A program is fixed only when every error it reports carries such a fix (otherwise the
//! other errors would still stop it); the test fails if a suggestion is printed in a
//! program it cannot fix, so every suggestion is tried.

use std::path::{Path, PathBuf};

const FIX_PREFIX: &str = "help: keep both branches in the graph with `cond!`: `";

/// One error of a `.stderr`: its fix (if it has one) and where it points.
struct Reported {
    fix: Option<String>,
    line: usize,
    column: usize,
}

fn reported(stderr: &str) -> Vec<Reported> {
    let mut out = Vec::new();
    let mut fix = None;
    let mut in_error = false;
    for line in stderr.lines() {
        if line.starts_with("error") {
            in_error = true;
            fix = None;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(FIX_PREFIX) {
            fix = rest.strip_suffix('`').map(str::to_string);
        }
        if in_error {
            if let Some(at) = trimmed.strip_prefix("--> ") {
                let mut parts = at.rsplitn(3, ':');
                let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
                out.push(Reported {
                    fix: fix.take(),
                    line,
                    column,
                });
                in_error = false;
            }
        }
    }
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
        if let Some(after) = trimmed.strip_prefix("else") {
            let at = end + (rest.len() - trimmed.len()) + "else".len();
            let _ = after;
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

fn fixed_programs(dir: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/fail");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&ui)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    let mut programs = Vec::new();
    let mut unfixable = Vec::new();
    for stderr_path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
    {
        let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
        let errors = reported(&stderr);
        if errors.iter().all(|e| e.fix.is_none()) {
            continue;
        }
        let name = stderr_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if errors.iter().any(|e| e.fix.is_none()) {
            unfixable.push(name);
            continue;
        }
        let source = std::fs::read_to_string(stderr_path.with_extension("rs")).unwrap_or_default();
        let mut text = source.clone();
        // Last first, so earlier offsets stay valid.
        let mut fixes: Vec<&Reported> = errors.iter().collect();
        fixes.sort_by_key(|e| std::cmp::Reverse((e.line, e.column)));
        for e in fixes {
            let fix = e.fix.as_deref().unwrap_or_default();
            let cond = offset(&text, e.line, e.column);
            let Some((start, end)) = branch_span(&text, cond, fix) else {
                unfixable.push(name.clone());
                break;
            };
            text.replace_range(start..end, fix);
        }
        let text = format!("// {name}.rs with the `cond!` fixes of its errors pasted in.\nuse ferrex::cond;\n{text}");
        let path = dir.join(format!("{name}.rs"));
        std::fs::write(&path, &text).unwrap_or_default();
        programs.push((name, path.display().to_string()));
    }
    (programs, unfixable)
}

#[test]
fn every_cond_fix_compiles_when_pasted() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui_fixes");
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let (programs, unfixable) = fixed_programs(&dir);
    assert!(
        unfixable.is_empty(),
        "these UI programs print a `cond!` fix beside errors without one, so the fix cannot be \
         tried: {unfixable:?}"
    );
    assert!(
        !programs.is_empty(),
        "no `cond!` fix found in ui/fail/*.stderr"
    );
    let t = trybuild::TestCases::new();
    for (_, path) in &programs {
        t.pass(path);
    }
}
