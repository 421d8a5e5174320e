//! The tensor API: the op methods of [`Tensor`](crate::Tensor) (one file per family of
//! ops), its constructors and operator overloads. Each method builds the op's arguments
//! and calls [`ops::dispatch`](crate::ops::dispatch); it sits above the op registry, which
//! knows nothing of it.

mod methods;
mod methods_math;
mod methods_mutation;
mod methods_nn;
mod methods_shape;
mod views;

pub use methods::{IntoSizes, Operand};
