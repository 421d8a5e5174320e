//! Rule: mutating a model attribute through interior mutability (`Cell`, `RefCell`,
//! `Mutex`, atomics) — PyTorch's "model attribute mutation".

use super::{graph_break, non_strict_fix};

/// Whether `recv.method(n args)` mutates through a `Cell`/`RefCell`/lock/atomic.
pub fn is_mutation(method: &str, nargs: usize) -> bool {
    match method {
        "set" | "replace" | "swap" | "update" => nargs == 1,
        "take" | "borrow_mut" | "try_borrow_mut" | "get_mut" | "lock" | "try_lock" | "write"
        | "try_write" => nargs == 0,
        "store" => nargs == 2,
        "compare_exchange" | "compare_exchange_weak" => nargs == 4,
        m if m.starts_with("fetch_") => nargs >= 2,
        _ => false,
    }
}

pub fn error(call: &syn::ExprMethodCall, receiver: &str) -> syn::Error {
    graph_break(
        call,
        &format!(
            "`{receiver}.{}({})` mutates a model attribute through interior mutability",
            call.method,
            if call.args.is_empty() { "" } else { "…" }
        ),
        "the graph holds no model state besides buffers: the value seen while exporting \
         would be frozen in as a constant",
        &[
            "keep the state in a `#[buffer]` tensor and update it with an in-place op \
             (`self.steps.add_(1.0)`): the update is exported as a BUFFER_MUTATION output"
                .to_string(),
            non_strict_fix("specialises the value seen while tracing as a constant"),
        ],
    )
}
