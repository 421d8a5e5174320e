//! The compute kernels of compiled plans, on contiguous f32 slices: GEMM through
//! matrixmultiply, a GEMV path for few-row products (AVX2 + FMA when the CPU has them,
//! a portable 16-accumulator loop otherwise), and im2col convolutions. Every kernel
//! checks the lengths it is given and reports a mismatch as an error, never a panic.

use std::sync::OnceLock;

/// How many threads the runtime's own kernels use (matrixmultiply has its own pool,
/// sized by `MATMUL_NUM_THREADS`): `FERREX_NUM_THREADS`, or the available cores, at
/// most 4.
pub(crate) fn num_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("FERREX_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .min(4)
            })
    })
}

/// Whether this CPU runs the AVX2 + FMA kernels.
pub(crate) fn has_avx2_fma() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Work (multiply-adds) below which spawning threads costs more than it saves: a
/// scoped thread costs tens of microseconds to start.
pub(crate) const PAR_MIN_MACS: usize = 1 << 21;

/// The same for convolutions and pooling. Measured on the 2-core development machine
/// (shared, so the second core is often busy): LeNet's convolutions at batch 8 (0.9M
/// and 1.9M multiply-adds) ran slower on two threads than on one.
const PAR_MIN_CONV: usize = 1 << 22;

/// Splits `0..n` into at most `parts` contiguous ranges of nearly equal length.
pub(crate) fn split_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let base = n / parts;
    let extra = n % parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let len = base + usize::from(p < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

// ---------------------------------------------------------------------------------------
// GEMM

/// A strided matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Mat<'_> {
    /// Whether every element index lies inside `data`.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1).checked_mul(self.rs).and_then(|r| {
            (self.cols - 1)
                .checked_mul(self.cs)
                .and_then(|c| r.checked_add(c))
        });
        matches!(last, Some(l) if l < self.data.len())
    }
}

/// `c = alpha * a @ b + beta * c`, with `c` row-major `[a.rows, b.cols]`.
pub(crate) fn sgemm(alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32]) -> Result<(), String> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(format!(
            "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {}x{n})",
            b.rows
        ));
    }
    if !a.in_bounds() || !b.in_bounds() || c.len() < m * n {
        return Err("a matrix operand is smaller than its shape".into());
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return Ok(());
    }
    let stride = |s: usize| isize::try_from(s).map_err(|_| "a stride is too large".to_string());
    let (rsa, csa, rsb, csb, rsc) = (
        stride(a.rs)?,
        stride(a.cs)?,
        stride(b.rs)?,
        stride(b.cs)?,
        stride(n)?,
    );
    // SAFETY: `in_bounds` checked that every element `(i, j)` of `a` ([m, k]) and `b`
    // ([k, n]) at the given strides lies inside its slice, and `c` holds at least `m * n`
    // elements, addressed row-major (strides n, 1). `c` is a unique mutable borrow and
    // cannot alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            rsc,
            1,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GEMV: few rows times a prepacked `[n, k]` weight

/// Products with at most this many rows take the GEMV path: for such shapes
/// matrixmultiply's packing dominates (the DESIGN measured 4.7 GFLOP/s for 1×784·784×512).
pub(crate) const GEMV_MAX_ROWS: usize = 4;

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    // Pairwise, so the order of additions does not depend on the accumulator layout.
    let mut w = 16;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + tail
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Sum of the 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(v, 1);
        let lo = _mm256_castps256_ps128(v);
        let s = _mm_add_ps(hi, lo);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
        _mm_cvtss_f32(s)
    }

    /// `a · b` over `min(len)` elements, eight 8-lane FMA accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        while i + 64 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 64 <= n, so the 8 floats at i + 8j..i + 8j + 8 are inside
                // both slices (unaligned loads).
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * j)),
                        _mm256_loadu_ps(pb.add(i + 8 * j)),
                    )
                };
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 64;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n: the 8 floats at i.. are inside both slices.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let s01 = _mm256_add_ps(acc[0], acc[1]);
        let s23 = _mm256_add_ps(acc[2], acc[3]);
        let s45 = _mm256_add_ps(acc[4], acc[5]);
        let s67 = _mm256_add_ps(acc[6], acc[7]);
        let s = _mm256_add_ps(_mm256_add_ps(s01, s23), _mm256_add_ps(s45, s67));
        let mut total = hsum(s);
        while i < n {
            total += a[i] * b[i];
            i += 1;
        }
        total
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: `has_avx2_fma` checked at run time that the CPU has AVX2 and FMA.
        return unsafe { avx2::dot(a, b) };
    }
    dot_portable(a, b)
}

/// `out += alpha * a @ bt^T` with `out` `[m, n]`, `a` `[m, k]`, `bt` `[n, k]`, all
/// row-major. The weight rows are walked in blocks that stay in L1 while every input row
/// meets them, so the weight is read from memory once.
fn gemv_block(alpha: f32, a: &[f32], m: usize, k: usize, bt: &[f32], n: usize, out: &mut [f32]) {
    const BLOCK: usize = 8;
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + BLOCK).min(n);
        for i in 0..m {
            let row = &a[i * k..(i + 1) * k];
            for j in j0..j1 {
                out[i * n + j] += alpha * dot(row, &bt[j * k..(j + 1) * k]);
            }
        }
        j0 = j1;
    }
}

/// `c = alpha * a @ bt^T + c` for few rows (`c` already holds the bias or zeros):
/// `a` `[m, k]`, `bt` `[n, k]` (a prepacked weight), `c` `[m, n]`, all row-major. Large
/// products are split over threads by output column.
pub(crate) fn gemv(
    alpha: f32,
    a: &[f32],
    m: usize,
    k: usize,
    bt: &[f32],
    n: usize,
    c: &mut [f32],
) -> Result<(), String> {
    if a.len() < m * k || bt.len() < n * k || c.len() < m * n {
        return Err("a matrix operand is smaller than its shape".into());
    }
    let threads = num_threads();
    if threads > 1 && m * n * k >= PAR_MIN_MACS && n >= 2 * threads {
        // Each thread computes a block of columns into its own buffer; the blocks are
        // then added into `c` (columns are strided across rows, so `c` cannot be split).
        let ranges = split_ranges(n, threads);
        let parts: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|r| {
                    let r = r.clone();
                    s.spawn(move || {
                        let width = r.len();
                        let mut part = vec![0f32; m * width];
                        gemv_cols(alpha, a, m, k, bt, r, &mut part);
                        part
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (r, part) in ranges.iter().zip(parts) {
            if part.len() != m * r.len() {
                return Err("a GEMV worker thread failed".into());
            }
            for i in 0..m {
                for (j, v) in r.clone().zip(&part[i * r.len()..(i + 1) * r.len()]) {
                    c[i * n + j] += v;
                }
            }
        }
        return Ok(());
    }
    gemv_block(alpha, a, m, k, bt, n, c);
    Ok(())
}

/// Columns `cols` of `alpha * a @ bt^T` into `part` (`[m, cols.len()]`, zeroed).
fn gemv_cols(
    alpha: f32,
    a: &[f32],
    m: usize,
    k: usize,
    bt: &[f32],
    cols: std::ops::Range<usize>,
    part: &mut [f32],
) {
    let width = cols.len();
    for (jj, j) in cols.enumerate() {
        let w = &bt[j * k..(j + 1) * k];
        for i in 0..m {
            part[i * width + jj] += alpha * dot(&a[i * k..(i + 1) * k], w);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Convolution

/// A 2-D convolution's geometry (groups = 1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvGeom {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Output size of one spatial dim, `None` when the kernel does not fit.
    pub(crate) fn out_dim(
        input: usize,
        k: usize,
        stride: usize,
        pad: usize,
        dil: usize,
    ) -> Option<usize> {
        let padded = input + 2 * pad;
        let span = dil * (k.checked_sub(1)?) + 1;
        if padded < span || stride == 0 {
            return None;
        }
        Some((padded - span) / stride + 1)
    }

    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
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
}

/// Unrolls the receptive fields of one sample `x` (`[c, h, w]`) into `cols`
/// (`[c * kh * kw, oh * ow]`, row-major), zero outside the padded input.
fn im2col(x: &[f32], g: &ConvGeom, cols: &mut [f32]) {
    let (h, w, oh, ow) = (g.h, g.w, g.oh, g.ow);
    let l = oh * ow;
    let [sh, sw] = g.stride;
    let [ph, pw] = g.pad;
    let [dh, dw] = g.dilation;
    for c in 0..g.c_in {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst_row = &mut cols[row * l..(row + 1) * l];
                let off = (kj * dw) as isize - pw as isize;
                for oy in 0..oh {
                    let dst = &mut dst_row[oy * ow..(oy + 1) * ow];
                    let iy = (oy * sh + ki * dh) as isize - ph as isize;
                    if iy < 0 || iy >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    // The output columns whose input column `ox * sw + off` is inside.
                    let s = sw as isize;
                    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
                    let hi = if (w as isize) <= off {
                        0
                    } else {
                        ((w as isize - off + s - 1) / s).min(ow as isize)
                    };
                    let lo = lo.min(ow as isize) as usize;
                    let hi = (hi.max(0) as usize).max(lo);
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if hi > lo {
                        let start = (lo as isize * s + off) as usize;
                        if sw == 1 {
                            dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                        } else {
                            for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = src[start + k * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One sample: `out` (`[c_out, l]`) = `weight` (`[c_out, k]`) @ cols + bias.
fn conv_sample(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    cols: &mut Vec<f32>,
    out: &mut [f32],
) -> Result<(), String> {
    let (k, l) = (g.k(), g.l());
    fill_bias(bias, g.c_out, l, out);
    let cols_mat = if g.direct() {
        Mat {
            data: x,
            rows: k,
            cols: l,
            rs: l,
            cs: 1,
        }
    } else {
        cols.resize(k * l, 0.0);
        im2col(x, g, cols);
        Mat {
            data: cols,
            rows: k,
            cols: l,
            rs: l,
            cs: 1,
        }
    };
    let w = Mat {
        data: weight,
        rows: g.c_out,
        cols: k,
        rs: k,
        cs: 1,
    };
    sgemm(
        1.0,
        w,
        cols_mat,
        if bias.is_some() { 1.0 } else { 0.0 },
        out,
    )
}

/// `out` (`[n, c_out, oh, ow]`) = conv2d(`x` `[n, c_in, h, w]`, `weight` `[c_out, c_in,
/// kh, kw]`) + bias: im2col + one GEMM per sample, samples split over `threads`.
/// (One GEMM over the whole batch was measured slower: matrixmultiply then threads a
/// product with few rows, and the scatter back costs a pass.)
pub(crate) fn conv2d(
    x: &[f32],
    batch: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    out: &mut [f32],
) -> Result<(), String> {
    let work = batch * g.c_out * g.k() * g.l();
    let threads = if work >= PAR_MIN_CONV {
        num_threads()
    } else {
        1
    };
    conv2d_threads(x, batch, weight, bias, g, out, threads)
}

fn conv2d_threads(
    x: &[f32],
    batch: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    out: &mut [f32],
    threads: usize,
) -> Result<(), String> {
    let (k, l) = (g.k(), g.l());
    let x_len = g.c_in * g.h * g.w;
    let o_len = g.c_out * l;
    if x.len() < batch * x_len || weight.len() < g.c_out * k || out.len() < batch * o_len {
        return Err("a convolution operand is smaller than its shape".into());
    }
    if bias.is_some_and(|b| b.len() < g.c_out) {
        return Err("the convolution bias is smaller than the output channels".into());
    }
    if o_len == 0 || batch == 0 {
        return Ok(());
    }
    let threads = threads.clamp(1, batch);
    let per = batch.div_ceil(threads);
    let run = |first: usize, part: &mut [f32]| -> Result<(), String> {
        let mut cols = Vec::new();
        for (i, o) in part.chunks_mut(o_len).enumerate() {
            let n = first + i;
            conv_sample(
                &x[n * x_len..(n + 1) * x_len],
                weight,
                bias,
                g,
                &mut cols,
                o,
            )?;
        }
        Ok(())
    };
    if threads == 1 {
        return run(0, &mut out[..batch * o_len]);
    }
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = out[..batch * o_len]
            .chunks_mut(per * o_len)
            .enumerate()
            .map(|(t, part)| {
                let run = &run;
                s.spawn(move || run(t * per, part))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a convolution worker thread failed".into()))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Fills each of the `c_out` rows of length `l` with its bias (or zeros).
fn fill_bias(bias: Option<&[f32]>, c_out: usize, l: usize, out: &mut [f32]) {
    for (o, row) in out.chunks_mut(l.max(1)).enumerate().take(c_out) {
        row.fill(bias.and_then(|b| b.get(o)).copied().unwrap_or(0.0));
    }
}

// ---------------------------------------------------------------------------------------
// Max pooling

/// A pooling window (2-D).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolWindow {
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub p: [usize; 2],
    pub d: [usize; 2],
}

fn max_pool_plane(
    x: &[f32],
    h: usize,
    w: usize,
    win: &PoolWindow,
    out: &mut [f32],
    oh: usize,
    ow: usize,
) {
    if oh > 0
        && ow > 0
        && win.p == [0, 0]
        && win.d == [1, 1]
        && (oh - 1) * win.s[0] + win.k[0] <= h
        && (ow - 1) * win.s[1] + win.k[1] <= w
    {
        // No padding: every window is inside the plane.
        let (k0, k1, s0, s1) = (win.k[0], win.k[1], win.s[0], win.s[1]);
        for (oy, out_row) in out.chunks_mut(ow).enumerate().take(oh) {
            let rows = &x[oy * s0 * w..(oy * s0 + k0) * w];
            for (ox, o) in out_row.iter_mut().enumerate() {
                let mut best = f32::NEG_INFINITY;
                let mut nan = false;
                for r in rows.chunks_exact(w) {
                    for &v in &r[ox * s1..ox * s1 + k1] {
                        nan |= v.is_nan();
                        best = if v > best { v } else { best };
                    }
                }
                *o = if nan { f32::NAN } else { best };
            }
        }
        return;
    }
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best = f32::NEG_INFINITY;
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

/// Max pooling of `planes` row-major `[h, w]` planes into `[oh, ow]` planes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn max_pool2d(
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
    win: &PoolWindow,
    oh: usize,
    ow: usize,
    out: &mut [f32],
) -> Result<(), String> {
    let (in_len, out_len) = (h * w, oh * ow);
    if x.len() < planes * in_len || out.len() < planes * out_len {
        return Err("a pooling operand is smaller than its shape".into());
    }
    if out_len == 0 || planes == 0 {
        return Ok(());
    }
    let threads = num_threads().min(planes);
    let work = planes * out_len * win.k[0] * win.k[1];
    let run = |first: usize, out: &mut [f32]| {
        for (i, o) in out.chunks_mut(out_len).enumerate() {
            let p = first + i;
            max_pool_plane(&x[p * in_len..(p + 1) * in_len], h, w, win, o, oh, ow);
        }
    };
    if threads > 1 && work >= PAR_MIN_CONV {
        let per = planes.div_ceil(threads);
        std::thread::scope(|s| {
            for (t, part) in out[..planes * out_len]
                .chunks_mut(per * out_len)
                .enumerate()
            {
                let run = &run;
                s.spawn(move || run(t * per, part));
            }
        });
    } else {
        run(0, &mut out[..planes * out_len]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], m: usize, k: usize, bt: &[f32], n: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| a[i * k + p] as f64 * bt[j * k + p] as f64)
                    .sum::<f64>() as f32;
            }
        }
        c
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn gemv_matches_a_naive_product_for_odd_sizes() {
        for (m, k, n) in [(1, 1, 1), (1, 7, 3), (2, 65, 9), (4, 200, 17), (3, 784, 33)] {
            let a = data(m * k, 1);
            let bt = data(n * k, 2);
            let mut c = vec![0f32; m * n];
            gemv(1.0, &a, m, k, &bt, n, &mut c).unwrap();
            let want = naive(&a, m, k, &bt, n);
            for (x, y) in c.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{m}x{k}x{n}: {x} vs {y}"
                );
            }
            let (p, q) = (dot_portable(&a[..k], &bt[..k]), want[0]);
            assert!(
                (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                "portable {p} vs {q}"
            );
        }
    }

    #[test]
    fn large_gemv_splits_over_threads_and_agrees() {
        let (m, k, n) = (2, 1024, 1100);
        let a = data(m * k, 3);
        let bt = data(n * k, 4);
        let mut c = vec![1f32; m * n];
        gemv(2.0, &a, m, k, &bt, n, &mut c).unwrap();
        let want = naive(&a, m, k, &bt, n);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - (1.0 + 2.0 * y)).abs() <= 1e-3, "{x} vs {y}");
        }
    }

    #[test]
    fn sgemm_checks_shapes_instead_of_panicking() {
        let a = [1f32; 6];
        let b = [1f32; 6];
        let mut c = [0f32; 4];
        let am = Mat {
            data: &a,
            rows: 2,
            cols: 3,
            rs: 3,
            cs: 1,
        };
        let bm = Mat {
            data: &b,
            rows: 2,
            cols: 3,
            rs: 3,
            cs: 1,
        };
        assert!(sgemm(1.0, am, bm, 0.0, &mut c).is_err());
        let short = Mat {
            data: &b[..5],
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        assert!(sgemm(1.0, am, short, 0.0, &mut c).is_err());
        let bm = Mat {
            data: &b,
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        sgemm(1.0, am, bm, 0.0, &mut c).unwrap();
        assert_eq!(c, [3.0; 4]);
    }

    #[test]
    fn ranges_cover_everything_once() {
        for (n, p) in [(0, 2), (1, 4), (10, 3), (7, 7)] {
            let r = split_ranges(n, p);
            assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
