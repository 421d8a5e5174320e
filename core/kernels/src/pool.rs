//! Max pooling over `[h, w]` planes, NaN propagating as in PyTorch.

use crate::gemm::Float;
use crate::threads::{for_each_item_chunk, num_threads, PAR_MIN_CONV};
use crate::KernelError;

/// A pooling window (2-D).
#[derive(Clone, Copy, Debug)]
pub struct PoolWindow {
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub p: [usize; 2],
    pub d: [usize; 2],
}

fn max_pool_plane<T: Float>(
    x: &[T],
    h: usize,
    w: usize,
    win: &PoolWindow,
    out: &mut [T],
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
                let mut best = T::NEG_INFINITY;
                let mut nan = false;
                for r in rows.chunks_exact(w) {
                    for &v in &r[ox * s1..ox * s1 + k1] {
                        nan |= v.is_nan();
                        best = if v > best { v } else { best };
                    }
                }
                *o = if nan { T::of_f64(f64::NAN) } else { best };
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
    let (in_len, out_len) = (h * w, oh * ow);
    let fits = |len: usize, per: usize| per.checked_mul(planes).is_some_and(|n| len >= n);
    if !fits(x.len(), in_len) || !fits(out.len(), out_len) {
        return Err(KernelError::new(
            "a pooling operand is smaller than its shape",
        ));
    }
    if win.s.contains(&0) || win.d.contains(&0) {
        return Err(KernelError::new(
            "pooling stride and dilation must be positive",
        ));
    }
    if out_len == 0 || planes == 0 {
        return Ok(());
    }
    let threads = num_threads().min(planes);
    let work = planes * out_len * win.k[0] * win.k[1];
    let run = |first: usize, out: &mut [T]| {
        for (i, o) in out.chunks_mut(out_len).enumerate() {
            let p = first + i;
            max_pool_plane(&x[p * in_len..(p + 1) * in_len], h, w, win, o, oh, ow);
        }
    };
    let threads = if work >= PAR_MIN_CONV { threads } else { 1 };
    for_each_item_chunk(
        &mut out[..planes * out_len],
        planes,
        out_len,
        threads,
        &|first, part| {
            run(first, part);
            Ok(())
        },
        || KernelError::new("a pooling worker thread failed"),
    )?;
    Ok(())
}
