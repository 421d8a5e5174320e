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

/// One plane; `colmax` is scratch kept between planes.
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
    colmax: &mut Vec<T>,
) {
    if oh > 0
        && ow > 0
        && win.p == [0, 0]
        && win.d == [1, 1]
        && (oh - 1) * win.s[0] + win.k[0] <= h
        && (ow - 1) * win.s[1] + win.k[1] <= w
    {
        // No padding: every window is inside the plane. The max over the window's rows
        // first, for all the columns windows read (a pass the compiler vectorizes), then
        // over each window's columns.
        let (k0, k1, s0, s1) = (win.k[0], win.k[1], win.s[0], win.s[1]);
        if (k0, k1, s0, s1) == (2, 2, 2, 2) {
            pool_2x2_plane(x, w, out, oh, ow);
            return;
        }
        let span = (ow - 1) * s1 + k1;
        colmax.clear();
        colmax.resize(span, T::NEG_INFINITY);
        for (oy, out_row) in out.chunks_mut(ow).enumerate().take(oh) {
            if k0 == 1 && k1 == s1 {
                // One input row, windows side by side (a 1-D pooling over a height-1
                // plane): straight from the row.
                side_by_side(&x[oy * s0 * w..][..span], k1, &mut out_row[..ow]);
                continue;
            }
            copy_short(colmax, &x[oy * s0 * w..][..span]);
            for ki in 1..k0 {
                let row = &x[(oy * s0 + ki) * w..][..span];
                for (m, &v) in colmax.iter_mut().zip(row) {
                    *m = nan_max(*m, v);
                }
            }
            if k1 == s1 {
                side_by_side(&colmax[..k1 * ow], k1, &mut out_row[..ow]);
                continue;
            }
            for (ox, o) in out_row.iter_mut().enumerate() {
                let window = &colmax[ox * s1..ox * s1 + k1];
                *o = window[1..].iter().fold(window[0], |m, &v| nan_max(m, v));
            }
        }
        return;
    }
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
        let mut colmax = Vec::new();
        for (i, o) in out.chunks_mut(oh * ow).enumerate() {
            let plane = &x[i * h * w..(i + 1) * h * w];
            max_pool_plane(plane, h, w, win, o, oh, ow, &mut colmax);
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
        ];
        for (k, s, p, d) in windows {
            let win = PoolWindow { k, s, p, d };
            let oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
            let ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
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
