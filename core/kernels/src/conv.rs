//! 2-D convolution as im2col + GEMM: per sample and group, the receptive fields are
//! unrolled into a `[cg * kh * kw, oh * ow]` matrix that the weights `[og, cg * kh * kw]`
//! multiply. A 1-D convolution is a 2-D one of height 1; a 1×1 convolution with stride
//! 1 and no padding multiplies the input directly. On AVX-512, f32 convolutions whose
//! rows are read with stride 1 never build that matrix: the implicit tiles
//! (`conv/implicit.rs`) read each panel row from the input planes where they lie.

use crate::gemm::{gemm, Float, Mat};
use crate::layout::copy_short;
use crate::sgemm::{gemm_packed_a, PackedA, PackedB};
use crate::threads::{for_each_item_chunk, num_threads, try_new_by_items, PAR_MIN_CONV};
use crate::KernelError;

mod depthwise;
mod epilogue;
mod implicit;
mod transposed;

use depthwise::{Depthwise, DepthwisePlan};
use epilogue::SampleEpilogue;
pub use epilogue::{ConvEpilogueStep, EpilogueOperand};
pub use transposed::{conv_transpose, TransposedConv};

/// A 2-D convolution's geometry, per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Output size of one spatial dim, `None` when the kernel does not fit or a size
    /// overflows.
    pub fn out_dim(input: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Option<usize> {
        let padded = input.checked_add(pad.checked_mul(2)?)?;
        let span = dil.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
        if padded < span || stride == 0 {
            return None;
        }
        Some((padded - span) / stride + 1)
    }

    /// Input channels per group.
    fn cg(&self) -> usize {
        self.c_in / self.groups.max(1)
    }

    /// Output channels per group.
    fn og(&self) -> usize {
        self.c_out / self.groups.max(1)
    }

    /// Rows of the unrolled matrix: `cg * kh * kw`.
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }

    fn l(&self) -> usize {
        self.oh * self.ow
    }

    fn direct(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.oh == self.h
            && self.ow == self.w
    }

    /// Checks the geometry itself: groups divide the channels, the output size is the
    /// one the kernel gives, and every size product fits in memory arithmetic.
    fn validate(&self) -> Result<(), KernelError> {
        let bad = |m: &str| Err(KernelError(format!("convolution geometry: {m}")));
        if self.groups == 0
            || !self.c_in.is_multiple_of(self.groups)
            || !self.c_out.is_multiple_of(self.groups)
        {
            return bad("groups must divide the channels");
        }
        let oh = ConvGeom::out_dim(
            self.h,
            self.kh,
            self.stride[0],
            self.pad[0],
            self.dilation[0],
        );
        let ow = ConvGeom::out_dim(
            self.w,
            self.kw,
            self.stride[1],
            self.pad[1],
            self.dilation[1],
        );
        if oh != Some(self.oh) || ow != Some(self.ow) {
            return bad("the output size does not match the kernel");
        }
        let sizes = [
            self.c_in
                .checked_mul(self.h)
                .and_then(|v| v.checked_mul(self.w)),
            self.c_out
                .checked_mul(self.kh * self.kw)
                .and_then(|v| v.checked_mul(self.c_in)),
            self.k().checked_mul(self.l()),
            self.c_out.checked_mul(self.l()),
        ];
        if sizes.iter().any(Option::is_none) {
            return bad("a size overflows");
        }
        Ok(())
    }
}

/// Row `kk = (c * kh + ki) * kw + kj` of the unrolled matrix of channels `x`
/// (`[cg, h, w]`): input `(c, oy * sh + ki * dh - ph, ox * sw + kj * dw - pw)` for every
/// output `(oy, ox)`, zero outside the padded input. `dst` holds `oh * ow` elements.
#[inline(always)]
fn im2col_row<T: Float>(x: &[T], g: &ConvGeom, kk: usize, dst: &mut [T]) {
    let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow);
    let (c, ki, kj) = (kk / (g.kh * g.kw), kk / g.kw % g.kh, kk % g.kw);
    let plane = &x[c * h * w..(c + 1) * h * w];
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let [dh, dw] = g.dilation;
    let off = (kj * dw) as isize - pw as isize;
    // The output columns whose input column `ox * sw + off` is inside.
    let s = sw as isize;
    // Ceiling divisions written so that a huge stride cannot overflow.
    let lo = if off >= 0 { 0 } else { (-off - 1) / s + 1 };
    let hi = if (w as isize) <= off {
        0
    } else {
        ((w as isize - off - 1) / s + 1).min(ow as isize)
    };
    let lo = lo.min(ow as isize) as usize;
    let hi = (hi.max(0) as usize).max(lo);
    if sw == 1 && lo == 0 && hi == ow && ow > 0 {
        // No horizontal padding reaches this tap: each output row is one copy of `ow`
        // inputs (the common case, kept to the copy alone).
        let start = off as usize;
        for (oy, run) in dst.chunks_exact_mut(ow).enumerate().take(oh) {
            let iy = (oy * sh + ki * dh) as isize - ph as isize;
            if iy < 0 || iy >= h as isize {
                run.fill(T::ZERO);
            } else {
                copy_short(run, &plane[iy as usize * w + start..][..ow]);
            }
        }
        return;
    }
    for oy in 0..oh {
        let dst = &mut dst[oy * ow..(oy + 1) * ow];
        let iy = (oy * sh + ki * dh) as isize - ph as isize;
        if iy < 0 || iy >= h as isize {
            dst.fill(T::ZERO);
            continue;
        }
        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
        dst[..lo].fill(T::ZERO);
        dst[hi..].fill(T::ZERO);
        if hi > lo {
            let start = (lo as isize * s + off) as usize;
            if sw == 1 {
                copy_short(&mut dst[lo..hi], &src[start..start + (hi - lo)]);
            } else {
                for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                    *d = src[start + k * sw];
                }
            }
        }
    }
}

/// For each kernel tap `t = ki * kw + kj` and output position `j = oy * ow + ox`, at
/// `t * l + j`: the offset of its input inside a channel plane, or one past the plane
/// (read as a zero) where it falls in the padding. The
/// same for every channel and sample, so one table per convolution turns unrolling
/// into one gather per element. `false` when a plane is too large for `i32` offsets.
///
/// With `phases > 1` the plane is laid out as [`phase_split`] writes it (each row's
/// columns `ph, ph + phases, …` together, phase by phase), so that a convolution strided
/// by `phases` along rows reads consecutive outputs' inputs at consecutive offsets.
fn tap_offsets(g: &ConvGeom, phases: usize, out: &mut Vec<u32>) -> Result<bool, KernelError> {
    let (row, wq) = phased_row(g.w, phases);
    // Below `i32::MAX`: the AVX-512 gather reads its offsets as signed.
    let Some(pad) = g.h.checked_mul(row).and_then(|p| i32::try_from(p).ok()) else {
        return Ok(false);
    };
    let pad = pad as u32;
    let len = (g.kh * g.kw)
        .checked_mul(g.l())
        .ok_or_else(|| KernelError::new("the convolution's size overflows"))?;
    out.clear();
    out.try_reserve_exact(len)
        .map_err(|_| KernelError::new("the convolution's tap table does not fit in memory"))?;
    let at = |o: usize, k: usize, s: usize, p: usize, d: usize, n: usize| {
        (o * s + k * d).checked_sub(p).filter(|&i| i < n)
    };
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            for oy in 0..g.oh {
                let iy = at(oy, ki, g.stride[0], g.pad[0], g.dilation[0], g.h);
                for ox in 0..g.ow {
                    let ix = at(ox, kj, g.stride[1], g.pad[1], g.dilation[1], g.w);
                    out.push(match (iy, ix) {
                        // Below `h * row`, which fits `u32`.
                        (Some(iy), Some(ix)) => {
                            (iy * row + (ix % phases.max(1)) * wq + ix / phases.max(1)) as u32
                        }
                        _ => pad,
                    });
                }
            }
        }
    }
    Ok(true)
}

/// A plane row of `w` columns split into `phases`: (floats per row, floats per phase).
fn phased_row(w: usize, phases: usize) -> (usize, usize) {
    let wq = w.div_ceil(phases.max(1));
    (wq * phases.max(1), wq)
}

/// The group's `cg` planes (`h × w`) with each row's columns split into `phases`
/// (columns `ph, ph + phases, …` at `ph * wq..`), into `out` (grown as needed; the slots
/// past a row's last column are left as they were: no tap reads them).
fn phase_split(
    x: &[f32],
    [cg, h, w]: [usize; 3],
    phases: usize,
    out: &mut Vec<f32>,
) -> Result<(), KernelError> {
    let row = phased_row(w, phases).0;
    let len = cg
        .checked_mul(h)
        .and_then(|v| v.checked_mul(row))
        .ok_or_else(|| KernelError::new("the convolution's size overflows"))?;
    crate::alloc::try_grow(out, len, 0.0)?;
    crate::wide(PhaseSplit {
        x,
        rows: cg * h,
        w,
        phases,
        out,
    });
    Ok(())
}

/// [`phase_split`]'s loops, on the widest vectors (stride 2, the common one, as pairs).
struct PhaseSplit<'a> {
    x: &'a [f32],
    rows: usize,
    w: usize,
    phases: usize,
    out: &'a mut [f32],
}

impl crate::WideLoop for PhaseSplit<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let PhaseSplit {
            x,
            rows,
            w,
            phases,
            out,
        } = self;
        let (row, wq) = phased_row(w, phases);
        let pairs = x
            .chunks_exact(w.max(1))
            .zip(out.chunks_exact_mut(row.max(1)));
        for (src, dst) in pairs.take(rows) {
            phase_row(dst, src, 0, phases.max(1), wq, wq);
        }
    }
}

/// Lanes `mask` of a 16-column panel row read `plane[base + lane]`.
#[derive(Clone, Copy, Default)]
struct Run {
    mask: u16,
    base: i32,
}

/// How one tap fills one 16-column panel row: up to [`MAX_RUNS`] contiguous runs of the
/// channel plane (a stride-1 convolution's panel covers a few output rows), the
/// padding lanes left zero; `runs == None` when the lanes need a gather.
#[derive(Clone, Copy, Default)]
struct PanelFill {
    runs: Option<([Run; MAX_RUNS], usize)>,
    /// The lanes that are neither padding nor past the last column.
    valid: u16,
}

const MAX_RUNS: usize = 3;

/// [`PanelFill`] of every tap and panel (`t * panels + p`), from the tap table.
fn panel_fills(offsets: &[u32], l: usize, pad: u32, out: &mut Vec<PanelFill>) {
    out.clear();
    let (taps, panels) = (offsets.len() / l.max(1), l.div_ceil(16));
    for t in 0..taps {
        for p in 0..panels {
            let lanes = &offsets[t * l + p * 16..t * l + (p * 16 + 16).min(l)];
            let mut fill = PanelFill::default();
            let mut runs = [Run::default(); MAX_RUNS];
            let mut count = 0;
            let mut contiguous = true;
            for (lane, &o) in lanes.iter().enumerate() {
                if o == pad {
                    continue;
                }
                fill.valid |= 1 << lane;
                // Offsets are below `i32::MAX` (`tap_offsets`).
                let base = o as i32 - lane as i32;
                match count {
                    0 => count = 1,
                    c if runs[c - 1].base == base => {}
                    c if c < MAX_RUNS => count = c + 1,
                    _ => contiguous = false,
                }
                if contiguous {
                    runs[count - 1].base = base;
                    runs[count - 1].mask |= 1 << lane;
                }
            }
            fill.runs = contiguous.then_some((runs, count));
            out.push(fill);
        }
    }
}

/// The receptive fields of one group's channels `x`, unrolled straight into `packed`'s
/// panels `first_panel..` (`[k, l]` of them; the caller sized `packed`) through the tap
/// table ([`tap_offsets`]), on the widest vectors: short row copies around the padding
/// cost 3–4 cycles a float (more than the GEMM of a 3×3 convolution of 32 channels).
struct Unroll<'a> {
    x: &'a [f32],
    g: &'a ConvGeom,
    first_panel: usize,
    /// The tap table, or empty for [`im2col_row`] (a 1×1 convolution reads `x`).
    offsets: &'a [u32],
    /// Its panel fills ([`panel_fills`]).
    fills: &'a [PanelFill],
    packed: &'a mut PackedB,
    line: &'a mut Vec<f32>,
}

impl crate::WideLoop for Unroll<'_> {
    type Output = Result<(), KernelError>;

    #[inline(always)]
    fn run(self) -> Result<(), KernelError> {
        // No closure per row: a closure is a function of its own, compiled for the
        // baseline's vectors.
        let Unroll {
            x,
            g,
            first_panel,
            offsets,
            fills,
            packed,
            line,
        } = self;
        let (k, l, taps, hw) = (g.k(), g.l(), g.kh * g.kw, g.h * g.w);
        let np = l.div_ceil(16);
        if packed.shape()[0] != k || packed.shape()[1].div_ceil(16) < first_panel + np {
            return Err(KernelError::new(
                "the unrolled panels are smaller than the convolution",
            ));
        }
        crate::alloc::try_grow(line, l, 0.0)?;
        let line = &mut line[..l];
        if g.direct() {
            for kk in 0..k {
                packed.put_row_at(kk, first_panel, &x[kk * l..(kk + 1) * l]);
            }
            return Ok(());
        }
        if offsets.len() != taps * l {
            for kk in 0..k {
                im2col_row(x, g, kk, line);
                packed.put_row_at(kk, first_panel, line);
            }
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if crate::sgemm::uses_avx512() && fills.len() == taps * np {
            let panels =
                &mut packed.panels_mut()[first_panel * k * 16..(first_panel + np) * k * 16];
            // SAFETY: AVX-512F is present; `fills` was built from `offsets`, `g`'s tap
            // table; `panels` holds the `np` panels of `[k, l]` (checked above).
            unsafe { unroll_avx512(x, g, offsets, fills, panels) };
            return Ok(());
        }
        for kk in 0..k {
            let (c, t) = (kk / taps, kk % taps);
            let plane = &x[c * hw..(c + 1) * hw];
            for (d, &o) in line.iter_mut().zip(&offsets[t * l..(t + 1) * l]) {
                // The padding's offset is `h * w`, past the plane: a zero.
                *d = plane.get(o as usize).copied().unwrap_or(0.0);
            }
            packed.put_row_at(kk, first_panel, line);
        }
        Ok(())
    }
}

/// Unrolls straight into the panels on AVX-512: each panel row of tap `t` is a few
/// masked loads of the channel plane ([`PanelFill`]), or a masked gather; no row
/// buffer, no second copy.
///
/// # Safety
/// The CPU has AVX-512F; `offsets` is `g`'s tap table and `fills` its panel fills
/// (built from it); `x` holds the group's `cg` planes; `panels` is sized for `[k, l]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn unroll_avx512(
    x: &[f32],
    g: &ConvGeom,
    offsets: &[u32],
    fills: &[PanelFill],
    panels: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (k, l, taps, hw) = (g.k(), g.l(), g.kh * g.kw, g.h * g.w);
    let np = l.div_ceil(16);
    for kk in 0..k {
        let (c, t) = (kk / taps, kk % taps);
        let plane = x[c * hw..(c + 1) * hw].as_ptr();
        for p in 0..np {
            let fill = fills[t * np + p];
            let v = match fill.runs {
                Some((runs, count)) => {
                    let mut v = _mm512_setzero_ps();
                    for r in &runs[..count] {
                        // SAFETY: the run's lanes read `plane[base + lane]`, offsets of
                        // the tap table, inside the plane; the other lanes are masked
                        // off (never read).
                        v = unsafe {
                            _mm512_mask_loadu_ps(v, r.mask, plane.wrapping_offset(r.base as isize))
                        };
                    }
                    v
                }
                None => {
                    let lanes = (l - p * 16).min(16);
                    let lane_mask = ((1u32 << lanes) - 1) as u16;
                    // SAFETY: `lanes` offsets from `t * l + p * 16`, inside the tap
                    // table; the valid lanes' offsets lie inside the plane (below
                    // `i32::MAX`), the rest are masked off.
                    unsafe {
                        let idx = _mm512_maskz_loadu_epi32(
                            lane_mask,
                            offsets.as_ptr().add(t * l + p * 16).cast(),
                        );
                        _mm512_mask_i32gather_ps::<4>(
                            _mm512_setzero_ps(),
                            fill.valid,
                            idx,
                            plane.cast(),
                        )
                    }
                }
            };
            // SAFETY: row `kk` of panel `p`: 16 floats at `(p * k + kk) * 16`, inside
            // the `np * k * 16` floats of the panels.
            unsafe { _mm512_storeu_ps(panels.as_mut_ptr().add((p * k + kk) * 16), v) };
        }
    }
}

/// Input row `row` into its padded row of each column phase (`prow` at the row's place
/// in phase 0; phase `q` `pitch` floats on, `wq` for phases side by side in a row):
/// padded column `c = ix + pw` goes to phase `c % sw`, index `c / sw`. Stride 2, the
/// common one, as pairs (a loop the compiler vectorizes; on AVX-512, 16 pairs at a time
/// by two lane permutes).
pub(super) fn phase_row<T: Float>(
    prow: &mut [T],
    row: &[T],
    pw: usize,
    sw: usize,
    wq: usize,
    pitch: usize,
) {
    let w = row.len();
    if w == 0 {
        return;
    }
    if sw == 1 {
        crate::layout::copy_short(&mut prow[pw..pw + w], row);
    } else if sw == 2 {
        let (even, odd) = prow.split_at_mut(pitch);
        let shift = pw % 2;
        let (e0, o0) = (pw.div_ceil(2), pw / 2 + shift);
        let pairs = row[shift..].chunks_exact(2);
        let tail = pairs.remainder();
        let n = (w - shift) / 2;
        let (ev, od) = (&mut even[e0..e0 + n], &mut odd[o0..o0 + n]);
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut split = false;
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(p), Some(e), Some(o)) = (
            crate::sgemm::uses_avx512(),
            T::as_f32(&row[shift..shift + 2 * n]),
            T::as_f32_mut(ev),
            T::as_f32_mut(od),
        ) {
            // SAFETY: AVX-512F is present; `p` holds `2 n` floats, `e` and `o` `n`.
            unsafe { deinterleave_avx512(p, e, o) };
            split = true;
        }
        if !split {
            for ((e, o), p) in ev.iter_mut().zip(od.iter_mut()).zip(pairs) {
                *e = p[0];
                *o = p[1];
            }
        }
        let mut put = |ix: usize, v: T| {
            let c = ix + pw;
            prow[(c % 2) * pitch + c / 2] = v;
        };
        if shift == 1 {
            put(0, row[0]);
        }
        if let [v] = tail {
            put(w - 1, *v);
        }
    } else {
        // Phase by phase, every `sw`-th input column from the first that lands in it.
        for q in 0..sw {
            let first = (q + sw - pw % sw) % sw;
            let c0 = pw + first;
            let dst = &mut prow[q * pitch + c0 / sw..q * pitch + wq];
            for (d, &v) in dst.iter_mut().zip(row.iter().skip(first).step_by(sw)) {
                *d = v;
            }
        }
    }
}

/// The `n` pairs of `pairs` (`2 n` floats) split into `even` and `odd` (`n` each), 16
/// pairs at a time by two lane permutes, the last ones masked (the compiler's loop was
/// shuffles of 4 lanes and a scalar tail, as long as a stride-2 depthwise layer's
/// taps).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn deinterleave_avx512(pairs: &[f32], even: &mut [f32], odd: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = even.len().min(odd.len()).min(pairs.len() / 2);
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: floats `2 i .. 2 i + 32 <= 2 n` of `pairs`, `i .. i + 16 <= n` of
        // `even` and `odd`.
        unsafe {
            let a = _mm512_loadu_ps(pairs.as_ptr().add(2 * i));
            let b = _mm512_loadu_ps(pairs.as_ptr().add(2 * i + 16));
            _mm512_storeu_ps(even.as_mut_ptr().add(i), _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(odd.as_mut_ptr().add(i), _mm512_permutex2var_ps(a, io, b));
        }
        i += 16;
    }
    let left = n - i;
    if left > 0 {
        let lanes = |count: usize| ((1u32 << count.min(16)) - 1) as __mmask16;
        // SAFETY: as above, the masks letting through the `2 left` floats of `pairs`
        // and the `left` of `even` and `odd` that remain.
        unsafe {
            let a = _mm512_maskz_loadu_ps(lanes(2 * left), pairs.as_ptr().add(2 * i));
            let hi = lanes(2 * left - (2 * left).min(16));
            let b = _mm512_maskz_loadu_ps(hi, pairs.as_ptr().wrapping_add(2 * i + 16));
            let m = lanes(left);
            _mm512_mask_storeu_ps(
                even.as_mut_ptr().add(i),
                m,
                _mm512_permutex2var_ps(a, ie, b),
            );
            _mm512_mask_storeu_ps(odd.as_mut_ptr().add(i), m, _mm512_permutex2var_ps(a, io, b));
        }
    }
}

/// What a call prepares once for all its samples.
struct Prepared {
    /// Each group's weight packed for the own GEMM (f32 groups of at least 4 output
    /// channels; empty otherwise).
    packed_weight: Vec<PackedA>,
    /// Or, where the implicit tiles take the geometry ([`implicit::eligible`]), packed
    /// for them (any number of output channels).
    implicit_weight: Vec<Vec<f32>>,
    /// For a depthwise convolution (groups of one input channel).
    depthwise: Option<DepthwisePlan>,
}

impl Prepared {
    fn new<T: Float>(weight: &[T], g: &ConvGeom) -> Result<Prepared, KernelError> {
        if g.groups > 1 && g.cg() == 1 {
            return Ok(Prepared {
                packed_weight: Vec::new(),
                implicit_weight: Vec::new(),
                depthwise: Some(DepthwisePlan::new(g)?),
            });
        }
        let (og, k) = (g.og(), g.k());
        let mut prepared = Prepared {
            packed_weight: Vec::new(),
            implicit_weight: Vec::new(),
            depthwise: None,
        };
        let Some(wf) = T::as_f32(weight) else {
            return Ok(prepared);
        };
        let group = |gi: usize| &wf[gi * og * k..(gi + 1) * og * k];
        if implicit::eligible(g) {
            prepared.implicit_weight = (0..g.groups)
                .map(|gi| implicit::pack_weight(group(gi), og, k))
                .collect::<Result<_, _>>()?;
        } else if og >= 4 {
            prepared.packed_weight = (0..g.groups)
                .map(|gi| PackedA::pack(Mat::row_major(group(gi), og, k)))
                .collect::<Result<_, _>>()?;
        }
        Ok(prepared)
    }
}

/// Buffers one thread reuses across the samples it convolves.
struct Scratch<T> {
    /// The unrolled matrix (`[k, l]`, row-major), for the generic path; a depthwise
    /// convolution's padded plane.
    cols: Vec<T>,
}

impl<T> Scratch<T> {
    fn new() -> Scratch<T> {
        Scratch { cols: Vec::new() }
    }
}

/// The f32 path's buffers, kept per thread between calls: allocated per call, their
/// pages were faulted in again every time (a tenth of an eager ResNet block).
struct UnrollScratch {
    /// The unrolled matrix packed for the own f32 GEMM, built row by row.
    packed: PackedB,
    line: Vec<f32>,
    /// The planes split into phases for the implicit tiles of a column-strided
    /// convolution ([`phase_split`]).
    phased: Vec<f32>,
    /// The tap tables of the last few geometries (a model's convolutions take turns).
    tables: Vec<TapTable>,
    /// The product of samples side by side ([`conv_samples_f32`]), before each sample's
    /// columns are copied to its output.
    wide: Vec<f32>,
}

impl UnrollScratch {
    const fn new() -> UnrollScratch {
        UnrollScratch {
            packed: PackedB::empty(),
            line: Vec::new(),
            phased: Vec::new(),
            tables: Vec::new(),
            wide: Vec::new(),
        }
    }

    /// The index of `g`'s tap table in `tables`, built if absent (evicting the least
    /// recently used). Tables depend on the planes' geometry only, not on the channels
    /// (`TapTable::key`): a MobileNetV2's 1×1 convolutions of one resolution share one.
    fn table_for(&mut self, g: &ConvGeom) -> Result<usize, KernelError> {
        let key = TapTable::key(g);
        if let Some(at) = self.tables.iter().position(|t| t.geom == key) {
            // Most recently used last.
            let hit = self.tables.remove(at);
            self.tables.push(hit);
        } else {
            if self.tables.len() >= TAP_TABLES {
                self.tables.remove(0);
            }
            self.tables.push(TapTable::new(&key)?);
        }
        Ok(self.tables.len() - 1)
    }
}

/// A convolution's tap table ([`tap_offsets`]; empty: not used), its panel fills, and
/// the same fills as the implicit tiles read them (`None`: a panel row needs a gather).
struct TapTable {
    geom: ConvGeom,
    offsets: Vec<u32>,
    fills: Vec<PanelFill>,
    implicit: Option<implicit::ImplicitFills>,
}

/// Plane geometries whose tap tables a thread keeps. Eight, fewer than a MobileNetV2's
/// convolutions, rebuilt every table at every call (a seventh of its time at batch 1).
const TAP_TABLES: usize = 16;

impl TapTable {
    /// The geometry a table is built for and found by: `g`'s planes and kernel, with one
    /// channel (tap tables and panel fills index a channel plane).
    fn key(g: &ConvGeom) -> ConvGeom {
        ConvGeom {
            c_in: 1,
            c_out: 1,
            groups: 1,
            ..*g
        }
    }

    fn new(g: &ConvGeom) -> Result<TapTable, KernelError> {
        let mut t = TapTable {
            geom: *g,
            offsets: Vec::new(),
            fills: Vec::new(),
            implicit: None,
        };
        // A direct (1×1) convolution's table is the identity: the unrolling copies `x`
        // without it, the implicit tiles read it.
        if tap_offsets(g, 1, &mut t.offsets)? {
            panel_fills(&t.offsets, g.l(), (g.h * g.w) as u32, &mut t.fills);
        } else {
            t.offsets.clear();
        }
        if implicit::eligible(g) {
            let (taps, panels, phases) = (g.kh * g.kw, g.l().div_ceil(16), g.stride[1]);
            let plane = g.h * phased_row(g.w, phases).0;
            if phases == 1 {
                t.implicit = implicit::ImplicitFills::new(&t.fills, taps, panels, plane);
            } else {
                // Read from the planes split into phases (`phase_split`).
                let (mut offsets, mut fills) = (Vec::new(), Vec::new());
                if tap_offsets(g, phases, &mut offsets)? {
                    panel_fills(&offsets, g.l(), plane as u32, &mut fills);
                    t.implicit = implicit::ImplicitFills::new(&fills, taps, panels, plane);
                }
            }
        }
        Ok(t)
    }
}

/// Runs `f` with this thread's [`UnrollScratch`].
fn with_unroll_scratch<R>(f: impl FnOnce(&mut UnrollScratch) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<UnrollScratch> =
            const { std::cell::RefCell::new(UnrollScratch::new()) };
    }
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        // Not reached (a convolution never re-enters); fresh buffers keep it correct.
        Err(_) => f(&mut UnrollScratch::new()),
    })
}

/// The weights of one group, as a call prepared them ([`Prepared`]).
#[derive(Clone, Copy)]
struct GroupWeight<'a> {
    weight: Mat<'a, f32>,
    packed: Option<&'a PackedA>,
    implicit: Option<&'a [f32]>,
}

/// One group of one sample on the f32 path: the implicit tiles where the geometry takes
/// them; otherwise unrolled into this thread's panels, then `out = weight @ panels +
/// bias`.
fn conv_group_f32(
    x: &[f32],
    w: GroupWeight<'_>,
    g: &ConvGeom,
    bias: Option<&[f32]>,
    (epi, first): (SampleEpilogue<'_>, usize),
    out: &mut [f32],
    threads: usize,
) -> Result<(), KernelError> {
    with_unroll_scratch(|s| {
        let at = s.table_for(g)?;
        let UnrollScratch {
            packed,
            line,
            phased,
            tables,
            ..
        } = s;
        let table = &tables[at];
        if let (Some(wi), Some(fills)) = (w.implicit, &table.implicit) {
            let x = match g.stride[1] {
                1 => x,
                phases => {
                    phase_split(x, [g.cg(), g.h, g.w], phases, phased)?;
                    &phased[..]
                }
            };
            return implicit::conv_group(x, wi, fills, g, bias, (epi, first), out, threads);
        }
        let local;
        let packed_weight = match w.packed {
            Some(p) => p,
            // Prepared for the implicit tiles, which a gather-only table refused.
            None => {
                local = PackedA::pack(w.weight)?;
                &local
            }
        };
        let weight = (w.weight, packed_weight);
        unrolled_product(
            (|_| x, 1),
            g,
            table,
            (packed, line),
            weight,
            bias,
            g.l(),
            out,
        )?;
        epi.apply_rows(&mut out[..g.og() * g.l()], first, g.l());
        Ok(())
    })
}

/// The unrolling path's product for one group: the group's planes of `samples` samples
/// (`x_of(s)`; side by side, sample `s` from panel `s · np`) unrolled into `packed`
/// (`[k, cols]`), then `c` (`[og, cols]`) = the bias rows + the weight @ the panels.
#[allow(clippy::too_many_arguments)]
fn unrolled_product<'x>(
    (x_of, samples): (impl Fn(usize) -> &'x [f32], usize),
    g: &ConvGeom,
    table: &TapTable,
    (packed, line): (&mut PackedB, &mut Vec<f32>),
    (weight, packed_weight): (Mat<'_, f32>, &PackedA),
    bias: Option<&[f32]>,
    cols: usize,
    c: &mut [f32],
) -> Result<(), KernelError> {
    let np = g.l().div_ceil(16);
    packed.size_for(g.k(), cols)?;
    for si in 0..samples {
        crate::wide(Unroll {
            x: x_of(si),
            g,
            first_panel: si * np,
            offsets: &table.offsets,
            fills: &table.fills,
            packed,
            line,
        })?;
    }
    if let Some(b) = bias {
        for (row, &v) in c.chunks_mut(cols.max(1)).zip(b).take(g.og()) {
            row.fill(v);
        }
    }
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    gemm_packed_a(1.0, weight, packed_weight, packed, beta, c)
}

/// Panels of columns (16 output positions each) that samples multiplied side by side
/// fill ([`side_by_side`]): four times the widest tile's.
const SIDE_BY_SIDE_PANELS: usize = 12;

/// How many samples the unrolling path multiplies side by side in one product (1: one
/// at a time). A sample of few output positions (a 3×3 convolution at 4×4 is one
/// panel) left the GEMM's tiles, 2 or 3 panels wide, partly empty, and read the whole
/// weight for each sample: 170 GFLOP/s where the same layer at 8×8 ran at 240. Only
/// f32 convolutions on the unrolling path (a packed weight per group) take it, and each
/// output sums in the same order either way (the product's k blocks depend on its rows
/// and depth, never its columns), so a sample's bits do not depend on its neighbours.
fn side_by_side(g: &ConvGeom, prepared: &Prepared) -> usize {
    let np = g.l().div_ceil(16);
    if prepared.packed_weight.is_empty() || np == 0 || np * 2 > SIDE_BY_SIDE_PANELS {
        1
    } else {
        SIDE_BY_SIDE_PANELS / np
    }
}

/// `samples` consecutive samples (`x`, `out`) on the unrolling path, side by side: per
/// group, each sample's receptive fields fill whole panels of one packed matrix (sample
/// `s` from panel `s * np` on), one product with the group's packed weight computes them
/// all, and each sample's columns are copied to its output, where its epilogue runs.
#[allow(clippy::too_many_arguments)]
fn conv_samples_f32(
    x: &[f32],
    samples: usize,
    weight: &[f32],
    prepared: &Prepared,
    bias: Option<&[f32]>,
    g: &ConvGeom,
    (steps, at): (&[ConvEpilogueStep<'_>], usize),
    out: &mut [f32],
) -> Result<(), KernelError> {
    let (k, l, cg, og, hw) = (g.k(), g.l(), g.cg(), g.og(), g.h * g.w);
    let (x_len, o_len, np) = (g.c_in * hw, g.c_out * l, l.div_ceil(16));
    let cols = samples
        .checked_mul(np * 16)
        .filter(|c| og.checked_mul(*c).is_some())
        .ok_or_else(|| KernelError::new("the convolution's size overflows"))?;
    if x.len() < samples * x_len || out.len() < samples * o_len || weight.len() < g.c_out * k {
        return Err(KernelError::new(
            "a convolution operand is smaller than its shape",
        ));
    }
    with_unroll_scratch(|s| {
        let at_table = s.table_for(g)?;
        let UnrollScratch {
            packed,
            line,
            tables,
            wide,
            ..
        } = s;
        let table = &tables[at_table];
        crate::alloc::try_grow(wide, og * cols, 0.0)?;
        let c = &mut wide[..og * cols];
        for gi in 0..g.groups {
            let packed_weight = prepared.packed_weight.get(gi).ok_or_else(|| {
                KernelError::new("the convolution's weight was not packed for its groups")
            })?;
            let x_of = |si: usize| {
                let start = si * x_len + gi * cg * hw;
                &x[start..start + cg * hw]
            };
            let w = Mat::row_major(&weight[gi * og * k..(gi + 1) * og * k], og, k);
            let bias = bias.map(|b| &b[gi * og..]);
            let scratch = (&mut *packed, &mut *line);
            unrolled_product(
                (x_of, samples),
                g,
                table,
                scratch,
                (w, packed_weight),
                bias,
                cols,
                c,
            )?;
            for si in 0..samples {
                let o = &mut out[si * o_len + gi * og * l..si * o_len + (gi + 1) * og * l];
                for (dst, src) in o.chunks_exact_mut(l).zip(c.chunks_exact(cols)) {
                    dst.copy_from_slice(&src[si * np * 16..si * np * 16 + l]);
                }
                let epi = SampleEpilogue {
                    steps,
                    at: at + si * o_len,
                };
                epi.apply_rows(o, gi * og, l);
            }
        }
        Ok(())
    })
}

/// The epilogue on `rows` channels (`first..`) of a sample's `out`; its steps are f32
/// (only `conv2d_epilogue` passes any).
fn apply_epilogue<T: Float>(
    epi: SampleEpilogue<'_>,
    out: &mut [T],
    first: usize,
    rows: usize,
    l: usize,
) {
    if let Some(of) = T::as_f32_mut(&mut out[..rows * l]) {
        epi.apply_rows(of, first, l);
    }
}

/// One sample of a depthwise convolution ([`Depthwise`]) into `out`; with `threads >
/// 1`, its groups (channels) split over the threads, each with a padded plane of its
/// own, else `padded` reused.
#[allow(clippy::too_many_arguments)]
fn depthwise_sample<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    plan: &DepthwisePlan,
    padded: &mut Vec<T>,
    (epi, threads): (SampleEpilogue<'_>, usize),
    out: &mut [T],
) -> Result<(), KernelError> {
    let (l, cg, og) = (g.l(), g.cg(), g.og());
    let len = plan.padded_len();
    if threads > 1 && g.groups > 1 {
        let (hw, taps) = (g.h * g.w, g.kh * g.kw);
        let groups = |first: usize, part: &mut [T]| -> Result<(), KernelError> {
            let n = part.len() / (og * l).max(1);
            let sub = ConvGeom {
                c_in: n * cg,
                c_out: n * og,
                groups: n,
                ..*g
            };
            let mut padded = crate::alloc::try_filled(len, T::ZERO)?;
            crate::wide(Depthwise {
                x: &x[first * cg * hw..(first + n) * cg * hw],
                weight: &weight[first * og * taps..(first + n) * og * taps],
                bias: bias.map(|b| &b[first * og..]),
                g: &sub,
                plan,
                padded: &mut padded,
                out: part,
            });
            apply_epilogue(epi, part, first * og, n * og, l);
            Ok(())
        };
        let failed = || KernelError::new("a convolution worker thread failed");
        let outs = &mut out[..g.c_out * l];
        return crate::threads::for_each_item_chunk(
            outs,
            g.groups,
            og * l,
            threads,
            &groups,
            failed,
        );
    }
    crate::alloc::try_grow(padded, len, T::ZERO)?;
    crate::wide(Depthwise {
        x,
        weight,
        bias,
        g,
        plan,
        padded: &mut padded[..len],
        out,
    });
    apply_epilogue(epi, out, 0, g.c_out, l);
    Ok(())
}

/// One sample: `out` (`[c_out, l]`) = per group, `weight` (`[og, k]`) @ cols + bias.
/// f32 products run the implicit tiles where the geometry allows
/// ([`implicit::eligible`]; any number of rows: an RGB head's 3 output channels took
/// 100 µs unrolled for matrixmultiply, 24 in a block of 8 rows), or, of at least 4
/// rows, unroll the receptive fields straight into the own GEMM's packed panels (row by
/// row, [`Unroll`]): the unrolled matrix never exists unpacked, and the weight rows take
/// a tile of their height (6 or 16 output channels fit the 8-row tile), from the call's
/// packed weights ([`Prepared`]). Depthwise
/// convolutions run [`Depthwise`]; other types and shapes unroll into `cols` for
/// [`gemm`].
#[allow(clippy::too_many_arguments)]
fn conv_sample<T: Float>(
    x: &[T],
    weight: &[T],
    prepared: &Prepared,
    bias: Option<&[T]>,
    g: &ConvGeom,
    scratch: &mut Scratch<T>,
    (epi, threads): (SampleEpilogue<'_>, usize),
    out: &mut [T],
) -> Result<(), KernelError> {
    let (k, l, cg, og) = (g.k(), g.l(), g.cg(), g.og());
    let apply = |out: &mut [T], first: usize, rows: usize| apply_epilogue(epi, out, first, rows, l);
    let fill_bias = |out: &mut [T], first: usize, rows: usize| {
        for (o, row) in out.chunks_mut(l.max(1)).enumerate().take(rows) {
            row.fill(
                bias.and_then(|b| b.get(first + o))
                    .copied()
                    .unwrap_or(T::ZERO),
            );
        }
    };
    if let Some(plan) = &prepared.depthwise {
        let padded = &mut scratch.cols;
        return depthwise_sample(x, weight, bias, g, plan, padded, (epi, threads), out);
    }
    let beta = if bias.is_some() { T::ONE } else { T::ZERO };
    for gi in 0..g.groups {
        let xg = &x[gi * cg * g.h * g.w..(gi + 1) * cg * g.h * g.w];
        let wg = &weight[gi * og * k..(gi + 1) * og * k];
        let og_out = &mut out[gi * og * l..(gi + 1) * og * l];
        let packed = prepared.packed_weight.get(gi);
        let implicit = prepared.implicit_weight.get(gi).map(Vec::as_slice);
        if let (Some(xf), Some(wf), Some(of), true) = (
            T::as_f32(xg),
            T::as_f32(wg),
            T::as_f32_mut(og_out),
            packed.is_some() || implicit.is_some(),
        ) {
            let w = GroupWeight {
                weight: Mat::row_major(wf, og, k),
                packed,
                implicit,
            };
            let bf = bias.and_then(T::as_f32).and_then(|b| b.get(gi * og..));
            conv_group_f32(xf, w, g, bf, (epi, gi * og), of, threads)?;
            continue;
        }
        fill_bias(og_out, gi * og, og);
        let cols_mat = if g.direct() {
            Mat::row_major(xg, k, l)
        } else {
            let cols = &mut scratch.cols;
            cols.resize(k * l, T::ZERO);
            for (kk, row) in cols.chunks_exact_mut(l.max(1)).enumerate().take(k) {
                im2col_row(xg, g, kk, row);
            }
            Mat::row_major(&cols[..], k, l)
        };
        gemm(T::ONE, Mat::row_major(wg, og, k), cols_mat, beta, og_out)?;
        apply(og_out, gi * og, og);
    }
    Ok(())
}

/// `out` (`[n, c_out, oh, ow]`) = conv2d(`x` `[n, c_in, h, w]`, `weight` `[c_out,
/// c_in / groups, kh, kw]`) + bias: im2col + one GEMM per sample and group, samples split
/// over threads for large work. (One GEMM over the whole batch was measured slower:
/// matrixmultiply then threads a product with few rows, and the scatter back costs a
/// pass.)
pub fn conv2d<T: Float>(
    x: &[T],
    batch: usize,
    weight: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    out: &mut [T],
) -> Result<(), KernelError> {
    conv2d_with(x, batch, weight, None, bias, g, &[], Some(out)).map(drop)
}

/// [`conv2d`] into a new buffer (`[batch, c_out, oh, ow]`): each thread zero-fills the
/// samples it computes, just before ([`crate::threads::try_new_by_items`]), rather than
/// the caller filling the whole output first.
pub fn conv2d_new<T: Float>(
    x: &[T],
    batch: usize,
    weight: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
) -> Result<Vec<T>, KernelError> {
    conv2d_with(x, batch, weight, None, bias, g, &[], None).map(Option::unwrap_or_default)
}

/// [`conv2d`] of f32 with an epilogue: `steps` run on each output value, in order, as
/// the convolution writes it (see [`ConvEpilogueStep`]), with the bits of running them
/// after.
pub fn conv2d_epilogue(
    x: &[f32],
    batch: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    steps: &[ConvEpilogueStep<'_>],
    out: &mut [f32],
) -> Result<(), KernelError> {
    conv2d_prepared(x, batch, (weight, None), bias, g, steps, out)
}

/// A convolution's weight prepared for the kernel (packed per group for the tiles, or a
/// depthwise convolution's plan) at one geometry: what every call of [`conv2d`] does
/// first, done once for a constant weight ([`conv2d_prepared`]). A 3×3 convolution of
/// 256 channels at 4×4 spent 45% of a batch-1 call packing its 2.4 MB weight.
pub struct ConvWeight {
    geom: ConvGeom,
    prepared: Prepared,
}

impl std::fmt::Debug for ConvWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvWeight")
            .field("geom", &self.geom)
            .finish()
    }
}

impl ConvWeight {
    /// `weight` (`[c_out, c_in / groups * kh * kw]`) prepared for convolutions of
    /// geometry `g`.
    pub fn prepare(weight: &[f32], g: &ConvGeom) -> Result<ConvWeight, KernelError> {
        g.validate()?;
        if g.c_out
            .checked_mul(g.k())
            .is_none_or(|len| weight.len() < len)
        {
            return Err(KernelError::new(
                "a convolution operand is smaller than its shape",
            ));
        }
        Ok(ConvWeight {
            geom: *g,
            prepared: Prepared::new(weight, g)?,
        })
    }

    /// Whether it was prepared for geometry `g` (the kernel's choices depend on it all).
    pub fn is_for(&self, g: &ConvGeom) -> bool {
        self.geom == *g
    }
}

/// [`conv2d_epilogue`] with the weight given as its data and, optionally, as prepared
/// from that data by [`ConvWeight::prepare`] (refused unless for `g`).
pub fn conv2d_prepared(
    x: &[f32],
    batch: usize,
    (weight, prepared): (&[f32], Option<&ConvWeight>),
    bias: Option<&[f32]>,
    g: &ConvGeom,
    steps: &[ConvEpilogueStep<'_>],
    out: &mut [f32],
) -> Result<(), KernelError> {
    epilogue::validate(steps, batch, g.c_out, g.l())?;
    if prepared.is_some_and(|p| !p.is_for(g)) {
        return Err(KernelError::new(
            "the prepared convolution weight is for another geometry",
        ));
    }
    let prepared = prepared.map(|p| &p.prepared);
    conv2d_with(x, batch, weight, prepared, bias, g, steps, Some(out)).map(drop)
}

/// What every sample of a call reads.
struct ConvOperands<'a, T> {
    x: &'a [T],
    weight: &'a [T],
    bias: Option<&'a [T]>,
    g: &'a ConvGeom,
    prepared: &'a Prepared,
    steps: &'a [ConvEpilogueStep<'a>],
}

/// Samples `first..` of a call into `part` (whole samples): side by side where
/// [`side_by_side`] takes them, else one at a time, each split over `per_sample`
/// threads.
fn conv_samples<T: Float>(
    op: &ConvOperands<'_, T>,
    first: usize,
    per_sample: usize,
    part: &mut [T],
) -> Result<(), KernelError> {
    let ConvOperands {
        x,
        weight,
        bias,
        g,
        prepared,
        steps,
    } = *op;
    let (x_len, o_len) = (g.c_in * g.h * g.w, g.c_out * g.l());
    let together = side_by_side(g, prepared);
    let mut scratch = Scratch::new();
    let count = part.len() / o_len.max(1);
    let mut i = 0;
    while i < count {
        let n = first + i;
        let s = together.min(count - i);
        let o = &mut part[i * o_len..(i + s) * o_len];
        if let (true, Some(xf), Some(wf), Some(of)) = (
            s > 1,
            T::as_f32(&x[n * x_len..(n + s) * x_len]),
            T::as_f32(weight),
            T::as_f32_mut(o),
        ) {
            let bf = bias.and_then(T::as_f32);
            conv_samples_f32(xf, s, wf, prepared, bf, g, (steps, n * o_len), of)?;
            i += s;
            continue;
        }
        let epi = SampleEpilogue {
            steps,
            at: n * o_len,
        };
        let (xs, o) = (&x[n * x_len..(n + 1) * x_len], &mut o[..o_len]);
        conv_sample(
            xs,
            weight,
            prepared,
            bias,
            g,
            &mut scratch,
            (epi, per_sample),
            o,
        )?;
        i += 1;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn conv2d_with<T: Float>(
    x: &[T],
    batch: usize,
    weight: &[T],
    prepared: Option<&Prepared>,
    bias: Option<&[T]>,
    g: &ConvGeom,
    steps: &[ConvEpilogueStep<'_>],
    out: Option<&mut [T]>,
) -> Result<Option<Vec<T>>, KernelError> {
    g.validate()?;
    let (k, l) = (g.k(), g.l());
    let x_len = g.c_in * g.h * g.w;
    let o_len = g.c_out * l;
    let fits = |len: usize, per: usize, n: usize| per.checked_mul(n).is_some_and(|t| len >= t);
    if !fits(x.len(), x_len, batch)
        || !fits(weight.len(), k, g.c_out)
        || out.as_ref().is_some_and(|o| !fits(o.len(), o_len, batch))
    {
        return Err(KernelError::new(
            "a convolution operand is smaller than its shape",
        ));
    }
    if bias.is_some_and(|b| b.len() < g.c_out) {
        return Err(KernelError::new(
            "the convolution bias is smaller than the output channels",
        ));
    }
    if o_len == 0 || batch == 0 {
        return Ok(None);
    }
    let work = batch
        .saturating_mul(g.c_out)
        .saturating_mul(k)
        .saturating_mul(l);
    let threads = if work >= PAR_MIN_CONV {
        num_threads()
    } else {
        1
    };
    let local;
    let prepared = match prepared {
        Some(p) => p,
        None => {
            local = Prepared::new(weight, g)?;
            &local
        }
    };
    // One sample's convolution splits its output channels over the threads instead.
    let per_sample = if batch == 1 { threads } else { 1 };
    let run = |first: usize, part: &mut [T]| -> Result<(), KernelError> {
        let op = ConvOperands {
            x,
            weight,
            bias,
            g,
            prepared,
            steps,
        };
        conv_samples(&op, first, per_sample, part)
    };
    let failed = || KernelError::new("a convolution worker thread failed");
    match out {
        Some(out) => for_each_item_chunk(
            &mut out[..batch * o_len],
            batch,
            o_len,
            threads,
            &run,
            failed,
        )
        .map(|()| None),
        None => {
            let len = batch
                .checked_mul(o_len)
                .ok_or_else(|| KernelError::new("the convolution's output size overflows"))?;
            try_new_by_items(len, o_len, T::ZERO, threads, &run, failed).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointwise::Unary;

    /// A direct 7-loop convolution, in f64.
    fn naive(x: &[f64], n: usize, w: &[f64], g: &ConvGeom) -> Vec<f64> {
        let (cg, og) = (g.cg(), g.og());
        let mut out = vec![0.0; n * g.c_out * g.oh * g.ow];
        for b in 0..n {
            for o in 0..g.c_out {
                let gi = o / og;
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = 0.0;
                        for c in 0..cg {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize
                                        - g.pad[0] as isize;
                                    let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize
                                        - g.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((b * g.c_in + gi * cg + c) * g.h + iy as usize) * g.w
                                        + ix as usize;
                                    let wi = ((o * cg + c) * g.kh + ki) * g.kw + kj;
                                    acc += x[xi] * w[wi];
                                }
                            }
                        }
                        out[((b * g.c_out + o) * g.oh + oy) * g.ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    /// An epilogue of a per-channel scale, then ReLU.
    fn scale_then_relu(scale: &[f32]) -> [ConvEpilogueStep<'_>; 2] {
        [
            ConvEpilogueStep::Binary {
                op: crate::pointwise::Binary::Mul,
                x: EpilogueOperand::Channel(scale),
                x_first: false,
            },
            ConvEpilogueStep::Relu,
        ]
    }

    /// Two samples and a weight for `g`, small integers and quarters (so f32 sums are
    /// exact).
    fn two_samples_and_weight(g: &ConvGeom) -> (Vec<f64>, Vec<f64>) {
        let x = (0..2 * g.c_in * g.h * g.w)
            .map(|i| ((i * 29 % 13) as f64) - 6.0)
            .collect();
        let wt = (0..g.c_out * g.k())
            .map(|i| ((i * 7 % 9) as f64) * 0.25 - 1.0)
            .collect();
        (x, wt)
    }

    /// The geometry of a convolution of `[c_in, h, w]` inputs, its output size derived.
    fn geometry(
        [c_in, h, w]: [usize; 3],
        c_out: usize,
        groups: usize,
        k: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
    ) -> ConvGeom {
        let oh = ConvGeom::out_dim(h, k[0], stride[0], pad[0], dilation[0]).unwrap();
        let ow = ConvGeom::out_dim(w, k[1], stride[1], pad[1], dilation[1]).unwrap();
        ConvGeom {
            c_in,
            h,
            w,
            c_out,
            kh: k[0],
            kw: k[1],
            stride,
            pad,
            dilation,
            groups,
            oh,
            ow,
        }
    }

    /// The same convolution of a batch of 2 in f32 with `bias` gives `want` (its f64
    /// result without the bias) plus the bias, exactly: the data are small integers and
    /// quarters.
    fn assert_f32_with_bias(x: &[f64], wt: &[f64], bias: &[f64], g: &ConvGeom, want: &[f64]) {
        let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<f32>>();
        let mut out = vec![f32::NAN; want.len()];
        conv2d(&f(x), 2, &f(wt), Some(&f(bias)), g, &mut out).unwrap();
        let l = g.oh * g.ow;
        let want: Vec<f32> = want
            .iter()
            .enumerate()
            .map(|(i, v)| (v + bias[i / l % g.c_out]) as f32)
            .collect();
        assert_eq!(out, want, "f32 {g:?}");
    }

    #[test]
    fn grouped_strided_padded_dilated_conv_matches_the_direct_loops() {
        let (h, w) = (7, 6);
        let geom = |c_out, groups, k, stride, pad, dilation| {
            geometry([4, h, w], c_out, groups, k, stride, pad, dilation)
        };
        // 6 and 16 output channels per group take f32's packed path; 3 the generic one.
        for g in [
            geom(6, 1, [3, 2], [1, 1], [0, 0], [1, 1]),
            geom(6, 2, [3, 2], [2, 1], [1, 2], [1, 2]),
            geom(6, 1, [3, 2], [3, 2], [2, 0], [2, 1]),
            geom(16, 1, [5, 5], [1, 1], [2, 2], [1, 1]),
            geom(8, 2, [1, 1], [1, 1], [0, 0], [1, 1]),
        ] {
            let x: Vec<f64> = (0..2 * 4 * h * w)
                .map(|i| ((i * 37 % 11) as f64) - 5.0)
                .collect();
            let wt: Vec<f64> = (0..g.c_out * g.cg() * g.kh * g.kw)
                .map(|i| ((i * 13 % 7) as f64) * 0.25)
                .collect();
            let bias: Vec<f64> = (0..g.c_out).map(|o| o as f64 - 2.5).collect();
            let want = naive(&x, 2, &wt, &g);
            let mut out = vec![0.0; 2 * g.c_out * g.oh * g.ow];
            conv2d(&x, 2, &wt, None, &g, &mut out).unwrap();
            assert_eq!(out, want, "{g:?}");
            // f32, with a bias: small integers and quarters, so exact in f32 too.
            assert_f32_with_bias(&x, &wt, &bias, &g, &want);
        }
    }

    /// Depthwise convolutions (one input channel per group, with channel multipliers 1
    /// and 2) on planes narrower and wider than a block of lanes, padded, dilated, and
    /// strided along rows, columns (the padded rows split in phases) or both, in f64 and
    /// f32 with a bias.
    #[test]
    fn depthwise_convolutions_match_the_direct_loops() {
        for (h, w) in [(5, 37), (4, 16), (3, 7)] {
            let geom =
                |c_out, k, stride, pad, dil| geometry([3, h, w], c_out, 3, k, stride, pad, dil);
            for g in [
                geom(3, [3, 3], [1, 1], [1, 1], [1, 1]),
                geom(6, [3, 3], [1, 1], [1, 1], [1, 1]),
                geom(3, [3, 2], [1, 1], [2, 2], [2, 2]),
                geom(3, [2, 3], [2, 1], [0, 1], [1, 1]),
                geom(3, [3, 3], [1, 2], [1, 1], [1, 1]),
                geom(3, [1, 5], [1, 1], [0, 0], [1, 1]),
                // Column strides: the phased padded rows.
                geom(6, [3, 3], [2, 2], [1, 1], [1, 1]),
                geom(3, [3, 3], [1, 3], [2, 2], [1, 2]),
                geom(3, [2, 5], [2, 2], [0, 2], [1, 1]),
            ] {
                let x: Vec<f64> = (0..2 * 3 * h * w)
                    .map(|i| ((i * 37 % 11) as f64) - 5.0)
                    .collect();
                let wt: Vec<f64> = (0..g.c_out * g.kh * g.kw)
                    .map(|i| ((i * 13 % 7) as f64) * 0.25 - 0.5)
                    .collect();
                let bias: Vec<f64> = (0..g.c_out).map(|o| o as f64 - 2.5).collect();
                let want = naive(&x, 2, &wt, &g);
                let mut out = vec![f64::NAN; want.len()];
                conv2d(&x, 2, &wt, None, &g, &mut out).unwrap();
                assert_eq!(out, want, "{h}x{w} {g:?}");
                assert_f32_with_bias(&x, &wt, &bias, &g, &want);
            }
        }
    }

    #[test]
    fn wide_planes_unroll_by_runs_and_gathers_as_the_direct_loops() {
        // Rows of 16 and 20 outputs: panels of one row, of two or three runs, and
        // (stride 2, dilation 2) gathers.
        // Groups of one input channel: the depthwise kernel.
        for (w, stride, dil, groups) in [
            (16, 1, 1, 1),
            (20, 1, 1, 1),
            (13, 1, 1, 1),
            (20, 2, 1, 1),
            (16, 1, 2, 1),
            (16, 1, 1, 3),
            (13, 2, 2, 3),
        ] {
            let (h, pad, c_in, c_out) = (5, 1, 3, 6);
            let oh = ConvGeom::out_dim(h, 3, stride, pad, dil).unwrap();
            let ow = ConvGeom::out_dim(w, 3, stride, pad, dil).unwrap();
            let g = ConvGeom {
                c_in,
                h,
                w,
                c_out,
                kh: 3,
                kw: 3,
                stride: [stride; 2],
                pad: [pad; 2],
                dilation: [dil; 2],
                groups,
                oh,
                ow,
            };
            let x: Vec<f64> = (0..2 * c_in * h * w)
                .map(|i| ((i * 29 % 13) as f64) - 6.0)
                .collect();
            let wt: Vec<f64> = (0..c_out * (c_in / groups) * 9)
                .map(|i| ((i * 7 % 5) as f64) * 0.5)
                .collect();
            let want: Vec<f32> = naive(&x, 2, &wt, &g).iter().map(|&v| v as f32).collect();
            let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<f32>>();
            let mut out = vec![f32::NAN; 2 * c_out * oh * ow];
            conv2d(&f(&x), 2, &f(&wt), None, &g, &mut out).unwrap();
            assert_eq!(out, want, "{g:?}");
            // With a bias, and in f64 (the depthwise kernel is generic).
            let bias: Vec<f64> = (0..c_out).map(|o| o as f64 - 1.5).collect();
            let mut out = vec![f64::NAN; 2 * c_out * oh * ow];
            conv2d(&x, 2, &wt, Some(&bias), &g, &mut out).unwrap();
            let l = oh * ow;
            let want: Vec<f64> = naive(&x, 2, &wt, &g)
                .iter()
                .enumerate()
                .map(|(i, v)| v + bias[i / l % c_out])
                .collect();
            assert_eq!(out, want, "f64 {g:?}");
        }
    }

    /// The implicit tiles (AVX-512, panels of at most 3 output rows read in place):
    /// channel counts that leave part of a block of 8, panel counts that end in tiles of
    /// 3, 2 and 1 panels, rows read as 1, 2 and 3 runs, dilation, strides along rows
    /// (planes split into phases: a 7×7 stem, stride 3 dilated; a 1×1 downsampling is
    /// unrolled) and columns, a direct 1×1 convolution and groups of several channels,
    /// against the direct loops
    /// bit for bit (small integers and quarters). Whether a geometry takes them is
    /// decided before its tap table is built ([`implicit::eligible`]): it must agree.
    #[test]
    fn implicit_tiles_match_the_direct_loops() {
        let mut implicit = 0;
        for (c_in, c_out, groups, [h, w], k, stride, pad, dil) in [
            (3, 4, 1, [3, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (5, 13, 1, [4, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (4, 32, 1, [5, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (4, 8, 1, [7, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, 9, 1, [6, 8], [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, 9, 1, [6, 9], [3, 3], [1, 1], [1, 1], [1, 1]),
            (2, 6, 1, [9, 12], [3, 3], [1, 1], [2, 2], [2, 2]),
            (3, 8, 1, [9, 20], [3, 5], [2, 1], [1, 2], [1, 1]),
            (6, 8, 2, [4, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (8, 16, 1, [6, 10], [1, 1], [1, 1], [0, 0], [1, 1]),
            (3, 4, 1, [5, 5], [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, 4, 1, [9, 16], [3, 3], [2, 2], [1, 1], [1, 1]),
            (8, 16, 1, [6, 32], [1, 1], [2, 2], [0, 0], [1, 1]),
            (3, 8, 1, [12, 32], [7, 7], [2, 2], [3, 3], [1, 1]),
            (2, 5, 1, [7, 45], [3, 5], [1, 3], [2, 1], [2, 2]),
            (3, 4, 1, [4, 3], [1, 1], [1, 2], [0, 0], [1, 1]),
            // Fewer output channels than the 4 rows a packed GEMM takes (an RGB head):
            // one block of 8 rows, most of them empty.
            (8, 3, 1, [6, 32], [3, 3], [1, 1], [1, 1], [1, 1]),
            (5, 1, 1, [4, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
            (4, 2, 2, [5, 16], [3, 3], [1, 1], [1, 1], [1, 1]),
        ] {
            let g = geometry([c_in, h, w], c_out, groups, k, stride, pad, dil);
            let table = TapTable::new(&g).unwrap();
            assert_eq!(
                implicit::eligible(&g),
                table.implicit.is_some(),
                "eligible {g:?}"
            );
            implicit += usize::from(table.implicit.is_some());
            let (x, wt) = two_samples_and_weight(&g);
            let bias: Vec<f64> = (0..c_out).map(|o| o as f64 * 0.5 - 2.0).collect();
            let want = naive(&x, 2, &wt, &g);
            assert_f32_with_bias(&x, &wt, &bias, &g, &want);
            let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<f32>>();
            let mut out = vec![f32::NAN; want.len()];
            conv2d(&f(&x), 2, &f(&wt), None, &g, &mut out).unwrap();
            assert_eq!(out, f(&want), "f32 without a bias {g:?}");
            // Into a new buffer, and with a bias in f64 (the generic path).
            assert_eq!(conv2d_new(&f(&x), 2, &f(&wt), None, &g).unwrap(), out);
            let with_bias = conv2d_new(&x, 2, &wt, Some(&bias), &g).unwrap();
            let l = g.oh * g.ow;
            let want_b: Vec<f64> = (want.iter().enumerate())
                .map(|(i, v)| v + bias[i / l % c_out])
                .collect();
            assert_eq!(with_bias, want_b, "f64 new {g:?}");
        }
        // All but the rows of 5 and of 2 outputs (a panel spans 4 or more of them) and
        // the 1×1 downsampling (a kernel no wider than its stride: unrolled).
        if crate::sgemm::uses_avx512() {
            assert_eq!(implicit, 16);
        }
    }

    /// An epilogue (a per-channel scale and shift, a residual with a NaN and a -0, a
    /// scalar subtracted from, a division, hardswish, ReLU) gives the bits of the same steps run
    /// after the convolution, on every path: the implicit tiles (a full tile, a 2-panel
    /// tile, 3 runs a row, strided rows), the unrolling (rows of 5 outputs), the
    /// depthwise kernel and the generic GEMM (3 channels a group). Short operands are
    /// errors.
    #[test]
    fn an_epilogue_is_the_steps_run_after() {
        let seq = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (((i * 7919 + seed * 104_729) % 1013) as f32 - 506.0) / 97.0)
                .collect()
        };
        for (c_in, c_out, groups, [h, w], stride) in [
            (5, 13, 1, [4, 80], [1, 1]),
            (4, 8, 1, [5, 9], [1, 1]),
            (4, 8, 1, [9, 20], [2, 2]),
            (4, 8, 1, [6, 5], [1, 1]),
            (6, 6, 6, [7, 16], [1, 1]),
            // Rows of 5: not the implicit tiles' (a panel spans 4 rows).
            (4, 6, 2, [6, 5], [1, 1]),
        ] {
            let g = geometry([c_in, h, w], c_out, groups, [3, 3], stride, [1, 1], [1, 1]);
            let (x, wt) = (seq(2 * c_in * h * w, 1), seq(c_out * g.k(), 2));
            let (bias, scale, shift) = (seq(c_out, 3), seq(c_out, 4), seq(c_out, 5));
            let l = g.oh * g.ow;
            let mut residual = seq(2 * c_out * l, 6);
            residual[3] = f32::NAN;
            residual[5] = -0.0;
            let steps = [
                ConvEpilogueStep::Binary {
                    op: crate::pointwise::Binary::Mul,
                    x: EpilogueOperand::Channel(&scale),
                    x_first: false,
                },
                ConvEpilogueStep::Binary {
                    op: crate::pointwise::Binary::Add,
                    x: EpilogueOperand::Channel(&shift),
                    x_first: true,
                },
                ConvEpilogueStep::Binary {
                    op: crate::pointwise::Binary::Sub,
                    x: EpilogueOperand::Scalar(0.75),
                    x_first: true,
                },
                ConvEpilogueStep::Binary {
                    op: crate::pointwise::Binary::Add,
                    x: EpilogueOperand::Output(&residual),
                    x_first: false,
                },
                ConvEpilogueStep::Binary {
                    op: crate::pointwise::Binary::Div,
                    x: EpilogueOperand::Channel(&scale),
                    x_first: false,
                },
                ConvEpilogueStep::Unary(Unary::Hardswish),
                ConvEpilogueStep::Unary(Unary::Clamp(Some(-0.25), Some(40.0))),
                ConvEpilogueStep::Unary(Unary::Hardsigmoid),
                ConvEpilogueStep::Unary(Unary::Clamp(None, Some(0.75))),
                ConvEpilogueStep::Unary(Unary::Sigmoid),
                ConvEpilogueStep::Relu,
            ];
            let mut want = vec![0f32; 2 * c_out * l];
            conv2d(&x, 2, &wt, Some(&bias), &g, &mut want).unwrap();
            for (i, y) in want.iter_mut().enumerate() {
                let co = i / l % c_out;
                let v = (*y * scale[co]) + shift[co];
                let v = (0.75 - v + residual[i]) / scale[co];
                let v = Unary::Hardswish.eval_f32(v);
                let v = Unary::Clamp(Some(-0.25), Some(40.0)).eval_f32(v);
                let v = Unary::Hardsigmoid.eval_f32(v);
                let v = Unary::Clamp(None, Some(0.75)).eval_f32(v);
                let v = Unary::Sigmoid.eval_f32(v);
                *y = if v < 0.0 { 0.0 } else { v };
            }
            let mut out = vec![f32::NAN; want.len()];
            conv2d_epilogue(&x, 2, &wt, Some(&bias), &g, &steps, &mut out).unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&want), "{g:?}");
            assert!(out[3].is_nan() || c_out * l <= 3, "NaN kept by ReLU");
            let short = [ConvEpilogueStep::Binary {
                op: crate::pointwise::Binary::Add,
                x: EpilogueOperand::Output(&residual[1..]),
                x_first: false,
            }];
            assert!(conv2d_epilogue(&x, 2, &wt, None, &g, &short, &mut out).is_err());
        }
    }

    /// A single sample's convolution large enough to split its output channels over
    /// the threads gives the bits of the same sample in a batch of 2, where each sample
    /// runs on one thread, with a bias and a per-channel epilogue; and the direct
    /// loops' values. The implicit tiles (44 channels: five blocks of 8 and one of 4)
    /// and the depthwise kernel (64 groups of 2 channels).
    #[test]
    fn one_sample_splits_its_channels_with_the_batchs_bits() {
        for (c_in, c_out, groups, [h, w]) in [(16, 44, 1, [24, 32]), (64, 128, 64, [32, 32])] {
            let g = geometry([c_in, h, w], c_out, groups, [3, 3], [1, 1], [1, 1], [1, 1]);
            assert!(g.c_out * g.k() * g.l() >= PAR_MIN_CONV);
            let (x, wt) = two_samples_and_weight(&g);
            let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<f32>>();
            let (xf, wf) = (f(&x), f(&wt));
            let bias: Vec<f32> = (0..c_out).map(|o| o as f32 * 0.5 - 2.0).collect();
            let scale: Vec<f32> = (0..c_out).map(|o| 1.0 + o as f32 * 0.125).collect();
            let steps = scale_then_relu(&scale);
            let per = c_out * g.l();
            let mut pair = vec![f32::NAN; 2 * per];
            conv2d_epilogue(&xf, 2, &wf, Some(&bias), &g, &steps, &mut pair).unwrap();
            let want = naive(&x, 2, &wt, &g);
            for (i, (&got, &w)) in pair.iter().zip(&want).enumerate() {
                let co = i / g.l() % c_out;
                let v = (w as f32 + bias[co]) * scale[co];
                assert_eq!(got, if v < 0.0 { 0.0 } else { v }, "{g:?}: element {i}");
            }
            let sample = c_in * h * w;
            for n in 0..2 {
                let mut one = vec![f32::NAN; per];
                let x1 = &xf[n * sample..(n + 1) * sample];
                conv2d_epilogue(x1, 1, &wf, Some(&bias), &g, &steps, &mut one).unwrap();
                assert_eq!(one, pair[n * per..(n + 1) * per], "{g:?}: sample {n}");
            }
        }
    }

    /// Samples of few output positions run side by side in one product
    /// ([`side_by_side`]), in chunks that need not divide the batch: each gives the bits
    /// it gives alone, with a bias and an epilogue, and the direct loops' values. Depths
    /// of 9 · 40 span two k blocks; one and two groups; one panel (4×4), three (6×6 with
    /// a stride of 2 on 11×11) and a strided 1×1.
    #[test]
    fn samples_side_by_side_give_each_samples_bits() {
        let seq = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (((i * 7919 + seed * 104_729) % 1013) as f32 - 506.0) / 97.0)
                .collect()
        };
        for (c_in, c_out, groups, [h, w], k, stride, pad) in [
            (40, 20, 1, [4, 4], 3, 1, 1),
            (40, 16, 2, [4, 4], 3, 1, 1),
            (12, 24, 1, [11, 11], 3, 2, 1),
            (24, 20, 1, [8, 8], 1, 2, 0),
        ] {
            let g = geometry(
                [c_in, h, w],
                c_out,
                groups,
                [k, k],
                [stride; 2],
                [pad; 2],
                [1, 1],
            );
            let batch = 2 * SIDE_BY_SIDE_PANELS / g.l().div_ceil(16) + 1;
            let prepared = Prepared::new(&seq(c_out * g.k(), 2), &g).unwrap();
            assert!(side_by_side(&g, &prepared) > 1, "{g:?}");
            let (x, wt, bias) = (
                seq(batch * c_in * h * w, 1),
                seq(c_out * g.k(), 2),
                seq(c_out, 3),
            );
            let scale = seq(c_out, 4);
            let steps = scale_then_relu(&scale);
            let per = c_out * g.l();
            let mut all = vec![f32::NAN; batch * per];
            conv2d_epilogue(&x, batch, &wt, Some(&bias), &g, &steps, &mut all).unwrap();
            let sample = c_in * h * w;
            for n in 0..batch {
                let mut one = vec![f32::NAN; per];
                let x1 = &x[n * sample..(n + 1) * sample];
                conv2d_epilogue(x1, 1, &wt, Some(&bias), &g, &steps, &mut one).unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&one), bits(&all[n * per..(n + 1) * per]), "{g:?}: {n}");
            }
            let f64s = |v: &[f32]| v.iter().map(|&e| f64::from(e)).collect::<Vec<f64>>();
            let want = naive(&f64s(&x), batch, &f64s(&wt), &g);
            for (i, (&got, &w)) in all.iter().zip(&want).enumerate() {
                let co = i / g.l() % c_out;
                let v = ((w + f64::from(bias[co])) * f64::from(scale[co])).max(0.0);
                assert!(
                    (f64::from(got) - v).abs() <= 1e-3 * (1.0 + v.abs()),
                    "{g:?}: {i}"
                );
            }
        }
    }

    /// A weight prepared once ([`ConvWeight`]) gives the bits of preparing it at the
    /// call, and is refused for another geometry.
    #[test]
    fn a_prepared_weight_gives_the_calls_bits_and_only_for_its_geometry() {
        for (c_in, c_out, groups, hw) in [(8, 16, 1, 16), (8, 16, 1, 4), (16, 16, 16, 9)] {
            let g = geometry(
                [c_in, hw, hw],
                c_out,
                groups,
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1],
            );
            let (x, wt) = two_samples_and_weight(&g);
            let f = |v: &[f64]| v.iter().map(|&e| e as f32 + 0.125).collect::<Vec<f32>>();
            let (xf, wf) = (f(&x), f(&wt));
            let mut want = vec![f32::NAN; 2 * c_out * g.l()];
            conv2d(&xf, 2, &wf, None, &g, &mut want).unwrap();
            let prepared = ConvWeight::prepare(&wf, &g).unwrap();
            let mut got = vec![f32::NAN; want.len()];
            conv2d_prepared(&xf, 2, (&wf, Some(&prepared)), None, &g, &[], &mut got).unwrap();
            assert_eq!(got, want, "{g:?}");
            let other = geometry(
                [c_in, hw + 1, hw],
                c_out,
                groups,
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1],
            );
            assert!(!prepared.is_for(&other));
            let mut out = vec![0f32; 2 * c_out * other.l()];
            let x2 = vec![0f32; 2 * c_in * other.h * other.w];
            let err = conv2d_prepared(&x2, 2, (&wf, Some(&prepared)), None, &other, &[], &mut out);
            assert!(err.is_err());
        }
        let g = geometry([8, 6, 6], 16, 1, [3, 3], [1, 1], [1, 1], [1, 1]);
        assert!(
            ConvWeight::prepare(&[0.0; 10], &g).is_err(),
            "a short weight"
        );
    }

    #[test]
    fn bad_geometry_and_short_buffers_are_errors() {
        let g = ConvGeom {
            c_in: 3,
            h: 4,
            w: 4,
            c_out: 4,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
            groups: 2,
            oh: 2,
            ow: 2,
        };
        let mut out = vec![0f32; 32];
        assert!(conv2d(&[0f32; 48], 1, &[0f32; 108], None, &g, &mut out).is_err());
        let g = ConvGeom { groups: 1, ..g };
        assert!(conv2d(&[0f32; 47], 1, &[0f32; 108], None, &g, &mut out).is_err());
        assert!(ConvGeom::out_dim(4, 3, 1, usize::MAX / 2 + 1, 1).is_none());
    }
}
