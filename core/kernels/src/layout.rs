//! Layout changes on plain slices: [`strided_copy`] (any strided view — reshape, expand,
//! select, slice — made contiguous), [`permute`] (transposes and permutes as one strided
//! copy), [`concat`] (`cat`, `stack`), [`gather_rows`] (`embedding`), [`gather_along`]
//! (`index_select`, `index.Tensor`), [`roll`] and [`pad_constant`], used by the
//! compiled runtime's steps and the eager ops alike.

use crate::KernelError;

/// `dst.copy_from_slice(src)` for the short runs of unrolling and pooling (a
/// convolution's output row, a pooling span): up to 32 elements as two overlapping
/// fixed-size moves, straight-line code, instead of a libc call per run — which cost
/// 8–12% of LeNet. (A loop of fixed moves is turned back into that call by the
/// compiler.) Longer runs call `copy_from_slice`. Panics like it when the lengths
/// differ (callers slice both alike).
#[inline]
pub fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    assert_eq!(n, src.len(), "copy_short: lengths differ");
    match n {
        33.. => dst.copy_from_slice(src),
        16..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
        8..=15 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        _ => {
            if n > 0 {
                dst[0] = src[0];
                dst[n - 1] = src[n - 1];
            }
            if n > 2 {
                dst[1] = src[1];
            }
        }
    }
}

/// Writes the permutation `dims` of the contiguous `x` of `shape` into `out`
/// (contiguous, of shape `shape[dims[0]], shape[dims[1]], …`). `dims` must be a
/// permutation of `0..shape.len()`.
///
/// ```
/// // A [2, 3] matrix transposed.
/// let x = [1, 2, 3, 4, 5, 6];
/// let mut out = [0; 6];
/// ferrex_kernels::layout::permute(&x, &[2, 3], &[1, 0], &mut out).unwrap();
/// assert_eq!(out, [1, 4, 2, 5, 3, 6]);
/// ```
pub fn permute<T: Copy>(
    x: &[T],
    shape: &[usize],
    dims: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    let rank = shape.len();
    let mut seen = vec![false; rank];
    for &d in dims {
        match seen.get_mut(d) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(KernelError::new(format!(
                    "{dims:?} is not a permutation of {rank} dims"
                )))
            }
        }
    }
    if dims.len() != rank {
        return Err(KernelError::new(format!(
            "{dims:?} is not a permutation of {rank} dims"
        )));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    if x.len() < numel || out.len() < numel {
        return Err(KernelError::new(
            "a permute operand is smaller than its shape",
        ));
    }
    if numel == 0 {
        return Ok(());
    }
    // Contiguous strides of `x`, then the stride of each output dim.
    let mut stride = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        stride[i] = stride[i + 1] * shape[i + 1];
    }
    let osize: Vec<usize> = dims.iter().map(|&d| shape[d]).collect();
    let ostride: Vec<usize> = dims.iter().map(|&d| stride[d]).collect();
    strided_copy(x, 0, &osize, &ostride, out)
}

/// Writes the strided view of `x` (element `idx` at `offset + Σ idx[d] · strides[d]`,
/// of `sizes`) contiguously into `out`: every view the runtime plans — a reshape, an
/// expand (stride 0), a select, a slice, a permute — is one such copy.
///
/// ```
/// // Column 1 of a [2, 3] matrix, expanded to [2, 2].
/// let x = [1, 2, 3, 4, 5, 6];
/// let mut out = [0; 4];
/// ferrex_kernels::layout::strided_copy(&x, 1, &[2, 2], &[3, 0], &mut out).unwrap();
/// assert_eq!(out, [2, 2, 5, 5]);
/// ```
pub fn strided_copy<T: Copy>(
    x: &[T],
    offset: usize,
    sizes: &[usize],
    strides: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    let rank = sizes.len();
    let numel = sizes
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    if strides.len() != rank || out.len() < numel {
        return Err(KernelError::new(
            "a strided copy's output is smaller than its shape",
        ));
    }
    if numel == 0 {
        return Ok(());
    }
    let last = sizes.iter().zip(strides).try_fold(offset, |a, (&n, &st)| {
        (n - 1).checked_mul(st).and_then(|v| v.checked_add(a))
    });
    if !matches!(last, Some(l) if l < x.len()) {
        return Err(KernelError::new("a strided view reads past its source"));
    }
    let (inner, inner_stride) = match rank {
        0 => (1, 1),
        _ => (sizes[rank - 1], strides[rank - 1]),
    };
    if inner_stride != 1 && inner > 1 {
        // A transposed view: copy blocks of (the source's contiguous dim) x (the last dim).
        if let Some(p) = (0..rank - 1)
            .rev()
            .find(|&d| strides[d] == 1 && sizes[d] > 1)
        {
            transpose_blocks(x, offset, sizes, strides, p, out);
            return Ok(());
        }
    }
    let outer = rank.saturating_sub(1);
    let mut idx = vec![0usize; outer];
    let mut base = offset;
    for row in out[..numel].chunks_exact_mut(inner) {
        // Every index is <= `last`, checked above: `base` walks the outer dims in order.
        if inner_stride == 1 {
            row.copy_from_slice(&x[base..base + inner]);
        } else {
            for (j, o) in row.iter_mut().enumerate() {
                *o = x[base + j * inner_stride];
            }
        }
        odometer_step(&mut idx, &mut base, &sizes[..outer], &strides[..outer]);
    }
    Ok(())
}

/// Advances the row-major index `at` over `sizes` by one (the last dim fastest),
/// moving `offset` by `strides` along: the walk of a strided view, one element (or one
/// row of the dims after `at`'s) at a time.
#[inline]
fn odometer_step(at: &mut [usize], offset: &mut usize, sizes: &[usize], strides: &[usize]) {
    for d in (0..at.len()).rev() {
        at[d] += 1;
        *offset += strides[d];
        if at[d] < sizes[d] {
            return;
        }
        *offset -= strides[d] * sizes[d];
        at[d] = 0;
    }
}

/// [`strided_copy`] of a view whose dim `p` (not the last) has stride 1: for every index
/// of the other outer dims, the `[sizes[p], inner]` plane is copied in square blocks, so
/// both the reads (contiguous along `p`) and the writes (contiguous along the last dim)
/// stay within a few cache lines. The caller checked every read index.
fn transpose_blocks<T: Copy>(
    x: &[T],
    offset: usize,
    sizes: &[usize],
    strides: &[usize],
    p: usize,
    out: &mut [T],
) {
    const B: usize = 16;
    let rank = sizes.len();
    let (inner, inner_stride) = (sizes[rank - 1], strides[rank - 1]);
    // Elements of `out` between consecutive indices of each dim (row-major).
    let mut out_strides = vec![1usize; rank];
    for d in (0..rank - 1).rev() {
        out_strides[d] = out_strides[d + 1] * sizes[d + 1];
    }
    let others: Vec<usize> = (0..rank - 1).filter(|&d| d != p).collect();
    let mut idx = vec![0usize; others.len()];
    let (mut src, mut dst) = (offset, 0usize);
    // Whole 16×16 blocks of 4-byte values by lane shuffles ([`shuffle_block`]).
    #[cfg(target_arch = "x86_64")]
    let shuffled = std::mem::size_of::<T>() == 4 && crate::threads::has_avx512f();
    loop {
        for i0 in (0..sizes[p]).step_by(B) {
            let i1 = (i0 + B).min(sizes[p]);
            for j0 in (0..inner).step_by(B) {
                let j1 = (j0 + B).min(inner);
                #[cfg(target_arch = "x86_64")]
                if shuffled && i1 - i0 == B && j1 - j0 == B {
                    let from = src + i0 + j0 * inner_stride;
                    let to = dst + i0 * out_strides[p] + j0;
                    if shuffle_block(x, from, inner_stride, out, to, out_strides[p]) {
                        continue;
                    }
                }
                for i in i0..i1 {
                    let o = dst + i * out_strides[p];
                    let row = &mut out[o + j0..o + j1];
                    for (j, v) in (j0..j1).zip(row.iter_mut()) {
                        let at = src + i + j * inner_stride;
                        debug_assert!(at < x.len());
                        // SAFETY: `strided_copy` checked that the view's last index, the
                        // largest it reads, is within `x`; `at` is an index of the view.
                        *v = unsafe { *x.get_unchecked(at) };
                    }
                }
            }
        }
        // Odometer over the other outer dims (last fastest).
        let mut carried = true;
        for (k, &d) in others.iter().enumerate().rev() {
            idx[k] += 1;
            src += strides[d];
            dst += out_strides[d];
            if idx[k] < sizes[d] {
                carried = false;
                break;
            }
            src -= strides[d] * sizes[d];
            dst -= out_strides[d] * sizes[d];
            idx[k] = 0;
        }
        if carried {
            return;
        }
    }
}

/// The 16×16 block of 4-byte values at `x[from..]` (16 rows `lda` apart, read along
/// them) transposed into `out[to..]` (16 rows `ldo` apart), by the GEMM packing's
/// AVX-512 lane shuffles (element by element, an attention block's head transposes took
/// 2 µs each and a `[8, 32, 64]` one 7 µs); `false`, with nothing written, when the
/// block does not lie inside both slices. The caller detected AVX-512F.
#[cfg(target_arch = "x86_64")]
fn shuffle_block<T: Copy>(
    x: &[T],
    from: usize,
    lda: usize,
    out: &mut [T],
    to: usize,
    ldo: usize,
) -> bool {
    const B: usize = 16;
    let inside = |at: usize, ld: usize, len: usize| {
        ld.checked_mul(B - 1)
            .and_then(|v| v.checked_add(at + B))
            .is_some_and(|end| end <= len)
    };
    if std::mem::size_of::<T>() != 4 || !inside(from, lda, x.len()) || !inside(to, ldo, out.len()) {
        return false;
    }
    // SAFETY: AVX-512F was detected (caller); `T` is 4 bytes and shuffles move its bits
    // unchanged; the 16 source rows (16 values each, `lda` apart) end inside `x` and the
    // 16 output rows (`ldo` apart) inside `out`, both checked just above.
    unsafe {
        crate::sgemm::avx512::transpose_rows::<B>(
            x.as_ptr().add(from).cast::<f32>(),
            lda,
            out.as_mut_ptr().add(to).cast::<f32>(),
            ldo,
        );
    }
    true
}

/// Rows `ids` of the row-major `[rows, width]` table, one after another into `out`
/// (`embedding`): an id outside `0..rows` is an error.
pub fn gather_rows<T: Copy>(
    table: &[T],
    [rows, width]: [usize; 2],
    ids: &[i64],
    out: &mut [T],
) -> Result<(), KernelError> {
    let table = EmbeddingTable::new(table, [rows, width])?;
    if ids.len().checked_mul(width).is_none_or(|n| out.len() < n) {
        return Err(KernelError::new(TOO_SMALL));
    }
    if width == 0 {
        return Ok(());
    }
    for (dst, &id) in out.chunks_exact_mut(width).zip(ids) {
        dst.copy_from_slice(table.row(id)?);
    }
    Ok(())
}

/// [`gather_rows`] into a new buffer (the eager `embedding`): the rows are appended, with
/// no fill first.
pub fn gather_rows_new<T: Copy>(
    table: &[T],
    [rows, width]: [usize; 2],
    ids: &[i64],
) -> Result<Vec<T>, KernelError> {
    let table = EmbeddingTable::new(table, [rows, width])?;
    let len = ids
        .len()
        .checked_mul(width)
        .ok_or(crate::AllocError::Overflow)?;
    let mut out = crate::alloc::try_with_capacity(len)?;
    for &id in ids {
        out.extend_from_slice(table.row(id)?);
    }
    Ok(out)
}

const TOO_SMALL: &str = "an embedding operand is smaller than its shape";

/// An embedding's weight, checked to hold its `[rows, width]`.
struct EmbeddingTable<'a, T> {
    table: &'a [T],
    rows: usize,
    width: usize,
}

impl<'a, T> EmbeddingTable<'a, T> {
    fn new(table: &'a [T], [rows, width]: [usize; 2]) -> Result<Self, KernelError> {
        match rows.checked_mul(width) {
            Some(n) if table.len() >= n => Ok(EmbeddingTable { table, rows, width }),
            _ => Err(KernelError::new(TOO_SMALL)),
        }
    }

    /// Row `id`, or the error of an id outside `0..rows`.
    fn row(&self, id: i64) -> Result<&'a [T], KernelError> {
        let start = (usize::try_from(id).ok())
            .filter(|&r| r < self.rows)
            .map(|r| r * self.width);
        start
            .and_then(|at| self.table.get(at..at + self.width))
            .ok_or_else(|| {
                KernelError::new(format!(
                    "embedding: index {id} is out of range in self (weight has {} rows)",
                    self.rows
                ))
            })
    }
}

/// The shape index lists of `shapes` broadcast to, as `index.Tensor` broadcasts its
/// index tensors (`x[:, rows[:, None], cols]`, an `im2col`'s, a bicubic resampling's):
/// the index dims of a [`gather_along`]'s result. An error when they do not broadcast.
///
/// ```
/// let shape = ferrex_kernels::layout::broadcast_index_shape(&[&[2, 1], &[3]]).unwrap();
/// assert_eq!(shape, [2, 3]);
/// ```
pub fn broadcast_index_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, KernelError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut to = vec![1usize; rank];
    for shape in shapes {
        for (t, &n) in to[rank - shape.len()..].iter_mut().zip(*shape) {
            match (*t, n) {
                (a, b) if a == b || b == 1 => {}
                (1, b) => *t = b,
                _ => {
                    return Err(KernelError::new(
                        "shape mismatch: indexing tensors could not be broadcast together",
                    ))
                }
            }
        }
    }
    Ok(to)
}

/// Calls `f(j, entry)` for every position `j` (row-major) of the broadcast shape `to`
/// with the entry of `list` (of shape `shape`, which broadcasts to `to`) read there:
/// the list's own entries in order when it has `to`'s shape, else by its strides, 0
/// along the dims it is broadcast over.
fn for_each_broadcast(
    list: &[i64],
    shape: &[usize],
    to: &[usize],
    mut f: impl FnMut(usize, i64) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    let numel = |s: &[usize]| s.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    let short = || KernelError::new("an index list is shorter than its shape");
    let list = list
        .get(..numel(shape).ok_or_else(short)?)
        .ok_or_else(short)?;
    if shape == to {
        return (list.iter().enumerate()).try_for_each(|(j, &id)| f(j, id));
    }
    let (rank, total) = (to.len(), numel(to).ok_or_else(short)?);
    // The list's step along every dim of `to`: 0 where it is broadcast (its size 1, or
    // a leading dim it lacks). `broadcast_index_shape` made `to` from the shapes, so a
    // dim of size other than 1 is `to`'s.
    let mut steps = vec![0usize; rank];
    let mut step = 1usize;
    for (k, &n) in shape.iter().enumerate().rev() {
        if n != 1 {
            steps[rank - shape.len() + k] = step;
        }
        step = step.saturating_mul(n);
    }
    let (mut at, mut offset) = (vec![0usize; rank], 0usize);
    for j in 0..total {
        f(j, *list.get(offset).ok_or_else(short)?)?;
        odometer_step(&mut at, &mut offset, to, &steps);
    }
    Ok(())
}

/// Entries of the contiguous `x`, read as `[outer, dims…, inner]`, picked along its
/// indexed dims `dims` by `ids` (one index list per dim, each with its shape; the
/// shapes broadcast together, [`broadcast_index_shape`]), into `out` as `[outer,
/// index shape, inner]`: `out[o, j, :] = x[o, ids[0][j], ids[1][j], …, :]` —
/// `index_select` (one dim), advanced indexing by adjacent index tensors
/// (`index.Tensor`, `x[:, i, j]`, `x[:, rows[:, None], cols]`), a per-size index (a
/// reflection pad's, a roll's). The broadcast lists are read in place, never
/// written out. With `negative`, an index in `-size..0` counts from the end (as
/// `index.Tensor`'s do); any other index outside its dim is an error.
///
/// ```
/// // [[1, 2, 3], [4, 5, 6]] indexed along dim 1 by [2, 0, -1] (counted from the end).
/// let mut out = [0; 6];
/// let ids: &[i64] = &[2, 0, -1];
/// ferrex_kernels::layout::gather_along(&[1, 2, 3, 4, 5, 6], [2, 1], &[3], &[(ids, &[3])], true, &mut out)
///     .unwrap();
/// assert_eq!(out, [3, 1, 3, 6, 4, 6]);
///
/// // x[rows[:, None], cols] of a 3×3 matrix: rows [0, 2] by columns [1, 2].
/// let x = [0, 1, 2, 3, 4, 5, 6, 7, 8];
/// let (rows, cols): (&[i64], &[i64]) = (&[0, 2], &[1, 2]);
/// let mut out = [0; 4];
/// ferrex_kernels::layout::gather_along(&x, [1, 1], &[3, 3], &[(rows, &[2, 1]), (cols, &[2])], false, &mut out)
///     .unwrap();
/// assert_eq!(out, [1, 2, 7, 8]);
/// ```
pub fn gather_along<T: Copy>(
    x: &[T],
    [outer, inner]: [usize; 2],
    dims: &[usize],
    ids: &[(&[i64], &[usize])],
    negative: bool,
    out: &mut [T],
) -> Result<(), KernelError> {
    if dims.len() != ids.len() || dims.is_empty() {
        return Err(KernelError::new(
            "a gather takes one index list per indexed dim",
        ));
    }
    let overflow = || KernelError::new("the gather's size overflows");
    let shapes: Vec<&[usize]> = ids.iter().map(|&(_, s)| s).collect();
    let to = broadcast_index_shape(&shapes)?;
    let n = to.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    let n = n.ok_or_else(overflow)?;
    let len = dims
        .iter()
        .try_fold(1usize, |p, &d| p.checked_mul(d))
        .ok_or_else(overflow)?;
    let size = |rows: usize| {
        outer
            .checked_mul(rows)
            .and_then(|m| m.checked_mul(inner))
            .ok_or_else(overflow)
    };
    if x.len() < size(len)? || out.len() != size(n)? {
        return Err(KernelError::new(TOO_SMALL));
    }
    // An empty result reads nothing (as the eager ops make one without their kernel).
    if out.is_empty() {
        return Ok(());
    }
    // The flat position of each entry among the indexed dims' `len`, checked once.
    let mut flat = crate::alloc::try_filled(n, 0usize)?;
    let mut stride = len;
    for (&d, &(list, shape)) in dims.iter().zip(ids) {
        stride /= d.max(1);
        for_each_broadcast(list, shape, &to, |j, id| {
            let wrapped = if negative && id < 0 {
                id.checked_add(d as i64)
            } else {
                Some(id)
            };
            let at = (wrapped.and_then(|i| usize::try_from(i).ok()))
                .filter(|&i| i < d)
                .ok_or_else(|| {
                    KernelError::new(format!(
                        "index {id} is out of bounds for dimension with size {d}"
                    ))
                })?;
            flat[j] += at * stride;
            Ok(())
        })?;
    }
    // Per outer block: its `len` rows of `inner` read at the flat positions. Entries
    // one at a time (`inner` 1: a resampling's gathers of single pixels) are a loop of
    // their own, without a copy call per entry.
    let blocks = out
        .chunks_exact_mut(n * inner)
        .zip(x.chunks_exact(len * inner));
    for (dst, src) in blocks {
        if inner == 1 {
            for (d, &f) in dst.iter_mut().zip(&flat) {
                *d = src[f];
            }
            continue;
        }
        for (row, &f) in dst.chunks_exact_mut(inner).zip(&flat) {
            copy_short(row, &src[f * inner..][..inner]);
        }
    }
    Ok(())
}

/// The contiguous `x` of `shape` rolled by each `(shift, dim)` of `pairs` in turn:
/// `out[.., i, ..] = x[.., (i - shift) mod size, ..]` along the dim (`roll`; a roll of
/// the flattened tensor is one of shape `[numel]` along dim 0). Each run of the last
/// rolled dim is two block copies.
///
/// ```
/// // [[1, 2, 3], [4, 5, 6]] rolled by 1 along dim 1 and by -1 along dim 0.
/// let mut out = [0; 6];
/// ferrex_kernels::layout::roll(&[1, 2, 3, 4, 5, 6], &[2, 3], &[(1, 1), (-1, 0)], &mut out)
///     .unwrap();
/// assert_eq!(out, [6, 4, 5, 3, 1, 2]);
/// ```
pub fn roll<T: Copy>(
    x: &[T],
    shape: &[usize],
    pairs: &[(i64, usize)],
    out: &mut [T],
) -> Result<(), KernelError> {
    let numel = (shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d)))
        .ok_or_else(|| KernelError::new("the roll's size overflows"))?;
    if pairs.iter().any(|&(_, d)| d >= shape.len()) || x.len() < numel || out.len() != numel {
        return Err(KernelError::new(
            "a roll's operands do not hold its shape, or it rolls a dim the shape lacks",
        ));
    }
    if numel == 0 {
        return Ok(());
    }
    // Every size is at least 1 here: each dim's shift in `0..size` (a dim rolled twice
    // by the sum of its shifts).
    let mut shift = vec![0usize; shape.len()];
    for &(s, d) in pairs {
        let n = shape[d];
        shift[d] = (shift[d] + s.rem_euclid(n as i64) as usize) % n;
    }
    let Some(last) = shift.iter().rposition(|&s| s != 0) else {
        out.copy_from_slice(&x[..numel]);
        return Ok(());
    };
    let (n, s) = (shape[last], shift[last]);
    let run = n * shape[last + 1..].iter().product::<usize>();
    let split = s * (run / n);
    // Strides of the dims before the last rolled one, in elements.
    let mut strides = vec![run; last];
    for d in (0..last.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let mut at = vec![0usize; last];
    for dst in out.chunks_exact_mut(run) {
        let src: usize = (0..last)
            .map(|d| (at[d] + shape[d] - shift[d]) % shape[d] * strides[d])
            .sum();
        let block = &x[src..src + run];
        dst[..split].copy_from_slice(&block[run - split..]);
        dst[split..].copy_from_slice(&block[..run - split]);
        for d in (0..last).rev() {
            at[d] += 1;
            if at[d] < shape[d] {
                break;
            }
            at[d] = 0;
        }
    }
    Ok(())
}

/// `pad`'s `(before, after)` pairs, given from the last dim backwards (as
/// `constant_pad_nd` takes them), as one pair per dim of a tensor of `rank` dims; `None`
/// for more pairs than dims, or an odd count.
pub fn dim_pads(pad: &[i64], rank: usize) -> Option<Vec<(i64, i64)>> {
    if !pad.len().is_multiple_of(2) {
        return None;
    }
    let mut pads = vec![(0i64, 0i64); rank];
    for (i, pair) in pad.chunks_exact(2).enumerate() {
        pads[rank.checked_sub(i + 1)?] = (pair[0], pair[1]);
    }
    Some(pads)
}

/// The contiguous `x` of `shape` padded along each dim `d` by `pads[d] = (before,
/// after)` entries of `value` (a negative pad crops), into `out` of the padded shape
/// (`constant_pad_nd`). The kept block is copied one run of its last dim at a time.
///
/// ```
/// // [[1, 2], [3, 4]] padded by one 0 before each row, the last row cropped.
/// let mut out = [9; 3];
/// ferrex_kernels::layout::pad_constant(&[1, 2, 3, 4], &[2, 2], &[(0, -1), (1, 0)], 0, &mut out)
///     .unwrap();
/// assert_eq!(out, [0, 1, 2]);
/// ```
pub fn pad_constant<T: Copy>(
    x: &[T],
    shape: &[usize],
    pads: &[(i64, i64)],
    value: T,
    out: &mut [T],
) -> Result<(), KernelError> {
    let bad = |what: &str| KernelError::new(format!("a constant pad's {what}"));
    if pads.len() != shape.len() {
        return Err(bad("pads are not one pair per dim"));
    }
    // Per dim: the padded size, and where the kept run starts in the input and output.
    let mut dims = Vec::with_capacity(shape.len());
    for (&n, &(before, after)) in shape.iter().zip(pads) {
        let n = i64::try_from(n).map_err(|_| bad("size overflows"))?;
        // In i128: `n + before + after` may fit where `n + before` does not.
        let padded = i128::from(n) + i128::from(before) + i128::from(after);
        let padded = i64::try_from(padded).map_err(|_| bad("size overflows"))?;
        if padded < 0 {
            return Err(bad("size is negative"));
        }
        let (from, to) = (before.saturating_neg().clamp(0, n), before.clamp(0, padded));
        let len = (n - from).min(padded - to).max(0);
        dims.push([padded, from, to, len].map(|v| v as usize));
    }
    let numel = |i: usize| dims.iter().try_fold(1usize, |p, d| p.checked_mul(d[i]));
    let in_numel = shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    match (numel(0), in_numel) {
        (Some(o), Some(i)) if o == out.len() && i <= x.len() => {}
        _ => return Err(bad("operands do not hold its shapes")),
    }
    out.fill(value);
    if dims.iter().any(|d| d[3] == 0) || out.is_empty() {
        return Ok(());
    }
    let rank = dims.len();
    let (mut in_stride, mut out_stride) = (vec![1usize; rank], vec![1usize; rank]);
    for d in (0..rank.saturating_sub(1)).rev() {
        in_stride[d] = in_stride[d + 1] * shape[d + 1];
        out_stride[d] = out_stride[d + 1] * dims[d + 1][0];
    }
    let run = dims.last().map_or(1, |d| d[3]);
    let outer = rank.saturating_sub(1);
    let mut at = vec![0usize; outer];
    loop {
        let (mut src, mut dst) = (0, 0);
        for d in 0..rank {
            let i = at.get(d).copied().unwrap_or(0);
            src += (dims[d][1] + i) * in_stride[d];
            dst += (dims[d][2] + i) * out_stride[d];
        }
        out[dst..dst + run].copy_from_slice(&x[src..src + run]);
        let mut d = outer;
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            at[d] += 1;
            if at[d] < dims[d][3] {
                break;
            }
            at[d] = 0;
        }
    }
}

/// Writes contiguous `parts` side by side along one dim into `out` (`cat` along that
/// dim, or `stack`): each part is `outer` blocks (the product of the sizes before the
/// dim) of `part.len() / outer` elements, and block `o` of the result is block `o` of
/// every part in turn. A part of no elements (a legacy empty `[0]` input of `cat`)
/// adds nothing.
///
/// ```
/// // [[1, 2], [3, 4]] and [[5], [6]] joined along dim 1: [[1, 2, 5], [3, 4, 6]].
/// let mut out = [0; 6];
/// ferrex_kernels::layout::concat(&[&[1, 2, 3, 4], &[5, 6]], 2, &mut out).unwrap();
/// assert_eq!(out, [1, 2, 5, 3, 4, 6]);
/// ```
pub fn concat<T: Copy>(parts: &[&[T]], outer: usize, out: &mut [T]) -> Result<(), KernelError> {
    concat_with(parts.len(), |i| (parts[i], false), outer, out)
}

/// [`concat`] of parts each either `outer` blocks or (`true`) one block joined at
/// every outer index: a part broadcast over the dims before the joined one (a class
/// token joined to each sample's patches, in a half of a split batch).
pub fn concat_broadcast<T: Copy>(
    parts: &[(&[T], bool)],
    outer: usize,
    out: &mut [T],
) -> Result<(), KernelError> {
    concat_with(parts.len(), |i| parts[i], outer, out)
}

fn concat_with<'a, T: Copy + 'a>(
    n: usize,
    part: impl Fn(usize) -> (&'a [T], bool),
    outer: usize,
    out: &mut [T],
) -> Result<(), KernelError> {
    let mut widths = Vec::with_capacity(n);
    let mut total = 0usize;
    for i in 0..n {
        let (p, once) = part(i);
        let width = match (p.len(), outer) {
            (0, _) => 0,
            (len, _) if once => len,
            (len, o) if o > 0 && len % o == 0 => len / o,
            _ => {
                return Err(KernelError::new(format!(
                    "a part of {} elements is not {outer} blocks",
                    p.len()
                )))
            }
        };
        widths.push(width);
        total = width
            .checked_mul(outer)
            .and_then(|w| w.checked_add(total))
            .ok_or_else(|| KernelError::new("the concatenation's size overflows"))?;
    }
    if out.len() != total {
        return Err(KernelError::new(format!(
            "the parts hold {total} elements, the output {}",
            out.len()
        )));
    }
    let mut at = 0;
    for o in 0..outer {
        for (i, &w) in widths.iter().enumerate() {
            let (p, once) = part(i);
            let from = if once { 0 } else { o * w };
            out[at..at + w].copy_from_slice(&p[from..from + w]);
            at += w;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index list with its shape.
    type List<'a> = (&'a [i64], &'a [usize]);

    /// `x[o, a[j], b[j], :]` for `x` `[outer, 3, 4, inner]`, at every position `j` of the
    /// lists' broadcast shape `to`, each list's entry found by hand from `j`'s
    /// coordinates (negative entries counted from the end).
    fn gather_by_hand(
        x: &[i64],
        [outer, inner]: [usize; 2],
        lists: [List; 2],
        to: &[usize],
    ) -> Vec<i64> {
        let entry = |(list, shape): List, j: usize| {
            // Position j of `to`, in the list's own (broadcast) coordinates.
            let (mut rem, mut offset, mut step) = (j, 0usize, 1usize);
            let pad = to.len() - shape.len();
            for d in (0..to.len()).rev() {
                let coord = rem % to[d];
                rem /= to[d];
                if d >= pad && shape[d - pad] != 1 {
                    offset += coord * step;
                }
                if d >= pad {
                    step *= shape[d - pad];
                }
            }
            list[offset]
        };
        let n: usize = to.iter().product();
        let mut want = Vec::new();
        for o in 0..outer {
            for j in 0..n {
                let i0 = entry(lists[0], j).rem_euclid(3) as usize;
                let i1 = entry(lists[1], j).rem_euclid(4) as usize;
                let base = ((o * 3 + i0) * 4 + i1) * inner;
                want.extend_from_slice(&x[base..base + inner]);
            }
        }
        want
    }

    /// Index lists of shapes that broadcast, read in place, against [`gather_by_hand`];
    /// lists shorter than their shape, shapes that do not broadcast, and indices out of
    /// range are errors.
    #[test]
    fn broadcast_gathers_match_their_definition() {
        let (outer, inner) = (2usize, 2usize);
        let x: Vec<i64> = (0..(outer * 3 * 4 * inner) as i64).collect();
        // [3, 1] (negative entries) with [1, 2], to [3, 2]; a rank-1 list with a rank-3.
        let cases: [[List; 2]; 2] = [
            [(&[0, -1, 2], &[3, 1]), (&[3, -4], &[1, 2])],
            [(&[1, 2], &[2]), (&[0, 1, 2, 3], &[2, 1, 2])],
        ];
        for lists in cases {
            let to = broadcast_index_shape(&[lists[0].1, lists[1].1]).unwrap();
            let want = gather_by_hand(&x, [outer, inner], lists, &to);
            let mut out = vec![0i64; want.len()];
            gather_along(&x, [outer, inner], &[3, 4], &lists, true, &mut out).unwrap();
            assert_eq!(out, want, "{lists:?}");
        }
        let mut out = vec![0i64; 2 * 6 * 2];
        let refused = [
            gather_along(
                &x,
                [2, 2],
                &[3, 4],
                &[(&[0, 1], &[3, 1]), (&[0, 1], &[2])],
                true,
                &mut out,
            ),
            gather_along(
                &x,
                [2, 2],
                &[3, 4],
                &[(&[0, 1, 2], &[3]), (&[0, 1], &[2])],
                true,
                &mut out,
            ),
            gather_along(
                &x,
                [2, 2],
                &[3, 4],
                &[(&[0, 1, 3], &[3, 1]), (&[0, 1], &[2])],
                false,
                &mut out,
            ),
        ];
        let messages: Vec<String> = refused
            .into_iter()
            .map(|r| r.unwrap_err().to_string())
            .collect();
        assert_eq!(
            messages,
            [
                "an index list is shorter than its shape",
                "shape mismatch: indexing tensors could not be broadcast together",
                "index 3 is out of bounds for dimension with size 3",
            ]
        );
    }

    /// Pads at the ends of `i64` are errors or empty results, never an overflow.
    #[test]
    fn extreme_pads_are_refused_or_empty() {
        let x = [1.0f32, 2.0];
        let mut out = [0.0f32; 0];
        assert!(pad_constant(&x, &[2], &[(i64::MAX, 0)], 0.0, &mut out).is_err());
        assert!(pad_constant(&x, &[2], &[(i64::MIN, 0)], 0.0, &mut out).is_err());
        // 2 + MIN + (MAX - 1) = 0: an empty result.
        assert!(pad_constant(&x, &[2], &[(i64::MIN, i64::MAX - 1)], 0.0, &mut out).is_ok());
        // 1 + MAX - 2 fits though 1 + MAX does not: `[MAX - 1, 0]`, empty (a fuzzer's
        // case the compiled plan refused where the eager op gave the empty result).
        let pads = [(i64::MAX, -2), (0, -1)];
        assert!(pad_constant(&x[..1], &[1, 1], &pads, 0.0, &mut out).is_ok());
        let mut two = [9.0f32; 2];
        pad_constant(&x, &[2], &[(-1, 1)], 7.0, &mut two).unwrap();
        assert_eq!(two, [2.0, 7.0]);
    }

    #[test]
    fn a_broadcast_part_is_joined_at_every_outer_index() {
        // Two outer blocks: [t, a0, a1] then [t, a2, a3], the token `t` joined to both.
        let (token, rows) = ([9.0f32], [1.0, 2.0, 3.0, 4.0]);
        let mut out = [0.0; 6];
        concat_broadcast(&[(&token[..], true), (&rows[..], false)], 2, &mut out).unwrap();
        assert_eq!(out, [9.0, 1.0, 2.0, 9.0, 3.0, 4.0]);
        // The output's length counts the broadcast part once per outer index.
        let mut short = [0.0; 5];
        assert!(
            concat_broadcast(&[(&token[..], true), (&rows[..], false)], 2, &mut short).is_err()
        );
    }

    #[test]
    fn short_copies_of_every_length_copy_exactly() {
        for n in 0..40 {
            let src: Vec<u32> = (0..n as u32).map(|v| v * 7 + 1).collect();
            let mut dst = vec![0u32; n + 2];
            copy_short(&mut dst[1..n + 1], &src);
            assert_eq!(&dst[1..n + 1], &src[..], "{n}");
            assert_eq!((dst[0], dst[n + 1]), (0, 0), "{n}: wrote outside");
        }
    }

    /// The element of `x` (contiguous, `shape`) at output index `o` of the permutation.
    fn naive(x: &[i32], shape: &[usize], dims: &[usize]) -> Vec<i32> {
        let osize: Vec<usize> = dims.iter().map(|&d| shape[d]).collect();
        let n: usize = shape.iter().product();
        (0..n)
            .map(|mut flat| {
                let mut src = vec![0; shape.len()];
                for i in (0..osize.len()).rev() {
                    src[dims[i]] = flat % osize[i];
                    flat /= osize[i];
                }
                let at = src.iter().zip(shape).fold(0, |a, (&i, &s)| a * s + i);
                x[at]
            })
            .collect()
    }

    #[test]
    fn permutes_agree_with_index_arithmetic() {
        let cases: [(&[usize], &[usize]); 11] = [
            (&[3, 20, 37], &[0, 2, 1]),
            (&[17, 5, 33], &[2, 1, 0]),
            (&[2, 33, 3, 18], &[0, 3, 2, 1]),
            (&[40, 1, 16], &[2, 1, 0]),
            (&[], &[]),
            (&[5], &[0]),
            (&[1, 1], &[1, 0]),
            (&[3, 4], &[1, 0]),
            (&[2, 3, 4], &[0, 2, 1]),
            (&[2, 3, 4, 5], &[0, 2, 1, 3]),
            (&[2, 1, 3, 2], &[3, 1, 0, 2]),
        ];
        for (shape, dims) in cases {
            let n: usize = shape.iter().product();
            let x: Vec<i32> = (0..n as i32).collect();
            let mut out = vec![-1; n];
            permute(&x, shape, dims, &mut out).unwrap();
            assert_eq!(out, naive(&x, shape, dims), "{shape:?} by {dims:?}");
        }
    }

    #[test]
    fn transposed_views_with_offsets_and_broadcasts_copy_exactly() {
        // x viewed as [2 (stride 0), 19 (stride 1), 21 (stride 19)] from offset 3.
        let x: Vec<i32> = (0..3 + 19 * 21).collect();
        let (sizes, strides) = ([2, 19, 21], [0, 1, 19]);
        let mut out = vec![-1; 2 * 19 * 21];
        strided_copy(&x, 3, &sizes, &strides, &mut out).unwrap();
        for (flat, &v) in out.iter().enumerate() {
            let (i, j) = ((flat / 21) % 19, flat % 21);
            assert_eq!(v, x[3 + i + j * 19], "at {flat}");
        }
    }

    #[test]
    fn bad_permutations_and_short_slices_are_refused() {
        let x = [0; 6];
        let mut out = [0; 6];
        assert!(permute(&x, &[2, 3], &[0, 0], &mut out).is_err());
        assert!(permute(&x, &[2, 3], &[0], &mut out).is_err());
        assert!(permute(&x, &[2, 3], &[0, 2], &mut out).is_err());
        assert!(permute(&x[..5], &[2, 3], &[1, 0], &mut out).is_err());
    }

    /// `[2, a, 3]` parts (a = 1, 4, 2) joined along dim 1, and an empty part, against
    /// index arithmetic; parts that are not whole blocks, or an output of another size,
    /// are refused.
    #[test]
    fn concat_agrees_with_index_arithmetic() {
        let sizes = [1usize, 4, 0, 2];
        let parts: Vec<Vec<i32>> = (sizes.iter().enumerate())
            .map(|(p, &a)| (0..2 * a as i32 * 3).map(|i| 100 * p as i32 + i).collect())
            .collect();
        let views: Vec<&[i32]> = parts.iter().map(Vec::as_slice).collect();
        let mut out = vec![0; 2 * 7 * 3];
        concat(&views, 2, &mut out).unwrap();
        for (flat, &v) in out.iter().enumerate() {
            let (o, j, k) = (flat / 21, (flat / 3) % 7, flat % 3);
            // Which part row `j` of the joined dim comes from, and its row there.
            let (p, row) = match j {
                0 => (0, 0),
                1..=4 => (1, j - 1),
                _ => (3, j - 5),
            };
            let want = parts[p][(o * sizes[p] + row) * 3 + k];
            assert_eq!(v, want, "at {flat}");
        }
        assert!(concat(&[&[1, 2, 3][..]], 2, &mut [0; 3]).is_err());
        assert!(concat(&[&[1, 2][..], &[3, 4]], 2, &mut [0; 3]).is_err());
        assert!(concat(&[&[1, 2][..]], 0, &mut [0; 2]).is_err());
    }
}
