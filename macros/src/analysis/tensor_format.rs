//! Rule: formatting a tensor with `{}` / `{:?}` (`println!`, `format!`, `dbg!`,
//! `.to_string()`): printing shows values, which a tensor does not have while exporting.

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

fn fixes(t: &str) -> Vec<String> {
    vec![
        format!("print its dtype and sizes instead: `{{:?}}` of `{t}.sizes()`, `{t}.dtype()`"),
        "or print the outputs of the exported program after it runs".to_string(),
        non_strict_fix("prints the traced tensor (its dtype and shape)"),
    ]
}

pub fn error<T: ToTokens>(node: T, tensor: &str, mac: &str) -> syn::Error {
    graph_break(
        node,
        &format!("`{mac}` formats the values of tensor `{tensor}`"),
        "while exporting, tensors have a dtype and a shape but no values to print",
        &fixes(tensor),
    )
}

pub fn to_string(call: &syn::ExprMethodCall, tensor: &str) -> syn::Error {
    graph_break(
        call,
        &format!("`.to_string()` formats the values of tensor `{tensor}`"),
        "while exporting, tensors have a dtype and a shape but no values to print",
        &fixes(tensor),
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
