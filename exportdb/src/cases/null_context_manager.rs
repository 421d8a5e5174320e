//! Python's `with contextlib.nullcontext():`. Rust's scope-bound setup and teardown is
//! a guard value whose `Drop` runs at the end of the scope; this one does nothing to
//! tensors. Strict export sees a value built without tensors; tracing runs the guard's
//! constructor and destructor like any Rust code, and the graph is `sin + cos`.

use ferrex::prelude::*;

/// A guard with no effect, like `contextlib.nullcontext()`.
pub struct NullContext {
    depth: usize,
}

// Strict mode reads what forward runs: the guard's constructor is checked like forward.
#[ferrex::export_fn]
impl NullContext {
    pub fn enter() -> NullContext {
        NullContext { depth: 1 }
    }
}

impl Drop for NullContext {
    fn drop(&mut self) {
        self.depth -= 1;
    }
}

#[export_module]
pub struct NullContextManager {}

#[export_module]
impl NullContextManager {
    fn forward(&self, x: &Tensor) -> Tensor {
        let _ctx = NullContext::enter();
        x.sin() + x.cos()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&NullContextManager {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "null_context_manager",
        tags: &["python.context-manager", "rust.drop-guard"],
        verdict: Verdict::Supported,
        file: include_str!("null_context_manager.rs"),
        code: include_str!("null_context_manager.rs"),
        run,
    }
}
