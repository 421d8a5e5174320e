//! Rust's error paths — `?` and `return Err(..)` — in a method that `forward` calls. An
//! error path is control flow the graph cannot hold (a graph has one path, from inputs to
//! outputs), so strict export rejects both at compile time. In ferrex, ops in `forward` do
//! not return `Result`: a failed op yields a tensor that carries its error, which
//! `ferrex::export` reports with its source location; a condition on sizes is an `assert!`,
//! which becomes a guard of the program. Non-strict export traces the path the example
//! inputs take.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/early_return_err.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "early_return_err",
        tags: &["python.control-flow", "rust.error-handling"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("early_return_err.rs"),
        code: include_str!("../../ui/early_return_err.rs"),
        run,
    }
}
