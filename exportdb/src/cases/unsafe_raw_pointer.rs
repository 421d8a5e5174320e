//! The address of a tensor (`x.id()`, Rust's `id(x)`), a raw pointer to it, and an `unsafe`
//! block that reads through the pointer. An address belongs to one run of the program, not
//! to the graph, and strict export cannot tell what unsafe code does: all three are
//! rejected at compile time. Non-strict export traces them: the address is specialised as a
//! constant (as PyTorch does for `id(x)`) and the ops reached through the pointer are
//! recorded.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/unsafe_raw_pointer.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "unsafe_raw_pointer",
        tags: &["python.builtin", "rust.unsafe"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("unsafe_raw_pointer.rs"),
        code: include_str!("../../ui/unsafe_raw_pointer.rs"),
        run,
    }
}
