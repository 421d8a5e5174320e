//! What a convolution does to its output as it writes it: a chain of elementwise steps
//! on each output value — a batch norm folded to a per-channel scale and shift, a
//! residual, ReLU — run by the implicit tiles on their registers before they store, and
//! by the other paths on each group's rows while they are in cache. Run after the
//! convolution as a pass of its own, such a chain over a ResNet block's outputs cost a
//! fifth of the block. The arithmetic is the steps' own, in order (a multiply then an
//! add, never fused), so the bits are those of running them after.

use crate::pointwise::{Binary, Unary};
use crate::KernelError;

/// A binary step's other operand.
#[derive(Clone, Copy, Debug)]
pub enum EpilogueOperand<'a> {
    /// One value for every output.
    Scalar(f32),
    /// One value per output channel (at least `c_out`).
    Channel(&'a [f32]),
    /// One value per output, laid out as the output (`[batch, c_out, oh, ow]`).
    Output(&'a [f32]),
}

/// One step of a convolution's epilogue, applied to each output value `y` in order.
#[derive(Clone, Copy, Debug)]
pub enum ConvEpilogueStep<'a> {
    /// `y = y op x`, or `y = x op y` when `x_first`.
    Binary {
        op: Binary,
        x: EpilogueOperand<'a>,
        x_first: bool,
    },
    /// `y = relu(y)`, as the elementwise kernel computes it (NaN and -0 kept).
    Relu,
    /// `y = f(y)`, as the elementwise kernel computes it ([`Unary::apply_f32`]): a
    /// hardswish or sigmoid after a batch norm.
    Unary(Unary),
}

/// Checks the steps' operands against a convolution of `batch` samples of `c_out`
/// channels of `l` outputs.
pub(super) fn validate(
    steps: &[ConvEpilogueStep<'_>],
    batch: usize,
    c_out: usize,
    l: usize,
) -> Result<(), KernelError> {
    let outputs = batch.saturating_mul(c_out).saturating_mul(l);
    for step in steps {
        let short = match step {
            ConvEpilogueStep::Binary {
                x: EpilogueOperand::Channel(c),
                ..
            } => c.len() < c_out,
            ConvEpilogueStep::Binary {
                x: EpilogueOperand::Output(o),
                ..
            } => o.len() < outputs,
            _ => false,
        };
        if short {
            return Err(KernelError::new(
                "a convolution epilogue operand is smaller than the output",
            ));
        }
    }
    Ok(())
}

/// The epilogue of one sample: its steps, and where the sample's outputs start in an
/// [`EpilogueOperand::Output`] (`sample * c_out * l`).
#[derive(Clone, Copy)]
pub(super) struct SampleEpilogue<'a> {
    pub steps: &'a [ConvEpilogueStep<'a>],
    pub at: usize,
}

impl SampleEpilogue<'_> {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the steps over `rows` (channels `first..`, `l` outputs each) of the sample.
    pub fn apply_rows(self, rows: &mut [f32], first: usize, l: usize) {
        if !self.is_empty() && l > 0 {
            crate::wide(ApplyRows {
                epi: self,
                rows,
                first,
                l,
            });
        }
    }
}

/// [`SampleEpilogue::apply_rows`]'s loops, on the widest vectors: one loop per step and
/// row, its operation chosen outside it.
struct ApplyRows<'a> {
    epi: SampleEpilogue<'a>,
    rows: &'a mut [f32],
    first: usize,
    l: usize,
}

impl crate::WideLoop for ApplyRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let ApplyRows {
            epi,
            rows,
            first,
            l,
        } = self;
        for (r, row) in rows.chunks_exact_mut(l).enumerate() {
            let co = first + r;
            for step in epi.steps {
                match *step {
                    ConvEpilogueStep::Relu => {
                        for y in row.iter_mut() {
                            *y = Unary::Relu.eval_f32(*y);
                        }
                    }
                    ConvEpilogueStep::Unary(op) => op.apply_f32_in_place(row),
                    ConvEpilogueStep::Binary { op, x, x_first } => {
                        let value = match x {
                            EpilogueOperand::Scalar(v) => Some(v),
                            EpilogueOperand::Channel(c) => c.get(co).copied(),
                            EpilogueOperand::Output(_) => None,
                        };
                        match (x, value) {
                            (_, Some(v)) => binary_const(op, v, x_first, row),
                            (EpilogueOperand::Output(o), None) => {
                                let at = epi.at + co * l;
                                if let Some(src) = o.get(at..at + l) {
                                    binary_values(op, src, x_first, row);
                                }
                            }
                            // A channel past the operand: refused by `validate`.
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// `row[i] = row[i] op v` (or `v op row[i]`), a loop per operation.
#[inline(always)]
fn binary_const(op: Binary, v: f32, x_first: bool, row: &mut [f32]) {
    macro_rules! each {
        ($op:expr) => {
            if x_first {
                row.iter_mut().for_each(|y| *y = $op.eval_f32(v, *y));
            } else {
                row.iter_mut().for_each(|y| *y = $op.eval_f32(*y, v));
            }
        };
    }
    match op {
        Binary::Add => each!(Binary::Add),
        Binary::Sub => each!(Binary::Sub),
        Binary::Mul => each!(Binary::Mul),
        Binary::Div => each!(Binary::Div),
        Binary::Max => each!(Binary::Max),
        Binary::Min => each!(Binary::Min),
    }
}

/// `row[i] = row[i] op src[i]` (or `src[i] op row[i]`), a loop per operation.
#[inline(always)]
fn binary_values(op: Binary, src: &[f32], x_first: bool, row: &mut [f32]) {
    macro_rules! each {
        ($op:expr) => {
            if x_first {
                row.iter_mut()
                    .zip(src)
                    .for_each(|(y, &x)| *y = $op.eval_f32(x, *y));
            } else {
                row.iter_mut()
                    .zip(src)
                    .for_each(|(y, &x)| *y = $op.eval_f32(*y, x));
            }
        };
    }
    match op {
        Binary::Add => each!(Binary::Add),
        Binary::Sub => each!(Binary::Sub),
        Binary::Mul => each!(Binary::Mul),
        Binary::Div => each!(Binary::Div),
        Binary::Max => each!(Binary::Max),
        Binary::Min => each!(Binary::Min),
    }
}

/// The steps on a tile of `R` channels (`co..`, the first `mr` real) by `P` 16-lane
/// vectors from column `col` of the channels' `l`, the first `nr` columns real: step by
/// step over the whole tile, so that a step's kind is decided once per tile, not once
/// per vector. Lanes past `nr` and rows past `mr` are not read from an output-shaped
/// operand (their values are never stored).
///
/// # Safety
/// The CPU has AVX-512F; the steps passed [`validate`] for this convolution, and
/// channels `co..co + mr`, columns `col..col + nr` lie inside the sample.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn apply_tile_avx512<const R: usize, const P: usize>(
    epi: SampleEpilogue<'_>,
    acc: &mut [[std::arch::x86_64::__m512; P]; R],
    co: usize,
    col: usize,
    l: usize,
    mr: usize,
    nr: usize,
) {
    use std::arch::x86_64::*;
    let masks: [__mmask16; P] = std::array::from_fn(|q| {
        let width = nr.saturating_sub(q * 16).min(16);
        (((1u32 << width) - 1) & 0xffff) as __mmask16
    });
    for step in epi.steps {
        let (op, x, x_first) = match *step {
            ConvEpilogueStep::Relu => {
                // Lanes below 0 (not NaN, not -0) to 0, as the elementwise kernel.
                let zero = _mm512_setzero_ps();
                for y in acc.iter_mut().flatten() {
                    *y = _mm512_mask_mov_ps(*y, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(*y, zero), zero);
                }
                continue;
            }
            ConvEpilogueStep::Unary(op) => {
                unary_tile(op, acc, mr);
                continue;
            }
            ConvEpilogueStep::Binary { op, x, x_first } => (op, x, x_first),
        };
        for (r, row) in acc.iter_mut().enumerate().take(mr) {
            let per_row = match x {
                EpilogueOperand::Scalar(v) => Some(_mm512_set1_ps(v)),
                // SAFETY: co + r < c_out <= the operand's length (`validate`).
                EpilogueOperand::Channel(c) => {
                    Some(_mm512_set1_ps(unsafe { *c.as_ptr().add(co + r) }))
                }
                EpilogueOperand::Output(_) => None,
            };
            for (q, y) in row.iter_mut().enumerate() {
                let xv = match (per_row, x) {
                    (Some(v), _) => v,
                    // SAFETY: the sample's outputs from `at` lie inside the operand
                    // (`validate`); channel co + r, columns col + 16q + the mask's lanes
                    // (< nr) are the sample's; the other lanes are never read.
                    (None, EpilogueOperand::Output(o)) => unsafe {
                        let at = epi.at + (co + r) * l + col + q * 16;
                        _mm512_maskz_loadu_ps(masks[q], o.as_ptr().add(at))
                    },
                    (None, _) => _mm512_setzero_ps(),
                };
                let (a, b) = if x_first { (xv, *y) } else { (*y, xv) };
                *y = match op {
                    Binary::Add => _mm512_add_ps(a, b),
                    Binary::Sub => _mm512_sub_ps(a, b),
                    Binary::Mul => _mm512_mul_ps(a, b),
                    Binary::Div => _mm512_div_ps(a, b),
                    Binary::Max => pick_avx512::<_CMP_GT_OQ>(a, b),
                    Binary::Min => pick_avx512::<_CMP_LT_OQ>(a, b),
                };
            }
        }
    }
}

/// `a` where `a CMP b`, else `b`, and NaN where either is ([`crate::pointwise::max_of`]'s
/// rule, lane by lane).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pick_avx512<const CMP: i32>(
    a: std::arch::x86_64::__m512,
    b: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let picked = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<CMP>(a, b), b, a);
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b);
    _mm512_mask_mov_ps(picked, nan, _mm512_set1_ps(f32::NAN))
}

/// `f` of a tile's first `mr` rows through memory, by the elementwise kernel's own loops
/// (so the bits are its), as many vectors at a time as [`TILE_LANES`] floats hold.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unary_tile<const R: usize, const P: usize>(
    f: Unary,
    acc: &mut [[std::arch::x86_64::__m512; P]; R],
    mr: usize,
) {
    use std::arch::x86_64::*;
    // A clamp and the hard activations on the registers: through memory, a
    // hardswish after a batch norm cost as much as the rest of a 1×1 convolution's
    // epilogue. Each is its scalar form's operations in order (`max(lo, x)` and
    // `min(hi, x)` keep a NaN `x`, as the scalar clamp does), so the bits are its.
    let clamp = |lo: Option<f64>, hi: Option<f64>| {
        let (lo, hi) = (
            lo.map_or(f32::NEG_INFINITY, |v| v as f32),
            hi.map_or(f32::INFINITY, |v| v as f32),
        );
        (_mm512_set1_ps(lo), _mm512_set1_ps(hi))
    };
    let (three, six) = (_mm512_set1_ps(3.0), _mm512_set1_ps(6.0));
    let in_registers = match f {
        Unary::Hardswish | Unary::Hardsigmoid => Some(clamp(Some(0.0), Some(6.0))),
        Unary::Clamp(lo, hi) => Some(clamp(lo, hi)),
        _ => None,
    };
    if let Some((lo, hi)) = in_registers {
        for y in acc[..mr.min(R)].iter_mut().flatten() {
            let x = *y;
            let shifted = match f {
                Unary::Clamp(..) => x,
                _ => _mm512_add_ps(x, three),
            };
            let c = _mm512_min_ps(hi, _mm512_max_ps(lo, shifted));
            *y = match f {
                Unary::Hardswish => _mm512_div_ps(_mm512_mul_ps(x, c), six),
                Unary::Hardsigmoid => _mm512_div_ps(c, six),
                _ => c,
            };
        }
        return;
    }
    let mut lanes = [0f32; TILE_LANES];
    for vectors in acc[..mr.min(R)]
        .as_flattened_mut()
        .chunks_mut(TILE_LANES / 16)
    {
        for (i, y) in vectors.iter().enumerate() {
            // SAFETY: vector i's 16 lanes start at 16 i < TILE_LANES.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr().add(i * 16), *y) };
        }
        f.apply_f32_in_place(&mut lanes[..vectors.len() * 16]);
        for (i, y) in vectors.iter_mut().enumerate() {
            // SAFETY: as the store above.
            *y = unsafe { _mm512_loadu_ps(lanes.as_ptr().add(i * 16)) };
        }
    }
}

/// Floats [`unary_tile`] passes to the elementwise loop at once (an 8-row tile of 4
/// vectors).
const TILE_LANES: usize = 512;
