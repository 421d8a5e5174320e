//! Rule: `std::panic::catch_unwind` — Rust's try/except (the tutorial's `Bad4`).
//! Unwinding is control flow that the graph cannot hold.

use super::{graph_break, non_strict_fix};

pub fn is_catch_unwind(name: &str) -> bool {
    name == "catch_unwind"
}

pub fn error(call: &syn::ExprCall, function: &str) -> syn::Error {
    graph_break(
        &call.func,
        &format!("`catch_unwind` catches a panic inside `{function}`"),
        "catching an unwind is control flow (Rust's try/except): the graph has one path, \
         from inputs to outputs, and cannot raise or catch",
        &[
            "remove it: ops in forward do not panic, a failed op yields a tensor that carries \
             the error"
                .to_string(),
            non_strict_fix("runs the closure while tracing and keeps the path it takes"),
        ],
    )
}
