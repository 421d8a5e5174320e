//! The static HTML catalogue: `index.html` (the cases, their verdicts and tags, and the
//! cases of each tag) and one page per case (`<name>.html`: description, code, and the
//! exported program or the error).

use std::fmt::Write;
use std::path::{Path, PathBuf};

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

/// Text with its `code spans` as `<code>` elements, everything escaped.
pub fn inline_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            out.push_str(&escape(part));
        }
    }
    out
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;line-height:1.45;color:#1d1d1f}pre{background:#f5f5f7;padding:.8rem;\
overflow-x:auto;font-size:.85rem;line-height:1.3}code{font-family:ui-monospace,monospace}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;\
border-bottom:1px solid #ddd;vertical-align:top}.supported{color:#16794c;font-weight:600}\
.not-supported{color:#b42318;font-weight:600}.tag{display:inline-block;background:#eef;\
border-radius:.3rem;padding:0 .35rem;margin:0 .2rem .2rem 0;font-size:.85rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
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

/// The index page: the cases with verdicts and tags, then the cases of each tag.
pub fn index_page() -> String {
    let all = cases();
    let supported = all.iter().filter(|c| c.verdict.is_supported()).count();
    let mut body = String::new();
    let _ = writeln!(body, "<h1>ferrex ExportDB</h1>");
    let _ = writeln!(
        body,
        "<p>What <code>ferrex::export</code> supports and what it rejects, one small model \
         per feature: the Rust counterpart of PyTorch&#39;s ExportDB. {} cases: {supported} \
         supported, {} not supported.</p>",
        all.len(),
        all.len() - supported
    );
    let _ = writeln!(
        body,
        "<h2>Cases</h2>\n<table>\n<tr><th>case</th><th>verdict</th><th>tags</th></tr>"
    );
    for case in &all {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            escape(&page_name(case)),
            escape(case.name),
            verdict_html(case.verdict),
            tags_html(case, "")
        );
    }
    let _ = writeln!(body, "</table>\n<h2>Tags</h2>");
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
    page("ferrex ExportDB", &body)
}

/// A case's page: verdict, tags, description, code, and the program or the error.
pub fn case_page(case: &Case, outcome: &Outcome) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p><a href=\"index.html\">ferrex ExportDB</a></p>\n<h1>{}</h1>",
        escape(case.name)
    );
    let _ = writeln!(body, "<p>{}</p>", verdict_html(case.verdict));
    if !case.tags.is_empty() {
        let _ = writeln!(body, "<p>{}</p>", tags_html(case, "index.html"));
    }
    let _ = writeln!(body, "<p>{}</p>", inline_code(&case.description()));
    let _ = writeln!(
        body,
        "<h2>Code</h2>\n<pre><code>{}</code></pre>",
        escape(case.shown_code())
    );
    let result = case.result_text(outcome);
    let _ = writeln!(
        body,
        "<h2>{}</h2>\n<pre><code>{}</code></pre>",
        escape(&result.heading),
        escape(&result.body)
    );
    page(&format!("{} — ferrex ExportDB", case.name), &body)
}
