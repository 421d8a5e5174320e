//! Matrix products: [`gemm`] (`c = alpha * a @ b + beta * c`, matrixmultiply, any
//! strides) for f32 and f64, and [`gemv`] for products with few rows against a
//! row-major `[n, k]` weight (AVX2 + FMA when the CPU has them, a portable
//! 16-accumulator loop otherwise), which [`gemm`] takes by itself where the shapes fit.

use crate::threads::{for_each_item_chunk, has_avx2_fma, num_threads, PAR_MIN_MACS};
use crate::KernelError;

/// A float element type with a matrixmultiply GEMM.
pub trait Float:
    Copy
    + Default
    + PartialOrd
    + Send
    + Sync
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;

    fn of_f64(v: f64) -> Self;
    fn as_f64(self) -> f64;
    fn is_nan(self) -> bool;
    /// `exp(x)` at this type's precision, for the scalar code outside the vector loops
    /// (a softmax along an inner dim, an attention block's correction factor): f32's
    /// through [`crate::pointwise::exp_f32`] with split multiply-adds, f64's exactly.
    fn exp_at(x: f64) -> f64;

    /// The slice as f32, for the kernels with an f32-only fast path; `None` for other
    /// types.
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
    /// As [`Float::as_f32`], mutable.
    fn as_f32_mut(s: &mut [Self]) -> Option<&mut [f32]>;

    /// matrixmultiply's GEMM for this type.
    ///
    /// # Safety
    /// matrixmultiply's contract: every element `(i, j)` addressed through the pointers
    /// and strides of `a` (`[m, k]`), `b` (`[k, n]`) and `c` (`[m, n]`) is valid, and `c`
    /// does not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn raw_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );

    /// The own packed GEMM, for the types and shapes where it is faster than
    /// [`gemm_portable`]: `None` to fall back.
    fn packed_gemm(
        _alpha: Self,
        _a: Mat<Self>,
        _b: Mat<Self>,
        _beta: Self,
        _c: &mut [Self],
    ) -> Option<Result<(), KernelError>> {
        None
    }

    /// The few-row fast path, for the types that have one: `c += alpha * a @ bt^T`
    /// (all row-major). `None` where the type has none.
    fn gemv(
        _alpha: Self,
        _a: &[Self],
        _m: usize,
        _k: usize,
        _bt: &[Self],
        _n: usize,
        _c: &mut [Self],
    ) -> Option<Result<(), KernelError>> {
        None
    }
}

macro_rules! float {
    ($t:ty, $exp:expr, $gemm:path, $gemv:expr, $packed:expr, $as_f32:expr, $as_f32_mut:expr) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const NEG_INFINITY: $t = <$t>::NEG_INFINITY;

            fn of_f64(v: f64) -> $t {
                v as $t
            }

            fn as_f64(self) -> f64 {
                self as f64
            }

            fn as_f32(s: &[$t]) -> Option<&[f32]> {
                $as_f32(s)
            }

            fn as_f32_mut(s: &mut [$t]) -> Option<&mut [f32]> {
                $as_f32_mut(s)
            }

            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }

            #[inline(always)]
            fn exp_at(x: f64) -> f64 {
                $exp(x)
            }

            unsafe fn raw_gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: $t,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded: the caller upholds matrixmultiply's contract.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }

            fn packed_gemm(
                alpha: $t,
                a: Mat<$t>,
                b: Mat<$t>,
                beta: $t,
                c: &mut [$t],
            ) -> Option<Result<(), KernelError>> {
                $packed(alpha, a, b, beta, c)
            }

            fn gemv(
                alpha: $t,
                a: &[$t],
                m: usize,
                k: usize,
                bt: &[$t],
                n: usize,
                c: &mut [$t],
            ) -> Option<Result<(), KernelError>> {
                $gemv(alpha, a, m, k, bt, n, c)
            }
        }
    };
}

float!(
    f32,
    |x: f64| crate::pointwise::exp_f32::<crate::pointwise::Split>(x as f32) as f64,
    matrixmultiply::sgemm,
    |alpha, a, m, k, bt, n, c| Some(gemv(alpha, a, m, k, bt, n, c)),
    sgemm_by_shape,
    Some,
    Some
);
float!(
    f64,
    f64::exp,
    matrixmultiply::dgemm,
    |_, _, _, _, _, _, _| None,
    |_, _, _, _, _| None,
    |_| None,
    |_| None
);

/// Products with at least this many rows pack `b` and take the own f32 GEMM (fewer
/// rows: packing `b` costs as much as the product).
pub const PACKED_MIN_ROWS: usize = 8;

/// The own packed GEMM for f32 where it applies (see [`PACKED_MIN_ROWS`]).
fn sgemm_by_shape(
    alpha: f32,
    a: Mat<f32>,
    b: Mat<f32>,
    beta: f32,
    c: &mut [f32],
) -> Option<Result<(), KernelError>> {
    if a.rows < PACKED_MIN_ROWS || b.cols < 8 || a.cols < 8 || b.rows != a.cols {
        return None;
    }
    // Small operands are packed into this thread's buffer, kept between products (the
    // blocks of an attention pack their keys and values at every product); larger
    // ones into a buffer of their own, which is not kept.
    thread_local! {
        static SCRATCH: std::cell::RefCell<crate::sgemm::PackedB> =
            const { std::cell::RefCell::new(crate::sgemm::PackedB::empty()) };
    }
    let small = b.rows.saturating_mul(b.cols) <= SCRATCH_B_MAX;
    let mut product = |packed: &mut crate::sgemm::PackedB| {
        packed.pack_into(b)?;
        crate::sgemm::gemm_packed(alpha, a, packed, beta, c)
    };
    Some(SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut packed) if small => product(&mut packed),
        _ => product(&mut crate::sgemm::PackedB::empty()),
    }))
}

/// Whether [`gemm`] sums each output of products of `m1` and of `m2` rows (depth `k`,
/// `n` columns) in the same order, so that a row computes the same bits in either:
/// its path depends on the rows (the own packed GEMM from [`PACKED_MIN_ROWS`], whose
/// k blocks depend on them too; the GEMV up to [`GEMV_MAX_ROWS`]; matrixmultiply,
/// whose blocks do not, between them).
pub fn sums_alike(m1: usize, m2: usize, k: usize, n: usize) -> bool {
    let packed = |m: usize| m >= PACKED_MIN_ROWS && n >= 8 && k >= 8;
    let few = |m: usize| m <= GEMV_MAX_ROWS;
    packed(m1) == packed(m2)
        && few(m1) == few(m2)
        && (!packed(m1) || crate::sgemm::sums_alike(m1, m2, k))
}

/// The largest right operand (floats) [`sgemm_by_shape`] packs into its kept buffer:
/// 256 KiB a thread at most.
const SCRATCH_B_MAX: usize = 1 << 16;

/// A strided matrix operand: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major `[rows, cols]` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Mat<'a, T> {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// Whether every element index lies inside `data` (checked arithmetic).
    pub(crate) fn in_bounds(&self) -> bool {
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

    /// Whether this is the transpose of a row-major `[cols, rows]` matrix.
    fn is_transposed_row_major(&self) -> bool {
        self.rs == 1 && (self.cs == self.rows || self.cols <= 1)
    }

    fn is_row_major(&self) -> bool {
        self.cs == 1 && (self.rs == self.cols || self.rows <= 1)
    }
}

/// `c = alpha * a @ b + beta * c`, with `c` row-major `[a.rows, b.cols]`. Shapes and
/// slice lengths are checked here. f32 products large enough to repay packing `b` take
/// the own packed GEMM ([`crate::sgemm`]); the rest [`gemm_portable`].
pub fn gemm<T: Float>(
    alpha: T,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
) -> Result<(), KernelError> {
    if let Some(r) = T::packed_gemm(alpha, a, b, beta, c) {
        return r;
    }
    gemm_portable(alpha, a, b, beta, c)
}

/// The portable GEMM: a product with at most [`GEMV_MAX_ROWS`] rows whose `b` is a
/// transposed row-major weight (`linear`'s `x @ w.t()`) takes the GEMV path, the rest
/// matrixmultiply (single-threaded).
pub fn gemm_portable<T: Float>(
    alpha: T,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
) -> Result<(), KernelError> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(KernelError(format!(
            "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {}x{n})",
            b.rows
        )));
    }
    let out_len = m
        .checked_mul(n)
        .ok_or_else(|| KernelError::new("the product's size overflows"))?;
    if !a.in_bounds() || !b.in_bounds() || c.len() < out_len {
        return Err(KernelError::new(
            "a matrix operand is smaller than its shape",
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let gemv_fits = m <= GEMV_MAX_ROWS && a.is_row_major() && b.is_transposed_row_major();
    if k == 0 || gemv_fits {
        // These paths add into `c`: apply `beta` first (0 clears, as BLAS does).
        for v in &mut c[..out_len] {
            *v = if beta == T::ZERO { T::ZERO } else { *v * beta };
        }
        if k == 0 {
            return Ok(());
        }
        if let Some(r) = T::gemv(alpha, &a.data[..m * k], m, k, &b.data[..n * k], n, c) {
            return r;
        }
        return gemm_raw(alpha, a, b, T::ONE, c, n);
    }
    gemm_raw(alpha, a, b, beta, c, n)
}

/// matrixmultiply, after its own (constant-time) bounds checks, so its soundness does
/// not depend on any caller.
fn gemm_raw<T: Float>(
    alpha: T,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: &mut [T],
    n: usize,
) -> Result<(), KernelError> {
    let (m, k) = (a.rows, a.cols);
    let fits = m.checked_mul(n).is_some_and(|len| c.len() >= len);
    if b.rows != k || b.cols != n || !a.in_bounds() || !b.in_bounds() || !fits {
        return Err(KernelError::new(
            "a matrix operand is smaller than its shape",
        ));
    }
    let stride =
        |s: usize| isize::try_from(s).map_err(|_| KernelError::new("a stride is too large"));
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
        T::raw_gemm(
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
// GEMV: few rows times a row-major `[n, k]` weight

/// Products with at most this many rows take the GEMV path: for such shapes
/// matrixmultiply's packing dominates (the DESIGN measured 4.7 GFLOP/s for 1×784·784×512).
pub const GEMV_MAX_ROWS: usize = 4;

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
pub fn gemv(
    alpha: f32,
    a: &[f32],
    m: usize,
    k: usize,
    bt: &[f32],
    n: usize,
    c: &mut [f32],
) -> Result<(), KernelError> {
    let fits = |len: usize, r: usize, c: usize| r.checked_mul(c).is_some_and(|n| len >= n);
    if !fits(a.len(), m, k) || !fits(bt.len(), n, k) || !fits(c.len(), m, n) {
        return Err(KernelError::new(
            "a matrix operand is smaller than its shape",
        ));
    }
    let threads = num_threads();
    if threads > 1 && m * n * k >= PAR_MIN_MACS && n >= 2 * threads {
        // Blocks of columns on the pool, each into its part of `tmp` (`[n, m]`: column
        // `j` of the product is contiguous), then added into `c`.
        let mut tmp = crate::alloc::try_filled(n * m, 0f32)?;
        for_each_item_chunk(
            &mut tmp,
            n,
            m,
            threads,
            &|first, part: &mut [f32]| {
                for (jj, col) in part.chunks_exact_mut(m).enumerate() {
                    let j = first + jj;
                    let w = &bt[j * k..(j + 1) * k];
                    for (i, v) in col.iter_mut().enumerate() {
                        *v = dot(&a[i * k..(i + 1) * k], w);
                    }
                }
                Ok(())
            },
            || KernelError::new("a GEMV worker thread failed"),
        )?;
        for (j, col) in tmp.chunks_exact(m).enumerate() {
            for (i, v) in col.iter().enumerate() {
                c[i * n + j] += alpha * v;
            }
        }
        return Ok(());
    }
    gemv_block(alpha, a, m, k, bt, n, c);
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
    fn gemm_checks_shapes_instead_of_panicking() {
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
        assert!(gemm(1.0, am, bm, 0.0, &mut c).is_err());
        let short = Mat {
            data: &b[..5],
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        assert!(gemm(1.0, am, short, 0.0, &mut c).is_err());
        let bm = Mat {
            data: &b,
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        gemm(1.0, am, bm, 0.0, &mut c).unwrap();
        assert_eq!(c, [3.0; 4]);
    }

    #[test]
    fn gemm_takes_the_gemv_path_for_a_transposed_weight_and_agrees() {
        let (m, k, n) = (2, 300, 7);
        let a = data(m * k, 5);
        let bt = data(n * k, 6);
        let b = Mat {
            data: &bt,
            rows: k,
            cols: n,
            rs: 1,
            cs: k,
        };
        let mut c = vec![1f32; m * n];
        gemm(1.0, Mat::row_major(&a, m, k), b, 0.5, &mut c).unwrap();
        let want = naive(&a, m, k, &bt, n);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - (0.5 + y)).abs() <= 1e-4, "{x} vs {y}");
        }
    }

    #[test]
    fn f64_gemm_matches_a_naive_product() {
        let a: Vec<f64> = (0..6).map(f64::from).collect();
        let b: Vec<f64> = (0..6).map(|v| f64::from(v) * 0.5).collect();
        let mut c = vec![0f64; 4];
        gemm(
            1.0,
            Mat::row_major(&a, 2, 3),
            Mat::row_major(&b, 3, 2),
            0.0,
            &mut c,
        )
        .unwrap();
        assert_eq!(c, [5.0, 6.5, 14.0, 20.0]);
    }

    /// Where `sums_alike` says products of `m1` and `m2` rows sum alike, their common
    /// rows have the same bits (what a call split along its batch relies on), for
    /// weights read transposed (the GEMV's layout) and row-major.
    #[test]
    fn products_that_sum_alike_give_their_common_rows_the_same_bits() {
        let rows = [1, 2, 3, 4, 5, 7, 8, 9, 16, 32, 64];
        for (k, n) in [(7, 16), (300, 5), (300, 16), (700, 24)] {
            let a = data(64 * k, 11);
            let w = data(n * k, 12);
            let transposed = Mat {
                data: &w,
                rows: k,
                cols: n,
                rs: 1,
                cs: k,
            };
            for b in [transposed, Mat::row_major(&w, k, n)] {
                let product = |m: usize| {
                    let mut c = vec![0f32; m * n];
                    gemm(1.0, Mat::row_major(&a[..m * k], m, k), b, 0.0, &mut c).unwrap();
                    c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                let mut alike = 0;
                for &m1 in &rows {
                    for &m2 in rows.iter().filter(|&&m2| m2 < m1) {
                        if sums_alike(m1, m2, k, n) {
                            alike += 1;
                            assert_eq!(
                                product(m1)[..m2 * n],
                                product(m2)[..],
                                "{m1}, {m2}, {k}, {n}"
                            );
                        }
                    }
                }
                assert!(alike >= 10, "{alike} pairs for k {k}, n {n}");
            }
        }
        assert!(!sums_alike(8, 4, 400, 120));
        assert!(sums_alike(64, 32, 784, 512));
    }
}
