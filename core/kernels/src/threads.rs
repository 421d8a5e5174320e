//! How many threads the kernels use, the one pool they run on, and how work is split
//! between them.

use std::sync::OnceLock;

/// How many threads ferrex's kernels use: `FERREX_NUM_THREADS`, or the available
/// cores, at most 4. Read once; [`pool`] has this many threads.
pub fn num_threads() -> usize {
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

/// The one persistent thread pool of ferrex's parallel kernels (GEMM, GEMV,
/// convolution, pooling, fused elementwise loops): [`num_threads`] participants, the
/// caller included, built on first use. matrixmultiply (the portable GEMM, for f64 and
/// where the own f32 GEMM does not apply) runs single-threaded, so two pools never
/// compete for the cores.
pub fn pool() -> &'static crate::workers::Pool {
    crate::workers::global()
}

/// Runs `f(index, range)` for every range on the pool and returns when all are done;
/// `false` if one of them panicked. Participant `p` of `t` (the caller is 0) first
/// takes the ranges of its own share (`p * len / t ..`), the same on every call — so a
/// weight's columns stay in one core's cache — then any range still untaken: a
/// participant that is slow to start (descheduled on a busy machine) holds up the
/// others by at most the range it is running.
#[must_use]
pub fn for_each_range<F>(ranges: &[std::ops::Range<usize>], f: F) -> bool
where
    F: Fn(usize, std::ops::Range<usize>) + Sync,
{
    let len = ranges.len();
    let t = pool().threads().min(len).max(1);
    let taken: Vec<std::sync::atomic::AtomicBool> = (0..len)
        .map(|_| std::sync::atomic::AtomicBool::new(false))
        .collect();
    pool().run(t, &|p| {
        let start = p * len / t;
        for off in 0..len {
            let i = (start + off) % len;
            let first = taken
                .get(i)
                .is_some_and(|b| !b.swap(true, std::sync::atomic::Ordering::AcqRel));
            if let (true, Some(r)) = (first, ranges.get(i)) {
                f(i, r.clone());
            }
        }
    })
}

/// Whether this CPU has AVX-512F.
pub fn has_avx512f() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether this CPU runs the AVX2 + FMA kernels.
pub fn has_avx2_fma() -> bool {
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

/// Work (multiply-adds) below which splitting over threads costs more than it saves.
pub const PAR_MIN_MACS: usize = 1 << 21;

/// The same for convolutions and pooling (split by sample, so results do not depend on
/// it). Measured on the quiet 2-core development machine (2026-12-02, load < 1, the
/// persistent pool): LeNet at batch 8, whose convolutions are 0.7M and 1.2M
/// multiply-adds, runs in 308 µs on one thread and 244 µs on two with this bound; at
/// `1 << 22` both convolutions stayed on one thread and two threads gave 318 µs.
pub const PAR_MIN_CONV: usize = 1 << 19;

/// Elements below which an elementwise pass (eager, or the runtime's fused chains) runs
/// on one thread: below it, the other core's cache misses on data the caller just wrote
/// cost more than the split saves (a GroupNorm block's 16K-element `relu` and `add` took
/// 2.5–3.5× as long split).
pub const PAR_MIN_POINTWISE: usize = 1 << 16;

/// Splits `0..n` into at most `parts` contiguous ranges of nearly equal length.
pub fn split_ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
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

/// Work on one chunk of items: `(index of its first item, its elements)`.
pub type ChunkFn<'a, T, E> = dyn Fn(usize, &mut [T]) -> Result<(), E> + Sync + 'a;

/// Runs `f(first_item, chunk)` over `out` split into chunks of `per_item` elements,
/// `items` in all, on up to `threads` scoped threads; the first error wins.
pub fn for_each_item_chunk<T: Send, E: Send>(
    out: &mut [T],
    items: usize,
    per_item: usize,
    threads: usize,
    f: &ChunkFn<'_, T, E>,
    worker_failed: impl Fn() -> E,
) -> Result<(), E> {
    let threads = threads.clamp(1, items.max(1));
    if threads == 1 || per_item == 0 {
        return f(0, out);
    }
    let per = items.div_ceil(threads);
    let parts: Vec<std::sync::Mutex<(usize, &mut [T])>> = out
        .chunks_mut(per * per_item)
        .enumerate()
        .map(|(t, part)| std::sync::Mutex::new((t * per, part)))
        .collect();
    let results: Vec<std::sync::Mutex<Option<Result<(), E>>>> =
        parts.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let ranges: Vec<std::ops::Range<usize>> = (0..parts.len()).map(|i| i..i + 1).collect();
    let _ = for_each_range(&ranges, |i, _| {
        let (Some(part), Some(slot)) = (parts.get(i), results.get(i)) else {
            return;
        };
        let (Ok(mut part), Ok(mut slot)) = (part.lock(), slot.lock()) else {
            return;
        };
        let first = part.0;
        *slot = Some(f(first, part.1));
    });
    results.into_iter().try_for_each(|r| {
        r.into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err(worker_failed()))
    })
}

/// A new buffer of `len` values made by up to `threads` of the pool: split in chunks of
/// `per_item` values (items), each thread fills each of its items with `zero`, then
/// `f(item, values)` computes it. The fill happens where the chunk is computed, in
/// that core's cache: filled up front by the caller (`try_filled`), the output was a
/// pass over memory of its own and, at 2 threads, the half the other core computed sat
/// in the filling core's cache (eager batch norms, ReLUs and convolutions). A kernel
/// that writes every value (not accumulating into them) takes
/// [`try_new_written_by_items`], with no fill.
pub fn try_new_by_items<T: Copy + Send + Sync + 'static, E: Send + From<crate::KernelError>>(
    len: usize,
    per_item: usize,
    zero: T,
    threads: usize,
    f: &ChunkFn<'_, T, E>,
    worker_failed: impl Fn() -> E,
) -> Result<Vec<T>, E> {
    let filled = |item: usize, values: &mut [std::mem::MaybeUninit<T>]| -> Result<(), E> {
        fill(values, zero);
        // SAFETY: every element of `values` was written just above; `MaybeUninit<T>`
        // has `T`'s layout.
        let values = unsafe { &mut *(std::ptr::from_mut(values) as *mut [T]) };
        f(item, values)
    };
    // SAFETY: `filled` writes every value of its item (the fill) before `f` runs.
    unsafe { try_new_written_by_items(len, per_item, threads, &filled, worker_failed) }
}

/// Work that writes every value of one item of new memory: `(the item, its values)`.
pub(crate) type FreshItemFn<'a, T, E> =
    dyn Fn(usize, &mut [std::mem::MaybeUninit<T>]) -> Result<(), E> + Sync + 'a;

/// [`try_new_by_items`] without the fill, for kernels that write every value of their
/// item (an eager activation or batch norm: the fill was a tenth of an interpreted
/// MobileNet block).
///
/// # Safety
///
/// `f(item, values)` returns `Ok` only after writing every element of `values`.
pub(crate) unsafe fn try_new_written_by_items<
    T: Copy + Send + Sync + 'static,
    E: Send + From<crate::KernelError>,
>(
    len: usize,
    per_item: usize,
    threads: usize,
    f: &FreshItemFn<'_, T, E>,
    worker_failed: impl Fn() -> E,
) -> Result<Vec<T>, E> {
    let mut v: Vec<T> = crate::alloc::try_with_capacity(len).map_err(crate::KernelError::from)?;
    let items = if per_item == 0 {
        1
    } else {
        len.div_ceil(per_item)
    };
    let made = |first: usize, part: &mut [std::mem::MaybeUninit<T>]| -> Result<(), E> {
        // (`per_item == 0`: the whole buffer is one item.)
        let size = if per_item == 0 {
            part.len().max(1)
        } else {
            per_item
        };
        for (i, item) in part.chunks_mut(size).enumerate() {
            f(first + i, item)?;
        }
        Ok(())
    };
    let spare = &mut v.spare_capacity_mut()[..len];
    for_each_item_chunk(spare, items, per_item, threads, &made, worker_failed)?;
    // SAFETY: `for_each_item_chunk` is `Ok` only when every chunk's `made` returned
    // `Ok` (a chunk that did not run is an error), `made` only when `f` did for each of
    // its items, which then wrote every value (the caller's contract); the chunks cover
    // the `len` values.
    unsafe { v.set_len(len) };
    Ok(v)
}

/// `slot = value` for every slot: a float zero (all bits zero) as `memset` does it (its
/// string stores write whole lines without reading them first, where vector stores to
/// memory not in cache read each line in: 40 GB/s, a fifth of an eager MobileNet block),
/// any other value on the widest vectors.
fn fill<T: Copy + 'static>(slots: &mut [std::mem::MaybeUninit<T>], value: T) {
    let any = &value as &dyn std::any::Any;
    let zero_bits = any.downcast_ref::<f32>().is_some_and(|v| v.to_bits() == 0)
        || any.downcast_ref::<f64>().is_some_and(|v| v.to_bits() == 0);
    if zero_bits {
        // SAFETY: `value` is an f32 or f64 whose bits are all zero, so zero bytes are
        // `value`; `slots` is writable for its length.
        unsafe { slots.as_mut_ptr().write_bytes(0, slots.len()) };
    } else {
        crate::wide(Fill(slots, value));
    }
}

/// [`fill`]'s loop for other values, on the widest vectors.
struct Fill<'a, T>(&'a mut [std::mem::MaybeUninit<T>], T);

impl<T: Copy> crate::WideLoop for Fill<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Fill(slots, value) = self;
        for slot in slots {
            slot.write(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        for (n, p) in [(0, 2), (1, 4), (10, 3), (7, 7)] {
            let r = split_ranges(n, p);
            assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    /// New buffers are what their items compute, on 1 to 3 threads, for lengths that
    /// leave a short last item and for one item of everything (`per_item == 0`); every
    /// value an item sees before it writes is the fill value; an item's error is the
    /// result.
    #[test]
    fn new_buffers_are_filled_then_computed_by_items() {
        for (len, per_item) in [
            (0, 4),
            (1, 4),
            (10, 4),
            (12, 4),
            (9, 0),
            (4096 * 3 + 5, 4096),
        ] {
            for threads in 1..=3 {
                for zero in [0.0f32, -1.5] {
                    let f = |item: usize, out: &mut [f32]| -> Result<(), crate::KernelError> {
                        assert!(out.iter().all(|&v| v.to_bits() == zero.to_bits()));
                        let first = item * per_item;
                        for (i, v) in out.iter_mut().enumerate() {
                            *v = (first + i) as f32;
                        }
                        Ok(())
                    };
                    let got = try_new_by_items(len, per_item, zero, threads, &f, || {
                        crate::KernelError::new("worker")
                    })
                    .unwrap();
                    let want: Vec<f32> = (0..len).map(|i| i as f32).collect();
                    assert_eq!(got, want, "{len} by {per_item} on {threads}");
                }
            }
        }
        let fail = |item: usize, _: &mut [f64]| match item {
            2 => Err(crate::KernelError::new("item 2 failed")),
            _ => Ok(()),
        };
        let err = try_new_by_items(40, 8, 0.0, 2, &fail, || crate::KernelError::new("worker"));
        assert_eq!(err.unwrap_err().0, "item 2 failed");
        let huge = try_new_by_items(usize::MAX / 2, 8, 0.0f32, 1, &|_, _| Ok(()), || {
            crate::KernelError::new("worker")
        });
        assert!(huge.is_err());
    }
}
