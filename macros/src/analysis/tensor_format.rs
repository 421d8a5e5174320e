//! Rule: formatting a tensor with `{}` / `{:?}` (`println!`, `format!`, `dbg!`,
//! `.to_string()`): printing shows values, which a tensor does not have while exporting.

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

/// The fix as code, when one edit makes it (`replace `x` with `x.sizes()``), else as advice.
fn fixes(t: &str, replace: Option<(String, String)>) -> Vec<String> {
    let first = match replace {
        Some((old, new)) => format!("print its sizes instead: replace `{old}` with `{new}`"),
        None => {
            format!("print its dtype and sizes instead: `{{:?}}` of `{t}.sizes()`, `{t}.dtype()`")
        }
    };
    vec![
        first,
        "or print the outputs of the exported program after it runs".to_string(),
        non_strict_fix("prints the traced tensor (its dtype and shape)"),
    ]
}

/// `mac` formats `tensor`; `replace` is the edit that prints its sizes instead, where one
/// edit does (see [`sizes_instead`]).
pub fn error<T: ToTokens>(
    node: T,
    tensor: &str,
    mac: &str,
    replace: Option<(String, String)>,
) -> syn::Error {
    graph_break(
        node,
        &format!("`{mac}` formats the values of tensor `{tensor}`"),
        "while exporting, tensors have a dtype and a shape but no values to print",
        &fixes(tensor, replace),
    )
}

/// The edit that prints a tensor's sizes instead of its values: a positional argument `x`
/// under a `Debug` placeholder becomes `x.sizes()`; a format string whose only tensor is
/// inline (`"out: {y}"`, no other arguments) takes it as a positional `{:?}` of `y.sizes()`.
pub fn sizes_instead(
    fmt: &syn::LitStr,
    arg: Option<(&str, &str)>,
    inline: Option<&str>,
) -> Option<(String, String)> {
    if let Some((name, spec)) = arg {
        return spec
            .contains('?')
            .then(|| (name.to_string(), format!("{name}.sizes()")));
    }
    let name = inline?;
    let written = fmt.token().to_string();
    let mut hits = 0;
    let mut replaced = written.clone();
    for form in [format!("{{{name}}}"), format!("{{{name}:?}}")] {
        hits += written.matches(&form).count();
        replaced = replaced.replace(&form, "{:?}");
    }
    (hits == 1 && !written.starts_with('r'))
        .then(|| (written, format!("{replaced}, {name}.sizes()")))
}

pub fn to_string(call: &syn::ExprMethodCall, tensor: &str) -> syn::Error {
    graph_break(
        call,
        &format!("`.to_string()` formats the values of tensor `{tensor}`"),
        "while exporting, tensors have a dtype and a shape but no values to print",
        &fixes(tensor, None),
    )
}

/// The placeholders of a format string: `(Some(name), spec)` for `{name:spec}`,
/// `(None, spec)` for positional ones. `{{` is skipped.
pub fn placeholders(fmt: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '{' => {
                let mut inner = String::new();
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    inner.push(d);
                }
                let (arg, spec) = match inner.split_once(':') {
                    Some((a, s)) => (a.trim(), s.trim()),
                    None => (inner.trim(), ""),
                };
                let name = (!arg.is_empty() && !arg.chars().all(|c| c.is_ascii_digit()))
                    .then(|| arg.to_string());
                out.push((name, spec.trim_start_matches('#').to_string()));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_name_inline_arguments() {
        let p = placeholders("{} {x:?} {{literal}} {0} {y:#?} {:p}");
        let names: Vec<_> = p.iter().map(|(n, s)| (n.as_deref(), s.as_str())).collect();
        assert_eq!(
            names,
            [
                (None, ""),
                (Some("x"), "?"),
                (None, ""),
                (Some("y"), "?"),
                (None, "p")
            ]
        );
    }
}
