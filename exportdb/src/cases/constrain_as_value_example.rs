//! A value read out of a tensor with `x.item()`, bounded with checks, then an `if` that the
//! bounds decide (`a < 6` always holds when `a <= 5`). PyTorch supports it: the value is an
//! unbacked symbol `u0` with the range `[0, 5]`, and the branch is decided from the range.
//! ferrex has no unbacked values: strict export rejects the `.item()` at compile time, with
//! the asserts and the `if` on the value it gives; non-strict export fails at the read.
//! Supporting it would need a recorded `item` op giving a symbol without a hint, ranges
//! from the checks, and comparisons decided from those ranges. Until then, a branch on a
//! value is written with `cond!` on a tensor predicate.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/constrain_as_value_example.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "constrain_as_value_example",
        tags: &["torch.dynamic-value", "torch.escape-hatch"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("constrain_as_value_example.rs"),
        code: include_str!("../../ui/constrain_as_value_example.rs"),
        run,
    }
}
