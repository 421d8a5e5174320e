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

/// A pointwise function of one value with its parameters: what an op's lowering hook
/// names, and what both the eager kernel and the runtime's fused register program
/// evaluate ([`Unary::eval`], [`Unary::apply_f32`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Neg,
    Relu,
    Sigmoid,
    Tanh,
    Gelu,
    GeluTanh,
    Silu,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Abs,
    Sin,
    Cos,
    Reciprocal,
    Erf,
    LeakyRelu(f64),
    /// `clamp(x, lo, hi)`; NaN stays NaN, as in PyTorch.
    Clamp(Option<f64>, Option<f64>),
    PowScalar(f64),
    /// `alpha * scale * (exp(input_scale * x) - 1)` below 0, `scale * x` above.
    Elu {
        alpha: f64,
        scale: f64,
        input_scale: f64,
    },
    /// `log(1 + exp(beta x)) / beta`, linear above `threshold`.
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Hardswish,
    Hardsigmoid,
    Mish,
    LogSigmoid,
}

impl Unary {
    /// The function at `x`, in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Unary::Neg => -x,
            Unary::Relu => relu(x),
            Unary::Sigmoid => sigmoid(x),
            Unary::Tanh => x.tanh(),
            Unary::Gelu => gelu(x),
            Unary::GeluTanh => gelu_tanh(x),
            Unary::Silu => silu(x),
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Sqrt => x.sqrt(),
            Unary::Rsqrt => 1.0 / x.sqrt(),
            Unary::Abs => x.abs(),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Reciprocal => 1.0 / x,
            Unary::Erf => erf(x),
            Unary::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * s
                }
            }
            Unary::Clamp(lo, hi) => clamp(x, lo, hi),
            Unary::PowScalar(e) => x.powf(e),
            Unary::Elu {
                alpha,
                scale,
                input_scale,
            } => {
                if x <= 0.0 {
                    (x * input_scale).exp_m1() * alpha * scale
                } else {
                    x * scale
                }
            }
            Unary::Softplus { beta, threshold } => {
                if x * beta > threshold {
                    x
                } else {
                    (x * beta).exp().ln_1p() / beta
                }
            }
            // `x * relu6(x + 3) / 6`; `f64::clamp` keeps NaN.
            Unary::Hardswish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Unary::Hardsigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
            // `x * tanh(softplus(x))`.
            Unary::Mish => x * x.exp().ln_1p().tanh(),
            Unary::LogSigmoid => log_sigmoid(x),
        }
    }

    /// `dst[i] = f(a[i])` over f32 values: sign, ReLU and absolute value exactly in
    /// f32, the rest through [`Unary::eval`] (f64, rounded once).
    pub fn apply_f32(self, a: &[f32], dst: &mut [f32]) {
        crate::wide(ApplyF32(self, a, dst));
    }
}

/// [`Unary::apply_f32`]'s loops, on the widest vectors ([`crate::wide`]).
struct ApplyF32<'a>(Unary, &'a [f32], &'a mut [f32]);

impl crate::WideLoop for ApplyF32<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ApplyF32(op, a, dst) = self;
        let pairs = dst.iter_mut().zip(a);
        match op {
            Unary::Neg => pairs.for_each(|(d, &x)| *d = -x),
            Unary::Relu => pairs.for_each(|(d, &x)| *d = if x < 0.0 { 0.0 } else { x }),
            Unary::Abs => pairs.for_each(|(d, &x)| *d = x.abs()),
            // The common activations get their own loop (no `match` per element).
            Unary::Gelu => pairs.for_each(|(d, &x)| *d = gelu(x as f64) as f32),
            Unary::Sigmoid => pairs.for_each(|(d, &x)| *d = sigmoid(x as f64) as f32),
            Unary::Silu => pairs.for_each(|(d, &x)| *d = silu(x as f64) as f32),
            Unary::Tanh => pairs.for_each(|(d, &x)| *d = (x as f64).tanh() as f32),
            Unary::Exp => pairs.for_each(|(d, &x)| *d = (x as f64).exp() as f32),
            f => pairs.for_each(|(d, &x)| *d = f.eval(x as f64) as f32),
        }
    }
}

/// `clamp(x, lo, hi)` with either bound optional; NaN stays NaN.
pub fn clamp(x: f64, lo: Option<f64>, hi: Option<f64>) -> f64 {
    if x.is_nan() {
        return x;
    }
    let x = lo.map_or(x, |lo| if x < lo { lo } else { x });
    hi.map_or(x, |hi| if x > hi { hi } else { x })
}

/// `log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`, stable at both ends (PyTorch's
/// formula).
pub fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

/// Binary arithmetic the runtime fuses: `a + alpha * b`, `a - alpha * b`, `a * b`, `a / b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
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
