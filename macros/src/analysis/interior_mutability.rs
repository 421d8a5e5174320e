//! Rule: a model attribute reached through interior mutability (`Cell`, `RefCell`,
//! `Mutex`, `RwLock`, atomics, `OnceCell`) — PyTorch's "model attribute mutation". Reading
//! one is as wrong as writing it: the value seen while exporting is frozen into the graph.
//! Reached directly (`self.calls.set(..)`), through a local alias (`let c = &self.calls;`)
//! or inside a helper's field (`self.stats.calls.get()`).

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

/// How a method of a `Cell`-like value touches it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether `recv.method(n args)` reads or writes through a `Cell`, `RefCell`, lock,
/// atomic or `thread_local!` key; `None` for any other method.
pub fn access(method: &str, nargs: usize) -> Option<Access> {
    let write = match method {
        "set" | "replace" | "swap" | "update" => nargs == 1,
        "take" | "borrow_mut" | "try_borrow_mut" | "get_mut" | "lock" | "try_lock" | "write"
        | "try_write" => nargs == 0,
        "store" => nargs == 2,
        "compare_exchange" | "compare_exchange_weak" => nargs == 4,
        "with_borrow_mut" | "fetch_update" => nargs >= 1,
        m if m.starts_with("fetch_") => nargs >= 2,
        _ => false,
    };
    let read = match method {
        "get" | "borrow" | "try_borrow" | "read" | "try_read" => nargs == 0,
        "load" | "with" | "with_borrow" | "get_or_init" => nargs == 1,
        _ => false,
    };
    if write {
        Some(Access::Write)
    } else if read {
        Some(Access::Read)
    } else {
        None
    }
}

/// Types that hold shared mutable state (for `static` items declared in a body).
pub fn is_shared_type(ty: &syn::Type) -> bool {
    let t = ty.to_token_stream().to_string();
    [
        "Cell", "RefCell", "Mutex", "RwLock", "Atomic", "OnceCell", "OnceLock", "LazyLock",
        "LazyCell",
    ]
    .iter()
    .any(|w| t.contains(w))
}

pub fn error(call: &syn::ExprMethodCall, receiver: &str, access: Access) -> syn::Error {
    let verb = match access {
        Access::Read => "reads",
        Access::Write => "mutates",
    };
    graph_break(
        call,
        &format!(
            "`{receiver}.{}({})` {verb} a model attribute through interior mutability",
            call.method,
            if call.args.is_empty() { "" } else { "…" }
        ),
        "the graph holds no model state besides buffers: the value seen while exporting \
         would be frozen in as a constant",
        &[
            "keep the state in a `#[buffer]` tensor and update it with an in-place op \
             (`self.steps.add_(1.0)`): the update is exported as a BUFFER_MUTATION output"
                .to_string(),
            "or, for a value fixed when the model is built, a plain `#[config]` field".to_string(),
            non_strict_fix("specialises the value seen while tracing as a constant"),
        ],
    )
}
