//! Model attributes mutated from `forward(&self)` through a `Cell` and a `RefCell` — the
//! Rust way around `&mut self` (see `model_attr_mutation`). The graph holds no model state
//! besides buffers, so the values seen while exporting would be frozen in as constants:
//! strict export rejects both mutations at compile time. State belongs in a `#[buffer]`
//! tensor updated in place; non-strict export specialises the values seen while tracing.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/interior_mutability.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "interior_mutability",
        tags: &["python.object-model", "rust.interior-mutability"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("interior_mutability.rs"),
        code: include_str!("../../ui/interior_mutability.rs"),
        run,
    }
}
