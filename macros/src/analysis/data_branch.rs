//! Rule: control flow on tensor data (`if`, `while`, `match`, guards, loop bounds) — the
//! tutorial's `Bad1`. While exporting, tensors have a dtype and a shape but no values,
//! so the graph could only hold one of the paths.

use quote::ToTokens;
use syn::{Expr, Stmt};

use super::{graph_break, text};

/// The construct whose condition depends on tensor data.
#[derive(Clone, Copy)]
pub enum Construct {
    If,
    IfLet,
    While,
    Match,
    Guard,
    ForBound,
    LetElse,
    /// An `if` whose branch `break`s or `continue`s: the loop's trip count is data.
    LoopExit,
}

pub fn error<T: ToTokens>(
    cond: T,
    construct: Construct,
    tensors: &[String],
    cond_suggestion: Option<String>,
) -> syn::Error {
    let headline = match construct {
        Construct::If => "this `if` branches on tensor data",
        Construct::IfLet => "this `if let` branches on tensor data",
        Construct::While => "this `while` loop runs for as long as tensor data says",
        Construct::Match => "this `match` branches on tensor data",
        Construct::Guard => "this match guard branches on tensor data",
        Construct::ForBound => "this `for` loop runs as many times as tensor data says",
        Construct::LetElse => "this `let … else` branches on tensor data",
        Construct::LoopExit => "this `if` decides from tensor data when a loop stops",
    };
    let of = match tensors {
        [] => "tensor values".to_string(),
        names => format!(
            "the values of {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let subject = match construct {
        Construct::Match | Construct::IfLet | Construct::LetElse => "the matched value",
        Construct::ForBound => "the range",
        _ => "the condition",
    };
    let why = format!(
        "{subject} depends on {of}; while exporting, tensors have a dtype and a shape \
         but no values, so the graph cannot record which way to go"
    );
    let t = tensors
        .iter()
        .find(|n| !n.starts_with("self."))
        .map_or("x", String::as_str);
    let mut fixes = Vec::new();
    match construct {
        Construct::If
        | Construct::Match
        | Construct::Guard
        | Construct::IfLet
        | Construct::LetElse => {
            match cond_suggestion {
                // A guard's branches are an arm and the arms after it: a template to fill.
                Some(s) if matches!(construct, Construct::Guard) => fixes.push(format!(
                    "keep both branches in the graph with `{s}`, where `then_branch` is this \
                     arm's value and `else_branch` what the arms after it give"
                )),
                // A predicate the analysis could not write is a template, not a fix.
                Some(s) if s.contains("/*") => fixes.push(format!(
                    "keep both branches in the graph with `{s}`, where the predicate is a \
                     one-element bool tensor"
                )),
                Some(s) => fixes.push(format!(
                    "keep both branches in the graph with `cond!`: `{s}`"
                )),
                None => fixes.push(format!(
                    "keep both branches in the graph with \
                     `cond!(pred, |{t}| then_branch, |{t}| else_branch, [{t}])`, where `pred` is a \
                     one-element bool tensor (`{t}.sum().gt(0.0)`)"
                )),
            }
            fixes.push(format!(
                "or decide on shapes instead (`{t}.size(0) > 4`, `{t}.dim() == 2`): conditions \
                 on sizes are known while exporting and become guards of the program"
            ));
        }
        Construct::While | Construct::ForBound | Construct::LoopExit => fixes.push(format!(
            "loop a fixed number of times, or as many times as a size says \
             (`for i in 0..{t}.size(0)`): sizes are known while exporting and become guards"
        )),
    }
    graph_break(cond, headline, &why, &fixes)
}

/// The predicate of the suggested `cond!`: `x.sum().item::<f32>()… > 0.0` becomes
/// `x.sum().gt(0.0)`; a condition that already is a tensor is kept; anything else is a
/// placeholder that says what it must be.
pub fn predicate(
    cond: &Expr,
    is_tensor: bool,
    origins: &std::collections::HashMap<String, String>,
) -> String {
    let cond = strip_parens(cond);
    if is_tensor {
        return text(cond);
    }
    // `x.gt(0.0).all().item::<bool>()`: the bool tensor itself.
    if let Some(t) = item_receiver(cond) {
        return text(t);
    }
    if let Expr::Unary(u) = cond {
        if matches!(u.op, syn::UnOp::Not(_)) {
            if let Some(t) = item_receiver(&u.expr) {
                return format!("{}.logical_not()", text(t));
            }
        }
    }
    if let Expr::Binary(b) = cond {
        let op = match b.op {
            syn::BinOp::Gt(_) => Some(("gt", "lt")),
            syn::BinOp::Ge(_) => Some(("ge", "le")),
            syn::BinOp::Lt(_) => Some(("lt", "gt")),
            syn::BinOp::Le(_) => Some(("le", "ge")),
            syn::BinOp::Eq(_) => Some(("eq", "eq")),
            syn::BinOp::Ne(_) => Some(("ne", "ne")),
            _ => None,
        };
        if let Some((op, flipped)) = op {
            // A read, directly or through a binding of one (`let a = t.item()`): the
            // tensor's text.
            let read = |e: &Expr| -> Option<String> {
                if let Some(t) = item_receiver(e) {
                    return Some(text(t));
                }
                match strip_parens(e) {
                    Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                        origins.get(&p.path.segments[0].ident.to_string()).cloned()
                    }
                    _ => None,
                }
            };
            // The other side: a number, or another read (`&t`, a tensor operand).
            let operand = |e: &Expr| match read(e) {
                Some(t) => format!("&{t}"),
                None => text(e),
            };
            if let Some(t) = read(&b.left) {
                return format!("{t}.{op}({})", operand(&b.right));
            }
            if let Some(t) = read(&b.right) {
                return format!("{t}.{flipped}({})", operand(&b.left));
            }
        }
    }
    format!("/* {} as a one-element bool tensor */", text(cond))
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        other => other,
    }
}

/// `t.item::<f32>()` (through `.unwrap()`, `.unwrap_or(..)`, `.expect(..)`, `?`): `t`.
pub fn item_receiver(e: &Expr) -> Option<&Expr> {
    match strip_parens(e) {
        Expr::MethodCall(m) if m.method == "item" && m.args.is_empty() => Some(&m.receiver),
        Expr::MethodCall(m)
            if matches!(
                m.method.to_string().as_str(),
                "unwrap" | "unwrap_or" | "unwrap_or_default" | "unwrap_or_else" | "expect"
            ) =>
        {
            item_receiver(&m.receiver)
        }
        Expr::Try(t) => item_receiver(&t.expr),
        Expr::Cast(c) => item_receiver(&c.expr),
        _ => None,
    }
}

/// Whether a branch ends the program (`panic!`, `std::process::exit`, `unreachable!`):
/// such a branch is a check, which has no `cond!` form.
pub fn diverges(tokens: proc_macro2::TokenStream) -> bool {
    let toks: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    toks.iter().enumerate().any(|(i, tt)| match tt {
        proc_macro2::TokenTree::Ident(id) => {
            let bang = matches!(toks.get(i + 1), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '!');
            (bang && matches!(id.to_string().as_str(), "panic" | "unreachable" | "todo" | "unimplemented"))
                || matches!(id.to_string().as_str(), "exit" | "abort")
        }
        proc_macro2::TokenTree::Group(g) => diverges(g.stream()),
        _ => false,
    })
}

/// The locals a branch assigns at its top level (`y = y.relu();`, `y += 1.0;`), in order.
pub fn assigned(stmts: &[Stmt]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stmts {
        if let Some((name, _)) = assignment(s) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// `name = value;` or `name op= value;`: the name and the value as an expression text.
fn assignment(s: &Stmt) -> Option<(String, String)> {
    let Stmt::Expr(e, Some(_)) = s else {
        return None;
    };
    let (left, value) = match e {
        Expr::Assign(a) => (&*a.left, text(&*a.right)),
        Expr::Binary(b) => {
            let op = match b.op {
                syn::BinOp::AddAssign(_) => "+",
                syn::BinOp::SubAssign(_) => "-",
                syn::BinOp::MulAssign(_) => "*",
                syn::BinOp::DivAssign(_) => "/",
                _ => return None,
            };
            (
                &*b.left,
                format!("{} {op} {}", text(&*b.left), text(&*b.right)),
            )
        }
        _ => return None,
    };
    match strip_parens(left) {
        Expr::Path(p) if p.path.segments.len() == 1 && p.qself.is_none() => {
            Some((p.path.segments[0].ident.to_string(), value))
        }
        _ => None,
    }
}

/// A branch that assigns `names` as a closure body that returns their new values:
/// `y = y.relu();` becomes `{ let y = y.relu(); y.clone() }`.
pub fn assigning_branch_text(stmts: &[Stmt], names: &[String]) -> String {
    let mut body: Vec<String> = stmts
        .iter()
        .map(|s| match assignment(s) {
            Some((name, value)) if names.contains(&name) => format!("let {name} = {value};"),
            _ => text(s),
        })
        .collect();
    body.push(returned(names));
    format!("{{ {} }}", body.join(" "))
}

/// `y.clone()` or `(a.clone(), b.clone())`.
pub fn returned(names: &[String]) -> String {
    match names {
        [one] => format!("{one}.clone()"),
        many => format!(
            "({})",
            many.iter()
                .map(|n| format!("{n}.clone()"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A branch as the body of a closure: its value expression, or the whole block.
pub fn branch_text(stmts: &[Stmt]) -> String {
    match stmts {
        [Stmt::Expr(Expr::Return(r), _)] => r.expr.as_ref().map(|e| text(&**e)).unwrap_or_default(),
        [Stmt::Expr(e, None)] => text(e),
        many => {
            let body: Vec<String> = many.iter().map(text).collect();
            format!("{{ {} }}", body.join(" "))
        }
    }
}

/// `cond!(pred, |ops| then, |ops| else, [ops])`.
/// The `cond!` call, with branch parameters typed `&Tensor` so that branch code written
/// for references (`self.block.forward(x)`) compiles unchanged.
pub fn cond_call(pred: &str, ops: &[String], then: &str, otherwise: &str) -> String {
    let params = ops
        .iter()
        .map(|o| format!("{o}: &Tensor"))
        .collect::<Vec<_>>()
        .join(", ");
    let operands = ops.join(", ");
    format!("cond!({pred}, |{params}| {then}, |{params}| {otherwise}, [{operands}])")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(src: &str, is_tensor: bool) -> String {
        predicate(
            &syn::parse_str(src).expect("an expression"),
            is_tensor,
            &Default::default(),
        )
    }

    #[test]
    fn item_comparisons_become_tensor_comparisons() {
        assert_eq!(
            pred("x.sum().item::<f32>().unwrap() > 0.0", false),
            "x.sum().gt(0.0)"
        );
        assert_eq!(
            pred("0.5 <= x.mean().item::<f32>()?", false),
            "x.mean().ge(0.5)"
        );
        assert_eq!(
            pred(
                "a.item::<f32>().unwrap() == b.item::<f32>().unwrap()",
                false
            ),
            "a.eq(&b)"
        );
    }

    #[test]
    fn tensor_conditions_are_kept_and_others_are_placeholders() {
        assert_eq!(pred("x.gt(0.0).any()", true), "x.gt(0.0).any()");
        assert_eq!(
            pred("f(x) > 0.0", false),
            "/* f(x) > 0.0 as a one-element bool tensor */"
        );
    }

    #[test]
    fn cond_call_lists_the_operands() {
        let ops = vec!["x".to_string(), "y".to_string()];
        assert_eq!(
            cond_call("p", &ops, "x + y", "x - y"),
            "cond!(p, |x: &Tensor, y: &Tensor| x + y, |x: &Tensor, y: &Tensor| x - y, [x, y])"
        );
    }

    #[test]
    fn a_bool_read_becomes_its_tensor() {
        assert_eq!(
            pred("x.gt(0.0).all().item::<bool>().unwrap()", false),
            "x.gt(0.0).all()"
        );
        assert_eq!(
            pred("!x.gt(0.0).any().item::<bool>()?", false),
            "x.gt(0.0).any().logical_not()"
        );
    }

    #[test]
    fn an_assigning_branch_returns_the_new_values() {
        let block: syn::Block = syn::parse_str("{ y = y.relu(); z += 1.0; }").expect("a block");
        let names = assigned(&block.stmts);
        assert_eq!(names, ["y", "z"]);
        assert_eq!(
            assigning_branch_text(&block.stmts, &names),
            "{ let y = y.relu(); let z = z + 1.0; (y.clone(), z.clone()) }"
        );
    }
}
