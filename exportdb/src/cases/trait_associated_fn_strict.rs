//! `type_reflection_method` in strict mode: forward calls an associated function through a
//! type parameter, `T::func(x)`. Which impl runs is decided by the type checker, after the
//! macro has read the code, so strict export cannot check the body that receives the tensor
//! and rejects the call at compile time. `#[export_module(strict = false)]` traces it (see
//! `type_reflection_method`); a `#[ferrex::export_fn]` free function or a method of the
//! annotated impl block can be checked and is allowed.

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{rejected_at_compile_time, Outcome};
use crate::{Case, Rejection, Verdict};

const DIAGNOSTIC: &str = include_str!("../../ui/trait_associated_fn_strict.stderr");

fn run() -> Outcome {
    rejected_at_compile_time(DIAGNOSTIC)
}

inventory::submit! {
    Case {
        name: "trait_associated_fn_strict",
        tags: &["python.builtin", "rust.trait", "rust.generics"],
        verdict: Verdict::NotSupported(Rejection::CompileTime { diagnostic: DIAGNOSTIC }),
        file: include_str!("trait_associated_fn_strict.rs"),
        code: include_str!("../../ui/trait_associated_fn_strict.rs"),
        run,
    }
}
