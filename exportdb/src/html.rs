//! The static HTML catalogue: `index.html` (a search box; the supported cases, then the
//! others, PyTorch's marked apart from the Rust-only ones; the cases of each tag) and one
//! page per case (`<name>.html`: description, the Rust code beside PyTorch's Python
//! original, ferrex's program or error beside PyTorch's program, and where their ops
//! differ).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::pytorch::{OpDifference, PyTorchCase};
use crate::{cases, tags, Case, Outcome, Verdict};

/// A file of the catalogue that could not be written.
#[derive(Debug)]
pub struct SiteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write `{}`: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for SiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Text with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// One line of markdown as HTML, everything escaped: `code spans`, **strong** and
/// *emphasis* (the markdown the case descriptions use).
pub fn markdown_inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            out.push_str(&emphasis(&escape(part)));
        }
    }
    out
}

/// `**strong**` and `*emphasis*` in escaped text; an unpaired `*` stays as it is.
fn emphasis(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('*') {
        let strong = rest[at..].starts_with("**");
        let marker = if strong { "**" } else { "*" };
        let after = &rest[at + marker.len()..];
        match after.find(marker) {
            Some(end) if end > 0 && !after.starts_with(' ') => {
                out.push_str(&rest[..at]);
                let tag = if strong { "strong" } else { "em" };
                out.push_str(&format!("<{tag}>{}</{tag}>", &after[..end]));
                rest = &after[end + marker.len()..];
            }
            _ => {
                out.push_str(&rest[..at + marker.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Paragraphs of markdown as `<p>` elements.
pub fn markdown(paragraphs: &[String]) -> String {
    paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", markdown_inline(p)))
        .collect()
}

/// The file name of a case's page.
pub fn page_name(case: &Case) -> String {
    let safe: String = case
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{safe}.html")
}

/// The anchor of a tag's section on the index page.
fn tag_anchor(tag: &str) -> String {
    let safe: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("tag-{safe}")
}

/// Writes the catalogue into `dir` (created if missing): `index.html` and one page per
/// case. Runs every case to show its program or error. Returns the files written.
pub fn write_site(dir: &Path) -> Result<Vec<PathBuf>, SiteError> {
    std::fs::create_dir_all(dir).map_err(|source| SiteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut write = |name: &str, html: String| {
        let path = dir.join(name);
        std::fs::write(&path, html).map_err(|source| SiteError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
        Ok::<(), SiteError>(())
    };
    write("index.html", index_page())?;
    for case in cases() {
        write(&page_name(case), case_page(case, &case.outcome()))?;
    }
    Ok(written)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;\
padding:0 1rem;line-height:1.45;color:#1d1d1f}\
pre{background:#f5f5f7;padding:.8rem;overflow-x:auto;font-size:.8rem;line-height:1.3}\
pre.wrap{white-space:pre-wrap;overflow-wrap:anywhere}\
code{font-family:ui-monospace,monospace}p code,td code{background:#f0f0f3;padding:0 .2rem;\
border-radius:.2rem}table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}\
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#fafafa}.supported{color:#16794c;font-weight:600}\
.not-supported{color:#b42318;font-weight:600}.tag{display:inline-block;background:#eef;\
border-radius:.3rem;padding:0 .35rem;margin:0 .2rem .2rem 0;font-size:.8rem;\
text-decoration:none}.origin{display:inline-block;border-radius:.3rem;padding:0 .4rem;\
font-size:.75rem;font-weight:600;white-space:nowrap}.origin.pytorch{background:#fde7d9;\
color:#8a3b12}.origin.rust{background:#e3ecfb;color:#1d4e89}\
#search{width:100%;font-size:1rem;padding:.5rem .7rem;border:1px solid #bbb;\
border-radius:.4rem;box-sizing:border-box}#count{color:#666;font-size:.9rem}\
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side>div{min-width:0}\
.side pre{white-space:pre-wrap;overflow-wrap:anywhere}\
@media(max-width:60rem){.side{grid-template-columns:1fr}}.muted{color:#666}\
p.file{font-family:ui-monospace,monospace;font-size:.8rem;color:#555;margin:.3rem 0;\
overflow-wrap:anywhere}";

/// Filters the index's rows by the words typed in the search box (prefilled from
/// `index.html?q=words`, so a search can be linked).
const SEARCH_SCRIPT: &str = "const box=document.getElementById('search');\
box.value=new URLSearchParams(location.search).get('q')||'';\
const rows=[...document.querySelectorAll('tr[data-search]')];\
const count=document.getElementById('count');\
function filter(){const words=box.value.toLowerCase().split(/\\s+/).filter(w=>w);\
let shown=0;for(const r of rows){const hit=words.every(w=>r.dataset.search.includes(w));\
r.hidden=!hit;if(hit)shown++;}\
count.textContent=words.length?shown+' of '+rows.length+' cases match':'';}\
box.addEventListener('input',filter);filter();";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

fn verdict_html(verdict: Verdict) -> String {
    let class = if verdict.is_supported() {
        "supported"
    } else {
        "not-supported"
    };
    format!(
        "<span class=\"{class}\">{}</span>",
        escape(&verdict.to_string())
    )
}

/// `PyTorch` for PyTorch's cases, `Rust-only` for the others.
fn origin_html(case: &Case) -> &'static str {
    if case.pytorch().is_some() {
        "<span class=\"origin pytorch\">PyTorch</span>"
    } else {
        "<span class=\"origin rust\">Rust-only</span>"
    }
}

fn pytorch_verdict_html(case: &Case) -> String {
    match case.pytorch() {
        Some(p) => {
            let class = if p.is_supported() {
                "supported"
            } else {
                "not-supported"
            };
            format!("<span class=\"{class}\">{}</span>", escape(p.support))
        }
        None => "<span class=\"muted\">—</span>".to_string(),
    }
}

fn tags_html(case: &Case, index: &str) -> String {
    case.tags
        .iter()
        .map(|t| {
            format!(
                "<a class=\"tag\" href=\"{index}#{}\">{}</a>",
                escape(&tag_anchor(t)),
                escape(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first sentence of the description, for the index.
fn summary(case: &Case) -> String {
    let first = case.paragraphs().into_iter().next().unwrap_or_default();
    match first.find(". ") {
        Some(end) if first[..end].matches('`').count().is_multiple_of(2) => {
            first[..=end].to_string()
        }
        _ => first,
    }
}

/// The text the search box matches: name, tags, description, origin.
fn search_text(case: &Case) -> String {
    let origin = if case.pytorch().is_some() {
        "pytorch"
    } else {
        "rust-only"
    };
    format!(
        "{} {} {} {origin}",
        case.name,
        case.tags.join(" "),
        case.description()
    )
    .to_lowercase()
}

fn case_rows(body: &mut String, cases: &[&Case]) {
    let _ = writeln!(
        body,
        "<table>\n<tr><th>case</th><th>origin</th><th>ferrex</th><th>PyTorch 2.15</th>\
         <th>tags</th><th>what it shows</th></tr>"
    );
    for case in cases {
        let _ = writeln!(
            body,
            "<tr data-search=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&search_text(case)),
            escape(&page_name(case)),
            escape(case.name),
            origin_html(case),
            verdict_html(case.verdict),
            pytorch_verdict_html(case),
            tags_html(case, ""),
            markdown_inline(&summary(case))
        );
    }
    let _ = writeln!(body, "</table>");
}

/// The index page: a search box; the supported cases, then the others, each marked as
/// PyTorch's or Rust-only with both verdicts; then the cases of each tag.
pub fn index_page() -> String {
    let all = cases();
    let (supported, rejected): (Vec<&Case>, Vec<&Case>) =
        all.iter().copied().partition(|c| c.verdict.is_supported());
    let pytorch: Vec<&Case> = all
        .iter()
        .copied()
        .filter(|c| c.pytorch().is_some())
        .collect();
    let ferrex_supports = pytorch.iter().filter(|c| c.verdict.is_supported()).count();
    let pytorch_supports = pytorch
        .iter()
        .filter(|c| c.pytorch().is_some_and(|p| p.is_supported()))
        .count();
    let mut body = String::new();
    let _ = writeln!(body, "<h1>ferrex ExportDB</h1>");
    let _ = writeln!(
        body,
        "<p>What <code>ferrex::export</code> supports and what it rejects, one small model \
         per feature: the Rust counterpart of PyTorch&#39;s ExportDB. {} cases: {} supported, \
         {} not supported. Of PyTorch&#39;s {} cases, ferrex supports {ferrex_supports} and \
         PyTorch 2.15 {pytorch_supports}; each case page shows PyTorch&#39;s Python original \
         and program beside ferrex&#39;s.</p>",
        all.len(),
        supported.len(),
        rejected.len(),
        pytorch.len()
    );
    let _ = writeln!(
        body,
        "<p><input id=\"search\" type=\"search\" placeholder=\"Search names, tags and \
         descriptions (e.g. cond, dynamic, rust-only)\" aria-label=\"Search the cases\"> \
         <span id=\"count\"></span></p>"
    );
    let _ = writeln!(
        body,
        "<h2 id=\"supported\">Supported ({})</h2>",
        supported.len()
    );
    case_rows(&mut body, &supported);
    let _ = writeln!(
        body,
        "<h2 id=\"not-supported\">Not supported ({})</h2>",
        rejected.len()
    );
    case_rows(&mut body, &rejected);
    let _ = writeln!(body, "<h2>Tags</h2>");
    for tag in tags() {
        let _ = writeln!(
            body,
            "<h3 id=\"{}\">{}</h3>\n<ul>",
            escape(&tag_anchor(tag)),
            escape(tag)
        );
        for case in all.iter().filter(|c| c.tags.contains(&tag)) {
            let _ = writeln!(
                body,
                "<li><a href=\"{}\">{}</a> — {}</li>",
                escape(&page_name(case)),
                escape(case.name),
                verdict_html(case.verdict)
            );
        }
        let _ = writeln!(body, "</ul>");
    }
    let _ = writeln!(body, "<script>{SEARCH_SCRIPT}</script>");
    page("ferrex ExportDB", &body)
}

/// A case's page: verdicts, tags, description; for PyTorch's cases, two columns — the
/// Rust code beside PyTorch's Python original, ferrex's program (or error) beside
/// PyTorch's — then the ops where they differ.
pub fn case_page(case: &Case, outcome: &Outcome) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p><a href=\"index.html\">ferrex ExportDB</a></p>\n<h1>{}</h1>",
        escape(case.name)
    );
    let _ = writeln!(
        body,
        "<p>{} ferrex: {}</p>",
        origin_html(case),
        verdict_html(case.verdict)
    );
    if !case.tags.is_empty() {
        let _ = writeln!(body, "<p>{}</p>", tags_html(case, "index.html"));
    }
    body.push_str(&markdown(&case.paragraphs()));
    let result = case.result_text(outcome);
    // Diagnostics are prose: wrap them; programs keep their lines.
    let class = if result.heading == "Exported program" {
        ""
    } else {
        " class=\"wrap\""
    };
    let rust_code = format!(
        "<h2>ferrex (Rust)</h2>\n<p>verdict: {}</p>\n<p class=\"file\">{}</p>\n\
         <pre><code>{}</code></pre>",
        verdict_html(case.verdict),
        escape(&case.code_path()),
        escape(case.shown_code())
    );
    let ferrex_result = format!(
        "<h3>{}</h3>\n<pre{class}><code>{}</code></pre>",
        escape(&result.heading),
        escape(&result.body)
    );
    match case.pytorch() {
        Some(p) => {
            // A grid of two columns: the sources side by side, then the programs.
            let _ = writeln!(
                body,
                "<div class=\"side\">\n<div>{rust_code}</div>\n<div>{}</div>\n\
                 <div>{ferrex_result}</div>\n<div>{}</div>\n</div>",
                python_source_html(case, &p),
                pytorch_program_html(&p)
            );
            if let Ok(exported) = outcome {
                let diff = OpDifference::between(&p.op_targets(), &exported.program.op_targets());
                let _ = writeln!(
                    body,
                    "<h3>Op differences</h3>\n<pre class=\"wrap\"><code>{}</code></pre>",
                    escape(&diff.to_string())
                );
            }
        }
        None => {
            let _ = writeln!(
                body,
                "{rust_code}\n{ferrex_result}\n<h2>PyTorch</h2>\n<p class=\"muted\">A \
                 Rust-only case: the construct has no Python counterpart in PyTorch&#39;s \
                 ExportDB.</p>"
            );
        }
    }
    page(&format!("{} — ferrex ExportDB", case.name), &body)
}

/// PyTorch's column, top: its verdict and the case's Python original.
fn python_source_html(case: &Case, p: &PyTorchCase) -> String {
    let source = match p.python {
        Some(python) => format!("<pre><code>{}</code></pre>", escape(python.trim_end())),
        None => "<p class=\"muted\">The Python original is missing.</p>".to_string(),
    };
    format!(
        "<h2>PyTorch 2.15 (Python)</h2>\n<p>verdict: {} · <a href=\"{}\">docs</a></p>\n\
         <p class=\"file\">torch/_export/db/examples/{}.py</p>\n{source}",
        pytorch_verdict_html(case),
        escape(&p.docs_url()),
        escape(p.name)
    )
}

/// PyTorch's column, bottom: the program PyTorch exports (or its error).
fn pytorch_program_html(p: &PyTorchCase) -> String {
    format!(
        "<h3>PyTorch&#39;s program</h3>\n<pre class=\"wrap\"><code>{}</code></pre>",
        escape(p.output)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_code_emphasis_and_escapes() {
        assert_eq!(
            markdown_inline("an *unbacked* symbol `u0 <= 5`, **not** a <tag>, 2 * 3"),
            "an <em>unbacked</em> symbol <code>u0 &lt;= 5</code>, <strong>not</strong> a \
             &lt;tag&gt;, 2 * 3"
        );
        assert_eq!(
            markdown(&["one".to_string(), "two".to_string()]),
            "<p>one</p>\n<p>two</p>\n"
        );
    }
}
