//! Layers, defined with `#[export_module]` like user models, with PyTorch's parameter
//! names and default initialisation; `functional` (imported as `F`) holds the functional
//! forms.

pub mod functional;
mod linear;

pub use linear::Linear;
