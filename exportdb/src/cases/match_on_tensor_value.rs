//! A `match` on a value read out of a tensor (the index of the largest element). Which arm
//! runs depends on tensor values, so the graph cannot record it: strict export rejects the
//! `match` at compile time and points to `cond!`, which keeps both branches of a two-way
//! choice in the graph with a one-element tensor predicate. A `match` on configuration, on
//! an enum field, or on sizes is decided while exporting (see `specialized_attribute`).

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/match_on_tensor_value.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "match_on_tensor_value",
        tags: &["python.control-flow", "rust.match"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("match_on_tensor_value.rs"),
        code: include_str!("../../ui/match_on_tensor_value.rs"),
        run,
    }
}
