//! `ferrex-aot`: a saved program (`.pt2`) compiled into Rust code, ahead of time.
//!
//! The runtime (`ferrex_runtime::compile`) turns a program into a plan of steps and
//! interprets that plan on every call. This crate walks the same plan once and writes
//! it out as a Rust module — straight-line code calling the same step functions and
//! kernels — so the program's checks and numbers come with no interpretation left at
//! run time. Three front ends share the one generator, [`generate`]:
//!
//! - `ferrex aot PROGRAM.pt2 -o src/mlp.rs` (the command-line tool): checked-in code,
//!   best for review;
//! - [`include_program!`]`(pub mod mlp = "models/mlp.pt2")`: a proc macro, no build
//!   script;
//! - [`Builder`] in a `build.rs`: code written to `OUT_DIR`.
//!
//! The generated module holds:
//!
//! - `Model::new()`: the weights, read from the archive embedded with `include_bytes!`
//!   (never as literals: rustc tracks the file, and a changed archive rebuilds), decoded
//!   as little-endian f32 and packed for the GEMM once; a compile-time check refuses an
//!   archive other than the one the code was generated from;
//! - `Workspace::new()`: the plan's buffer slots, allocated once;
//! - `Model::forward(&self, ws, inputs…, outputs…)`: the typed entry point on slices,
//!   which allocates nothing of its own (GEMM steps);
//! - `Model::call(args)` / `call_flat(leaves)`: drop-ins for
//!   `ferrex_runtime::CompiledProgram::call`, with the interpreter's input checks in its
//!   order and with its words.
//!
//! Each step is a block of code with a comment naming its node, its op and its source
//! line; programs of more than [`STEPS_PER_FUNCTION`] steps are split into functions.
//! The same archive always gives byte-identical code.
//!
//! What is generated today: programs with static sizes, f32 user inputs and user outputs
//! (no buffer or input mutations), whose plan consists of GEMM steps (with bias and
//! fused epilogue), fused elementwise chains and free reshapes. Anything else is an
//! [`AotError::Unsupported`] naming the node — generation fails rather than guess.

mod builder;
#[doc(hidden)]
pub mod rt;

pub use builder::Builder;
pub use ferrex_aot_codegen::{
    generate, generate_file, module_name, AotError, AotOptions, GeneratedCode, STEPS_PER_FUNCTION,
};
pub use ferrex_aot_macros::include_program;
