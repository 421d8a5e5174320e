//! A `while` loop whose condition reads tensor values, and a `loop` whose `break` does. How
//! many times the body runs depends on the values, so the loop cannot be unrolled into a
//! static graph: strict export rejects both at compile time. Loops with a fixed trip count,
//! or one decided by sizes, are unrolled (see `static_for_loop` and
//! `loop_with_shape_break`).

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/loop_on_tensor_data.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "loop_on_tensor_data",
        tags: &["python.control-flow", "rust.loop"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("loop_on_tensor_data.rs"),
        code: include_str!("../../ui/loop_on_tensor_data.rs"),
        run,
    }
}
