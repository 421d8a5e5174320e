//! Printing tensors from `forward` with `println!("{:?}", y)` and `eprintln!("{x}")`. While
//! exporting, tensors have a dtype and a shape but no values to print: strict export
//! rejects both at compile time. Printing `x.sizes()` or `x.dtype()` is allowed; non-strict
//! export prints the traced tensor's dtype and shape.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/print_traced_tensor.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "print_traced_tensor",
        tags: &["python.builtin", "rust.format"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("print_traced_tensor.rs"),
        code: include_str!("../../ui/print_traced_tensor.rs"),
        run,
    }
}
