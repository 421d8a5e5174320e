//! `forward(&mut self)` that assigns a model field (the literal Rust spelling of PyTorch's
//! `model_attr_mutation`). Strict export rejects it at compile time: `ferrex::export`
//! calls forward through `&self`, and the graph holds no model state besides buffers.
//! State that forward replaces belongs in a `#[buffer]` written in place
//! (`self.attr.copy_(&fresh)`), exported as a `BUFFER_MUTATION` output, as the
//! `model_attr_mutation` case shows; a value rebuilt on every call is a local variable.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/mut_self_forward.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "mut_self_forward",
        tags: &["python.object-model", "rust.mut-self"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("mut_self_forward.rs"),
        code: include_str!("../../ui/mut_self_forward.rs"),
        run,
    }
}
