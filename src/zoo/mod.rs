//! Models of the zoo.

pub mod lenet;
pub mod mlp;
pub mod residual;
pub mod transformer;

pub use lenet::LeNet;
pub use mlp::Mlp;
pub use residual::GroupNormResidual;
pub use transformer::TransformerBlock;
