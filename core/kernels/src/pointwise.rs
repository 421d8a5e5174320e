//! Pointwise scalar functions, in f64: the one definition the eager kernels and the
//! compiled runtime's fused chains both call (`libm` for the error function).

/// The error function.
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// `1 / (1 + exp(-x))`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `x * sigmoid(x)`.
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

/// `x * Φ(x)`, with `1 + erf(x/√2)` taken as `erfc(-x/√2)` so it keeps its precision
/// for large negative `x`.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// GELU's tanh approximation, `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
pub fn gelu_tanh(x: f64) -> f64 {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
}

/// `max(x, 0)`, keeping NaN, as PyTorch does.
pub fn relu(x: f64) -> f64 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_gelu_match_reference_values() {
        // erf values from Abramowitz & Stegun, table 7.1 (rounded to 1e-10).
        for (x, want) in [
            (0.5, 0.5204998778),
            (1.0, 0.8427007929),
            (2.0, 0.9953222650),
        ] {
            assert!((erf(x) - want).abs() < 1e-9, "erf({x})");
            assert!((erf(-x) + want).abs() < 1e-9, "erf(-{x})");
        }
        assert!(erf(f64::NAN).is_nan());
        // Φ(1) = 0.8413447461 (the one-sigma probability).
        assert!((gelu(1.0) - 0.8413447461).abs() < 1e-9);
        // Far in the negative tail GELU is tiny but not zero.
        assert!(gelu(-10.0) < 0.0 && gelu(-10.0) > -1e-20);
        assert!(relu(f64::NAN).is_nan());
    }
}
