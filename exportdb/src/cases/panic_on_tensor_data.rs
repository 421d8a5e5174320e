//! `assert!` on a value read out of a tensor, and `unreachable!` whose message formats such
//! a value. Whether the assert panics depends on tensor values, which do not exist while
//! exporting, and a graph cannot raise; strict export rejects both at compile time (and the
//! read inside the message). Asserts on sizes are allowed and become guards of the program
//! (see `dynamic_shape_assert`); checks on values belong on the outputs of the exported
//! program, after it runs.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/panic_on_tensor_data.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "panic_on_tensor_data",
        tags: &["python.assert", "rust.panic"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("panic_on_tensor_data.rs"),
        code: include_str!("../../ui/panic_on_tensor_data.rs"),
        run,
    }
}
