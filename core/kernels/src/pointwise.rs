//! Pointwise scalar functions: the one definition the eager kernels and the compiled
//! runtime's fused chains both call. In f64 (`libm` for the error function), and for
//! f32 data the transcendentals models use (`exp`, `log`, `log1p`, `expm1`, `erf`,
//! `tanh`, sigmoid, SiLU, both GELUs, Mish, softplus, log-sigmoid, ELU) in f32
//! arithmetic with no branch ([`exp_f32`], [`log_f32`], [`gelu_f32`], ...), so that
//! slice loops over them vectorize: a scalar f64 `exp` per element was a fifth of a
//! transformer block, GELU's `erfc` another sixth, and the tanh GELU of a GPT-style MLP
//! 20 ns an element. They are accurate to a few ulp (tested against f64), as PyTorch's
//! own vectorized ones are. Their polynomials are in Estrin's form: the loops are bound
//! by the depth of their dependency chains as much as by their arithmetic.

/// The error function.
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// `erf⁻¹(y)` as ATen's `calc_erfinv`: a rational first guess (Giles' central and tail
/// ranges as in the MATLAB `erfinv` that ATen translates), then two Newton steps on
/// [`erf`] — in f64, which gives f32 callers their correctly rounded value.
pub fn erfinv(y: f64) -> f64 {
    const A: [f64; 4] = [0.886226899, -1.645349621, 0.914624893, -0.140543331];
    const B: [f64; 4] = [-2.118377725, 1.442710462, -0.329097515, 0.012229801];
    const C: [f64; 4] = [-1.970840454, -1.624906493, 3.429567803, 1.641345311];
    const D: [f64; 2] = [3.543889200, 1.637067800];
    let y_abs = y.abs();
    if y_abs > 1.0 {
        return f64::NAN;
    }
    if y_abs == 1.0 {
        return f64::INFINITY.copysign(y);
    }
    let mut x = if y_abs <= 0.7 {
        let z = y * y;
        let num = ((A[3] * z + A[2]) * z + A[1]) * z + A[0];
        let den = (((B[3] * z + B[2]) * z + B[1]) * z + B[0]) * z + 1.0;
        y * num / den
    } else {
        let z = (-((1.0 - y_abs) / 2.0).ln()).sqrt();
        let num = ((C[3] * z + C[2]) * z + C[1]) * z + C[0];
        let den = (D[1] * z + D[0]) * z + 1.0;
        num.copysign(y) / den
    };
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    for _ in 0..2 {
        x -= (erf(x) - y) / (two_over_sqrt_pi * (-x * x).exp());
    }
    x
}

/// The complementary error function `1 − erf(x)`, without `1 − erf`'s cancellation in
/// the tail.
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// `ln |Γ(x)|` (inf at 0 and the negative integers).
pub fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The digamma function `ψ(x) = Γ'(x) / Γ(x)`, with ATen's special values (`∓inf` at
/// `±0`, NaN at the negative integers and `-inf`): negative `x` by the reflection
/// `ψ(1 − x) − π / tan(πx)`, then the recurrence `ψ(x) = ψ(x + 1) − 1/x` up to
/// `x ≥ 10` and the asymptotic series there (its next term is below 1e-13).
pub fn digamma(x: f64) -> f64 {
    use std::f64::consts::PI;
    if x == 0.0 {
        return f64::INFINITY.copysign(-x);
    }
    if x < 0.0 {
        if x == x.trunc() {
            return f64::NAN;
        }
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    // B₂ₖ / (2k·x²ᵏ) for k = 1..5.
    let series =
        z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z / 132.0))));
    shift + x.ln() - 0.5 / x - series
}

/// The modified Bessel function of the first kind, order 0: `Σ (x²/4)ᵏ / (k!)²`, a sum
/// of positive terms (no cancellation), until a term no longer changes it; inf past
/// `|x| ≈ 713.98`, NaN for NaN.
pub fn i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut term, mut sum, mut k) = (1.0f64, 1.0f64, 1.0f64);
    // The largest term is near k = |x| / 2; the sum is done a few dozen terms later.
    while term > sum * 1e-17 && k < 4096.0 {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

/// `log(exp(x) + exp(y))` as `max + log1p(exp(-|x - y|))`, never `exp` of a large
/// number; equal infinities stay, NaN propagates.
pub fn logaddexp(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x == y {
        x
    } else {
        x.max(y) + (-(x - y).abs()).exp().ln_1p()
    }
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

/// How the f32 functions evaluate a polynomial's `a * b + c`: [`Fused`] (one rounding,
/// `mul_add`) where the CPU has FMA and the loop is compiled for it ([`fma`]), [`Split`]
/// (a multiply, then an add) elsewhere. Fused steps are fewer and shorter: GELU's loop
/// took 2/3 of the time. Each form gives the same bits on every path that uses it.
pub trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a.mul_add(b, c)`: only where the code is compiled with FMA (inside [`crate::wide`]'s
/// loops); elsewhere it is a library call.
pub struct Fused;

/// `a * b + c`, two roundings.
pub struct Split;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Split {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Whether the pointwise loops run [`Fused`]: the CPU has FMA and [`crate::wide`] runs
/// them in code compiled for it (AVX2 + FMA or AVX-512 on x86-64; always on aarch64).
pub fn fma() -> bool {
    crate::wide::has_fma()
}

/// `exp(d)` of a softmax's shifted score `d <= 0`, taken as 0 below e^-87 (subnormal,
/// and a masked score's -inf): an exponential whose result is subnormal takes a
/// microcode assist per vector on x86 (~150 cycles), which made a causal attention
/// block's masked half its slowest part. NaN stays NaN (it compares false). Softmax
/// rows and attention's online softmax both take their probabilities so.
#[inline(always)]
pub(crate) fn softmax_exp_f32<M: MulAdd>(d: f32) -> f32 {
    const FLOOR: f32 = -87.0;
    // `d <= 0` (or NaN: a shifted score).
    let e = exp_at_most_88_f32::<M>(d);
    if d < FLOOR {
        0.0
    } else {
        e
    }
}

/// `exp(x)` in f32 arithmetic, within 2 ulp of the exact value (tested), with no branch
/// or call: `2^n · p(r)` for `x = n ln 2 + r`, `|r| <= ln 2 / 2`, with Cephes' degree-6
/// polynomial for `p`. `2^n` is built from its bits in two halves, so results down to
/// the smallest subnormal and up to overflow (`inf`) come out right; NaN stays NaN.
#[inline(always)]
pub fn exp_f32<M: MulAdd>(x: f32) -> f32 {
    // Past these, exp is 0 (below the smallest subnormal) or inf.
    let (p, n) = exp_parts::<M>(x.clamp(-104.0, 89.0));
    // `n` is in [-150, 129]: each half's exponent stays in the normal range.
    let half = n >> 1;
    p * pow2(half) * pow2(n - half)
}

/// [`exp_f32`] of `x` clamped to `[-87, 88]`, where its result is a normal number: the
/// same bits there (one exact scaling by `2^n` instead of two), five operations fewer.
/// For functions that need no subnormal or infinite exponential (the softmax's
/// probabilities, GELU's tail factor).
#[inline(always)]
pub fn exp_normal_f32<M: MulAdd>(x: f32) -> f32 {
    exp_at_most_88_f32::<M>(if x > 88.0 { 88.0 } else { x })
}

/// [`exp_normal_f32`] of an `x` known to be at most 88 (a softmax's shifted score, a
/// GELU tail's negative exponent) or NaN: its lower clamp only.
#[inline(always)]
fn exp_at_most_88_f32<M: MulAdd>(x: f32) -> f32 {
    let (p, n) = exp_parts::<M>(if x < -87.0 { -87.0 } else { x });
    p * pow2(n)
}

/// `2^e` from its bits, for `e` in the normal range `[-126, 127]`.
#[inline(always)]
fn pow2(e: i32) -> f32 {
    f32::from_bits((e.wrapping_add(127) as u32) << 23)
}

/// `exp(x) = p · 2^n` for a clamped `x`: `p` in `[√½, √2]` and `n`.
#[inline(always)]
fn exp_parts<M: MulAdd>(xc: f32) -> (f32, i32) {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Rounds to the nearest integer with two adds (exact below 2^22).
    const ROUND: f32 = 12_582_912.0;
    let shifted = M::mul_add(xc, std::f32::consts::LOG2_E, ROUND);
    let n = shifted - ROUND;
    let r = M::mul_add(-n, LN2_LO, M::mul_add(-n, LN2_HI, xc));
    // The degree-5 polynomial in Estrin's form (a shallower chain than Horner's: loops
    // over `exp` are bound by its latency).
    let r2 = r * r;
    let p = M::mul_add(
        M::mul_add(1.987_569_2e-4, r, 1.398_2e-3),
        r2 * r2,
        M::mul_add(
            M::mul_add(8.333_452e-3, r, 4.166_579_6e-2),
            r2,
            M::mul_add(1.666_666_5e-1, r, 0.5),
        ),
    );
    let p = M::mul_add(p, r2, r) + 1.0;
    // `n` as an integer from the bits of `ROUND + n` (an `as` cast saturates, which
    // does not vectorize). (NaN gives any exponent, and NaN times it.)
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    (p, n)
}

/// `1 / (1 + exp(-x))` in f32 ([`exp_f32`]).
#[inline(always)]
pub fn sigmoid_f32<M: MulAdd>(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32::<M>(-x))
}

/// `x * sigmoid(x)` in f32.
#[inline(always)]
pub fn silu_f32<M: MulAdd>(x: f32) -> f32 {
    x * sigmoid_f32::<M>(x)
}

/// `tanh(x)` in f32 with no branch, within 3 ulp (tested): Cephes' odd polynomial below
/// `|x| = 0.625`, where `1 - 2 / (exp(2|x|) + 1)` would cancel, that form above (on
/// [`exp_normal_f32`]: 1 from `|x| = 44` on), the sign put back by its bit.
/// The recurrent cells' gates were a scalar f64 `tanh` per element.
#[inline(always)]
pub fn tanh_f32<M: MulAdd>(x: f32) -> f32 {
    let ax = x.abs();
    let s = x * x;
    let mut p = -5.704_988_7e-3;
    p = M::mul_add(p, s, 2.063_909e-2);
    p = M::mul_add(p, s, -5.373_971_6e-2);
    p = M::mul_add(p, s, 1.333_144_2e-1);
    p = M::mul_add(p, s, -3.333_328e-1);
    let small = M::mul_add(p * s, ax, ax);
    // Past `2|x| = 88`, `2 / (e^88 + 1)` is below half an ulp of 1, as any larger
    // exponential's: [`exp_normal_f32`]'s clamp leaves the bits as they were.
    let large = 1.0 - 2.0 / (exp_normal_f32::<M>(2.0 * ax) + 1.0);
    let t = if ax < 0.625 { small } else { large };
    f32::from_bits(t.to_bits() | (x.to_bits() & 0x8000_0000))
}

/// `x^e` in f32 as PyTorch's kernel computes the common exponents: `x * x` for 2,
/// `x * x * x` for 3, the square root for 0.5, the reciprocals for -1 and -2; others
/// through f64 `powf`, rounded once. (`x.pow(2)` in an RMS norm was a libm `pow` call
/// per element, a quarter of a transformer block.)
#[inline(always)]
fn pow_f32(x: f32, e: f64) -> f32 {
    match e {
        1.0 => x,
        2.0 => x * x,
        3.0 => x * x * x,
        0.5 => x.sqrt(),
        -1.0 => 1.0 / x,
        -2.0 => 1.0 / (x * x),
        _ => (x as f64).powf(e) as f32,
    }
}

/// `clamp(x, lo, hi)` in f32 with no branch; NaN stays NaN (a comparison with NaN is
/// false, so `x` is kept). The bounds are f64 and are rounded to f32 once: no f32 lies
/// between a bound and its rounding, so the result is the f64 clamp's, rounded.
#[inline(always)]
fn clamp_f32(x: f32, lo: Option<f64>, hi: Option<f64>) -> f32 {
    let lo = lo.map_or(f32::NEG_INFINITY, |v| v as f32);
    let hi = hi.map_or(f32::INFINITY, |v| v as f32);
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// `erfc(z)` for `z >= 0` in f32, from `t = 1 / (1 + z/2)` and `z²` (which the caller
/// may round once from its own input): `t · exp(-z² + P(t))` — the Chebyshev fit of
/// Numerical Recipes, §6.2, relative error below 1.2e-7 everywhere, so accurate in the
/// tail where `1 - erf` would cancel — with `exp` as [`exp_normal_f32`] takes it: down to
/// `z ≈ 9.2` (erfc ≈ 1e-38); below that the caller decides.
#[inline(always)]
fn erfc_nonneg_f32<M: MulAdd>(t: f32, z_sq: f32) -> f32 {
    // The degree-9 polynomial in Estrin's form: a chain a third as deep as Horner's
    // (the loop is bound by its latency as much as by its arithmetic).
    let t2 = t * t;
    let t4 = t2 * t2;
    let q0 = M::mul_add(1.000_023_7, t, -1.265_512_2);
    let q1 = M::mul_add(0.096_784_18, t, 0.374_091_96);
    let q2 = M::mul_add(0.278_868_07, t, -0.186_288_06);
    let q3 = M::mul_add(1.488_515_9, t, -1.135_204);
    let q4 = M::mul_add(0.170_872_77, t, -0.822_152_23);
    let p = M::mul_add(
        q4,
        t4 * t4,
        M::mul_add(M::mul_add(q3, t2, q2), t4, M::mul_add(q1, t2, q0)),
    );
    // `p` is about 0 or below on `t` in (0, 1] (erfc(z) e^{z²} / t <= 1), `z² >= 0`.
    t * exp_at_most_88_f32::<M>(p - z_sq)
}

/// `x * Φ(x)` in f32: `Φ(x) = erfc(-x / √2) / 2` ([`erfc_nonneg_f32`] of `|x| / √2`,
/// and `1 - erfc / 2` above 0): relative accuracy in both tails, where `1 + erf` would
/// cancel (within 1.5e-6 for `|x| <= 5`; further out, where GELU is below 1e-6 in
/// size, the rounding of `z²` leaves up to 3e-5). Below `x = -13`, where `Φ(x) < 1e-38`,
/// the result is `x · 0` (`-0`, as PyTorch's `1 + erf` gives; NaN for `-inf`): no
/// subnormal exponential (a microcode assist per vector on x86), five operations fewer
/// than the full-range `exp`.
#[inline(always)]
pub fn gelu_f32<M: MulAdd>(x: f32) -> f32 {
    // `1 + z/2` for `z = |x| / √2`, in one step.
    let t = 1.0 / M::mul_add(x.abs(), 0.5 * std::f32::consts::FRAC_1_SQRT_2, 1.0);
    // `z²` as `x² / 2`: one rounding, where squaring the rounded `z` had two.
    let half_tail = 0.5 * erfc_nonneg_f32::<M>(t, 0.5 * (x * x));
    // erfc(|x| / √2): the lower tail's Φ is half of it, the upper's 1 minus that.
    let phi = if x < 0.0 { half_tail } else { 1.0 - half_tail };
    x * if x < -13.0 { 0.0 } else { phi }
}

/// GELU's tanh approximation in f32, in PyTorch's order of operations:
/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))` on [`tanh_f32`]. (It went through f64
/// `tanh` per element: 20 ns each, a GPT-style MLP's first product took 4× its time.)
#[inline(always)]
pub fn gelu_tanh_f32<M: MulAdd>(x: f32) -> f32 {
    const BETA: f32 = 0.797_884_6; // √(2/π)
    let inner = BETA * (x + 0.044_715 * (x * x * x));
    0.5 * x * (1.0 + tanh_f32::<M>(inner))
}

/// `erf(x)` in f32 with no branch, within 4 ulp: the odd Taylor series below
/// `|x| = 0.5` (where `1 - erfc` would lose the low bits), `1 - erfc(|x|)` above
/// ([`erfc_nonneg_f32`]), the sign put back by its bit.
#[inline(always)]
pub fn erf_f32<M: MulAdd>(x: f32) -> f32 {
    let ax = x.abs();
    let s = x * x;
    // 2/√π · (x - x³/3 + x⁵/10 - x⁷/42 + x⁹/216 - x¹¹/1320 + x¹³/9360 - x¹⁵/75600).
    let mut p = -1.492_565e-5;
    p = M::mul_add(p, s, 1.205_533_3e-4);
    p = M::mul_add(p, s, -8.548_327e-4);
    p = M::mul_add(p, s, 5.223_977_6e-3);
    p = M::mul_add(p, s, -2.686_617e-2);
    p = M::mul_add(p, s, 1.128_379_2e-1);
    p = M::mul_add(p, s, -3.761_263_9e-1);
    p = M::mul_add(p, s, std::f32::consts::FRAC_2_SQRT_PI);
    let small = p * ax;
    let large = 1.0 - erfc_nonneg_f32::<M>(1.0 / M::mul_add(0.5, ax, 1.0), s);
    let r = if ax < 0.5 { small } else { large };
    f32::from_bits(r.to_bits() | (x.to_bits() & 0x8000_0000))
}

/// `ln(x)` in f32 with no branch, within 1 ulp (tested): `x = 2^e · m`, `m` in
/// `[√½, √2)`, `ln(m)` by Cephes' polynomial in `m - 1`, `e · ln 2` added in two parts.
/// Subnormals are scaled up first; 0 gives `-inf`, negatives and NaN give NaN, `inf`
/// itself.
#[inline(always)]
pub fn log_f32<M: MulAdd>(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 8_388_608.0 } else { x };
    let bits = xs.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 126 - if sub { 23 } else { 0 };
    // The mantissa in [0.5, 1), then in [√½, √2) with the exponent adjusted.
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let low = m < SQRT_HALF;
    let e = (if low { e - 1 } else { e }) as f32;
    let m = if low { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut p = 7.037_683_6e-2;
    p = M::mul_add(p, m, -1.151_461e-1);
    p = M::mul_add(p, m, 1.167_699_9e-1);
    p = M::mul_add(p, m, -1.242_014_1e-1);
    p = M::mul_add(p, m, 1.424_932_3e-1);
    p = M::mul_add(p, m, -1.666_805_8e-1);
    p = M::mul_add(p, m, 2.000_071_5e-1);
    p = M::mul_add(p, m, -2.499_999_4e-1);
    p = M::mul_add(p, m, 3.333_333e-1);
    let y = p * m * z + e * -2.121_944_4e-4 - 0.5 * z;
    let r = (m + y) + e * 0.693_359_4;
    let r = if x == f32::INFINITY { x } else { r };
    let r = if x == 0.0 { f32::NEG_INFINITY } else { r };
    // `x != x`: NaN.
    #[allow(clippy::eq_op)]
    let bad = x < 0.0 || x != x;
    if bad {
        f32::NAN
    } else {
        r
    }
}

/// `ln(1 + y)` in f32, accurate for small `y` too: `ln(u) · y / (u - 1)` with
/// `u = 1 + y` rounded (the quotient corrects the rounding of `u`), `y` itself where
/// `u` rounds to 1, `inf` at `inf`.
#[inline(always)]
pub fn log1p_f32<M: MulAdd>(y: f32) -> f32 {
    let u = 1.0 + y;
    let r = log_f32::<M>(u) * (y / (u - 1.0));
    let r = if u == 1.0 { y } else { r };
    if u == f32::INFINITY {
        u
    } else {
        r
    }
}

/// `exp(x) - 1` in f32, accurate near 0: the Taylor series to `x¹⁰` below `|x| = 0.5`,
/// `exp(x) - 1` ([`exp_f32`]) above.
#[inline(always)]
pub fn expm1_f32<M: MulAdd>(x: f32) -> f32 {
    let mut p = 2.755_732e-7; // 1/10!
    p = M::mul_add(p, x, 2.755_731_9e-6);
    p = M::mul_add(p, x, 2.480_158_7e-5);
    p = M::mul_add(p, x, 1.984_127e-4);
    p = M::mul_add(p, x, 1.388_888_9e-3);
    p = M::mul_add(p, x, 8.333_334e-3);
    p = M::mul_add(p, x, 4.166_666_8e-2);
    p = M::mul_add(p, x, 1.666_666_7e-1);
    p = M::mul_add(p, x, 0.5);
    let small = M::mul_add(p, x * x, x);
    let large = exp_f32::<M>(x) - 1.0;
    // -0 stays -0 (`-0 + 0` is +0).
    let small = if x == 0.0 { x } else { small };
    if x.abs() < 0.5 {
        small
    } else {
        large
    }
}

/// `log(1 + exp(beta x)) / beta`, and `x` where `beta x > threshold`, in f32 (PyTorch's
/// form) on [`log1p_f32`] and [`exp_f32`].
#[inline(always)]
fn softplus_f32<M: MulAdd>(x: f32, beta: f64, threshold: f64) -> f32 {
    let (beta, threshold) = (beta as f32, threshold as f32);
    let bx = x * beta;
    let r = log1p_f32::<M>(exp_f32::<M>(bx)) / beta;
    if bx > threshold {
        x
    } else {
        r
    }
}

/// `x · tanh(softplus(x))` in f32 with one `exp` and one division: with `e = exp(x)`,
/// `tanh(ln(1 + e)) = n / (n + 2)`, `n = e (e + 2)`; past `x = 20` it is 1 in f32 (and
/// `n` would overflow).
#[inline(always)]
pub fn mish_f32<M: MulAdd>(x: f32) -> f32 {
    let e = exp_f32::<M>(x);
    let n = e * (e + 2.0);
    let r = x * (n / (n + 2.0));
    if x > 20.0 {
        x
    } else {
        r
    }
}

/// `log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))` in f32 (PyTorch's formula).
#[inline(always)]
fn log_sigmoid_f32<M: MulAdd>(x: f32) -> f32 {
    let m = if x < 0.0 { x } else { 0.0 };
    m - log1p_f32::<M>(exp_f32::<M>(-x.abs()))
}

/// ELU's `alpha · scale · expm1(input_scale · x)` below 0, `scale · x` above, in f32.
#[inline(always)]
fn elu_f32<M: MulAdd>(x: f32, alpha: f64, scale: f64, input_scale: f64) -> f32 {
    let (alpha, scale, input_scale) = (alpha as f32, scale as f32, input_scale as f32);
    let neg = expm1_f32::<M>(x * input_scale) * alpha * scale;
    if x <= 0.0 {
        neg
    } else {
        x * scale
    }
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
    Tan,
    Expm1,
    Log1p,
    Floor,
    Ceil,
    /// Half to even, as `torch.round`.
    Round,
    /// -1, 0 or 1; NaN gives 0, as PyTorch's `(0 < x) - (x < 0)`.
    Sign,
    /// Toward zero.
    Trunc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Log2,
    Log10,
    Exp2,
    /// The inverse of [`Unary::Erf`] on [-1, 1] (±inf at ±1, NaN outside).
    Erfinv,
    /// [`erfc`].
    Erfc,
    /// [`lgamma`].
    Lgamma,
    /// [`digamma`].
    Digamma,
    /// [`i0`].
    I0,
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
            Unary::Tan => x.tan(),
            Unary::Expm1 => x.exp_m1(),
            Unary::Log1p => x.ln_1p(),
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Round => x.round_ties_even(),
            Unary::Sign => f64::from(u8::from(0.0 < x)) - f64::from(u8::from(x < 0.0)),
            Unary::Trunc => x.trunc(),
            Unary::Asin => x.asin(),
            Unary::Acos => x.acos(),
            Unary::Atan => x.atan(),
            Unary::Sinh => x.sinh(),
            Unary::Cosh => x.cosh(),
            Unary::Asinh => x.asinh(),
            Unary::Acosh => x.acosh(),
            Unary::Atanh => x.atanh(),
            Unary::Log2 => x.log2(),
            Unary::Log10 => x.log10(),
            Unary::Exp2 => x.exp2(),
            Unary::Erfinv => erfinv(x),
            Unary::Erfc => erfc(x),
            Unary::Lgamma => lgamma(x),
            Unary::Digamma => digamma(x),
            Unary::I0 => i0(x),
        }
    }

    /// The function at an f32 `x`, as every f32 kernel computes it ([`Unary::apply_f32`]
    /// gives the same bits): the transcendentals in f32 arithmetic ([`exp_f32`],
    /// [`gelu_f32`], ...; [`Fused`] where [`fma`]), the rest through [`Unary::eval`] (f64,
    /// rounded once).
    #[inline(always)]
    pub fn eval_f32(self, x: f32) -> f32 {
        // Only the polynomial forms depend on the CPU: the rest (a ReLU in a
        // convolution's epilogue, element by element) must not load the flag per
        // element, which kept its loop from vectorizing.
        match self.uses_mul_add() && fma() {
            true => self.eval_f32_with::<Fused>(x),
            false => self.eval_f32_with::<Split>(x),
        }
    }

    /// Whether [`Unary::eval_f32_with`] evaluates a polynomial (its bits depend on
    /// [`MulAdd`]).
    #[inline(always)]
    fn uses_mul_add(self) -> bool {
        matches!(
            self,
            Unary::Exp
                | Unary::Gelu
                | Unary::Sigmoid
                | Unary::Silu
                | Unary::Tanh
                | Unary::GeluTanh
                | Unary::Erf
                | Unary::Log
                | Unary::Log1p
                | Unary::Expm1
                | Unary::Mish
                | Unary::LogSigmoid
                | Unary::Softplus { .. }
                | Unary::Elu { .. }
        )
    }

    /// [`Unary::eval_f32`] with its multiply-adds evaluated as `M` says.
    #[inline(always)]
    pub fn eval_f32_with<M: MulAdd>(self, x: f32) -> f32 {
        match self {
            Unary::Neg => -x,
            Unary::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Unary::Abs => x.abs(),
            Unary::Exp => exp_f32::<M>(x),
            Unary::Gelu => gelu_f32::<M>(x),
            Unary::Sigmoid => sigmoid_f32::<M>(x),
            Unary::Silu => silu_f32::<M>(x),
            Unary::Tanh => tanh_f32::<M>(x),
            Unary::GeluTanh => gelu_tanh_f32::<M>(x),
            Unary::Erf => erf_f32::<M>(x),
            Unary::Log => log_f32::<M>(x),
            Unary::Log1p => log1p_f32::<M>(x),
            Unary::Expm1 => expm1_f32::<M>(x),
            Unary::Mish => mish_f32::<M>(x),
            Unary::LogSigmoid => log_sigmoid_f32::<M>(x),
            Unary::Softplus { beta, threshold } => softplus_f32::<M>(x, beta, threshold),
            Unary::Elu {
                alpha,
                scale,
                input_scale,
            } => elu_f32::<M>(x, alpha, scale, input_scale),
            Unary::Clamp(lo, hi) => clamp_f32(x, lo, hi),
            Unary::LeakyRelu(s) => {
                let s = s as f32;
                if x > 0.0 {
                    x
                } else {
                    x * s
                }
            }
            // `x * relu6(x + 3) / 6` as PyTorch's f32 kernels, keeping NaN.
            Unary::Hardswish => x * clamp_f32(x + 3.0, Some(0.0), Some(6.0)) / 6.0,
            Unary::Hardsigmoid => clamp_f32(x + 3.0, Some(0.0), Some(6.0)) / 6.0,
            // Correctly rounded in f32 as in f64 (the f64 result rounds to the same f32).
            Unary::Sqrt => x.sqrt(),
            Unary::Reciprocal => 1.0 / x,
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Round => x.round_ties_even(),
            Unary::Trunc => x.trunc(),
            // One rounding, as the f64 form.
            Unary::Rsqrt => (1.0 / (x as f64).sqrt()) as f32,
            Unary::PowScalar(e) => pow_f32(x, e),
            f => f.eval(x as f64) as f32,
        }
    }

    /// [`Unary::apply_f32`] into a new buffer, written once (no fill of the whole
    /// output first) and split over the pool for large inputs
    /// ([`crate::threads::try_new_by_items`]).
    pub fn apply_f32_new(self, a: &[f32]) -> Result<Vec<f32>, crate::KernelError> {
        const PART: usize = 4096;
        let threads = match a.len() >= crate::threads::PAR_MIN_POINTWISE {
            true => crate::threads::num_threads(),
            false => 1,
        };
        let run = |item: usize,
                   out: &mut [std::mem::MaybeUninit<f32>]|
         -> Result<(), crate::KernelError> {
            let at = item * PART;
            let a = (a.get(at..at + out.len()))
                .ok_or_else(|| crate::KernelError::new("a pointwise item past its input"))?;
            crate::wide(ApplyF32(self, Target::Fresh(a, out)));
            Ok(())
        };
        // SAFETY: `run` returns `Ok` after `Target::Fresh`'s loop wrote each element of
        // `out` (it zips `out` with an input of the same length).
        unsafe {
            crate::threads::try_new_written_by_items(a.len(), PART, threads, &run, || {
                crate::KernelError::new("a pointwise worker thread failed")
            })
        }
    }

    /// `dst[i] = f(a[i])` over f32 values ([`Unary::eval_f32`]), on the widest vectors.
    pub fn apply_f32(self, a: &[f32], dst: &mut [f32]) {
        crate::wide(ApplyF32(self, Target::From(a, dst)));
    }

    /// [`Unary::apply_f32`] of `x` into itself (a convolution's epilogue on its tile).
    pub fn apply_f32_in_place(self, x: &mut [f32]) {
        crate::wide(ApplyF32(self, Target::InPlace(x)));
    }
}

/// The second operand of [`zip_new_f32`], against the first's values in order.
#[derive(Clone, Copy, Debug)]
pub enum ZipWith<'a> {
    /// As many values, in order.
    Each(&'a [f32]),
    /// One value per run of `run` consecutive elements, the values taken in turn (`[n,
    /// c, 1, 1]` or `[c, 1, 1]` against `[n, c, h, w]`: a squeeze-excite gate, a
    /// per-channel scale), read without copying it out to the output's size.
    PerRun { values: &'a [f32], run: usize },
}

/// `f(x, y)` (`f(y, x)` when `swapped`) for each `x` of `xs` and its `y`, into a new
/// buffer written once — no fill first, no ndarray view or iterator — split over the
/// pool for large outputs (an eager residual add ran alone on one core while the other
/// waited).
pub fn zip_new_f32(
    xs: &[f32],
    ys: ZipWith<'_>,
    swapped: bool,
    f: &(impl Fn(f32, f32) -> f32 + Sync),
) -> Result<Vec<f32>, crate::KernelError> {
    const PART: usize = 4096;
    let fits = match ys {
        ZipWith::Each(ys) => ys.len() >= xs.len(),
        ZipWith::PerRun { values, run } => !values.is_empty() && run > 0,
    };
    if !fits {
        return Err(crate::KernelError::new(
            "an elementwise operand is smaller than its shape",
        ));
    }
    // Small outputs stay on this thread: the pool's hand-off costs more than the loop.
    let threads = match xs.len() >= crate::threads::PAR_MIN_POINTWISE {
        true => crate::threads::num_threads(),
        false => 1,
    };
    let run =
        |item: usize, out: &mut [std::mem::MaybeUninit<f32>]| -> Result<(), crate::KernelError> {
            let at = item * PART;
            let xs = (xs.get(at..at + out.len()))
                .ok_or_else(|| crate::KernelError::new("an elementwise item past its input"))?;
            crate::wide(ZipLoop {
                xs,
                ys,
                at,
                swapped,
                f,
                out,
            });
            Ok(())
        };
    // SAFETY: `run` returns `Ok` after `ZipLoop` wrote each element of `out` (`xs` is
    // as long as `out`, and every `x` has its `y`, checked above).
    unsafe {
        crate::threads::try_new_written_by_items(xs.len(), PART, threads, &run, || {
            crate::KernelError::new("an elementwise worker thread failed")
        })
    }
}

/// [`zip_new_f32`]'s loop over elements `at..` of the output (`out`, as long as `xs`),
/// on the widest vectors: one loop, or one per run against its value.
struct ZipLoop<'a, F> {
    xs: &'a [f32],
    ys: ZipWith<'a>,
    at: usize,
    swapped: bool,
    f: &'a F,
    out: &'a mut [std::mem::MaybeUninit<f32>],
}

impl<F: Fn(f32, f32) -> f32> crate::WideLoop for ZipLoop<'_, F> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ZipLoop {
            xs,
            ys,
            at,
            swapped,
            f,
            out,
        } = self;
        match ys {
            ZipWith::Each(ys) => {
                let ys = &ys[at..at + out.len()];
                if swapped {
                    for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                        o.write(f(y, x));
                    }
                } else {
                    for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                        o.write(f(x, y));
                    }
                }
            }
            ZipWith::PerRun { values, run } => {
                let mut done = 0;
                while done < out.len() {
                    let p = at + done;
                    let len = (run - p % run).min(out.len() - done);
                    let y = values[(p / run) % values.len()];
                    let (xs, out) = (&xs[done..done + len], &mut out[done..done + len]);
                    if swapped {
                        for (o, &x) in out.iter_mut().zip(xs) {
                            o.write(f(y, x));
                        }
                    } else {
                        for (o, &x) in out.iter_mut().zip(xs) {
                            o.write(f(x, y));
                        }
                    }
                    done += len;
                }
            }
        }
    }
}

/// [`Unary::apply_f32`]'s loops, on the widest vectors ([`crate::wide`]).
struct ApplyF32<'a>(Unary, Target<'a>);

/// Where [`ApplyF32`] reads and writes.
enum Target<'a> {
    /// From the values into others (as many as the shorter).
    From(&'a [f32], &'a mut [f32]),
    InPlace(&'a mut [f32]),
    /// From the values into new memory, every element of which it writes (as long
    /// as the values are).
    Fresh(&'a [f32], &'a mut [std::mem::MaybeUninit<f32>]),
}

impl crate::WideLoop for ApplyF32<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        match self.0.uses_mul_add() && fma() {
            true => self.run_with::<Fused>(),
            false => self.run_with::<Split>(),
        }
    }
}

impl ApplyF32<'_> {
    #[inline(always)]
    fn run_with<M: MulAdd>(self) {
        let ApplyF32(op, target) = self;
        // The common functions get their own loop (no `match` per element), so that
        // the branch-free ones vectorize. Plain `for` loops: `for_each` on a zip is a
        // `fold` function of its own, which stayed baseline code.
        macro_rules! each {
            ($f:expr) => {
                match target {
                    Target::From(a, dst) => {
                        for (d, &x) in dst.iter_mut().zip(a) {
                            *d = $f(x);
                        }
                    }
                    Target::InPlace(dst) => {
                        for d in dst.iter_mut() {
                            *d = $f(*d);
                        }
                    }
                    Target::Fresh(a, dst) => {
                        for (d, &x) in dst.iter_mut().zip(a) {
                            d.write($f(x));
                        }
                    }
                }
            };
        }
        match op {
            Unary::Neg => each!(|x| Unary::Neg.eval_f32(x)),
            Unary::Relu => each!(|x| Unary::Relu.eval_f32(x)),
            Unary::Abs => each!(|x| Unary::Abs.eval_f32(x)),
            Unary::Gelu => each!(gelu_f32::<M>),
            Unary::Sigmoid => each!(sigmoid_f32::<M>),
            Unary::Silu => each!(silu_f32::<M>),
            Unary::Exp => each!(exp_f32::<M>),
            Unary::Tanh => each!(tanh_f32::<M>),
            Unary::GeluTanh => each!(gelu_tanh_f32::<M>),
            Unary::Erf => each!(erf_f32::<M>),
            Unary::Log => each!(log_f32::<M>),
            Unary::Log1p => each!(log1p_f32::<M>),
            Unary::Expm1 => each!(expm1_f32::<M>),
            Unary::Mish => each!(mish_f32::<M>),
            Unary::LogSigmoid => each!(log_sigmoid_f32::<M>),
            Unary::Softplus { beta, threshold } => each!(|x| softplus_f32::<M>(x, beta, threshold)),
            Unary::Elu {
                alpha,
                scale,
                input_scale,
            } => each!(|x| elu_f32::<M>(x, alpha, scale, input_scale)),
            Unary::Clamp(lo, hi) => each!(|x| clamp_f32(x, lo, hi)),
            Unary::LeakyRelu(_) => each!(|x| op.eval_f32_with::<M>(x)),
            Unary::Hardswish => each!(|x| Unary::Hardswish.eval_f32(x)),
            Unary::Hardsigmoid => each!(|x| Unary::Hardsigmoid.eval_f32(x)),
            Unary::Sqrt => each!(f32::sqrt),
            Unary::Rsqrt => each!(|x| Unary::Rsqrt.eval_f32(x)),
            Unary::Reciprocal => each!(|x| 1.0 / x),
            Unary::Floor => each!(f32::floor),
            Unary::Ceil => each!(f32::ceil),
            Unary::Round => each!(f32::round_ties_even),
            Unary::Trunc => each!(f32::trunc),
            Unary::PowScalar(e) => each!(|x| pow_f32(x, e)),
            f => each!(|x| f.eval_f32_with::<M>(x)),
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

/// Binary arithmetic the runtime fuses: `a + alpha * b`, `a - alpha * b`, `a * b`, `a / b`,
/// and `maximum` / `minimum` (NaN if either is; `b` where they are equal, so -0 and 0
/// give the same bits in every loop: [`max_of`], [`min_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// `maximum(a, b)` as ATen computes it: NaN if either is NaN, else the larger, `b`
/// where they are equal. The eager op and every fused loop use this (one rule, one
/// place), generic over the float width.
#[inline(always)]
pub fn max_of<T: PartialOrd + From<f32>>(a: T, b: T) -> T {
    if a.partial_cmp(&b).is_none() {
        T::from(f32::NAN)
    } else if a > b {
        a
    } else {
        b
    }
}

/// `minimum(a, b)`: as [`max_of`], the smaller.
#[inline(always)]
pub fn min_of<T: PartialOrd + From<f32>>(a: T, b: T) -> T {
    if a.partial_cmp(&b).is_none() {
        T::from(f32::NAN)
    } else if a < b {
        a
    } else {
        b
    }
}

impl Binary {
    /// `a op b` in f32 (`alpha` is the caller's, folded into `b`).
    #[inline(always)]
    pub fn eval_f32(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Max => max_of(a, b),
            Binary::Min => min_of(a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new buffer holds what the in-place loop writes, for inputs below and above the
    /// size split over the pool.
    #[test]
    fn new_outputs_are_the_in_place_outputs() {
        for len in [0, 7, crate::threads::PAR_MIN_POINTWISE + 4099] {
            let a: Vec<f32> = (0..len).map(|i| (i % 97) as f32 * 0.25 - 12.0).collect();
            for op in [Unary::Relu, Unary::Exp, Unary::Sigmoid] {
                let mut want = vec![0f32; len];
                op.apply_f32(&a, &mut want);
                let got = op.apply_f32_new(&a).unwrap();
                assert_eq!(got, want, "{op:?} over {len}");
            }
        }
    }

    /// New zipped outputs: each element is `f` of its two operands, in either order,
    /// for operands read in order or per run (runs crossing the pool's items, values
    /// taken in turn), below and above the size split over the pool; operands short of
    /// the output are errors.
    #[test]
    fn zipped_outputs_are_f_of_each_pair() {
        let f = |x: f32, y: f32| x - 2.0 * y;
        for len in [0, 7, 4096 * 3 + 5, crate::threads::PAR_MIN_POINTWISE + 4099] {
            let xs: Vec<f32> = (0..len).map(|i| (i % 97) as f32 * 0.25 - 12.0).collect();
            let ys: Vec<f32> = (0..len).map(|i| (i % 13) as f32 * 1.5 - 3.0).collect();
            let (values, run) = ([0.5f32, -1.25, 3.0], 1000);
            for swapped in [false, true] {
                let pair = |x: f32, y: f32| if swapped { f(y, x) } else { f(x, y) };
                let got = zip_new_f32(&xs, ZipWith::Each(&ys), swapped, &f).unwrap();
                let want: Vec<f32> = xs.iter().zip(&ys).map(|(&x, &y)| pair(x, y)).collect();
                assert_eq!(got, want, "each, {len}");
                let runs = ZipWith::PerRun {
                    values: &values,
                    run,
                };
                let got = zip_new_f32(&xs, runs, swapped, &f).unwrap();
                let want: Vec<f32> = (xs.iter().enumerate())
                    .map(|(i, &x)| pair(x, values[(i / run) % values.len()]))
                    .collect();
                assert_eq!(got, want, "per run, {len}");
            }
        }
        let xs = [1f32; 8];
        assert!(zip_new_f32(&xs, ZipWith::Each(&xs[1..]), false, &f).is_err());
        let empty = ZipWith::PerRun {
            values: &[],
            run: 4,
        };
        assert!(zip_new_f32(&xs, empty, false, &f).is_err());
        let no_run = ZipWith::PerRun {
            values: &xs,
            run: 0,
        };
        assert!(zip_new_f32(&xs, no_run, false, &f).is_err());
    }

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

    /// Every 97th f32 bit pattern in `[lo, hi]` (both signs when `lo < 0`), and the ends.
    fn sweep(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        (0..u32::MAX / 97)
            .map(|i| f32::from_bits(i * 97))
            .flat_map(|x| [x, -x])
            .filter(move |x| *x >= lo && *x <= hi)
            .chain([lo, hi, 0.0])
    }

    #[test]
    fn exp_f32_is_within_two_ulp_down_to_subnormals_and_saturates_right() {
        exp_f32_is_within_two_ulp_down_to_subnormals_and_saturates_right_with::<Split>();
        exp_f32_is_within_two_ulp_down_to_subnormals_and_saturates_right_with::<Fused>();
    }

    fn exp_f32_is_within_two_ulp_down_to_subnormals_and_saturates_right_with<M: MulAdd>() {
        let mut worst = 0f64;
        for x in sweep(-87.0, 88.7) {
            let want = (x as f64).exp();
            let err = ((exp_f32::<M>(x) as f64 - want) / want).abs();
            worst = worst.max(err);
        }
        assert!(
            worst <= 2.0 * f32::EPSILON as f64 / 2.0,
            "relative error {worst:e}"
        );
        // Subnormal results: within one subnormal step.
        for x in [-88.0f32, -95.0, -100.0, -103.0] {
            let want = (x as f64).exp();
            assert!((exp_f32::<M>(x) as f64 - want).abs() <= 1.5e-45, "exp({x})");
        }
        assert_eq!(exp_f32::<M>(-200.0), 0.0);
        assert_eq!(exp_f32::<M>(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32::<M>(89.0), f32::INFINITY);
        assert_eq!(exp_f32::<M>(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32::<M>(f32::NAN).is_nan());
        assert_eq!(exp_f32::<M>(0.0), 1.0);
    }

    /// Where its result is normal, the one-scaling exponential has the bits of the
    /// full-range one (so the softmax and `tanh` kept theirs); outside it is clamped.
    #[test]
    fn exp_normal_has_the_bits_of_exp_where_the_result_is_normal() {
        fn with<M: MulAdd>() {
            for x in sweep(-87.0, 88.0).chain([-87.0, 88.0, 0.0, -0.0]) {
                assert_eq!(
                    exp_normal_f32::<M>(x).to_bits(),
                    exp_f32::<M>(x).to_bits(),
                    "{x}"
                );
            }
            assert_eq!(exp_normal_f32::<M>(-200.0), exp_f32::<M>(-87.0));
            assert_eq!(exp_normal_f32::<M>(f32::INFINITY), exp_f32::<M>(88.0));
            assert!(exp_normal_f32::<M>(f32::NAN).is_nan());
        }
        with::<Split>();
        with::<Fused>();
    }

    #[test]
    fn f32_gelu_and_sigmoid_stay_close_to_the_f64_functions_in_both_tails() {
        f32_gelu_and_sigmoid_stay_close_to_the_f64_functions_in_both_tails_with::<Split>();
        f32_gelu_and_sigmoid_stay_close_to_the_f64_functions_in_both_tails_with::<Fused>();
    }

    fn f32_gelu_and_sigmoid_stay_close_to_the_f64_functions_in_both_tails_with<M: MulAdd>() {
        let (mut gelu_worst, mut tail_worst, mut sig_worst) = (0f64, 0f64, 0f64);
        for x in sweep(-12.0, 12.0) {
            let want = gelu(x as f64);
            // Subnormal results hold few bits: their error is counted against 2^-126.
            let err =
                (gelu_f32::<M>(x) as f64 - want).abs() / want.abs().max(f32::MIN_POSITIVE as f64);
            // Past |x| = 5 the rounding of `z²` (a few ulp of up to 72) sets the
            // relative error of a value below 1e-6.
            match x.abs() <= 5.0 {
                true => gelu_worst = gelu_worst.max(err),
                false => tail_worst = tail_worst.max(err),
            }
            let want = sigmoid(x as f64);
            sig_worst = sig_worst.max((sigmoid_f32::<M>(x) as f64 - want).abs() / want);
        }
        assert!(gelu_worst < 1.5e-6, "GELU relative error {gelu_worst:e}");
        assert!(tail_worst < 3e-5, "GELU tail relative error {tail_worst:e}");
        assert!(
            sig_worst < 4.0 * f32::EPSILON as f64,
            "sigmoid relative error {sig_worst:e}"
        );
        assert_eq!(gelu_f32::<M>(0.0), 0.0);
        assert_eq!(gelu_f32::<M>(f32::INFINITY), f32::INFINITY);
        // As the f64 function (and PyTorch's): `-inf · Φ(-inf)` is NaN.
        assert!(gelu_f32::<M>(f32::NEG_INFINITY).is_nan() && gelu(f64::NEG_INFINITY).is_nan());
        assert_eq!(gelu_f32::<M>(-50.0), 0.0);
        // Below -13, `x · 0`: -0, as PyTorch's `1 + erf(x / √2)` of 0 gives.
        assert_eq!(gelu_f32::<M>(-13.5).to_bits(), (-0f32).to_bits());
        assert!(gelu_f32::<M>(-12.9) < 0.0);
        assert!(gelu_f32::<M>(f32::NAN).is_nan());
        assert_eq!(sigmoid_f32::<M>(-200.0), 0.0);
        assert_eq!(sigmoid_f32::<M>(200.0), 1.0);
    }

    #[test]
    fn tanh_f32_is_within_three_ulp_and_odd() {
        tanh_f32_is_within_three_ulp_and_odd_with::<Split>();
        tanh_f32_is_within_three_ulp_and_odd_with::<Fused>();
    }

    fn tanh_f32_is_within_three_ulp_and_odd_with<M: MulAdd>() {
        let mut worst = 0f64;
        for x in sweep(-20.0, 20.0) {
            let want = (x as f64).tanh();
            let got = tanh_f32::<M>(x);
            // Error in units of the f32 spacing at the exact value (denormal-free range).
            let ulp = (want.abs().max(f32::MIN_POSITIVE as f64) as f32).to_bits();
            let spacing = (f32::from_bits(ulp + 1) - f32::from_bits(ulp)) as f64;
            worst = worst.max((got as f64 - want).abs() / spacing);
            assert_eq!(
                got.to_bits() ^ tanh_f32::<M>(-x).to_bits(),
                0x8000_0000,
                "odd at {x}"
            );
        }
        assert!(worst <= 3.0, "tanh error {worst} ulp");
        assert_eq!(tanh_f32::<M>(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32::<M>(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32::<M>(f32::NAN).is_nan());
        assert_eq!(tanh_f32::<M>(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    /// Error of `got` against the exact `want` in units of the f32 spacing at `want`
    /// (subnormal results against the smallest normal's spacing).
    fn ulps(got: f32, want: f64) -> f64 {
        let at = (want.abs().max(f32::MIN_POSITIVE as f64) as f32).to_bits();
        let spacing = (f32::from_bits(at + 1) - f32::from_bits(at)) as f64;
        (got as f64 - want).abs() / spacing
    }

    /// The f32 forms of the functions that went through f64 per element (20–30 ns each):
    /// their worst error over a sweep of f32 values against the f64 definition, and
    /// their special values.
    #[test]
    fn f32_transcendentals_stay_within_a_few_ulp_of_f64() {
        f32_transcendentals_stay_within_a_few_ulp_of_f64_with::<Split>();
        f32_transcendentals_stay_within_a_few_ulp_of_f64_with::<Fused>();
    }

    fn f32_transcendentals_stay_within_a_few_ulp_of_f64_with<M: MulAdd>() {
        let worst = |lo: f32, hi: f32, f: &dyn Fn(f32) -> f32, g: &dyn Fn(f64) -> f64| {
            (sweep(lo, hi).step_by(3).map(|x| ulps(f(x), g(x as f64)))).fold(0f64, f64::max)
        };
        let log = worst(0.0, f32::MAX, &log_f32::<M>, &f64::ln);
        let log1p = worst(-0.999, 1e30, &log1p_f32::<M>, &f64::ln_1p);
        let expm1 = worst(-80.0, 80.0, &expm1_f32::<M>, &f64::exp_m1);
        let erf = worst(-10.0, 10.0, &erf_f32::<M>, &erf);
        let mish = worst(-80.0, 80.0, &mish_f32::<M>, &|x| Unary::Mish.eval(x));
        let softplus = worst(-80.0, 80.0, &|x| softplus_f32::<M>(x, 1.0, 20.0), &|x| {
            Unary::Softplus {
                beta: 1.0,
                threshold: 20.0,
            }
            .eval(x)
        });
        let log_sig = worst(-80.0, 80.0, &log_sigmoid_f32::<M>, &log_sigmoid);
        let gelu_tanh = sweep(-20.0, 20.0)
            .map(|x| {
                let err = (gelu_tanh_f32::<M>(x) as f64 - gelu_tanh(x as f64)).abs();
                err / (x.abs() as f64).max(1.0)
            })
            .fold(0f64, f64::max);
        let bounds = [
            ("log", log, 1.0),
            ("log1p", log1p, 3.0),
            ("expm1", expm1, 2.0),
            ("erf", erf, 4.0),
            ("mish", mish, 5.0),
            ("softplus", softplus, 3.0),
            ("log_sigmoid", log_sig, 3.0),
        ];
        for (name, err, bound) in bounds {
            assert!(err <= bound, "{name}: {err} ulp");
        }
        // GELU's tanh form cancels in `1 + tanh` below 0 (in PyTorch's f32 kernel as
        // here): its error is bounded against the size of `x`.
        assert!(gelu_tanh <= 2e-7, "GELU (tanh) error {gelu_tanh:e}");
    }

    #[test]
    fn f32_transcendentals_keep_their_special_values() {
        f32_transcendentals_keep_their_special_values_with::<Split>();
        f32_transcendentals_keep_their_special_values_with::<Fused>();
    }

    fn f32_transcendentals_keep_their_special_values_with<M: MulAdd>() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        assert_eq!(
            (log_f32::<M>(0.0), log_f32::<M>(-0.0), log_f32::<M>(inf)),
            (-inf, -inf, inf)
        );
        assert_eq!(log_f32::<M>(1.0), 0.0);
        assert!(
            log_f32::<M>(-1.0).is_nan()
                && log_f32::<M>(nan).is_nan()
                && log_f32::<M>(-inf).is_nan()
        );
        assert_eq!(
            (
                log1p_f32::<M>(-1.0),
                log1p_f32::<M>(inf),
                log1p_f32::<M>(1e-30)
            ),
            (-inf, inf, 1e-30)
        );
        assert!(log1p_f32::<M>(-2.0).is_nan() && log1p_f32::<M>(nan).is_nan());
        assert_eq!(
            (
                expm1_f32::<M>(-inf),
                expm1_f32::<M>(inf),
                expm1_f32::<M>(1e-30)
            ),
            (-1.0, inf, 1e-30)
        );
        assert_eq!(expm1_f32::<M>(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!((erf_f32::<M>(inf), erf_f32::<M>(-inf)), (1.0, -1.0));
        assert_eq!(erf_f32::<M>(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(
            (mish_f32::<M>(inf), softplus_f32::<M>(inf, 1.0, 20.0)),
            (inf, inf)
        );
        assert_eq!(
            (
                softplus_f32::<M>(-inf, 1.0, 20.0),
                log_sigmoid_f32::<M>(-inf)
            ),
            (0.0, -inf)
        );
        assert_eq!(
            (log_sigmoid_f32::<M>(inf), gelu_tanh_f32::<M>(inf)),
            (0.0, inf)
        );
        let fs = [
            log_f32::<M>,
            log1p_f32::<M>,
            expm1_f32::<M>,
            erf_f32::<M>,
            mish_f32::<M>,
        ];
        for f in fs.into_iter().chain([gelu_tanh_f32::<M> as fn(f32) -> f32]) {
            assert!(f(nan).is_nan());
        }
    }

    /// The vector loops compute what the scalar form does, bit for bit.
    #[test]
    fn vector_loops_give_the_scalar_bits() {
        let xs: Vec<f32> = sweep(-100.0, 100.0).step_by(5).collect();
        let ops = [
            Unary::Gelu,
            Unary::GeluTanh,
            Unary::Erf,
            Unary::Log,
            Unary::Log1p,
            Unary::Expm1,
            Unary::Mish,
            Unary::LogSigmoid,
            Unary::Softplus {
                beta: 2.0,
                threshold: 15.0,
            },
            Unary::Elu {
                alpha: 1.5,
                scale: 1.0507,
                input_scale: 0.5,
            },
        ];
        for op in ops {
            let mut got = vec![0f32; xs.len()];
            op.apply_f32(&xs, &mut got);
            for (&x, &g) in xs.iter().zip(&got) {
                let want = op.eval_f32(x);
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{op:?}({x}): {g} vs {want}"
                );
            }
        }
    }

    /// The f32 forms of the cheap functions give what the f64 definition gives, rounded
    /// (clamp bounds that are not f32 values included), or within 2 ulp where they are
    /// f32 arithmetic; all keep NaN.
    #[test]
    fn f32_forms_round_the_f64_definitions() {
        let ops = [
            Unary::Clamp(Some(-0.1), Some(0.7)),
            Unary::Clamp(None, Some(6.0)),
            Unary::Clamp(Some(0.0), None),
            Unary::Sqrt,
            Unary::Reciprocal,
            Unary::Floor,
            Unary::Ceil,
            Unary::Round,
            Unary::Trunc,
            Unary::Rsqrt,
        ];
        let xs: Vec<f32> = sweep(-1e3, 1e3).step_by(7).collect();
        for op in ops {
            let mut got = vec![0f32; xs.len()];
            op.apply_f32(&xs, &mut got);
            for (&x, &g) in xs.iter().zip(&got) {
                let want = op.eval(x as f64) as f32;
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{op:?}({x}): {g} vs {want}"
                );
            }
            assert!(op.eval_f32(f32::NAN).is_nan(), "{op:?} keeps NaN");
        }
        // The common powers are PyTorch's f32 forms; any other exponent the f64 one.
        type Power = (f64, fn(f32) -> f32);
        let powers: [Power; 3] = [(2.0, |x| x * x), (3.0, |x| x * x * x), (-1.0, |x| 1.0 / x)];
        for (e, f) in powers {
            for &x in &xs {
                assert_eq!(
                    Unary::PowScalar(e).eval_f32(x).to_bits(),
                    f(x).to_bits(),
                    "{x}^{e}"
                );
            }
        }
        let mut got = vec![0f32; xs.len()];
        Unary::PowScalar(1.7).apply_f32(&xs, &mut got);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = (x as f64).powf(1.7) as f32;
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "{x}^1.7"
            );
        }
        // In f32 arithmetic, as PyTorch's f32 kernels (the slope rounded to f32 first).
        for op in [Unary::Hardswish, Unary::Hardsigmoid, Unary::LeakyRelu(0.01)] {
            for &x in &xs {
                let want = op.eval(x as f64);
                let g = op.eval_f32(x) as f64;
                let tol = 2.0 * f32::EPSILON as f64 * want.abs() + 2.0 * f32::from_bits(1) as f64;
                assert!((g - want).abs() <= tol, "{op:?}({x})");
            }
            assert!(op.eval_f32(f32::NAN).is_nan());
        }
    }
}
