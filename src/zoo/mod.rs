//! Models of the zoo.

pub mod mlp;

pub use mlp::Mlp;
