//! `im2col` (`F.unfold`, `nn.Unfold`): every sliding block of a batch of images as a
//! column, `[N, C, H, W]` → `[N, C·kh·kw, L]` (`[C, H, W]` without the batch). A
//! composite written as PyTorch's decomposition: the blocks' row and column indices made
//! by `arange`, the padded input read by one `index`, then `permute` and `reshape` — so
//! the compiled runtime plans it as those ops.

use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Tensor, TensorMeta};

/// The checked pairs `(kernel, dilation, padding, stride)` of both spatial dims, and the
/// blocks along each: `(size + 2·padding - dilation·(kernel - 1) - 1) / stride + 1`.
fn geometry(a: &Im2col, height: i64, width: i64) -> Result<[[i64; 5]; 2], OpError> {
    let pair = |v: &[i64], what: &str| -> Result<[i64; 2], OpError> {
        match v {
            [a, b] => Ok([*a, *b]),
            _ => op_bail!("im2col: expected {what} of 2 values, got {v:?}"),
        }
    };
    let (k, d, p, s) = (
        pair(&a.kernel_size, "kernel_size")?,
        pair(&a.dilation, "dilation")?,
        pair(&a.padding, "padding")?,
        pair(&a.stride, "stride")?,
    );
    let mut out = [[0; 5]; 2];
    for (i, size) in [height, width].into_iter().enumerate() {
        if k[i] <= 0 || d[i] <= 0 || s[i] <= 0 || p[i] < 0 {
            op_bail!("im2col: kernel_size, dilation and stride must be positive and padding non-negative, got {k:?}, {d:?}, {p:?}, {s:?}");
        }
        let span = d[i].checked_mul(k[i] - 1).and_then(|x| x.checked_add(1));
        let room = p[i].checked_mul(2).and_then(|x| x.checked_add(size));
        let blocks = match (span, room) {
            (Some(span), Some(room)) if room >= span => (room - span) / s[i] + 1,
            _ => op_bail!(
                "im2col: the {k:?} kernel (dilation {d:?}) does not fit the padded input of {height}x{width} (padding {p:?})"
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
    let dims = geometry(a, m.sizes[r - 2].hint(), m.sizes[r - 1].hint())?;
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
    let [rows, cols] = geometry(a, sizes[2].hint(), sizes[3].hint())?;
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

op_def! {
    pub static IM2COL: struct Im2col =
        "aten::im2col(Tensor self, int[2] kernel_size, int[2] dilation, int[2] padding, int[2] stride) -> Tensor" {
        meta: im2col_meta,
        composite: im2col_decomposition,
    }
}
