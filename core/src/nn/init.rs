//! PyTorch's default initialisations.

use crate::tensor::Tensor;

/// Uniform in `[-bound, bound]`.
pub(crate) fn uniform(shape: &[usize], bound: f64) -> Tensor {
    Tensor::rand(shape).mul(2.0 * bound).sub(bound)
}

/// `kaiming_uniform_(a = sqrt(5))` for a weight with `fan_in` inputs per output, which
/// PyTorch uses for Linear and Conv weights (and the same bound for their biases).
pub(crate) fn fan_in_uniform(shape: &[usize], fan_in: usize) -> Tensor {
    uniform(shape, 1.0 / (fan_in.max(1) as f64).sqrt())
}

/// `xavier_uniform_`: bound `sqrt(6 / (fan_in + fan_out))`.
pub(crate) fn xavier_uniform(shape: &[usize], fan_in: usize, fan_out: usize) -> Tensor {
    uniform(shape, (6.0 / (fan_in + fan_out).max(1) as f64).sqrt())
}
