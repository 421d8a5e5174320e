//! Max and average pooling over `[h, w]` planes (max propagating NaN, as in PyTorch).

use crate::gemm::Float;
use crate::layout::copy_short;
use crate::threads::{for_each_item_chunk, num_threads};
use crate::KernelError;

/// Window elements (outputs × window size) from which a pooling splits its planes over
/// the pool.
const PAR_MIN_POOL: usize = 1 << 13;

/// A pooling window (2-D).
#[derive(Clone, Copy, Debug)]
pub struct PoolWindow {
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub p: [usize; 2],
    pub d: [usize; 2],
}

/// The larger of `m` and `v`, NaN if either is (PyTorch's max pooling propagates NaN).
#[inline]
fn nan_max<T: Float>(m: T, v: T) -> T {
    if v > m || v.is_nan() {
        v
    } else {
        m
    }
}

/// `out[i]` = the max of `row[i * k..(i + 1) * k]`, in order (a NaN wins): loops of a
/// constant width for the common windows, so that they vectorize.
#[inline(always)]
fn side_by_side<T: Float>(row: &[T], k: usize, out: &mut [T]) {
    // Indexed, so that the compiler vectorizes the loop (a window iterator stayed
    // scalar).
    #[inline(always)]
    fn windows<const K: usize, T: Float>(row: &[T], out: &mut [T]) {
        let n = out.len().min(row.len() / K);
        let (row, out) = (&row[..K * n], &mut out[..n]);
        for (i, o) in out.iter_mut().enumerate() {
            let mut m = row[K * i];
            for j in 1..K {
                m = nan_max(m, row[K * i + j]);
            }
            *o = m;
        }
    }
    match k {
        2 => windows::<2, T>(row, out),
        3 => windows::<3, T>(row, out),
        4 => windows::<4, T>(row, out),
        _ => {
            for (o, w) in out.iter_mut().zip(row.chunks_exact(k.max(1))) {
                *o = w[1..].iter().fold(w[0], |m, &v| nan_max(m, v));
            }
        }
    }
}

/// The usual 2×2 pooling (stride 2, no padding), straight from each output row's two
/// input rows (small planes spent more on the column pass's setup than on the maxima).
fn pool_2x2_plane<T: Float>(x: &[T], w: usize, out: &mut [T], oh: usize, ow: usize) {
    #[cfg(target_arch = "x86_64")]
    let avx512 = crate::sgemm::uses_avx512();
    for (oy, out_row) in out.chunks_mut(ow).enumerate().take(oh) {
        let r0 = &x[2 * oy * w..][..2 * ow];
        let r1 = &x[(2 * oy + 1) * w..][..2 * ow];
        #[cfg(target_arch = "x86_64")]
        if let (true, Some(r0), Some(r1), Some(o)) =
            (avx512, T::as_f32(r0), T::as_f32(r1), T::as_f32_mut(out_row))
        {
            // SAFETY: AVX-512F is present; `r0` and `r1` hold `2 * ow` floats and `o`
            // holds `ow` (the row `out_row` of `ow`).
            unsafe { pool_2x2_row_avx512(r0, r1, o) };
            continue;
        }
        for (ox, o) in out_row.iter_mut().enumerate() {
            let top = nan_max(r0[2 * ox], r0[2 * ox + 1]);
            *o = nan_max(top, nan_max(r1[2 * ox], r1[2 * ox + 1]));
        }
    }
}

/// Scratch a max pooling keeps between its planes: the maxima over the windows' rows
/// and then columns, and the plane with its padding (`-inf`) when windows read past the
/// input.
struct PoolScratch<T> {
    colmax: Vec<T>,
    rowmax: Vec<T>,
    padded: Vec<T>,
}

/// The largest padded plane (`rows × cols`) a max pooling copies a `[h, w]` plane into;
/// past it (padding far wider than the plane, as only a hostile call has) the windows are
/// clipped one by one instead.
fn padded_fits(rows: usize, cols: usize, h: usize, w: usize) -> bool {
    let plane = h.saturating_mul(w);
    rows.checked_mul(cols)
        .is_some_and(|n| n <= plane.saturating_mul(4).max(1 << 16))
}

/// `x`'s `[h, w]` plane (`w > 0`) at `(p0, p1)` in a `-inf` plane of `[hp, wp]` kept in
/// `padded`, which holds it. The border stays `-inf` from plane to plane: only the
/// inside is copied.
fn pad_plane<'a, T: Float>(
    x: &[T],
    [h, w]: [usize; 2],
    [p0, p1]: [usize; 2],
    [hp, wp]: [usize; 2],
    padded: &'a mut Vec<T>,
) -> &'a [T] {
    if padded.len() != hp * wp {
        padded.clear();
        padded.resize(hp * wp, T::NEG_INFINITY);
    }
    for (y, src) in x.chunks_exact(w).take(h).enumerate() {
        copy_short(&mut padded[(y + p0) * wp + p1..][..w], src);
    }
    padded
}

/// One plane. Padding, and `ceil_mode`'s last windows past the input, read `-inf` from
/// a padded copy: `-inf` never wins a max and a NaN still does, so each window's
/// maximum is PyTorch's, which skips them (one window per output clipped to the input
/// took 2 ns an element: 3×3 padded poolings were 80% of an Inception block).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn max_pool_plane<T: Float>(
    x: &[T],
    h: usize,
    w: usize,
    win: &PoolWindow,
    out: &mut [T],
    oh: usize,
    ow: usize,
    scratch: &mut PoolScratch<T>,
) {
    if oh == 0 || ow == 0 {
        return;
    }
    if win.k.contains(&0) || h == 0 || w == 0 {
        return max_pool_clipped(x, h, w, win, out, oh, ow);
    }
    let ([k0, k1], [s0, s1], [d0, d1], [p0, p1]) = (win.k, win.s, win.d, win.p);
    // The rows and columns the windows span, from the padded plane's corner (`None`
    // past `usize`: only a hostile window, clipped one at a time).
    let span = |n: usize, s: usize, k: usize, d: usize| {
        (n - 1)
            .checked_mul(s)?
            .checked_add((k - 1).checked_mul(d)?)?
            .checked_add(1)
    };
    let (Some(rows), Some(cols)) = (span(oh, s0, k0, d0), span(ow, s1, k1, d1)) else {
        return max_pool_clipped(x, h, w, win, out, oh, ow);
    };
    let (plane, pw) = if win.p == [0, 0] && rows <= h && cols <= w {
        (x, w)
    } else {
        let (hp, wp) = (
            rows.max(p0.saturating_add(h)),
            cols.max(p1.saturating_add(w)),
        );
        if !padded_fits(hp, wp, h, w) {
            return max_pool_clipped(x, h, w, win, out, oh, ow);
        }
        let padded = pad_plane(x, [h, w], [p0, p1], [hp, wp], &mut scratch.padded);
        (padded, wp)
    };
    if (k0, k1, s0, s1, d0, d1) == (2, 2, 2, 2, 1, 1) {
        pool_2x2_plane(plane, pw, out, oh, ow);
        return;
    }
    // The max over each window's rows first, for all the columns windows read, then
    // over each window's columns: each pass a few loops over the whole plane where the
    // windows are one row (column) apart, as the compiler vectorizes (loops per output
    // row spent more on their ends than on 15-wide rows: a 3×3 padded pooling took
    // 3.5 ns an output).
    let flat = oh * pw;
    let (vm, hm) = (&mut scratch.colmax, &mut scratch.rowmax);
    vm.clear();
    vm.resize(flat + (k1 - 1) * d1, T::NEG_INFINITY);
    let row = |y: usize, len: usize| &plane[y * pw..][..len];
    if s0 == 1 {
        copy_short(&mut vm[..flat], row(0, flat));
        for ki in 1..k0 {
            for (m, &v) in vm.iter_mut().zip(row(ki * d0, flat)) {
                *m = nan_max(*m, v);
            }
        }
    } else {
        for (oy, dst) in vm.chunks_exact_mut(pw).take(oh).enumerate() {
            copy_short(dst, row(oy * s0, pw));
            for ki in 1..k0 {
                for (m, &v) in dst.iter_mut().zip(row(oy * s0 + ki * d0, pw)) {
                    *m = nan_max(*m, v);
                }
            }
        }
    }
    let rows_out = out.chunks_mut(ow).take(oh);
    if k1 == s1 && d1 == 1 {
        for (oy, out_row) in rows_out.enumerate() {
            side_by_side(&vm[oy * pw..][..k1 * ow], k1, &mut out_row[..ow]);
        }
    } else if s1 == 1 {
        // Windows one column apart: each of a window's columns in turn over the whole
        // plane, in the order of a window's fold.
        hm.clear();
        hm.extend_from_slice(&vm[..flat]);
        for kj in 1..k1 {
            for (o, &v) in hm.iter_mut().zip(&vm[kj * d1..]) {
                *o = nan_max(*o, v);
            }
        }
        for (oy, out_row) in rows_out.enumerate() {
            copy_short(&mut out_row[..ow], &hm[oy * pw..][..ow]);
        }
    } else {
        for (oy, out_row) in rows_out.enumerate() {
            for (ox, o) in out_row.iter_mut().enumerate() {
                let at = |kj: usize| vm[oy * pw + ox * s1 + kj * d1];
                *o = (1..k1).fold(at(0), |m, kj| nan_max(m, at(kj)));
            }
        }
    }
}

/// [`max_pool_plane`] one window at a time, each clipped to the input (for padding too
/// wide to copy the plane into).
#[allow(clippy::too_many_arguments)]
fn max_pool_clipped<T: Float>(
    x: &[T],
    h: usize,
    w: usize,
    win: &PoolWindow,
    out: &mut [T],
    oh: usize,
    ow: usize,
) {
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best = T::NEG_INFINITY;
            'window: for ki in 0..win.k[0] {
                let iy = (oy * win.s[0] + ki * win.d[0]) as isize - win.p[0] as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let row = &x[iy as usize * w..(iy as usize + 1) * w];
                for kj in 0..win.k[1] {
                    let ix = (ox * win.s[1] + kj * win.d[1]) as isize - win.p[1] as isize;
                    if ix < 0 || ix >= w as isize {
                        continue;
                    }
                    let v = row[ix as usize];
                    // NaN propagates, as in PyTorch.
                    if v.is_nan() {
                        best = v;
                        break 'window;
                    }
                    if v > best {
                        best = v;
                    }
                }
            }
            out[oy * ow + ox] = best;
        }
    }
}

/// One output row of a 2×2, stride-2 max pooling: `out[j]` is the largest of `r0[2j]`,
/// `r0[2j + 1]`, `r1[2j]`, `r1[2j + 1]`, NaN if one is, 16 outputs per step (the pairs
/// pulled apart by a lane permutation; the scalar loop's strided reads did not
/// vectorize: a quarter of LeNet's run). The same bits as [`nan_max`] in the scalar
/// order: a tie between zeros keeps the first operand, as there.
///
/// # Safety
/// The CPU has AVX-512F; `r0` and `r1` hold at least `2 * out.len()` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_2x2_row_avx512(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    // `nan_max(a, b)`: `b` if `b > a` or `b` is NaN, else `a` (NaN when `a` is).
    macro_rules! nan_max {
        ($a:expr, $b:expr) => {{
            let (a, b) = ($a, $b);
            let take_b =
                _mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(b, b);
            _mm512_mask_blend_ps(take_b, a, b)
        }};
    }
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let n = out.len();
    let mut j = 0;
    while j < n {
        let lanes = (n - j).min(16);
        // Inputs 2j .. 2j + 2 * lanes, in two vectors of 16.
        let (m_lo, m_hi) = {
            let ins = 2 * lanes;
            let lo = ins.min(16);
            let hi = ins - lo;
            (
                ((1u32 << lo) - 1) as __mmask16,
                ((1u32 << hi) - 1) as __mmask16,
            )
        };
        // SAFETY: the lanes read are inputs below `2 * n` (masked), inside `r0` and
        // `r1` as the caller promised; masked-off lanes are not read.
        let (a_lo, a_hi, b_lo, b_hi) = unsafe {
            let (p0, p1) = (r0.as_ptr().add(2 * j), r1.as_ptr().add(2 * j));
            (
                _mm512_maskz_loadu_ps(m_lo, p0),
                _mm512_maskz_loadu_ps(m_hi, p0.wrapping_add(16)),
                _mm512_maskz_loadu_ps(m_lo, p1),
                _mm512_maskz_loadu_ps(m_hi, p1.wrapping_add(16)),
            )
        };
        // The scalar order: the top pair, the bottom pair, then the two.
        let (a0, a1) = (
            _mm512_permutex2var_ps(a_lo, even, a_hi),
            _mm512_permutex2var_ps(a_lo, odd, a_hi),
        );
        let (b0, b1) = (
            _mm512_permutex2var_ps(b_lo, even, b_hi),
            _mm512_permutex2var_ps(b_lo, odd, b_hi),
        );
        let v = nan_max!(nan_max!(a0, a1), nan_max!(b0, b1));
        let mask = ((1u32 << lanes) - 1) as __mmask16;
        // SAFETY: outputs j .. j + lanes (<= n) of `out`.
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(j), mask, v) };
        j += lanes;
    }
}

/// Consecutive planes of `x` pooled into `out` (as many as `out` holds), on the widest
/// vectors.
struct PoolPlanes<'a, T> {
    x: &'a [T],
    h: usize,
    w: usize,
    win: &'a PoolWindow,
    out: &'a mut [T],
    oh: usize,
    ow: usize,
}

impl<T: Float> crate::WideLoop for PoolPlanes<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let PoolPlanes {
            x,
            h,
            w,
            win,
            out,
            oh,
            ow,
        } = self;
        let mut scratch = PoolScratch {
            colmax: Vec::new(),
            rowmax: Vec::new(),
            padded: Vec::new(),
        };
        for (i, o) in out.chunks_mut(oh * ow).enumerate() {
            let plane = &x[i * h * w..(i + 1) * h * w];
            max_pool_plane(plane, h, w, win, o, oh, ow, &mut scratch);
        }
    }
}

/// PyTorch's `nearest_idx`: the source index of output index `o` of a dim resampled
/// from `input` to `output` elements, with the call's scale factor if it gave one (in
/// f32, as PyTorch computes it).
pub fn nearest_source(o: usize, input: usize, output: usize, scale: Option<f64>) -> usize {
    if output == input {
        o
    } else if output == 2 * input {
        o >> 1
    } else {
        let s = match scale {
            Some(s) if s > 0.0 => (1.0 / s) as f32,
            _ => input as f32 / output as f32,
        };
        ((o as f32 * s).floor() as usize).min(input.saturating_sub(1))
    }
}

/// The output's length of an upsampling of `planes` `[h, w]` planes to `[oh, ow]`, its
/// operands' lengths checked: `None` when it is empty (nothing to do), an error when a
/// size overflows, an operand is short or a non-empty output would read an empty plane.
fn upsample_extent(
    x_len: usize,
    out_len: usize,
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
) -> Result<Option<usize>, KernelError> {
    let size = |dims: [usize; 3]| {
        (dims.iter())
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| KernelError::new("the upsampling's size overflows"))
    };
    let (len, needed) = (size([planes, h, w])?, size([planes, oh, ow])?);
    if x_len < len || out_len < needed {
        return Err(KernelError::new(
            "an upsampling operand is smaller than its shape",
        ));
    }
    if needed == 0 {
        return Ok(None);
    }
    if h == 0 || w == 0 {
        return Err(KernelError::new("cannot upsample an empty plane"));
    }
    Ok(Some(needed))
}

/// How an upsampling reads its source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest source pixel ([`upsample_nearest`]).
    Nearest,
    /// A weighted blend of the four around ([`upsample_bilinear`]).
    Bilinear { align_corners: bool },
    /// A cubic blend of the 4×4 around ([`upsample_bicubic`]).
    Bicubic { align_corners: bool },
    /// A filter stretched over every source pixel a shrinking output pixel covers
    /// ([`upsample_antialiased`]: `antialias=True`).
    Antialiased {
        filter: AntialiasFilter,
        align_corners: bool,
    },
}

/// PyTorch's `area_pixel_compute_scale`: how many input elements one output element
/// steps over when a dim of `input` elements is resampled to `output` (`align_corners`
/// maps the corner pixels' centres onto each other; otherwise the call's scale factor,
/// where given, sets the ratio).
pub fn pixel_ratio(input: usize, output: usize, align_corners: bool, scale: Option<f64>) -> f64 {
    if align_corners {
        if output > 1 {
            (input as f64 - 1.0) / (output as f64 - 1.0)
        } else {
            0.0
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => 1.0 / s,
            _ => input as f64 / output as f64,
        }
    }
}

/// PyTorch's `area_pixel_compute_source_index`: the input position output element `o`
/// reads (a linear resampling clamps it at 0, a cubic one does not).
fn source_index(ratio: f64, o: usize, align_corners: bool, cubic: bool) -> f64 {
    if align_corners {
        ratio * o as f64
    } else {
        let src = ratio * (o as f64 + 0.5) - 0.5;
        if cubic {
            src
        } else {
            src.max(0.0)
        }
    }
}

/// PyTorch's source indices and neighbours for a linear resampling of a dim from
/// `input` to `output` elements: for each output index, the two source indices and the
/// weight of the second.
pub fn linear_taps(
    input: usize,
    output: usize,
    align_corners: bool,
    scale: Option<f64>,
) -> Vec<(usize, usize, f64)> {
    let ratio = pixel_ratio(input, output, align_corners, scale);
    (0..output)
        .map(|o| {
            let src = source_index(ratio, o, align_corners, false);
            let i0 = (src.floor() as usize).min(input.saturating_sub(1));
            let i1 = if i0 + 1 < input { i0 + 1 } else { i0 };
            let l1 = src - i0 as f64;
            (i0, i1, l1)
        })
        .collect()
}

/// The cubic convolution weights (ATen's `get_cubic_upsample_coefficients`, A = -0.75)
/// of the four taps around a point `t` in [0, 1] past the second.
pub fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// ATen's taps of a cubic resampling of a dim from `input` to `output` elements: for
/// each output index, four source indices (clamped into the input) and their weights.
pub fn cubic_taps(
    input: usize,
    output: usize,
    align_corners: bool,
    scale: Option<f64>,
) -> Vec<([usize; 4], [f64; 4])> {
    let ratio = pixel_ratio(input, output, align_corners, scale);
    let last = input.saturating_sub(1) as i64;
    (0..output)
        .map(|o| {
            let src = source_index(ratio, o, align_corners, true);
            let i0 = (src.floor() as i64).min(last);
            let t = (src - i0 as f64).clamp(0.0, 1.0);
            let at = |k: i64| (i0 - 1 + k).clamp(0, last) as usize;
            ([at(0), at(1), at(2), at(3)], cubic_weights(t))
        })
        .collect()
}

/// Bilinear upsampling (`upsample_bilinear2d`): each of `planes` contiguous `[h, w]`
/// planes of `x` resampled to `[oh, ow]` in `out`, as PyTorch's CPU kernel computes an
/// output pixel: `h0 · (w0 · x00 + w1 · x01) + h1 · (w0 · x10 + w1 · x11)` in `T`'s
/// arithmetic, the source pixels and weights from [`linear_taps`] (weights rounded to
/// `T`, `w0 = 1 - w1`). Each input row is resampled along the width once for all the
/// output rows that read it, then output rows blend two of those: per element as
/// little work as a copy (one f64 formula per output pixel took 3.9 ns each, the
/// slowest step of a U-Net).
#[allow(clippy::too_many_arguments)]
pub fn upsample_bilinear<T: Float>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    align_corners: bool,
    scales: [Option<f64>; 2],
    out: &mut [T],
) -> Result<(), KernelError> {
    let Some(out_len) = upsample_extent(x.len(), out.len(), planes, [h, w], [oh, ow])? else {
        return Ok(());
    };
    let weights = |taps: Vec<(usize, usize, f64)>| -> Vec<(usize, usize, T, T)> {
        (taps.into_iter())
            .map(|(i0, i1, l1)| (i0, i1, T::of_f64(1.0 - l1), T::of_f64(l1)))
            .collect()
    };
    let rows = weights(linear_taps(h, oh, align_corners, scales[0]));
    let cols = weights(linear_taps(w, ow, align_corners, scales[1]));
    let threads = match out_len >= crate::threads::PAR_MIN_POINTWISE {
        true => num_threads(),
        false => 1,
    };
    let run = |first: usize, dst: &mut [T]| -> Result<(), KernelError> {
        let mut lines = [
            (usize::MAX, crate::alloc::try_filled(ow, T::ZERO)?),
            (usize::MAX, crate::alloc::try_filled(ow, T::ZERO)?),
        ];
        for (i, plane_out) in dst.chunks_exact_mut(oh * ow).enumerate() {
            let plane = &x[(first + i) * h * w..][..h * w];
            lines[0].0 = usize::MAX;
            lines[1].0 = usize::MAX;
            for (&(y0, y1, h0, h1), line) in rows.iter().zip(plane_out.chunks_exact_mut(ow)) {
                crate::wide(BlendRows {
                    plane,
                    w,
                    cols: &cols,
                    rows: [y0, y1],
                    weights: [h0, h1],
                    lines: &mut lines,
                    out: line,
                });
            }
        }
        Ok(())
    };
    for_each_item_chunk(&mut out[..out_len], planes, oh * ow, threads, &run, || {
        KernelError::new("an upsampling worker thread failed")
    })
}

/// One output row of [`upsample_bilinear`]: its two source rows resampled along the
/// width (kept in `lines`, tagged by row, for the next output rows), then blended.
struct BlendRows<'a, T> {
    plane: &'a [T],
    w: usize,
    cols: &'a [(usize, usize, T, T)],
    rows: [usize; 2],
    weights: [T; 2],
    lines: &'a mut [(usize, Vec<T>); 2],
    out: &'a mut [T],
}

impl<T: Float> crate::WideLoop for BlendRows<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let BlendRows {
            plane,
            w,
            cols,
            rows: [y0, y1],
            weights: [h0, h1],
            lines,
            out,
        } = self;
        // The lines hold rows y0 and y1 (in either slot), computing what is missing.
        if lines[0].0 != y0 && lines[1].0 == y0 {
            lines.swap(0, 1);
        }
        for (slot, y) in [(0, y0), (1, y1)] {
            if lines[slot].0 != y {
                let src = &plane[y * w..][..w];
                for (d, &(x0, x1, w0, w1)) in lines[slot].1.iter_mut().zip(cols) {
                    *d = w0 * src[x0] + w1 * src[x1];
                }
                lines[slot].0 = y;
            }
        }
        let (top, bottom) = (&lines[0].1, &lines[1].1);
        for ((o, &t), &b) in out.iter_mut().zip(top).zip(bottom) {
            *o = h0 * t + h1 * b;
        }
    }
}

/// The upsampling `mode` names ([`upsample_nearest`], [`upsample_bilinear`],
/// [`upsample_bicubic`]) of `planes` contiguous `[h, w]` planes of `x` to `[oh, ow]`.
#[allow(clippy::too_many_arguments)]
pub fn upsample<T: Float>(
    x: &[T],
    planes: usize,
    size: [usize; 2],
    out_size: [usize; 2],
    mode: Interpolation,
    scales: [Option<f64>; 2],
    out: &mut [T],
) -> Result<(), KernelError> {
    match mode {
        Interpolation::Nearest => upsample_nearest(x, planes, size, out_size, scales, out),
        Interpolation::Bilinear { align_corners } => {
            upsample_bilinear(x, planes, size, out_size, align_corners, scales, out)
        }
        Interpolation::Bicubic { align_corners } => {
            upsample_bicubic(x, planes, size, out_size, align_corners, scales, out)
        }
        Interpolation::Antialiased {
            filter,
            align_corners,
        } => upsample_antialiased(
            x,
            planes,
            size,
            out_size,
            filter,
            align_corners,
            scales,
            out,
        ),
    }
}

/// The filter of an antialiased resampling: ATen's `aa_filter` of its bilinear (a
/// triangle) or bicubic (Keys' cubic, `a = -0.5`) interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AntialiasFilter {
    Triangle,
    Cubic,
}

impl AntialiasFilter {
    /// The ATen op that resamples with this filter.
    pub fn op_name(self) -> &'static str {
        match self {
            AntialiasFilter::Triangle => "_upsample_bilinear2d_aa",
            AntialiasFilter::Cubic => "_upsample_bicubic2d_aa",
        }
    }

    /// Half the filter's width at scale 1 (ATen's `interp_size / 2`).
    fn half_width(self) -> f64 {
        match self {
            AntialiasFilter::Triangle => 1.0,
            AntialiasFilter::Cubic => 2.0,
        }
    }

    /// The filter at `x`, each operation rounded by `r` (to the element type: ATen
    /// computes it in `scalar_t`).
    fn at(self, x: f64, r: impl Fn(f64) -> f64) -> f64 {
        let x = x.abs();
        match self {
            AntialiasFilter::Triangle if x < 1.0 => r(1.0 - x),
            // ((a + 2)·x − (a + 3))·x·x + 1
            AntialiasFilter::Cubic if x < 1.0 => r(r(r(r(r(1.5 * x) - 2.5) * x) * x) + 1.0),
            // ((a·x − 5a)·x + 8a)·x − 4a
            AntialiasFilter::Cubic if x < 2.0 => {
                r(r(r(r(r(r(-0.5 * x) + 2.5) * x) - 4.0) * x) + 2.0)
            }
            _ => 0.0,
        }
    }
}

/// One dim of an antialiased resampling (ATen's `_compute_indices_min_size_weights_aa`,
/// PIL's resampler): for each output element, the first source element it reads, how
/// many, and their weights (`taps` slots per output element, normalized to sum to 1).
/// When shrinking, the filter is stretched over `ratio` source elements, so that every
/// source element counts. Computed at `T`'s precision with ATen's promotions.
struct AntialiasTaps<T> {
    reads: Vec<(usize, usize)>,
    weights: Vec<T>,
    taps: usize,
}

impl<T: Float> AntialiasTaps<T> {
    fn new(
        input: usize,
        output: usize,
        filter: AntialiasFilter,
        align_corners: bool,
        scale: Option<f64>,
    ) -> Result<Self, KernelError> {
        let r = |v: f64| T::of_f64(v).as_f64();
        let ratio = r(pixel_ratio(input, output, align_corners, scale));
        let half = filter.half_width();
        let support = r(if ratio >= 1.0 { half * ratio } else { half });
        let invscale = r(if ratio >= 1.0 { 1.0 / ratio } else { 1.0 });
        // ATen's `ceil(support) * 2 + 1` slots; an output element reads at most the
        // whole input.
        let taps = (support.ceil().min(input as f64) as usize * 2 + 1).min(input.max(1));
        let len = output
            .checked_mul(taps)
            .ok_or_else(|| KernelError::new("the resampling's weights overflow"))?;
        let mut weights = crate::alloc::try_filled(len, T::ZERO)?;
        let mut reads = Vec::with_capacity(output.min(len));
        let mut raw = Vec::with_capacity(taps);
        for (i, w) in weights.chunks_exact_mut(taps).enumerate() {
            let center = r(ratio * (i as f64 + 0.5));
            // Truncated toward zero, as ATen's casts.
            let lo = ((r(center - support) + 0.5) as i64).max(0);
            let hi = ((r(center + support) + 0.5) as i64).min(input as i64);
            let n = (hi - lo).clamp(0, taps as i64) as usize;
            let lo = lo as usize;
            raw.clear();
            let mut total = 0.0;
            for j in 0..n {
                let at = (r((j + lo) as f64 - center) + 0.5) * invscale;
                let v = filter.at(r(at), r);
                raw.push(v);
                total = r(total + v);
            }
            for (slot, &v) in w.iter_mut().zip(&raw) {
                *slot = T::of_f64(if total == 0.0 { v } else { v / total });
            }
            reads.push((lo, n));
        }
        Ok(AntialiasTaps {
            reads,
            weights,
            taps,
        })
    }

    /// Output element `o` of a line whose source element `k` is `src(k)`: the weighted
    /// sum in `T`, from the first tap on, as ATen's `interpolate_aa_single_dim`.
    fn sum(&self, o: usize, src: impl Fn(usize) -> T) -> T {
        let (lo, n) = self.reads[o];
        if n == 0 {
            // (No source element under the filter: reading `src(lo)` could be past the end.)
            return T::ZERO;
        }
        let w = &self.weights[o * self.taps..][..self.taps];
        (1..n).fold(src(lo) * w[0], |t, j| t + src(lo + j) * w[j])
    }
}

/// Antialiased resampling (`_upsample_bilinear2d_aa`, `_upsample_bicubic2d_aa`:
/// `F.interpolate(.., antialias=True)`, torchvision's `Resize`) of `planes` contiguous
/// `[h, w]` planes of `x` to `[oh, ow]` in `out`: along the width, then along the
/// height, as ATen's separable kernel; a dim whose size does not change is copied.
#[allow(clippy::too_many_arguments)]
pub fn upsample_antialiased<T: Float>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    filter: AntialiasFilter,
    align_corners: bool,
    scales: [Option<f64>; 2],
    out: &mut [T],
) -> Result<(), KernelError> {
    let Some(out_len) = upsample_extent(x.len(), out.len(), planes, [h, w], [oh, ow])? else {
        return Ok(());
    };
    let rows = planes * h;
    let wide: std::borrow::Cow<'_, [T]> = if ow == w {
        std::borrow::Cow::Borrowed(&x[..rows * w])
    } else {
        let cols = AntialiasTaps::<T>::new(w, ow, filter, align_corners, scales[1])?;
        let len = rows
            .checked_mul(ow)
            .ok_or_else(|| KernelError::new("the resampling's size overflows"))?;
        let mut wide = crate::alloc::try_filled(len, T::ZERO)?;
        for (src, dst) in x.chunks_exact(w).zip(wide.chunks_exact_mut(ow)) {
            for (o, d) in dst.iter_mut().enumerate() {
                *d = cols.sum(o, |k| src[k]);
            }
        }
        std::borrow::Cow::Owned(wide)
    };
    let out = &mut out[..out_len];
    if oh == h {
        out.copy_from_slice(&wide[..out_len]);
        return Ok(());
    }
    let lines = AntialiasTaps::<T>::new(h, oh, filter, align_corners, scales[0])?;
    for (plane, dst) in wide.chunks_exact(h * ow).zip(out.chunks_exact_mut(oh * ow)) {
        for (o, line) in dst.chunks_exact_mut(ow).enumerate() {
            for (c, d) in line.iter_mut().enumerate() {
                *d = lines.sum(o, |k| plane[k * ow + c]);
            }
        }
    }
    Ok(())
}

/// Bicubic upsampling (`upsample_bicubic2d`): each of `planes` contiguous `[h, w]`
/// planes of `x` resampled to `[oh, ow]` in `out`, as ATen's CPU kernel reads the 4×4
/// taps of [`cubic_taps`] (indices clamped into the input), in f64: each of an output
/// row's four source rows resampled along the width, then blended (the same four rows,
/// as consecutive output rows of an enlargement read, are resampled once).
#[allow(clippy::too_many_arguments)]
pub fn upsample_bicubic<T: Float>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    align_corners: bool,
    scales: [Option<f64>; 2],
    out: &mut [T],
) -> Result<(), KernelError> {
    let Some(out_len) = upsample_extent(x.len(), out.len(), planes, [h, w], [oh, ow])? else {
        return Ok(());
    };
    let rows = cubic_taps(h, oh, align_corners, scales[0]);
    let cols = cubic_taps(w, ow, align_corners, scales[1]);
    let mut lines = crate::alloc::try_filled(4 * ow, 0f64)?;
    let dst = out[..out_len].chunks_exact_mut(oh * ow);
    for (plane, dst) in x.chunks_exact(h * w).zip(dst) {
        let mut held: Option<[usize; 4]> = None;
        for ((ys, wy), line) in rows.iter().zip(dst.chunks_exact_mut(ow)) {
            if held != Some(*ys) {
                for (&y, resampled) in ys.iter().zip(lines.chunks_exact_mut(ow)) {
                    let src = &plane[y * w..][..w];
                    for ((xs, wx), r) in cols.iter().zip(resampled.iter_mut()) {
                        *r = (0..4).map(|i| wx[i] * src[xs[i]].as_f64()).sum::<f64>();
                    }
                }
                held = Some(*ys);
            }
            for (ox, o) in line.iter_mut().enumerate() {
                *o = T::of_f64((0..4).map(|j| wy[j] * lines[j * ow + ox]).sum::<f64>());
            }
        }
    }
    Ok(())
}

/// Nearest-neighbour upsampling (`upsample_nearest2d`): each of `planes` contiguous
/// `[h, w]` planes of `x` resampled to `[oh, ow]` in `out`, output pixel `(y, x)` read
/// from [`nearest_source`] of each dim. Copies values: any `T` passes unchanged.
pub fn upsample_nearest<T: Copy>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    scales: [Option<f64>; 2],
    out: &mut [T],
) -> Result<(), KernelError> {
    let Some(_) = upsample_extent(x.len(), out.len(), planes, [h, w], [oh, ow])? else {
        return Ok(());
    };
    let rows: Vec<usize> = (0..oh)
        .map(|o| nearest_source(o, h, oh, scales[0]))
        .collect();
    let cols: Vec<usize> = (0..ow)
        .map(|o| nearest_source(o, w, ow, scales[1]))
        .collect();
    for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (&y, line) in rows.iter().zip(dst.chunks_exact_mut(ow)) {
            let src = &plane[y * w..(y + 1) * w];
            for (d, &c) in line.iter_mut().zip(&cols) {
                *d = src[c];
            }
        }
    }
    Ok(())
}

/// The output size of a pooling along a dim of `input` elements (PyTorch's
/// `pooling_output_shape`): the windows that fit the padded input, and with `ceil`
/// (`ceil_mode`) one more for a partial window at the end, if it starts inside the input
/// or its left padding. `None` when no window fits or a size overflows.
pub fn pooled_dim(
    input: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    ceil: bool,
) -> Option<usize> {
    let padded = input.checked_add(p.checked_mul(2)?)?;
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let room = padded.checked_sub(span)?;
    let extra = if ceil { s.checked_sub(1)? } else { 0 };
    let out = room.checked_add(extra)?.checked_div(s)? + 1;
    match ceil && (out - 1).checked_mul(s)? >= input.checked_add(p)? {
        true => Some(out - 1),
        false => Some(out),
    }
}

/// A pooling's operands hold `planes` planes (`[length, per plane]` each) and its
/// window steps forward.
fn check_pool(
    win: &PoolWindow,
    x: [usize; 2],
    out: [usize; 2],
    planes: usize,
) -> Result<(), KernelError> {
    let fits = |[len, per]: [usize; 2]| per.checked_mul(planes).is_some_and(|n| len >= n);
    if !fits(x) || !fits(out) {
        return Err(KernelError::new(
            "a pooling operand is smaller than its shape",
        ));
    }
    if win.s.contains(&0) || win.d.contains(&0) {
        return Err(KernelError::new(
            "pooling stride and dilation must be positive",
        ));
    }
    Ok(())
}

/// Max pooling of `planes` row-major `[h, w]` planes into `[oh, ow]` planes.
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d<T: Float>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
    win: &PoolWindow,
    oh: usize,
    ow: usize,
    out: &mut [T],
) -> Result<(), KernelError> {
    pool_planes(x, planes, [h, w], win, [oh, ow], out, &|x, out| {
        crate::wide(PoolPlanes {
            x,
            h,
            w,
            win,
            out,
            oh,
            ow,
        });
    })
}

/// What an average pooling divides each window's sum by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgDivisor {
    /// Whether the window's size counts its padding (PyTorch's `count_include_pad`).
    pub count_include_pad: bool,
    /// A divisor for every window instead (`divisor_override`; never 0).
    pub divisor_override: Option<i64>,
}

/// Average pooling of `planes` row-major `[h, w]` planes into `[oh, ow]` planes
/// (`avg_pool2d`, no dilation): each window's sum, in f64, over its size as `divisor`
/// says, where the window is clipped to the padded input and then to the input.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d<T: Float>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
    win: &PoolWindow,
    divisor: AvgDivisor,
    oh: usize,
    ow: usize,
    out: &mut [T],
) -> Result<(), KernelError> {
    if divisor.divisor_override == Some(0) || win.d != [1, 1] {
        return Err(KernelError::new(
            "average pooling takes a nonzero divisor and no dilation",
        ));
    }
    pool_planes(x, planes, [h, w], win, [oh, ow], out, &|x, out| {
        for (plane, o) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
            avg_pool_plane(plane, [h, w], win, divisor, o, ow);
        }
    })
}

fn avg_pool_plane<T: Float>(
    x: &[T],
    [h, w]: [usize; 2],
    win: &PoolWindow,
    divisor: AvgDivisor,
    out: &mut [T],
    ow: usize,
) {
    let (ph, pw) = (win.p[0] as i64, win.p[1] as i64);
    for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
        let y0 = (oy * win.s[0]) as i64 - ph;
        let y1 = (y0 + win.k[0] as i64).min(h as i64 + ph);
        for (ox, o) in row.iter_mut().enumerate() {
            let x0 = (ox * win.s[1]) as i64 - pw;
            let x1 = (x0 + win.k[1] as i64).min(w as i64 + pw);
            let padded = (y1 - y0) * (x1 - x0);
            // Clamped both ways: a window past the input (a caller's `oh`, `ow` too
            // large, padding over half the window) sums nothing instead of panicking.
            let (ya, xa) = (
                y0.clamp(0, h as i64) as usize,
                x0.clamp(0, w as i64) as usize,
            );
            let (yb, xb) = (
                y1.clamp(0, h as i64) as usize,
                x1.clamp(0, w as i64) as usize,
            );
            let (yb, xb) = (yb.max(ya), xb.max(xa));
            let mut sum = 0.0f64;
            for iy in ya..yb {
                for v in &x[iy * w + xa..iy * w + xb] {
                    sum += v.as_f64();
                }
            }
            let div = match divisor.divisor_override {
                Some(d) => d,
                None if divisor.count_include_pad => padded,
                None => ((yb - ya) * (xb - xa)) as i64,
            };
            *o = T::of_f64(sum / div as f64);
        }
    }
}

/// Runs `run(planes of x, their outputs)` over the planes of a pooling, split over the
/// pool when the work is large enough, after checking the operands' lengths.
fn pool_planes<T: Float>(
    x: &[T],
    planes: usize,
    [h, w]: [usize; 2],
    win: &PoolWindow,
    [oh, ow]: [usize; 2],
    out: &mut [T],
    run: &(dyn Fn(&[T], &mut [T]) + Sync),
) -> Result<(), KernelError> {
    let (in_len, out_len) = (h * w, oh * ow);
    check_pool(win, [x.len(), in_len], [out.len(), out_len], planes)?;
    if out_len == 0 || planes == 0 {
        return Ok(());
    }
    let work = planes * out_len * win.k[0] * win.k[1];
    // Pooling follows a convolution whose samples were split over the pool: pooled on
    // one thread, half its input came from the other core's cache (LeNet's first
    // pooling took 40 µs at 2 threads against 19 at 1). Split alike, each core pools
    // what it wrote.
    let threads = if work >= PAR_MIN_POOL {
        num_threads().min(planes)
    } else {
        1
    };
    for_each_item_chunk(
        &mut out[..planes * out_len],
        planes,
        out_len,
        threads,
        &|first, part| {
            let n = part.len() / out_len;
            run(&x[first * in_len..(first + n) * in_len], part);
            Ok(())
        },
        || KernelError::new("a pooling worker thread failed"),
    )?;
    Ok(())
}

/// The input positions `start + j * d - p` (`j < k`) of a pooling window that lie in
/// `0..len`: the first and how many (they step by `d`).
fn window_inside(start: usize, k: usize, d: usize, p: usize, len: usize) -> (usize, usize) {
    // The first j with start + j·d ≥ p, and the count of those below len + p.
    let first = p.saturating_sub(start).div_ceil(d);
    let below = (len + p).saturating_sub(start).div_ceil(d);
    let count = below.min(k).saturating_sub(first);
    ((start + first * d).saturating_sub(p), count)
}

/// The flat position (`iy * w + ix`) in its `[h, w]` plane of the maximum of each
/// window of [`max_pool2d`] (the core IR's `max_pool2d_with_indices`' indices), as
/// ATen's CPU kernel picks it: the first window element inside the input to start
/// with, then any larger value, and a NaN wherever one is met. `out` holds
/// `planes * oh * ow` positions.
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_argmax<T: Float>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
    win: &PoolWindow,
    oh: usize,
    ow: usize,
    out: &mut [i64],
) -> Result<(), KernelError> {
    let (in_len, out_len) = (h * w, oh * ow);
    check_pool(win, [x.len(), in_len], [out.len(), out_len], planes)?;
    let rows: Vec<(usize, usize)> = (0..oh)
        .map(|oy| window_inside(oy * win.s[0], win.k[0], win.d[0], win.p[0], h))
        .collect();
    let cols: Vec<(usize, usize)> = (0..ow)
        .map(|ox| window_inside(ox * win.s[1], win.k[1], win.d[1], win.p[1], w))
        .collect();
    let whole = |r: &[(usize, usize)], k: usize| r.iter().all(|&(_, n)| n == k);
    if whole(&rows, win.k[0]) && whole(&cols, win.k[1]) {
        argmax_inside(x, planes, h, w, win, &rows, &cols, out);
        return Ok(());
    }
    for (plane, found) in x.chunks(in_len.max(1)).zip(out.chunks_mut(out_len.max(1))) {
        for (oy, &(y0, ny)) in rows.iter().enumerate() {
            for (ox, &(x0, nx)) in cols.iter().enumerate() {
                // The first element inside starts; a larger one or a NaN replaces it.
                let (mut best_at, mut best) = (usize::MAX, T::ZERO);
                for iy in (0..ny).map(|j| y0 + j * win.d[0]) {
                    for ix in (0..nx).map(|j| x0 + j * win.d[1]) {
                        let at = iy * w + ix;
                        if let Some(&v) = plane.get(at) {
                            if best_at == usize::MAX || v > best || v.is_nan() {
                                (best_at, best) = (at, v);
                            }
                        }
                    }
                }
                if let Some(slot) = found.get_mut(oy * ow + ox) {
                    *slot = if best_at == usize::MAX {
                        0
                    } else {
                        best_at as i64
                    };
                }
            }
        }
    }
    Ok(())
}

/// [`max_pool2d_argmax`] where every window lies inside its plane: each window walked
/// with selects instead of a branch per element (random data mispredicted half of them:
/// 1.6 ns an element).
#[allow(clippy::too_many_arguments)]
fn argmax_inside<T: Float>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
    win: &PoolWindow,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    out: &mut [i64],
) {
    let (oh, ow) = (rows.len(), cols.len());
    for p in 0..planes {
        let plane = x.get(p * h * w..(p + 1) * h * w).unwrap_or_default();
        for (oy, &(y0, _)) in rows.iter().enumerate() {
            let Some(found) = out.get_mut((p * oh + oy) * ow..(p * oh + oy + 1) * ow) else {
                return;
            };
            for (slot, &(x0, _)) in found.iter_mut().zip(cols) {
                let first = y0 * w + x0;
                let (mut at, mut best) = (first, plane.get(first).copied().unwrap_or(T::ZERO));
                for jy in 0..win.k[0] {
                    let row = first + jy * win.d[0] * w;
                    for jx in 0..win.k[1] {
                        let i = row + jx * win.d[1];
                        let v = plane.get(i).copied().unwrap_or(T::ZERO);
                        // `|`, not `||`, and selects: no branch to mispredict.
                        let take = (v > best) | v.is_nan();
                        best = if take { v } else { best };
                        at = if take { i } else { at };
                    }
                }
                *slot = at as i64;
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// A row of 4 shrunk to 2 by the antialiased triangle: each output reads 3 inputs,
    /// weighted 3:3:1 (the filter stretched over 2 source pixels, normalized), written
    /// out by hand; the unchanged height is copied; a row grown to 7 reads only its 2
    /// neighbours (the filter unstretched).
    #[test]
    fn antialiased_resampling_stretches_its_filter_when_shrinking() {
        let x = [1.0f64, 2.0, 3.0, 4.0];
        let mut out = [0.0; 2];
        let tri = AntialiasFilter::Triangle;
        upsample_antialiased(&x, 1, [1, 4], [1, 2], tri, false, [None, None], &mut out).unwrap();
        let want = [12.0 / 7.0, 23.0 / 7.0];
        assert!(
            out.iter().zip(want).all(|(o, w)| (o - w).abs() < 1e-15),
            "{out:?}"
        );
        let mut wide = [0.0; 7];
        upsample_antialiased(&x, 1, [1, 4], [1, 7], tri, false, [None, None], &mut wide).unwrap();
        let bilinear = linear_taps(4, 7, false, None);
        for (o, (i0, i1, w1)) in wide.iter().zip(bilinear) {
            let w = x[i0] * (1.0 - w1) + x[i1] * w1;
            assert!((o - w).abs() < 1e-12, "{wide:?}");
        }
        let mut small = [0.0; 1];
        let err = upsample_antialiased(&x, 2, [1, 4], [1, 1], tri, false, [None, None], &mut small);
        assert!(err.is_err());
    }

    use super::*;

    /// The definition: the largest element of each (padded, dilated) window, NaN if the
    /// window holds one.
    fn naive(x: &[f32], h: usize, w: usize, win: &PoolWindow, oh: usize, ow: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                let mut vals = Vec::new();
                for ki in 0..win.k[0] {
                    for kj in 0..win.k[1] {
                        let iy = (oy * win.s[0] + ki * win.d[0]) as isize - win.p[0] as isize;
                        let ix = (ox * win.s[1] + kj * win.d[1]) as isize - win.p[1] as isize;
                        if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                            vals.push(x[iy as usize * w + ix as usize]);
                        }
                    }
                }
                out.push(if vals.iter().any(|v| v.is_nan()) {
                    f32::NAN
                } else {
                    vals.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                });
            }
        }
        out
    }

    /// The 2×2 rows on AVX-512 give the scalar loop's bits — signed zeros (a tie keeps
    /// the first), NaN, rows of one, 15, 16, 17 and 33 outputs (the 16-lane blocks and
    /// their masked tails).
    /// ATen's choice of index, by its definition: the first window element inside the
    /// input, then any larger value or NaN.
    fn naive_argmax(
        x: &[f32],
        h: usize,
        w: usize,
        win: &PoolWindow,
        oh: usize,
        ow: usize,
    ) -> Vec<i64> {
        let mut out = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<(usize, f32)> = None;
                for ky in 0..win.k[0] {
                    for kx in 0..win.k[1] {
                        let iy = (oy * win.s[0] + ky * win.d[0]) as i64 - win.p[0] as i64;
                        let ix = (ox * win.s[1] + kx * win.d[1]) as i64 - win.p[1] as i64;
                        if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                            continue;
                        }
                        let at = iy as usize * w + ix as usize;
                        let v = x[at];
                        if best.is_none_or(|(_, b)| v > b || v.is_nan()) {
                            best = Some((at, v));
                        }
                    }
                }
                out.push(best.map_or(0, |(at, _)| at as i64));
            }
        }
        out
    }

    #[test]
    fn argmax_picks_atens_index_with_ties_nans_padding_and_dilation() {
        let (h, w) = (9, 11);
        // Few distinct values (ties), a NaN and a -0.0 among them.
        let mut x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 5) as f32 - 2.0).collect();
        x[23] = f32::NAN;
        x[40] = -0.0;
        x[41] = 0.0;
        let windows = [
            ([2, 2], [2, 2], [0, 0], [1, 1]),
            ([3, 3], [1, 1], [1, 1], [1, 1]),
            ([3, 2], [2, 3], [1, 0], [2, 1]),
            ([2, 3], [1, 2], [0, 1], [1, 2]),
        ];
        for (k, st, p, d) in windows {
            let win = PoolWindow { k, s: st, p, d };
            let size = |len: usize, i: usize| (len + 2 * p[i] - d[i] * (k[i] - 1) - 1) / st[i] + 1;
            let (oh, ow) = (size(h, 0), size(w, 1));
            let mut got = vec![-1i64; 2 * oh * ow];
            let both: Vec<f32> = x.iter().chain(&x).copied().collect();
            max_pool2d_argmax(&both, 2, h, w, &win, oh, ow, &mut got).unwrap();
            let want = naive_argmax(&x, h, w, &win, oh, ow);
            assert_eq!(got[..oh * ow], want[..], "{win:?}");
            assert_eq!(got[oh * ow..], want[..], "{win:?}");
        }
        let win = PoolWindow {
            k: [2, 2],
            s: [2, 2],
            p: [0, 0],
            d: [1, 1],
        };
        assert!(max_pool2d_argmax(&x, 2, h, w, &win, 4, 5, &mut [0; 40]).is_err());
    }

    #[test]
    fn two_by_two_rows_give_the_scalar_bits() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            for n in [1, 15, 16, 17, 33] {
                let val = |i: usize, salt: usize| match (i * 7 + salt) % 9 {
                    0 => 0.0,
                    1 => -0.0,
                    k => (k as f32 - 4.0) * 0.5,
                };
                let mut r0: Vec<f32> = (0..2 * n).map(|i| val(i, 1)).collect();
                r0[2 * n - 1] = f32::NAN;
                let r1: Vec<f32> = (0..2 * n).map(|i| val(i, 5)).collect();
                let mut got = vec![7f32; n];
                // SAFETY: AVX-512F is present; the rows hold `2 * n` floats.
                unsafe { pool_2x2_row_avx512(&r0, &r1, &mut got) };
                for (j, g) in got.iter().enumerate() {
                    let top = nan_max(r0[2 * j], r0[2 * j + 1]);
                    let want = nan_max(top, nan_max(r1[2 * j], r1[2 * j + 1]));
                    let same = g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan());
                    assert!(same, "{n} outputs, output {j}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn every_window_shape_matches_the_definition_with_nan() {
        let (planes, h, w) = (3, 9, 11);
        let mut x: Vec<f32> = (0..planes * h * w)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.25)
            .collect();
        x[5] = f32::NAN;
        x[4 * w + 4] = f32::NAN;
        x[h * w + 40] = f32::NAN;
        let windows = [
            ([2, 2], [2, 2], [0, 0], [1, 1]),
            ([3, 3], [1, 1], [0, 0], [1, 1]),
            ([3, 2], [2, 3], [0, 0], [1, 1]),
            ([3, 3], [2, 2], [1, 1], [1, 1]),
            ([2, 2], [1, 2], [0, 0], [2, 2]),
            // One row, windows side by side (1-D pooling over a height-1 plane), of
            // each width with a loop of its own and another.
            ([1, 2], [1, 2], [0, 0], [1, 1]),
            ([1, 3], [1, 3], [0, 0], [1, 1]),
            ([1, 4], [1, 4], [0, 0], [1, 1]),
            ([1, 5], [2, 5], [0, 0], [1, 1]),
            // Padded (read from a `-inf`-bordered copy): stride 1 (the shifted-row
            // column pass), dilated, the 2×2 path, a YOLO SPPF's 5×5.
            ([3, 3], [1, 1], [1, 1], [1, 1]),
            ([5, 5], [1, 1], [2, 2], [1, 1]),
            ([3, 3], [1, 2], [2, 1], [2, 1]),
            ([2, 2], [2, 2], [1, 1], [1, 1]),
            ([3, 2], [1, 1], [0, 1], [1, 3]),
        ];
        for ((k, s, p, d), ceil) in windows.into_iter().flat_map(|w| [(w, false), (w, true)]) {
            let win = PoolWindow { k, s, p, d };
            let floor = |n: usize, i: usize| (n + 2 * p[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
            let oh = pooled_dim(h, k[0], s[0], p[0], d[0], ceil).unwrap();
            let ow = pooled_dim(w, k[1], s[1], p[1], d[1], ceil).unwrap();
            if !ceil {
                assert_eq!((oh, ow), (floor(h, 0), floor(w, 1)));
            }
            let mut out = vec![0f32; planes * oh * ow];
            max_pool2d(&x, planes, h, w, &win, oh, ow, &mut out).unwrap();
            for pl in 0..planes {
                let want = naive(&x[pl * h * w..(pl + 1) * h * w], h, w, &win, oh, ow);
                let got = &out[pl * oh * ow..(pl + 1) * oh * ow];
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
                assert!(same, "{win:?} plane {pl}: {got:?} vs {want:?}");
            }
            assert!(out.iter().any(|v| v.is_nan()), "{win:?} lost the NaN");
        }
    }

    /// PyTorch's output sizes: `ceil_mode` adds a window that starts inside the input or
    /// its left padding, never one that starts in the right padding; no window, no size.
    #[test]
    fn pooled_sizes_are_pytorchs() {
        // (input, k, s, p, d) → floor, ceil, from `torch.nn.functional.max_pool2d`.
        let cases = [
            ((8, 3, 1, 1, 1), 8, 8),
            ((8, 3, 2, 1, 1), 4, 5),
            ((9, 2, 2, 0, 1), 4, 5),
            ((5, 2, 2, 1, 1), 3, 3),
            ((4, 3, 3, 1, 1), 2, 2),
            ((10, 3, 4, 0, 2), 2, 3),
        ];
        for ((n, k, s, p, d), floor, ceil) in cases {
            assert_eq!(
                pooled_dim(n, k, s, p, d, false),
                Some(floor),
                "{n} {k} {s} {p} {d}"
            );
            assert_eq!(
                pooled_dim(n, k, s, p, d, true),
                Some(ceil),
                "{n} {k} {s} {p} {d}"
            );
        }
        assert_eq!(pooled_dim(2, 5, 1, 1, 1, true), None);
        assert_eq!(pooled_dim(8, 2, 0, 0, 1, false), None);
        assert_eq!(pooled_dim(usize::MAX, 2, 1, 1, 1, false), None);
        // A plane of width 0 and its padding: windows of padding only, `-inf`.
        let win = PoolWindow {
            k: [2, 2],
            s: [1, 1],
            p: [1, 1],
            d: [1, 1],
        };
        let (oh, ow) = (
            pooled_dim(1, 2, 1, 1, 1, false),
            pooled_dim(0, 2, 1, 1, 1, false),
        );
        assert_eq!((oh, ow), (Some(2), Some(1)));
        let mut out = [0f32; 2];
        max_pool2d::<f32>(&[], 1, 1, 0, &win, 2, 1, &mut out).unwrap();
        assert_eq!(out, [f32::NEG_INFINITY; 2]);
    }

    /// PyTorch's definition of `avg_pool2d` (floor mode, pad <= k / 2): each window of
    /// the padded input, its elements inside the input summed, over `k * k` (padding
    /// counted), the count inside, or the override.
    fn naive_avg(
        x: &[f32],
        [h, w]: [usize; 2],
        k: usize,
        s: usize,
        p: usize,
        d: AvgDivisor,
    ) -> Vec<f32> {
        let out = |n: usize| (n + 2 * p - k) / s + 1;
        let mut res = Vec::new();
        for oy in 0..out(h) {
            for ox in 0..out(w) {
                let (mut sum, mut inside) = (0.0f64, 0i64);
                for ki in 0..k {
                    for kj in 0..k {
                        let (iy, ix) = (
                            (oy * s + ki) as isize - p as isize,
                            (ox * s + kj) as isize - p as isize,
                        );
                        if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                            sum += f64::from(x[iy as usize * w + ix as usize]);
                            inside += 1;
                        }
                    }
                }
                let div = d.divisor_override.unwrap_or(if d.count_include_pad {
                    (k * k) as i64
                } else {
                    inside
                });
                res.push((sum / div as f64) as f32);
            }
        }
        res
    }

    #[test]
    fn avg_pool2d_matches_the_definition() {
        let (h, w, planes) = (7, 6, 3);
        let x: Vec<f32> = (0..planes * h * w)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        for (k, s, p) in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 1), (4, 3, 2)] {
            for d in [
                AvgDivisor {
                    count_include_pad: true,
                    divisor_override: None,
                },
                AvgDivisor {
                    count_include_pad: false,
                    divisor_override: None,
                },
                AvgDivisor {
                    count_include_pad: false,
                    divisor_override: Some(3),
                },
            ] {
                let win = PoolWindow {
                    k: [k, k],
                    s: [s, s],
                    p: [p, p],
                    d: [1, 1],
                };
                let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
                let mut out = vec![0.0f32; planes * oh * ow];
                avg_pool2d(&x, planes, h, w, &win, d, oh, ow, &mut out).unwrap();
                let want: Vec<f32> = (0..planes)
                    .flat_map(|i| naive_avg(&x[i * h * w..(i + 1) * h * w], [h, w], k, s, p, d))
                    .collect();
                assert_eq!(out, want, "k {k} s {s} p {p} {d:?}");
            }
        }
        // A zero divisor and a dilated window are refused, not divided by.
        let win = PoolWindow {
            k: [2, 2],
            s: [2, 2],
            p: [0, 0],
            d: [1, 1],
        };
        let zero = AvgDivisor {
            count_include_pad: true,
            divisor_override: Some(0),
        };
        let mut out = vec![0.0f32; planes * 9];
        assert!(avg_pool2d(&x, planes, h, w, &win, zero, 3, 3, &mut out).is_err());
        let dilated = PoolWindow { d: [2, 2], ..win };
        let d = AvgDivisor {
            count_include_pad: true,
            divisor_override: None,
        };
        assert!(avg_pool2d(&x, planes, h, w, &dilated, d, 3, 3, &mut out).is_err());
    }
}
