//! ferrex's one kernel set, on plain slices: GEMM (matrixmultiply) with a GEMV path for
//! few-row products, im2col convolution, max pooling, and the pointwise scalar functions
//! (`erf`, `gelu`, `sigmoid`, …). Eager ops (and so the interpreter) and the compiled
//! runtime call the same functions, so they compute the same numbers at the same speed.
//!
//! Every kernel checks that its slices hold the shapes it is given and returns a
//! [`KernelError`] otherwise: a kernel never panics and never reads out of bounds.
//! `unsafe` lives here only (the matrixmultiply calls and the AVX2 dot product), each
//! block with the check that makes it sound right beside it.

pub mod alloc;
pub mod attention;
pub mod conv;
pub mod dense;
pub mod gemm;
pub mod layout;
pub mod norm;
pub mod pointwise;
pub mod pool;
pub mod reduce;
pub mod rnn;
pub mod sgemm;
pub mod threads;
pub mod wide;
pub mod workers;

pub use alloc::{check_buffer, memory_limit, set_memory_limit, try_filled, try_grow, AllocError};
pub use conv::{
    conv2d, conv2d_epilogue, conv2d_new, conv2d_prepared, ConvEpilogueStep, ConvGeom, ConvWeight,
    EpilogueOperand,
};
pub use gemm::{gemm, gemv, Float, Mat, GEMV_MAX_ROWS};
pub use pool::{avg_pool2d, max_pool2d, max_pool2d_argmax, pooled_dim, AvgDivisor, PoolWindow};
pub use sgemm::{
    gemm_packed, gemm_packed_a, gemm_packed_epilogue, gemm_packed_new, GemmEpilogue, PackedA,
    PackedB,
};
pub use wide::{wide, WideLoop};

/// A kernel's refusal: an operand smaller than its shape, shapes that do not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError(pub String);

impl KernelError {
    pub fn new(message: impl Into<String>) -> KernelError {
        KernelError(message.into())
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

impl From<KernelError> for String {
    fn from(e: KernelError) -> String {
        e.0
    }
}
