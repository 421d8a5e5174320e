//! `exportdb`: browse ferrex's ExportDB from the command line.
//!
//! ```text
//! exportdb list            every case, with its verdict and tags
//! exportdb show <case>     a case: tags, verdict, description, code (and PyTorch's
//!                          Python original), program or error, and PyTorch's
//!                          verdict and program beside it
//! exportdb tag <tag>       the cases carrying a tag
//! exportdb tags            every tag, with its number of cases
//! exportdb html <dir>      writes the static HTML catalogue into <dir>
//! ```
//!
//! Errors (an unknown case or tag, a directory that cannot be written) are messages on
//! stderr with exit status 1; a wrong command line prints the usage with status 2.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ferrex_exportdb::pytorch::OpDifference;
use ferrex_exportdb::{Case, Rejection, Verdict};

const USAGE: &str = "\
exportdb — browse ferrex's ExportDB

usage:
  exportdb list            every case, with its verdict and tags
  exportdb show <case>     a case: tags, verdict, description, code, program or error
  exportdb tag <tag>       the cases carrying a tag
  exportdb tags            every tag, with its number of cases
  exportdb html <dir>      writes the static HTML catalogue into <dir>
  exportdb help            this text";

/// Why a command failed.
enum CliError {
    /// The command line is wrong: print the message and the usage, exit 2.
    Usage(String),
    /// The command failed: print what it produced and the message, exit 1.
    Failed { output: String, message: String },
}

impl CliError {
    fn failed(message: String) -> CliError {
        CliError::Failed {
            output: String::new(),
            message,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Failed { output, message }) => {
            print!("{output}");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, CliError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["help"] | ["--help"] | ["-h"] => Ok(format!("{USAGE}\n")),
        ["list"] => Ok(list()),
        ["show", name] => show(name),
        ["tag", tag] => tag_cases(tag),
        ["tags"] => Ok(tag_list()),
        ["html", dir] => html(Path::new(dir)),
        [command @ ("show" | "tag" | "html"), ..] => Err(CliError::Usage(format!(
            "`{command}` takes exactly one argument"
        ))),
        [other, ..] => Err(CliError::Usage(format!("unknown command `{other}`"))),
    }
}

/// `supported`, `not supported (compile time)`, `not supported (export time)`.
fn short_verdict(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Supported => "supported",
        Verdict::NotSupported(Rejection::CompileTime { .. }) => "not supported (compile time)",
        Verdict::NotSupported(Rejection::ExportTime) => "not supported (export time)",
    }
}

fn case_line(out: &mut String, case: &Case) {
    let _ = writeln!(
        out,
        "{:<32} {:<30} {}",
        case.name,
        short_verdict(case.verdict),
        case.tags.join(", ")
    );
}

fn list() -> String {
    let cases = ferrex_exportdb::cases();
    let supported = cases.iter().filter(|c| c.verdict.is_supported()).count();
    let mut out = format!(
        "{} cases: {supported} supported, {} not supported\n\n",
        cases.len(),
        cases.len() - supported
    );
    for case in cases {
        case_line(&mut out, case);
    }
    out
}

fn show(name: &str) -> Result<String, CliError> {
    let case = ferrex_exportdb::case(name).ok_or_else(|| {
        let names: Vec<&str> = ferrex_exportdb::cases().iter().map(|c| c.name).collect();
        let near: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.contains(name) || name.contains(n))
            .collect();
        let hint = if near.is_empty() {
            "`exportdb list` shows every case".to_string()
        } else {
            format!("did you mean {}?", near.join(", "))
        };
        CliError::failed(format!("no case is called `{name}`; {hint}"))
    })?;
    let outcome = case.outcome();
    let mut out = String::new();
    let _ = writeln!(out, "{}", case.name);
    let _ = writeln!(out, "tags: {}", tag_text(case));
    let _ = writeln!(out, "verdict: {}\n", case.verdict);
    let _ = writeln!(out, "{}\n", wrap(&case.description(), 90));
    let _ = writeln!(out, "code:\n{}\n", case.shown_code());
    let pytorch = case.pytorch();
    if let Some(python) = pytorch.as_ref().and_then(|p| p.python) {
        let _ = writeln!(
            out,
            "python original (PyTorch 2.15, torch/_export/db/examples/{}.py):\n{}\n",
            case.name,
            python.trim_end()
        );
    }
    let result = case.result_text(&outcome);
    let _ = writeln!(
        out,
        "{}:\n{}",
        result.heading.to_lowercase(),
        result.body.trim_end()
    );
    match pytorch {
        Some(p) => {
            let _ = writeln!(out, "\npytorch 2.15: {}\n{}", p.support, p.output);
            if let Ok(exported) = &outcome {
                let diff = OpDifference::between(&p.op_targets(), &exported.program.op_targets());
                let _ = writeln!(out, "\nop differences:\n{diff}");
            }
            let _ = writeln!(out, "\npytorch docs: {}", p.docs_url());
        }
        None => {
            let _ = writeln!(out, "\npytorch: none (a Rust-only case)");
        }
    }
    if case.behaves_as_declared(&outcome) {
        Ok(out)
    } else {
        Err(CliError::Failed {
            output: out,
            message: format!(
                "`{}` did not behave as its verdict says ({})",
                case.name, case.verdict
            ),
        })
    }
}

/// `text` broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

fn tag_text(case: &Case) -> String {
    if case.tags.is_empty() {
        "(none)".into()
    } else {
        case.tags.join(", ")
    }
}

fn tag_cases(tag: &str) -> Result<String, CliError> {
    let cases = ferrex_exportdb::cases_with_tag(tag);
    if cases.is_empty() {
        return Err(CliError::failed(format!(
            "no case is tagged `{tag}`; the tags are: {}",
            ferrex_exportdb::tags().join(", ")
        )));
    }
    let mut out = String::new();
    for case in cases {
        case_line(&mut out, case);
    }
    Ok(out)
}

fn tag_list() -> String {
    let mut out = String::new();
    for tag in ferrex_exportdb::tags() {
        let _ = writeln!(
            out,
            "{tag:<28} {}",
            ferrex_exportdb::cases_with_tag(tag).len()
        );
    }
    out
}

fn html(dir: &Path) -> Result<String, CliError> {
    let written =
        ferrex_exportdb::html::write_site(dir).map_err(|e| CliError::failed(e.to_string()))?;
    Ok(format!(
        "wrote {} files into {} (open {})\n",
        written.len(),
        dir.display(),
        dir.join("index.html").display()
    ))
}
