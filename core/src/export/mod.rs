//! `ferrex::export`: a model and example inputs in, an [`ExportedProgram`] out. The
//! [`Exporter`] makes placeholders of the model's state and the inputs, traces `forward`
//! once (recording through `trace`), checks the guards it recorded against the declared
//! [`DynamicShapes`] (`constraints.rs`: violations with suggested fixes, range
//! constraints, run-time guards), runs the passes and builds the program; strict mode
//! traces a second time and compares (`purity.rs`).
//!
//! [`ExportedProgram`]: crate::ExportedProgram

mod constraints;
mod dynamic;
mod exporter;
mod purity;

pub use dynamic::{Dim, DynamicShapes};
pub use exporter::{export, Exporter};
