//! Rule: `?` and `return Err(..)` — an error path is control flow that the graph
//! cannot hold (the tutorial's `Bad4`: raising an exception).

use super::{graph_break, non_strict_fix};

fn fixes() -> Vec<String> {
    vec![
        "ops in `forward` do not fail: a failed op yields a tensor that carries the error, \
         which `ferrex::export` reports with its source location — return tensors, not `Result`"
            .to_string(),
        "for a condition on sizes, use `assert!` (size asserts become guards of the program)"
            .to_string(),
        non_strict_fix("traces the path that the example inputs take"),
    ]
}

pub fn question_mark(e: &syn::ExprTry, function: &str) -> syn::Error {
    graph_break(
        e.question_token,
        &format!("`?` may return early from `{function}`"),
        "an early return on error is control flow: the graph has one path, from inputs to \
         outputs, and no error path",
        &fixes(),
    )
}

pub fn return_err(e: &syn::ExprReturn, function: &str) -> syn::Error {
    graph_break(
        e,
        &format!("`return Err(..)` returns early from `{function}` with an error"),
        "an error path is control flow: the graph has one path, from inputs to outputs",
        &fixes(),
    )
}
