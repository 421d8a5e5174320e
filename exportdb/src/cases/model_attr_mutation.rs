//! `forward` replaces a model attribute (a list of tensors) on every call. PyTorch 2.15
//! exports it (its graph builds the new list and reads it in the same call). In Rust,
//! replacing a field needs `forward(&mut self)`, which strict export rejects at compile
//! time: `ferrex::export` calls forward through `&self`, and the graph holds no model
//! state besides buffers. State that forward updates belongs in a `#[buffer]` tensor
//! updated in place (`self.steps.add_(1)`), which is exported as a `BUFFER_MUTATION`
//! output; a value rebuilt on every call is a local variable.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/model_attr_mutation.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "model_attr_mutation",
        tags: &["python.object-model", "rust.mut-self"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("model_attr_mutation.rs"),
        code: include_str!("../../ui/model_attr_mutation.rs"),
        run,
    }
}
