//! `forward` counts its calls in a `static mut`. A graph holds no global state: the count
//! seen while exporting would be frozen into the program. Strict export rejects the write
//! at compile time; the fix is a `#[buffer]` tensor updated in place, exported as a
//! `BUFFER_MUTATION` output, or the value passed as an input.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/static_mut_counter.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "static_mut_counter",
        tags: &["python.object-model", "rust.global-state", "rust.unsafe"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("static_mut_counter.rs"),
        code: include_str!("../../ui/static_mut_counter.rs"),
        run,
    }
}
