//! Depthwise convolutions (groups of one input channel each), computed directly.
//! im2col + GEMM was a product of one row per group (9 columns deep for a 3×3 kernel),
//! an eager fallback and 4× PyTorch's time in a MobileNet block.
//!
//! Each input plane is copied once into a zero-padded plane split into `sh × sw`
//! phases ([`DepthwisePlan`]): padded row `r`, column `c` go to phase `(r % sh, c %
//! sw)` at `(r / sh) * wq + c / sw`. Output `(oy, ox)`'s tap `(ki, kj)` then reads
//! `oy * wq + ox` plus an offset of the tap's own, so the "wide" outputs `j = oy * wq +
//! ox` (`ox < wq`; those past `ow` computed and dropped) read consecutive floats for
//! every tap and stride, and one vector of 16 spans several rows of a small plane. One
//! vector per output row, as before, left 10 of 16 lanes idle on a 6×6 plane (11
//! GFLOP/s), and a per-row copy around the padding cost a fifth of a 24×24 layer.
//! The taps are added in the same order everywhere (bias first, then row-major, each
//! product rounded before its add), so every path gives the same sums.

use super::{phase_row, ConvGeom};
use crate::{Float, KernelError};

/// Wide outputs computed at once (one AVX-512 vector of f32).
const LANES: usize = 16;

/// Where a depthwise convolution's channels read and write, the same for every sample
/// and channel of a call (see the module's description).
pub(super) struct DepthwisePlan {
    /// Columns of a phase's row.
    wq: usize,
    /// Floats of one phase (`hq * wq`).
    phase: usize,
    /// Per tap (row-major), its offset from the wide output it adds to.
    taps: Vec<usize>,
    /// Per block of [`LANES`] wide outputs: the lanes that are outputs, and the output
    /// index of the first of them (outputs of consecutive lanes are consecutive).
    blocks: Vec<(u16, usize)>,
    /// Floats of the padded plane: every phase, and slack for the last block's
    /// dropped lanes.
    len: usize,
}

impl DepthwisePlan {
    pub(super) fn new(g: &ConvGeom) -> Result<DepthwisePlan, KernelError> {
        let overflow = || KernelError::new("the depthwise convolution's padded plane overflows");
        let ([ph, pw], [dh, dw]) = (g.pad, g.dilation);
        let (sh, sw) = (g.stride[0].max(1), g.stride[1].max(1));
        let hp = ph
            .checked_mul(2)
            .and_then(|p| p.checked_add(g.h))
            .ok_or_else(overflow)?;
        let wp = pw
            .checked_mul(2)
            .and_then(|p| p.checked_add(g.w))
            .ok_or_else(overflow)?;
        let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
        let phase = hq.checked_mul(wq).ok_or_else(overflow)?;
        let phases = phase.checked_mul(sh * sw).ok_or_else(overflow)?;
        let mut taps = Vec::with_capacity(g.kh * g.kw);
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let (r, c) = (ki * dh, kj * dw);
                // Inside the phases: the geometry's output size keeps every valid
                // output's taps inside the padded plane (`validate`).
                taps.push(((r % sh) * sw + c % sw) * phase + (r / sh) * wq + c / sw);
            }
        }
        let wide = g.oh.checked_mul(wq).ok_or_else(overflow)?;
        let mut blocks = Vec::new();
        blocks
            .try_reserve_exact(wide.div_ceil(LANES))
            .map_err(|_| overflow())?;
        for j0 in (0..wide).step_by(LANES) {
            let mut mask = 0u16;
            for lane in 0..LANES.min(wide - j0) {
                if (j0 + lane) % wq < g.ow {
                    mask |= 1 << lane;
                }
            }
            blocks.push((mask, (j0 / wq) * g.ow + (j0 % wq).min(g.ow)));
        }
        let reach = taps.iter().max().copied().unwrap_or(0);
        let len = (blocks.len() * LANES)
            .checked_add(reach)
            .ok_or_else(overflow)?
            .max(phases);
        Ok(DepthwisePlan {
            wq,
            phase,
            taps,
            blocks,
            len,
        })
    }

    /// Floats of the padded plane a thread needs ([`Depthwise::padded`]).
    pub(super) fn padded_len(&self) -> usize {
        self.len
    }
}

/// The channels of one sample (`x`: `g.c_in` planes; `out`: `g.c_out` planes), the
/// output channels of one input channel after each other (a channel multiplier).
pub(super) struct Depthwise<'a, T> {
    pub x: &'a [T],
    pub weight: &'a [T],
    /// Per output channel of `g`.
    pub bias: Option<&'a [T]>,
    pub g: &'a ConvGeom,
    pub plan: &'a DepthwisePlan,
    /// [`DepthwisePlan::padded_len`] floats, reused from channel to channel.
    pub padded: &'a mut [T],
    pub out: &'a mut [T],
}

impl<T: Float> crate::WideLoop for Depthwise<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Depthwise {
            x,
            weight,
            bias,
            g,
            plan,
            padded,
            out,
        } = self;
        let (og, l, hw, taps) = (g.og(), g.l(), g.h * g.w, g.kh * g.kw);
        let (sh, sw) = (g.stride[0].max(1), g.stride[1].max(1));
        let padded = &mut padded[..plan.len];
        // Padding stays zero: every channel writes the same interior positions.
        padded.fill(T::ZERO);
        for oc in 0..g.c_out {
            let wt = &weight[oc * taps..(oc + 1) * taps];
            let b = bias.and_then(|b| b.get(oc)).copied().unwrap_or(T::ZERO);
            let dst = &mut out[oc * l..(oc + 1) * l];
            if oc % og == 0 {
                let plane = &x[(oc / og) * hw..(oc / og + 1) * hw];
                for (iy, row) in plane.chunks_exact(g.w.max(1)).enumerate().take(g.h) {
                    let r = iy + g.pad[0];
                    let at = (r % sh) * sw * plan.phase + (r / sh) * plan.wq + g.pad[1];
                    if sw == 1 {
                        // Inlined, so compiled for this loop's vectors.
                        crate::layout::copy_short(&mut padded[at..at + row.len()], row);
                    } else {
                        let at = at - g.pad[1];
                        phase_row(&mut padded[at..], row, g.pad[1], sw, plan.wq, plan.phase);
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            if crate::sgemm::uses_avx512() {
                if let (Some(pf), Some(wf), Some(df), Some(bf)) = (
                    T::as_f32(padded),
                    T::as_f32(wt),
                    T::as_f32_mut(dst),
                    T::as_f32(std::slice::from_ref(&b)),
                ) {
                    // SAFETY: AVX-512F is present; `pf` has the plan's `len` floats,
                    // `wf` the channel's taps (one per plan tap), `df` the channel's
                    // `oh * ow` outputs: the plan's blocks' stores.
                    unsafe { channel_avx512(pf, plan, wf, bf[0], df) };
                    continue;
                }
            }
            for (oy, orow) in dst.chunks_exact_mut(g.ow.max(1)).enumerate().take(g.oh) {
                for (ox, o) in orow.iter_mut().enumerate() {
                    let j = oy * plan.wq + ox;
                    let mut acc = b;
                    for (&w, &off) in wt.iter().zip(&plan.taps) {
                        acc = acc + w * padded[j + off];
                    }
                    *o = acc;
                }
            }
        }
    }
}

/// Blocks of wide outputs [`channel_avx512`] sums together: independent chains of adds,
/// where one block's sum alone waited on each add.
#[cfg(target_arch = "x86_64")]
const BLOCKS: usize = 8;

/// One output channel on AVX-512: per block of [`LANES`] wide outputs, the taps summed
/// in a register (multiplies and adds, not fused, so the sums are the portable loop's
/// bit for bit), then the block's outputs compressed to consecutive lanes and stored.
///
/// # Safety
/// The CPU has AVX-512F; `padded` has `plan.len` floats, `wt` a tap per `plan.taps` and
/// `dst` the channel's `oh * ow` outputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn channel_avx512(
    padded: &[f32],
    plan: &DepthwisePlan,
    wt: &[f32],
    bias: f32,
    dst: &mut [f32],
) {
    let mut b = 0;
    while b + BLOCKS <= plan.blocks.len() {
        // SAFETY: forwarded, blocks `b..b + BLOCKS` exist.
        unsafe { blocks_avx512::<BLOCKS>(padded, plan, wt, bias, dst, b) };
        b += BLOCKS;
    }
    while b < plan.blocks.len() {
        // SAFETY: as above.
        unsafe { blocks_avx512::<1>(padded, plan, wt, bias, dst, b) };
        b += 1;
    }
}

/// Blocks `b0..b0 + R` of [`channel_avx512`].
///
/// # Safety
/// As [`channel_avx512`]'s, with `b0 + R <= plan.blocks.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn blocks_avx512<const R: usize>(
    padded: &[f32],
    plan: &DepthwisePlan,
    wt: &[f32],
    bias: f32,
    dst: &mut [f32],
    b0: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(bias); R];
    for (&w, &off) in wt.iter().zip(&plan.taps) {
        let w = _mm512_set1_ps(w);
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: a block's 16 floats from `(b0 + r) * 16 + off` end before
            // `blocks.len() * 16 + max(taps) <= len`.
            let v = unsafe { _mm512_loadu_ps(padded.as_ptr().add((b0 + r) * LANES + off)) };
            *a = _mm512_add_ps(*a, _mm512_mul_ps(w, v));
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let (mask, start) = plan.blocks[b0 + r];
        let kept = _mm512_maskz_compress_ps(mask, *a);
        let n = mask.count_ones();
        // SAFETY: the block's `n` outputs are `start..start + n`, inside the channel's
        // `oh * ow` (its lanes are outputs of consecutive indices).
        unsafe {
            _mm512_mask_storeu_ps(dst.as_mut_ptr().add(start), ((1u32 << n) - 1) as u16, kept)
        };
    }
}
