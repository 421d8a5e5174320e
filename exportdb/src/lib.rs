//! # ferrex ExportDB
//!
//! The catalogue of what `ferrex::export` supports and what it rejects, one small model
//! per feature — the Rust counterpart of PyTorch's ExportDB. It carries every one of
//! PyTorch's 36 cases under the same name and tags, and cases for Rust-only constructs
//! (tagged `rust.*`).
//!
//! Each case lives in its own file, `src/cases/<name>.rs`: a doc comment that describes
//! it, the model (a struct and its `#[export_module]` impl), its example inputs, and a
//! [`Case`] registered with `inventory::submit!`. A case is
//!
//! - [`Verdict::Supported`] — it exports, and [`Case::outcome`] checks that the
//!   exported program's outputs (and input mutations) equal the eager model's;
//! - [`Verdict::NotSupported`] — rejected, either at compile time by strict export's
//!   graph-break analysis (the code is a trybuild compile-fail program,
//!   `ui/<name>.rs`, and its exact diagnostic `ui/<name>.stderr`), or at export time
//!   with an error, which [`Case::outcome`] returns.
//!
//! ```
//! let case = ferrex_exportdb::case("cond_predicate").expect("a case of the catalogue");
//! assert!(case.tags.contains(&"torch.cond"));
//! let exported = case.outcome().expect("cond_predicate is supported");
//! assert_eq!(exported.program.op_targets(), ["aten::sin.default"]);
//! ```
//!
//! Browse it with the `exportdb` binary: `cargo run -p ferrex-exportdb -- list`,
//! `-- show <case>`, `-- tag <tag>`, `-- html <dir>`.

mod cases;
pub mod check;
pub mod html;
pub mod pytorch;

use std::fmt;

pub use check::{DeepCopy, EagerCheck, Exported, Failure, Outcome};

/// One case of the catalogue.
pub struct Case {
    /// The case's name, PyTorch's for the cases they share (`cond_predicate`).
    pub name: &'static str,
    /// PyTorch's tag names (`torch.cond`), and `rust.*` tags for Rust-only constructs.
    pub tags: &'static [&'static str],
    /// Whether ferrex exports it, and if not, how it is rejected.
    pub verdict: Verdict,
    /// The text of the case's file, `src/cases/<name>.rs` (its doc comment is the
    /// description).
    pub file: &'static str,
    /// The model's code as shown in the catalogue: the case file for cases that
    /// compile, the trybuild program `ui/<name>.rs` for cases rejected at compile time.
    pub code: &'static str,
    /// Runs the case: exports the model and, for a supported case, compares the exported
    /// program with the eager model. For a case rejected at compile time it returns
    /// [`Failure::CompileTime`] with the diagnostic.
    pub run: fn() -> Outcome,
}

inventory::collect!(Case);

/// What ferrex does with a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Exports, and the exported program computes what the eager model computes.
    Supported,
    /// Rejected, with the error a user sees.
    NotSupported(Rejection),
}

/// How an unsupported case is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Strict export's graph-break analysis fails the build; `diagnostic` is the exact
    /// compiler output (the trybuild `.stderr`).
    CompileTime { diagnostic: &'static str },
    /// The code compiles, and `ferrex::export` returns an error.
    ExportTime,
}

impl Verdict {
    pub fn is_supported(self) -> bool {
        self == Verdict::Supported
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Supported => "SUPPORTED",
            Verdict::NotSupported(Rejection::CompileTime { .. }) => {
                "NOT SUPPORTED (rejected at compile time)"
            }
            Verdict::NotSupported(Rejection::ExportTime) => {
                "NOT SUPPORTED (rejected at export time)"
            }
        })
    }
}

/// The marker line that ends the part of a case file shown as its code; what follows
/// is the catalogue entry.
pub const ENTRY_MARKER: &str = "// ---- ExportDB entry ";

impl Case {
    /// The case's description: its file's doc comment (`//!` lines), paragraphs
    /// separated by a blank line, each on one line (markdown: `code`, *emphasis*).
    pub fn description(&self) -> String {
        self.paragraphs().join("\n\n")
    }

    /// The paragraphs of the description, each on one line.
    pub fn paragraphs(&self) -> Vec<String> {
        let mut paragraphs = Vec::new();
        let mut paragraph = String::new();
        for line in self.file.lines() {
            let Some(text) = line.trim_start().strip_prefix("//!") else {
                break;
            };
            let text = text.trim();
            if text.is_empty() {
                if !paragraph.is_empty() {
                    paragraphs.push(std::mem::take(&mut paragraph));
                }
                continue;
            }
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(text);
        }
        if !paragraph.is_empty() {
            paragraphs.push(paragraph);
        }
        paragraphs
    }

    /// PyTorch's verdict and program for this case, when it is one of PyTorch's.
    pub fn pytorch(&self) -> Option<pytorch::PyTorchCase> {
        pytorch::pytorch_case(self.name)
    }

    /// The code shown for the case: for a case that compiles, its file without the doc
    /// comment (shown as the description) and without the catalogue entry; for a case
    /// rejected at compile time, the trybuild program without its empty `main`.
    pub fn shown_code(&self) -> &'static str {
        if let Verdict::NotSupported(Rejection::CompileTime { .. }) = self.verdict {
            // The trybuild program without its `fn main() {}`, which only makes it a
            // binary.
            let code = self.code.trim_end();
            return code
                .strip_suffix("fn main() {}")
                .map(str::trim_end)
                .unwrap_or(code);
        }
        let code = self.code;
        let mut start = 0;
        for line in code.split_inclusive('\n') {
            if line.trim_start().starts_with("//!") || (start > 0 && line.trim().is_empty()) {
                start += line.len();
            } else {
                break;
            }
        }
        let end = code.find(ENTRY_MARKER).unwrap_or(code.len());
        code.get(start..end.max(start)).unwrap_or(code).trim_end()
    }

    /// Where the shown code lives in the repository: `exportdb/ui/<name>.rs` for a case
    /// rejected at compile time, `exportdb/src/cases/<name>.rs` otherwise.
    pub fn code_path(&self) -> String {
        match self.verdict {
            Verdict::NotSupported(Rejection::CompileTime { .. }) => {
                format!("exportdb/ui/{}.rs", self.name)
            }
            _ => format!("exportdb/src/cases/{}.rs", self.name),
        }
    }

    /// The compiler's diagnostic, for a case rejected at compile time.
    pub fn diagnostic(&self) -> Option<&'static str> {
        match self.verdict {
            Verdict::NotSupported(Rejection::CompileTime { diagnostic }) => Some(diagnostic),
            _ => None,
        }
    }

    /// Runs the case: see the `run` field.
    pub fn outcome(&self) -> Outcome {
        (self.run)()
    }

    /// Whether `outcome` is what the verdict says: a supported case exported and matched
    /// the eager model; an unsupported one failed at the stage its verdict names.
    pub fn behaves_as_declared(&self, outcome: &Outcome) -> bool {
        matches!(
            (self.verdict, outcome),
            (Verdict::Supported, Ok(_))
                | (
                    Verdict::NotSupported(Rejection::ExportTime),
                    Err(Failure::Export(_))
                )
                | (
                    Verdict::NotSupported(Rejection::CompileTime { .. }),
                    Err(Failure::CompileTime { .. })
                )
        )
    }

    /// A heading and a text for the result of running the case: the exported program
    /// with its comparisons against the eager model, the compile-time diagnostic, or
    /// the export error.
    pub fn result_text(&self, outcome: &Outcome) -> ResultText {
        let (heading, body) = match outcome {
            Ok(exported) => {
                let mut text = exported.program.to_string();
                if !exported.checks.is_empty() {
                    text.push('\n');
                }
                for check in &exported.checks {
                    let diff = if check.max_abs_diff == 0.0 {
                        "0".to_string()
                    } else {
                        format!("{:.1e}", check.max_abs_diff)
                    };
                    text.push_str(&format!(
                        "checked against the eager model on {}: {} values, max |difference| {diff}\n",
                        check.inputs, check.values
                    ));
                }
                ("Exported program", text)
            }
            Err(Failure::CompileTime { diagnostic }) => (
                "Compile-time diagnostic (strict export)",
                diagnostic.trim_end().to_string(),
            ),
            Err(Failure::Export(e)) => ("Export error", e.to_string()),
            Err(other) => {
                let expected = match self.verdict {
                    Verdict::Supported => "this case is supported, but running it failed",
                    Verdict::NotSupported(Rejection::ExportTime) => {
                        "this case should fail to export, but it failed otherwise"
                    }
                    Verdict::NotSupported(Rejection::CompileTime { .. }) => {
                        "this case should be rejected at compile time"
                    }
                };
                ("Unexpected result", format!("{expected}: {other}"))
            }
        };
        ResultText {
            heading: heading.to_string(),
            body,
        }
    }
}

/// What running a case gave, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultText {
    /// `Exported program`, `Export error`, `Compile-time diagnostic (strict export)`.
    pub heading: String,
    pub body: String,
}

/// Every case, sorted by name.
pub fn cases() -> Vec<&'static Case> {
    let mut all: Vec<&'static Case> = inventory::iter::<Case>.into_iter().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// The case called `name`.
pub fn case(name: &str) -> Option<&'static Case> {
    inventory::iter::<Case>.into_iter().find(|c| c.name == name)
}

/// Every tag used by a case, sorted.
pub fn tags() -> Vec<&'static str> {
    let mut tags: Vec<&'static str> = cases()
        .iter()
        .flat_map(|c| c.tags.iter().copied())
        .collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// The cases carrying `tag`, sorted by name.
pub fn cases_with_tag(tag: &str) -> Vec<&'static Case> {
    cases()
        .into_iter()
        .filter(|c| c.tags.contains(&tag))
        .collect()
}
