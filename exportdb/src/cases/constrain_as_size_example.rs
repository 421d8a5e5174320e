//! A size read out of a tensor with `x.item()`, bounded with checks (PyTorch's
//! `torch._check_is_size(a)`, `torch._check(a <= 5)`), then used to build a tensor
//! (`Tensor::zeros([a, 5])`). PyTorch supports it with an *unbacked* symbolic size: a
//! symbol `u0` with no example value, given the range `[0, 5]` by the checks, and checked
//! at run time. ferrex has no unbacked sizes: while exporting, a tensor has a dtype and a
//! shape but no values, so strict export rejects the `.item()` at compile time (and the
//! asserts on the value it gives), and non-strict export fails at the read with its file
//! and line. Supporting it would need an `item` op recorded in the graph whose result is a
//! new size symbol without a hint, range checks recorded as `_assert_scalar` nodes, and
//! meta functions that accept such symbols.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/constrain_as_size_example.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "constrain_as_size_example",
        tags: &["torch.dynamic-value", "torch.escape-hatch"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("constrain_as_size_example.rs"),
        code: include_str!("../../ui/constrain_as_size_example.rs"),
        run,
    }
}
