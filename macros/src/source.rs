//! Rebuilding source lines from tokens (span joining is nightly-only, so a statement's
//! span gives only its first token): every token's start line and column place it on its
//! line, and the gaps between columns restore the spacing.

use std::collections::BTreeMap;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The file of the macro call, as `std::panic::Location::file()` spells it at run time.
pub fn call_site_file() -> String {
    proc_macro::Span::call_site().file()
}

fn push(lines: &mut BTreeMap<usize, Vec<(usize, String)>>, span: proc_macro2::Span, text: String) {
    let start = span.start();
    if start.line == 0 {
        return;
    }
    // A token spanning lines (a multi-line string) shows its first line only.
    let first = text.lines().next().unwrap_or("").to_string();
    lines
        .entry(start.line)
        .or_default()
        .push((start.column, first));
}

fn collect(tokens: TokenStream, lines: &mut BTreeMap<usize, Vec<(usize, String)>>) {
    for tt in tokens {
        match tt {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                if !open.is_empty() {
                    push(lines, g.span_open(), open.into());
                }
                collect(g.stream(), lines);
                if !close.is_empty() {
                    // The whole group's span ends just after its closing delimiter.
                    let end = g.span().end();
                    if end.line > 0 && end.column > 0 {
                        lines
                            .entry(end.line)
                            .or_default()
                            .push((end.column - 1, close.into()));
                    }
                }
            }
            TokenTree::Ident(i) => push(lines, i.span(), i.to_string()),
            TokenTree::Punct(p) => push(lines, p.span(), p.as_char().to_string()),
            TokenTree::Literal(l) => push(lines, l.span(), l.to_string()),
        }
    }
}

/// The text of each line the tokens cover, indentation removed.
pub fn lines_of(tokens: TokenStream) -> BTreeMap<usize, String> {
    let mut raw = BTreeMap::new();
    collect(tokens, &mut raw);
    let mut out = BTreeMap::new();
    for (line, mut toks) in raw {
        toks.sort_by_key(|(c, _)| *c);
        let mut text = String::new();
        let mut col = None;
        for (c, t) in toks {
            if let Some(prev_end) = col {
                if c > prev_end {
                    text.push_str(&" ".repeat(c - prev_end));
                }
            }
            col = Some(c + t.chars().count());
            text.push_str(&t);
        }
        out.insert(line, text.trim().to_string());
    }
    out
}

/// The source text of `tokens` on one line: spacing restored from columns, lines joined
/// by a space. Tokens without a location (generated code) are printed by `quote`.
pub fn text_of(tokens: TokenStream) -> String {
    let text = lines_of(tokens.clone())
        .into_values()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        tokens.to_string()
    } else {
        text
    }
}
