//! Channel ↔ space rearrangement: `pixel_shuffle` (`[*, C·r², H, W]` → `[*, C, H·r, W·r]`)
//! and `pixel_unshuffle` (its inverse), composites of `view` + `permute` + `reshape`,
//! as PyTorch's decompositions write them.

use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Tensor, TensorMeta};

/// The input meta and the factor, checked as ATen checks them.
fn factor(x: &Tensor, r: i64, op: &str, what: &str) -> Result<(TensorMeta, i64), OpError> {
    let m = meta_of(x)?;
    if m.rank() < 3 {
        op_bail!(
            "{op} expects input to have at least 3 dimensions, but got input with {} dimension(s)",
            m.rank()
        );
    }
    if r <= 0 {
        op_bail!("{op} expects a positive {what}, but got {r}");
    }
    Ok((m, r))
}

fn shuffle_meta(args: &PixelShuffle) -> Result<Vec<TensorMeta>, OpError> {
    let (m, r) = factor(
        &args.self_,
        args.upscale_factor,
        "pixel_shuffle",
        "upscale_factor",
    )?;
    let n = m.rank();
    let c = &m.sizes[n - 3];
    let square = r.checked_mul(r).unwrap_or(i64::MAX);
    if c.hint() % square != 0 {
        op_bail!(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)={c} is not divisible by {square}"
        );
    }
    let mut sizes = m.sizes[..n - 3].to_vec();
    sizes.push(c.floor_div(square));
    sizes.push(m.sizes[n - 2].mul(&SymInt::Int(r)));
    sizes.push(m.sizes[n - 1].mul(&SymInt::Int(r)));
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn unshuffle_meta(args: &PixelUnshuffle) -> Result<Vec<TensorMeta>, OpError> {
    let (m, r) = factor(
        &args.self_,
        args.downscale_factor,
        "pixel_unshuffle",
        "downscale_factor",
    )?;
    let n = m.rank();
    for (at, name) in [(n - 2, "height"), (n - 1, "width")] {
        if m.sizes[at].hint() % r != 0 {
            op_bail!(
                "pixel_unshuffle expects {name} to be divisible by downscale_factor, but input.size({})={} is not divisible by {r}",
                at as i64 - n as i64,
                m.sizes[at]
            );
        }
    }
    let mut sizes = m.sizes[..n - 3].to_vec();
    sizes.push(m.sizes[n - 3].mul(&SymInt::Int(r.saturating_mul(r))));
    sizes.push(m.sizes[n - 2].floor_div(r));
    sizes.push(m.sizes[n - 1].floor_div(r));
    if sizes.iter().any(|s| s.hint() < 0) {
        op_bail!("pixel_unshuffle: bad sizes {}", format_sizes(&sizes));
    }
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `view` to `[*, a…]`, `permute` the last dims by `last`, `reshape` to the output.
fn rearrange(
    x: &Tensor,
    split: Vec<SymInt>,
    last: &[i64],
    out: TensorMeta,
) -> Result<Vec<Tensor>, OpError> {
    let lead = out.rank() - 3;
    let mut sizes = out.sizes[..lead].to_vec();
    sizes.extend(split);
    let mut perm: Vec<i64> = (0..lead as i64).collect();
    perm.extend(last.iter().map(|d| d + lead as i64));
    Ok(vec![x.view(sizes).permute(&perm).reshape(out.sizes)])
}

fn shuffle_decomposition(args: &PixelShuffle) -> Result<Vec<Tensor>, OpError> {
    let out = shuffle_meta(args)?.remove(0);
    let m = meta_of(&args.self_)?;
    let r = SymInt::Int(args.upscale_factor);
    let n = m.rank();
    let split = vec![
        out.sizes[n - 3].clone(),
        r.clone(),
        r,
        m.sizes[n - 2].clone(),
        m.sizes[n - 1].clone(),
    ];
    rearrange(&args.self_, split, &[0, 3, 1, 4, 2], out)
}

fn unshuffle_decomposition(args: &PixelUnshuffle) -> Result<Vec<Tensor>, OpError> {
    let out = unshuffle_meta(args)?.remove(0);
    let m = meta_of(&args.self_)?;
    let r = SymInt::Int(args.downscale_factor);
    let n = m.rank();
    let split = vec![
        m.sizes[n - 3].clone(),
        out.sizes[n - 2].clone(),
        r.clone(),
        out.sizes[n - 1].clone(),
        r,
    ];
    rearrange(&args.self_, split, &[0, 2, 4, 1, 3], out)
}

fn channel_shuffle_meta(a: &ChannelShuffle) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let g = a.groups.hint();
    if m.rank() < 3 {
        op_bail!("channel_shuffle expects input to have at least 3 dimensions, but got input with sizes {}", crate::symbolic::format_sizes(&m.sizes));
    }
    if g <= 0 {
        op_bail!("Number of groups to divide channels in must be positive. Value of groups:{g}");
    }
    if m.sizes[1].hint() % g != 0 {
        op_bail!(
            "Number of channels must be divisible by groups. Got {} channels and {g} groups.",
            m.sizes[1]
        );
    }
    Ok(vec![m])
}

/// `[N, C, *]` → `[N, g, C/g, *]` → swap the two → `[N, C, *]` (ShuffleNet).
fn channel_shuffle(a: &ChannelShuffle) -> Result<Vec<Tensor>, OpError> {
    let m = channel_shuffle_meta(a)?.swap_remove(0);
    let g = a.groups.clone();
    let mut split = vec![
        m.sizes[0].clone(),
        g.clone(),
        SymInt::Int(m.sizes[1].hint() / g.hint()),
    ];
    split.extend(m.sizes[2..].iter().cloned());
    let y = a.self_.reshape(split).transpose(1, 2);
    Ok(vec![y.reshape(m.sizes)])
}

op_def! {
    /// `nn.ChannelShuffle`.
    pub static CHANNEL_SHUFFLE: struct ChannelShuffle =
        "aten::channel_shuffle(Tensor self, SymInt groups) -> Tensor" {
        meta: channel_shuffle_meta,
        composite: channel_shuffle,
    }
    pub static PIXEL_SHUFFLE: struct PixelShuffle =
        "aten::pixel_shuffle(Tensor self, int upscale_factor) -> Tensor" {
        meta: shuffle_meta,
        composite: shuffle_decomposition,
    }
    pub static PIXEL_UNSHUFFLE: struct PixelUnshuffle =
        "aten::pixel_unshuffle(Tensor self, int downscale_factor) -> Tensor" {
        meta: unshuffle_meta,
        composite: unshuffle_decomposition,
    }
}
