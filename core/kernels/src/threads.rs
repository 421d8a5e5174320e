//! How many threads the kernels use, and how work is split between them.

use std::sync::OnceLock;

/// How many threads ferrex's own kernels use (matrixmultiply has its own pool, sized by
/// `MATMUL_NUM_THREADS`): `FERREX_NUM_THREADS`, or the available cores, at most 4.
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

/// Work (multiply-adds) below which spawning threads costs more than it saves: a
/// scoped thread costs tens of microseconds to start.
pub const PAR_MIN_MACS: usize = 1 << 21;

/// The same for convolutions and pooling. Measured on the 2-core development machine
/// (shared, so the second core is often busy): LeNet's convolutions at batch 8 (0.9M
/// and 1.9M multiply-adds) ran slower on two threads than on one.
pub const PAR_MIN_CONV: usize = 1 << 22;

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
    let results: Vec<Result<(), E>> = std::thread::scope(|s| {
        let handles: Vec<_> = out
            .chunks_mut(per * per_item)
            .enumerate()
            .map(|(t, part)| s.spawn(move || f(t * per, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(worker_failed())))
            .collect()
    });
    results.into_iter().collect()
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
}
