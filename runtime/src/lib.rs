//! `ferrex-runtime` will hold the fast path for exported programs: an execution plan
//! compiled once from an `ExportedProgram` (memory planning, weight prepacking, fused
//! elementwise chains, GEMM/GEMV selection, threads), loadable without the model's source.
//!
//! Until that lands, `ferrex::ExportedProgram::module()` (the reference interpreter in
//! `ferrex`) is the way to run a program.

/// Re-exported so that users of the runtime name one crate.
pub use ferrex::ExportedProgram;
