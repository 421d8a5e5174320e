//! Convolutions (`conv1d`, `conv2d`) as im2col + GEMM.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
