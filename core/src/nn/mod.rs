//! Layers, defined with `#[export_module]` like user models, with PyTorch's parameter
//! names and default initialisation; `functional` (imported as `F`) holds the functional
//! forms.

mod container;
pub mod functional;
mod layers;
mod linear;

pub use container::{Layer, Sequential};
pub use layers::{Dropout, Identity, ReLU};
pub use linear::Linear;
