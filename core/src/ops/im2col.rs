//! `im2col` (`F.unfold`, `nn.Unfold`): every sliding block of a batch of images as a
//! column, `[N, C, H, W]` → `[N, C·kh·kw, L]` (`[C, H, W]` without the batch). A
//! composite written as PyTorch's decomposition: the blocks' row and column indices made
//! by `arange`, the padded input read by one `index`, then `permute` and `reshape` — so
//! the compiled runtime plans it as those ops. And its inverse `col2im` (`F.fold`,
//! `nn.Fold`): the blocks added back into an image, an accumulating `index_put`.

use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Tensor, TensorMeta};

/// The sliding window of an `im2col` / `col2im` call.
#[derive(Clone, Copy)]
struct Window<'a> {
    op: &'static str,
    kernel_size: &'a [i64],
    dilation: &'a [i64],
    padding: &'a [i64],
    stride: &'a [i64],
}

impl Im2col {
    fn window(&self) -> Window<'_> {
        Window {
            op: "im2col",
            kernel_size: &self.kernel_size,
            dilation: &self.dilation,
            padding: &self.padding,
            stride: &self.stride,
        }
    }
}

impl Col2im {
    fn window(&self) -> Window<'_> {
        Window {
            op: "col2im",
            kernel_size: &self.kernel_size,
            dilation: &self.dilation,
            padding: &self.padding,
            stride: &self.stride,
        }
    }
}

/// The checked pairs `(kernel, dilation, padding, stride)` of both spatial dims, and the
/// blocks along each: `(size + 2·padding - dilation·(kernel - 1) - 1) / stride + 1`.
fn geometry(a: Window<'_>, height: i64, width: i64) -> Result<[[i64; 5]; 2], OpError> {
    let op = a.op;
    let pair = |v: &[i64], what: &str| -> Result<[i64; 2], OpError> {
        match v {
            [a, b] => Ok([*a, *b]),
            _ => op_bail!("{op}: expected {what} of 2 values, got {v:?}"),
        }
    };
    let (k, d, p, s) = (
        pair(a.kernel_size, "kernel_size")?,
        pair(a.dilation, "dilation")?,
        pair(a.padding, "padding")?,
        pair(a.stride, "stride")?,
    );
    let mut out = [[0; 5]; 2];
    for (i, size) in [height, width].into_iter().enumerate() {
        if k[i] <= 0 || d[i] <= 0 || s[i] <= 0 || p[i] < 0 {
            op_bail!("{op}: kernel_size, dilation and stride must be positive and padding non-negative, got {k:?}, {d:?}, {p:?}, {s:?}");
        }
        let span = d[i].checked_mul(k[i] - 1).and_then(|x| x.checked_add(1));
        let room = p[i].checked_mul(2).and_then(|x| x.checked_add(size));
        let blocks = match (span, room) {
            (Some(span), Some(room)) if room >= span => (room - span) / s[i] + 1,
            _ => op_bail!(
                "{op}: the {k:?} kernel (dilation {d:?}) does not fit the padded input of {height}x{width} (padding {p:?})"
            ),
        };
        out[i] = [k[i], d[i], p[i], s[i], blocks];
    }
    Ok(out)
}

fn im2col_meta(a: &Im2col) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let r = m.rank();
    if r != 3 && r != 4 {
        op_bail!(
            "im2col: Expected 3D or 4D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {}",
            format_sizes(&m.sizes)
        );
    }
    let dims = geometry(a.window(), m.sizes[r - 2].hint(), m.sizes[r - 1].hint())?;
    let columns = dims[0][0] * dims[1][0];
    let mut sizes = m.sizes[..r - 2].to_vec();
    sizes[r - 3] = m.sizes[r - 3].mul(&SymInt::Int(columns));
    sizes.push(SymInt::Int(dims[0][4] * dims[1][4]));
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `[k, blocks]` indices of each block's kernel taps along one dim of the padded input.
fn block_indices([k, d, _, s, blocks]: [i64; 5]) -> Tensor {
    let starts = Tensor::arange_step(0, (blocks - 1) * s + 1, s).unsqueeze(0);
    let taps = Tensor::arange_step(0, k * d, d).unsqueeze(-1);
    &starts + &taps
}

fn im2col_decomposition(a: &Im2col) -> Result<Vec<Tensor>, OpError> {
    let batched = a.self_.dim() == 4;
    let x = if batched {
        a.self_.clone()
    } else {
        a.self_.unsqueeze(0)
    };
    let sizes = x.sizes();
    let [rows, cols] = geometry(a.window(), sizes[2].hint(), sizes[3].hint())?;
    let padded = x.pad([cols[2], cols[2], rows[2], rows[2]], 0.0);
    let row_index = block_indices(rows).unsqueeze(-1).unsqueeze(-1);
    let col_index = block_indices(cols);
    let blocks = padded
        .index(&[None, None, Some(&row_index), Some(&col_index)])
        .permute(&[0, 1, 2, 4, 3, 5]);
    let channels = sizes[1].mul(&SymInt::Int(rows[0] * cols[0]));
    let out = blocks.reshape([sizes[0].clone(), channels, SymInt::Int(rows[4] * cols[4])]);
    Ok(vec![if batched { out } else { out.squeeze_dim(0) }])
}

/// `col2im`'s output `[H, W]`, window geometry, channels and whether it is batched,
/// checked against the columns' shape `[N, C·kh·kw, L]` (or `[C·kh·kw, L]`).
struct Fold {
    size: [i64; 2],
    dims: [[i64; 5]; 2],
    channels: SymInt,
    batched: bool,
}

fn fold_plan(a: &Col2im) -> Result<Fold, OpError> {
    let m = meta_of(&a.self_)?;
    let r = m.rank();
    if r != 2 && r != 3 {
        op_bail!(
            "col2im: Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {}",
            format_sizes(&m.sizes)
        );
    }
    let size = match a.output_size[..] {
        [ref h, ref w] => [h.hint(), w.hint()],
        _ => op_bail!(
            "col2im: expected output_size of 2 values, got {}",
            a.output_size.len()
        ),
    };
    let dims = geometry(a.window(), size[0], size[1])?;
    let taps = dims[0][0] * dims[1][0];
    let (columns, blocks) = (m.sizes[r - 2].hint(), m.sizes[r - 1].hint());
    if columns % taps != 0 {
        op_bail!(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={columns} and kernel_size={:?}",
            a.kernel_size
        );
    }
    if blocks != dims[0][4] * dims[1][4] {
        op_bail!(
            "Given output_size={:?}, kernel_size={:?}, dilation={:?}, padding={:?}, stride={:?}, expected size of input's dimension 2 to match the calculated number of sliding blocks {} * {} = {}, but got input.size(2)={blocks}.",
            size, a.kernel_size, a.dilation, a.padding, a.stride, dims[0][4], dims[1][4], dims[0][4] * dims[1][4]
        );
    }
    Ok(Fold {
        size,
        dims,
        channels: SymInt::Int(columns / taps),
        batched: r == 3,
    })
}

fn col2im_meta(a: &Col2im) -> Result<Vec<TensorMeta>, OpError> {
    let plan = fold_plan(a)?;
    let m = meta_of(&a.self_)?;
    let mut sizes = if plan.batched {
        vec![m.sizes[0].clone()]
    } else {
        Vec::new()
    };
    sizes.push(plan.channels);
    sizes.extend(plan.size.map(SymInt::Int));
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// The inverse gather of `im2col`, as PyTorch's decomposition writes it: the columns as
/// `[N, C, kh, lh, kw, lw]` added into the padded output at the blocks' tap indices (one
/// accumulating `index_put`), the padding cut off.
fn col2im_decomposition(a: &Col2im) -> Result<Vec<Tensor>, OpError> {
    let plan = fold_plan(a)?;
    let [rows, cols] = plan.dims;
    let x = if plan.batched {
        a.self_.clone()
    } else {
        a.self_.unsqueeze(0)
    };
    let n = x.sizes()[0].clone();
    let c = plan.channels.clone();
    let i = |v: i64| SymInt::Int(v);
    let blocks = x
        .reshape([
            n.clone(),
            c.clone(),
            i(rows[0]),
            i(cols[0]),
            i(rows[4]),
            i(cols[4]),
        ])
        .permute(&[0, 1, 2, 4, 3, 5]);
    let padded = [plan.size[0] + 2 * rows[2], plan.size[1] + 2 * cols[2]];
    let zeros = Tensor::zeros_dtype([n, c, i(padded[0]), i(padded[1])], x.dtype());
    let row_index = block_indices(rows).unsqueeze(-1).unsqueeze(-1);
    let col_index = block_indices(cols);
    let args = vec![
        super::Value::Tensor(zeros),
        super::Value::OptTensorList(vec![None, None, Some(row_index), Some(col_index)]),
        super::Value::Tensor(blocks),
        super::Value::Bool(true),
    ];
    let summed = Tensor::call_op(&super::mutation::INDEX_PUT, args).swap_remove(0);
    let out = summed
        .slice(2, Some(rows[2]), Some(rows[2] + plan.size[0]), 1)
        .slice(3, Some(cols[2]), Some(cols[2] + plan.size[1]), 1);
    Ok(vec![if plan.batched {
        out
    } else {
        out.squeeze_dim(0)
    }])
}

op_def! {
    /// `F.fold` / `nn.Fold`: the sum of overlapping blocks, `[N, C·kh·kw, L]` →
    /// `[N, C, H, W]`.
    pub static COL2IM: struct Col2im =
        "aten::col2im(Tensor self, SymInt[2] output_size, int[2] kernel_size, int[2] dilation, int[2] padding, int[2] stride) -> Tensor" {
        meta: col2im_meta,
        composite: col2im_decomposition,
    }
    pub static IM2COL: struct Im2col =
        "aten::im2col(Tensor self, int[2] kernel_size, int[2] dilation, int[2] padding, int[2] stride) -> Tensor" {
        meta: im2col_meta,
        composite: im2col_decomposition,
    }
}
