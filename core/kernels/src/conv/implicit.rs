//! Implicit-GEMM convolution on AVX-512: the weights (`[og, k]`, packed once per call)
//! multiply the receptive fields where they lie. At each depth `kk = c * taps + t`, a
//! tile's 16-column panel row is read straight from channel `c`'s plane, as up to
//! [`MAX_RUNS`] masked loads ([`Run`]: the lanes of one output row; padding lanes
//! masked off), so the unrolled matrix is never written. Unrolling it into packed
//! panels first was a fifth of a ResNet block's 3×3 convolutions; the planes of a
//! sample (a few tens of KiB) stay in L1 across a tile's depths, where the packed
//! panels (`k × l` floats) were read back from L2.
//!
//! Any convolution whose panels read at most [`MAX_RUNS`] output rows each takes it (any
//! kernel, padding, dilation or vertical stride, rows of at least 8 outputs). A
//! convolution strided by `s` along rows whose kernel is wider than `s` reads its planes
//! split into `s` phases per row ([`super::phase_split`], one pass over the input), where
//! consecutive outputs' inputs are consecutive again.

use super::{ConvGeom, PanelFill, Run, SampleEpilogue, MAX_RUNS};
use crate::KernelError;

/// Output channels a tile computes.
const ROWS: usize = 8;

/// Panels (16 output positions each) of a full tile: 8 × 48 is 24 accumulators, each
/// depth 24 FMAs for 8 broadcasts and 3 panel rows.
const PANELS: usize = 3;

/// Whether `g` takes the implicit tiles on this CPU: every 16-column panel spans at most
/// [`MAX_RUNS`] output rows, each row one contiguous run of the plane (of the plane split
/// into phases, [`super::phase_split`], when strided along rows), and plane offsets fit
/// `i32` (as [`super::tap_offsets`] requires).
pub(super) fn eligible(g: &ConvGeom) -> bool {
    let l = g.l();
    let plane = g.h.checked_mul(super::phased_row(g.w, g.stride[1]).0);
    // Strided along rows, the kernel must be wider than the stride: each input is then
    // read by several taps, and splitting the planes into phases pays (a 7×7 stem of
    // stride 2: 2.19 -> 1.40 ms); a 1×1 downsampling read a quarter of what it split
    // (62 -> 118 us), and takes the unrolling.
    crate::sgemm::uses_avx512()
        && (g.stride[1] == 1 || g.kw > g.stride[1])
        && l > 0
        && plane.is_some_and(|p| i32::try_from(p).is_ok())
        && (0..l.div_ceil(16)).all(|p| {
            let (first, last) = (p * 16, (p * 16 + 15).min(l - 1));
            last / g.ow - first / g.ow < MAX_RUNS
        })
}

/// One group's weights (`[og, k]`, row-major) for the implicit tiles: per block of
/// [`ROWS`] output channels, [`ROWS`] floats per depth, rows past `og` zero.
pub(super) fn pack_weight(w: &[f32], og: usize, k: usize) -> Result<Vec<f32>, KernelError> {
    let len = og
        .div_ceil(ROWS)
        .checked_mul(ROWS * k)
        .ok_or_else(|| KernelError::new("the convolution's size overflows"))?;
    let mut packed = crate::alloc::try_filled(len, 0f32)?;
    for (r, row) in w.chunks_exact(k.max(1)).take(og).enumerate() {
        let block = &mut packed[(r / ROWS) * ROWS * k..];
        for (kk, &v) in row.iter().enumerate() {
            block[kk * ROWS + r % ROWS] = v;
        }
    }
    Ok(packed)
}

/// Where the tiles read: per panel `p` and tap `t` (at `p * taps + t`, so a tile's
/// panels are together), the runs of a channel plane its row reads, unused runs with
/// no lanes.
pub(super) struct ImplicitFills {
    runs: Vec<[Run; MAX_RUNS]>,
    /// Floats of a channel plane as the runs index it (`h * w`, or the phased plane).
    plane: usize,
    /// The most runs any entry uses (at least 1): the loads each panel row costs.
    most: usize,
}

impl ImplicitFills {
    /// From the panel fills (`t * panels + p`); `None` when a panel row needs a gather.
    pub(super) fn new(
        fills: &[PanelFill],
        taps: usize,
        panels: usize,
        plane: usize,
    ) -> Option<ImplicitFills> {
        if fills.len() != taps * panels {
            return None;
        }
        let mut runs = Vec::new();
        runs.try_reserve_exact(fills.len()).ok()?;
        let mut most = 1;
        for p in 0..panels {
            for t in 0..taps {
                let (r, count) = fills[t * panels + p].runs?;
                most = most.max(count);
                runs.push(r);
            }
        }
        Some(ImplicitFills { runs, plane, most })
    }
}

/// `out` (`[og, l]`, row-major) = the weights packed by [`pack_weight`] times the
/// receptive fields of the group's planes `x`, plus `bias` per output channel, then the
/// epilogue (the group's first channel is the convolution's `first`). The sums run over
/// all `k` depths in registers, then the bias is added, as the packed GEMM gives for
/// `k <= KC`. With `threads > 1`, the blocks of [`ROWS`] output channels are split over
/// the pool's threads (each reads all the planes and writes its own rows): a single
/// sample's convolution, which the batch's split leaves on one thread.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_group(
    x: &[f32],
    weight: &[f32],
    fills: &ImplicitFills,
    g: &ConvGeom,
    bias: Option<&[f32]>,
    (epi, first): (SampleEpilogue<'_>, usize),
    out: &mut [f32],
    threads: usize,
) -> Result<(), KernelError> {
    let (og, k, l, taps, hw) = (g.og(), g.k(), g.l(), g.kh * g.kw, fills.plane);
    let panels = l.div_ceil(16);
    if !crate::sgemm::uses_avx512()
        || x.len() < g.cg() * hw
        || weight.len() != og.div_ceil(ROWS) * ROWS * k
        || fills.runs.len() != panels * taps
        || out.len() < og * l
        || bias.is_some_and(|b| b.len() < og)
    {
        return Err(KernelError::new(
            "an implicit convolution operand does not match its geometry",
        ));
    }
    let blocks = og.div_ceil(ROWS);
    let rows = |first_block: usize, part: &mut [f32]| -> Result<(), KernelError> {
        let n = part.len().div_ceil((ROWS * l).max(1));
        let w = &weight[first_block * ROWS * k..(first_block + n) * ROWS * k];
        let ir = first_block * ROWS;
        let bias = bias.map(|b| &b[ir..]);
        tiles(x, w, fills, g, bias, (epi, first + ir), (og - ir, part));
        Ok(())
    };
    let failed = || KernelError::new("a convolution worker thread failed");
    crate::threads::for_each_item_chunk(
        &mut out[..og * l],
        blocks,
        ROWS * l,
        threads,
        &rows,
        failed,
    )
}

/// The tiles of [`conv_group`] over `out`'s first `og` output channels (`weight`'s
/// blocks, `bias` and `first` from the first of them), every panel.
fn tiles(
    x: &[f32],
    weight: &[f32],
    fills: &ImplicitFills,
    g: &ConvGeom,
    bias: Option<&[f32]>,
    (epi, first): (SampleEpilogue<'_>, usize),
    (og, out): (usize, &mut [f32]),
) {
    let (k, l, taps, hw) = (g.k(), g.l(), g.kh * g.kw, fills.plane);
    let panels = l.div_ceil(16);
    let mut p = 0;
    while p < panels {
        // Full tiles; the last 4 panels as two tiles of 2 rather than one of 3 and one
        // of 1 (whose 8 FMAs a depth wait on 8 broadcasts).
        let np = match panels - p {
            left if left >= PANELS + 2 || left == PANELS => PANELS,
            left => left.min(2),
        };
        for (block, a) in weight.chunks_exact(ROWS * k.max(1)).enumerate() {
            let ir = block * ROWS;
            let t = Tile {
                a: a.as_ptr(),
                x: x.as_ptr(),
                runs: fills.runs[p * taps..].as_ptr(),
                cg: g.cg(),
                hw,
                taps,
                ldc: l,
                // In bounds: ir < og and p * 16 < l.
                c: out[ir * l + p * 16..].as_mut_ptr(),
                mr: ROWS.min(og - ir),
                nr: (np * 16).min(l - p * 16),
                bias: bias.map(|b| &b[ir..]),
                epi,
                co: first + ir,
                col: p * 16,
            };
            // SAFETY: AVX-512F is present (checked above); `a` holds ROWS floats per
            // depth for all `k = cg * taps` depths; `x` holds the `cg` planes, and every
            // run's unmasked lanes are offsets of the tap table, inside a plane; the
            // runs of panels `p..p + np` (< panels) for every tap follow `runs`; `c`'s
            // rows `ir..ir + mr` (<= og) and columns `p * 16..+ nr` (<= l) are in `out`;
            // the epilogue passed `validate` for the convolution `first` belongs to.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                match (np, fills.most) {
                    (PANELS, 1) => tile::<PANELS, 1>(&t),
                    (PANELS, 2) => tile::<PANELS, 2>(&t),
                    (PANELS, _) => tile::<PANELS, MAX_RUNS>(&t),
                    (2, 1) => tile::<2, 1>(&t),
                    (2, 2) => tile::<2, 2>(&t),
                    (2, _) => tile::<2, MAX_RUNS>(&t),
                    (_, 1) => tile::<1, 1>(&t),
                    (_, 2) => tile::<1, 2>(&t),
                    _ => tile::<1, MAX_RUNS>(&t),
                }
            }
        }
        p += np;
    }
}

/// One tile's operands.
struct Tile<'a> {
    /// The block's packed weights: [`ROWS`] floats per depth.
    a: *const f32,
    /// The group's first plane (planes `hw` floats apart).
    x: *const f32,
    /// The runs of the tile's first panel, tap by tap; the next panel's `taps` later.
    runs: *const [Run; MAX_RUNS],
    cg: usize,
    hw: usize,
    taps: usize,
    ldc: usize,
    /// The output at the tile's first channel and column.
    c: *mut f32,
    mr: usize,
    nr: usize,
    /// The bias of the tile's channels on.
    bias: Option<&'a [f32]>,
    epi: SampleEpilogue<'a>,
    /// The convolution's channel of the tile's first row, and the tile's first column.
    co: usize,
    col: usize,
}

/// A `ROWS × 16P` tile over every depth; each panel row is `RUNS` masked loads of the
/// channel plane.
///
/// # Safety
/// The CPU has AVX-512F; the operands as [`conv_group`] builds them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const P: usize, const RUNS: usize>(t: &Tile<'_>) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); P]; ROWS];
    let mut ap = t.a;
    for c in 0..t.cg {
        let plane = t.x.wrapping_add(c * t.hw);
        for tap in 0..t.taps {
            let mut bv = [_mm512_setzero_ps(); P];
            for (q, b) in bv.iter_mut().enumerate() {
                // SAFETY: panel q < P of the tile, tap < taps: an entry of the table.
                let runs = unsafe { &*t.runs.add(q * t.taps + tap) };
                let mut v = _mm512_setzero_ps();
                for r in &runs[..RUNS] {
                    // SAFETY: the run's lanes read offsets of the tap table, inside the
                    // plane; its other lanes are masked off (never read, never fault).
                    v = unsafe {
                        _mm512_mask_loadu_ps(v, r.mask, plane.wrapping_offset(r.base as isize))
                    };
                }
                *b = v;
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: r < ROWS floats of this depth (< k): inside the block.
                let av = _mm512_set1_ps(unsafe { *ap.add(r) });
                for (a, b) in row.iter_mut().zip(&bv) {
                    *a = _mm512_fmadd_ps(av, *b, *a);
                }
            }
            ap = ap.wrapping_add(ROWS);
        }
    }
    // By value, as the GEMM's tiles store (a reference kept the accumulators in memory).
    // SAFETY: forwarded.
    unsafe { store::<P>(t, acc) }
}

/// Writes the tile's `mr` rows and `nr` columns, plus the bias, through the epilogue.
///
/// # Safety
/// As for [`tile`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store<const P: usize>(t: &Tile<'_>, mut acc: [[std::arch::x86_64::__m512; P]; ROWS]) {
    use std::arch::x86_64::*;
    if let Some(bias) = t.bias {
        for (row, &b) in acc.iter_mut().zip(bias).take(t.mr) {
            let b = _mm512_set1_ps(b);
            for a in row.iter_mut() {
                *a = _mm512_add_ps(*a, b);
            }
        }
    }
    if !t.epi.is_empty() {
        // In place: passed and returned by value, the 2 KiB of accumulators were two
        // `memcpy` calls a tile (a ReLU epilogue cost a third of a 1×1 convolution).
        // SAFETY: channels co..co + mr and columns col..col + nr of the sample, the
        // steps validated (the caller's promise).
        unsafe {
            super::epilogue::apply_tile_avx512(t.epi, &mut acc, t.co, t.col, t.ldc, t.mr, t.nr);
        }
    }
    for (r, row) in acc.iter().enumerate().take(t.mr) {
        for (q, a) in row.iter().enumerate() {
            let width = t.nr.saturating_sub(q * 16).min(16);
            if width == 0 {
                break;
            }
            let mask = (((1u32 << width) - 1) & 0xffff) as __mmask16;
            // SAFETY: row r < mr, columns q * 16 .. + width <= nr: inside the output.
            unsafe { _mm512_mask_storeu_ps(t.c.add(r * t.ldc + q * 16), mask, *a) };
        }
    }
}
