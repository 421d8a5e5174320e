//! Tensor methods for math: comparisons, logical ops, unary math, activations,
//! reductions, softmax, dtype conversion.
