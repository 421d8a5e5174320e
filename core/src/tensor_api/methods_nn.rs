//! Tensor methods for layers: convolution, pooling, normalisation, attention,
//! embedding, upsampling, and batched matrix products.

use crate::ops::{
    attention, conv, dispatch, dispatch1, embedding_bag, grid_sample, indexing, linalg,
    normalization, pool3d, pooling, Value,
};
use crate::symbolic::SymInt;

use super::methods::{here, int, ints, opt_t, t};
use super::IntoSizes;
use crate::tensor::Tensor;

/// The first three outputs of a multi-output op.
fn three(mut out: Vec<Tensor>) -> (Tensor, Tensor, Tensor) {
    while out.len() < 3 {
        let first = out
            .first()
            .cloned()
            .unwrap_or_else(|| Tensor::scalar(0.0f32));
        out.push(first);
    }
    let c = out.remove(2);
    let b = out.remove(1);
    (out.remove(0), b, c)
}

/// The arguments of `conv1d` / `conv2d`, in schema order.
fn conv_args(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    spatial: [&[i64]; 3],
    groups: i64,
) -> Vec<Value> {
    let [stride, padding, dilation] = spatial;
    vec![
        t(x),
        t(weight),
        opt_t(bias),
        ints(stride),
        ints(padding),
        ints(dilation),
        int(groups),
    ]
}

fn floats(v: &[f64]) -> Value {
    Value::FloatList(v.to_vec())
}

impl Tensor {
    // ----- matrix products -----------------------------------------------------------

    /// Batched matrix product of `[b, n, m]` and `[b, m, p]` tensors.
    #[track_caller]
    #[must_use]
    pub fn bmm(&self, mat2: &Tensor) -> Tensor {
        dispatch1(&linalg::BMM, vec![t(self), t(mat2)], here())
    }

    // ----- convolution ---------------------------------------------------------------

    /// 1-D convolution of `[N, C, L]` (or `[C, L]`) with `weight` `[O, C/groups, k]`.
    /// `stride`, `padding`, `dilation` take one value or one per spatial dim.
    #[track_caller]
    #[must_use]
    pub fn conv1d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        groups: i64,
    ) -> Tensor {
        let args = conv_args(self, weight, bias, [stride, padding, dilation], groups);
        dispatch1(&conv::CONV1D, args, here())
    }

    /// 2-D convolution of `[N, C, H, W]` (or `[C, H, W]`) with `weight`
    /// `[O, C/groups, kh, kw]`.
    #[track_caller]
    #[must_use]
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        groups: i64,
    ) -> Tensor {
        let args = conv_args(self, weight, bias, [stride, padding, dilation], groups);
        dispatch1(&conv::CONV2D, args, here())
    }

    /// Transposed 2-D convolution (`F.conv_transpose2d`): weight `[C_in, C_out / groups,
    /// kh, kw]`; the output grows by `(in - 1) * stride - 2 * padding + dilation * (k - 1)
    /// + output_padding + 1`.
    #[track_caller]
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[i64],
        padding: &[i64],
        output_padding: &[i64],
        groups: i64,
        dilation: &[i64],
    ) -> Tensor {
        let args = vec![
            t(self),
            t(weight),
            opt_t(bias),
            ints(stride),
            ints(padding),
            ints(output_padding),
            int(groups),
            ints(dilation),
        ];
        dispatch1(&conv::CONV_TRANSPOSE2D, args, here())
    }

    // ----- pooling and resampling ----------------------------------------------------

    /// Mean over windows of the last dim of `[N, C, L]` or `[C, L]`; an empty `stride`
    /// means `kernel_size`.
    #[track_caller]
    #[must_use]
    pub fn avg_pool1d(
        &self,
        kernel_size: i64,
        stride: Option<i64>,
        padding: i64,
        ceil_mode: bool,
        count_include_pad: bool,
    ) -> Tensor {
        let args = vec![
            t(self),
            ints(&[kernel_size]),
            ints(stride.as_slice()),
            ints(&[padding]),
            Value::Bool(ceil_mode),
            Value::Bool(count_include_pad),
        ];
        dispatch1(&pooling::AVG_POOL1D, args, here())
    }

    /// Max over windows of the last two dims; an empty `stride` means `kernel_size`.
    #[track_caller]
    #[must_use]
    pub fn max_pool2d(
        &self,
        kernel_size: &[i64],
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        ceil_mode: bool,
    ) -> Tensor {
        let args = vec![
            t(self),
            ints(kernel_size),
            ints(stride),
            ints(padding),
            ints(dilation),
            Value::Bool(ceil_mode),
        ];
        dispatch1(&pooling::MAX_POOL2D, args, here())
    }

    /// Mean over windows of the last two dims; an empty `stride` means `kernel_size`.
    #[track_caller]
    #[must_use]
    pub fn avg_pool2d(
        &self,
        kernel_size: &[i64],
        stride: &[i64],
        padding: &[i64],
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<i64>,
    ) -> Tensor {
        let args = vec![
            t(self),
            ints(kernel_size),
            ints(stride),
            ints(padding),
            Value::Bool(ceil_mode),
            Value::Bool(count_include_pad),
            divisor_override.map(int).unwrap_or(Value::None),
        ];
        dispatch1(&pooling::AVG_POOL2D, args, here())
    }

    /// Mean pooling to a fixed `[oh, ow]` output.
    #[track_caller]
    #[must_use]
    pub fn adaptive_avg_pool2d(&self, output_size: impl IntoSizes) -> Tensor {
        let args = vec![t(self), Value::IntList(output_size.into_sizes())];
        dispatch1(&pooling::ADAPTIVE_AVG_POOL2D, args, here())
    }

    /// Nearest-neighbour upsampling of `[N, C, H, W]` to `output_size`, or by
    /// `scale_factors` (exactly one of them).
    #[track_caller]
    #[must_use]
    pub fn upsample_nearest2d(
        &self,
        output_size: Option<&[i64]>,
        scale_factors: Option<&[f64]>,
    ) -> Tensor {
        let args = vec![
            t(self),
            output_size.map(ints).unwrap_or(Value::None),
            scale_factors.map(floats).unwrap_or(Value::None),
        ];
        dispatch1(&pooling::UPSAMPLE_NEAREST2D_VEC, args, here())
    }

    /// Bilinear resampling of the last two dims of `[N, C, H, W]` to `output_size` or by
    /// `scale_factors` (exactly one of them), as `F.interpolate(mode="bilinear")`.
    #[track_caller]
    #[must_use]
    pub fn upsample_bilinear2d(
        &self,
        output_size: Option<&[i64]>,
        align_corners: bool,
        scale_factors: Option<&[f64]>,
    ) -> Tensor {
        let args = resample_args(self, output_size, align_corners, scale_factors);
        dispatch1(&pooling::UPSAMPLE_BILINEAR2D_VEC, args, here())
    }

    // ----- normalisation -------------------------------------------------------------

    /// Instance norm with input statistics (`F.instance_norm(x, weight=…, bias=…)`):
    /// each `(sample, channel)` plane normalized on its own, then scaled per channel.
    #[track_caller]
    #[must_use]
    pub fn instance_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let args = vec![
            t(self),
            opt_t(weight),
            opt_t(bias),
            Value::None,
            Value::None,
            Value::Bool(true),
            Value::Float(0.1),
            Value::Float(eps),
            Value::Bool(false),
        ];
        dispatch1(&normalization::INSTANCE_NORM, args, here())
    }

    /// Layer norm over the trailing `normalized_shape` dims: `(out, mean, rstd)`, the
    /// statistics keeping the normalised dims as size 1 (`aten::native_layer_norm`).
    #[track_caller]
    #[must_use]
    pub fn native_layer_norm(
        &self,
        normalized_shape: impl IntoSizes,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> (Tensor, Tensor, Tensor) {
        let args = vec![
            t(self),
            Value::IntList(normalized_shape.into_sizes()),
            opt_t(weight),
            opt_t(bias),
            Value::Float(eps),
        ];
        three(dispatch(&normalization::NATIVE_LAYER_NORM, args, here()))
    }

    /// Layer norm over the trailing `normalized_shape` dims (`aten::layer_norm`).
    #[track_caller]
    #[must_use]
    pub fn layer_norm(
        &self,
        normalized_shape: impl IntoSizes,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let args = vec![
            t(self),
            Value::IntList(normalized_shape.into_sizes()),
            opt_t(weight),
            opt_t(bias),
            Value::Float(eps),
        ];
        dispatch1(&normalization::LAYER_NORM, args, here())
    }

    /// Group norm of an input seen as `[n, c, hxw]`: `(out, mean, rstd)`, the statistics
    /// `[n, group]` (`aten::native_group_norm`).
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn native_group_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        n: impl Into<SymInt>,
        c: impl Into<SymInt>,
        hxw: impl Into<SymInt>,
        group: i64,
        eps: f64,
    ) -> (Tensor, Tensor, Tensor) {
        let args = vec![
            t(self),
            opt_t(weight),
            opt_t(bias),
            int(n),
            int(c),
            int(hxw),
            int(group),
            Value::Float(eps),
        ];
        three(dispatch(&normalization::NATIVE_GROUP_NORM, args, here()))
    }

    /// Group norm: channels (dim 1) split into `num_groups` groups (`aten::group_norm`).
    #[track_caller]
    #[must_use]
    pub fn group_norm(
        &self,
        num_groups: i64,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let args = vec![
            t(self),
            int(num_groups),
            opt_t(weight),
            opt_t(bias),
            Value::Float(eps),
        ];
        dispatch1(&normalization::GROUP_NORM, args, here())
    }

    /// Batch norm with running statistics (inference):
    /// `(out, empty, empty)` as `aten::_native_batch_norm_legit_no_training` returns.
    #[track_caller]
    #[must_use]
    pub fn native_batch_norm_legit_no_training(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> (Tensor, Tensor, Tensor) {
        let args = vec![
            t(self),
            opt_t(weight),
            opt_t(bias),
            t(running_mean),
            t(running_var),
            Value::Float(momentum),
            Value::Float(eps),
        ];
        three(dispatch(
            &normalization::NATIVE_BATCH_NORM_LEGIT_NO_TRAINING,
            args,
            here(),
        ))
    }

    /// Batch norm over dim 1 (`aten::batch_norm`); only inference (`training = false`,
    /// running statistics given) is supported.
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn batch_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Tensor {
        let args = vec![
            t(self),
            opt_t(weight),
            opt_t(bias),
            opt_t(running_mean),
            opt_t(running_var),
            Value::Bool(training),
            Value::Float(momentum),
            Value::Float(eps),
            Value::Bool(true),
        ];
        dispatch1(&normalization::BATCH_NORM, args, here())
    }

    // ----- attention and embedding ---------------------------------------------------

    /// `softmax(self @ keyᵀ * scale + mask) @ value` with `self` the query
    /// (`aten::scaled_dot_product_attention`); `dropout_p` must be 0.
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn scaled_dot_product_attention(
        &self,
        key: &Tensor,
        value: &Tensor,
        attn_mask: Option<&Tensor>,
        dropout_p: f64,
        is_causal: bool,
        scale: Option<f64>,
        enable_gqa: bool,
    ) -> Tensor {
        let args = vec![
            t(self),
            t(key),
            t(value),
            opt_t(attn_mask),
            Value::Float(dropout_p),
            Value::Bool(is_causal),
            scale.map(Value::Float).unwrap_or(Value::None),
            Value::Bool(enable_gqa),
        ];
        dispatch1(&attention::SCALED_DOT_PRODUCT_ATTENTION, args, here())
    }

    /// The rows of `weight` (`[num_embeddings, dim]`) listed by the integer `indices`
    /// (`aten::embedding`): the result has shape `indices.shape + [dim]`.
    #[track_caller]
    #[must_use]
    pub fn embedding(weight: &Tensor, indices: &Tensor) -> Tensor {
        dispatch1(&indexing::EMBEDDING, vec![t(weight), t(indices)], here())
    }

    /// Bags of rows of `weight` reduced by `mode` (`"sum"`, `"mean"`, `"max"`): the bag
    /// `b` of 1-D `indices` runs from `offsets[b]` to the next offset (the last to the
    /// end, or to the last offset with `include_last_offset`); sums are scaled by
    /// `per_sample_weights`; `padding_idx` rows are left out (`aten::embedding_bag`).
    #[track_caller]
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn embedding_bag(
        weight: &Tensor,
        indices: &Tensor,
        offsets: &Tensor,
        mode: &str,
        per_sample_weights: Option<&Tensor>,
        include_last_offset: bool,
        padding_idx: Option<i64>,
    ) -> Tensor {
        let mode = match mode {
            "sum" => 0,
            "mean" => 1,
            "max" => 2,
            other => {
                return Tensor::from_error(crate::TensorError::Construct {
                    what: "embedding_bag",
                    message: format!("mode has to be one of sum, mean or max, got \"{other}\""),
                })
            }
        };
        let args = vec![
            t(weight),
            t(indices),
            t(offsets),
            Value::Bool(false),
            int(mode),
            Value::Bool(false),
            opt_t(per_sample_weights),
            Value::Bool(include_last_offset),
            padding_idx.map(int).unwrap_or(Value::None),
        ];
        let out = dispatch(&embedding_bag::EMBEDDING_BAG_PADDING_IDX, args, here());
        three(out).0
    }

    /// 3-D convolution of `[N, C, D, H, W]` (or unbatched `[C, D, H, W]`) with weight
    /// `[C_out, C_in / groups, kd, kh, kw]` (`aten::conv3d`).
    #[track_caller]
    #[must_use]
    pub fn conv3d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        groups: i64,
    ) -> Tensor {
        let args = conv_args(self, weight, bias, [stride, padding, dilation], groups);
        dispatch1(&conv::CONV3D, args, here())
    }

    /// 3-D max pooling of the last three dims (`aten::max_pool3d`); an empty `stride`
    /// means the kernel size.
    #[track_caller]
    #[must_use]
    pub fn max_pool3d(
        &self,
        kernel_size: &[i64],
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        ceil_mode: bool,
    ) -> Tensor {
        let args = vec![
            t(self),
            ints(kernel_size),
            ints(stride),
            ints(padding),
            ints(dilation),
            Value::Bool(ceil_mode),
        ];
        dispatch1(&pool3d::MAX_POOL3D, args, here())
    }

    /// [`Tensor::max_pool3d`] and the flat position of each maximum in its input volume
    /// (`aten::max_pool3d_with_indices`, `F.max_pool3d(..., return_indices=True)`).
    #[track_caller]
    #[must_use]
    pub fn max_pool3d_with_indices(
        &self,
        kernel_size: &[i64],
        stride: &[i64],
        padding: &[i64],
        dilation: &[i64],
        ceil_mode: bool,
    ) -> (Tensor, Tensor) {
        let args = vec![
            t(self),
            ints(kernel_size),
            ints(stride),
            ints(padding),
            ints(dilation),
            Value::Bool(ceil_mode),
        ];
        let (values, indices, _) = three(dispatch(&pool3d::MAX_POOL3D_WITH_INDICES, args, here()));
        (values, indices)
    }

    /// 3-D average pooling of the last three dims (`aten::avg_pool3d`).
    #[track_caller]
    #[must_use]
    pub fn avg_pool3d(
        &self,
        kernel_size: &[i64],
        stride: &[i64],
        padding: &[i64],
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<i64>,
    ) -> Tensor {
        let args = vec![
            t(self),
            ints(kernel_size),
            ints(stride),
            ints(padding),
            Value::Bool(ceil_mode),
            Value::Bool(count_include_pad),
            divisor_override.map(int).unwrap_or(Value::None),
        ];
        dispatch1(&pool3d::AVG_POOL3D, args, here())
    }

    /// Average pooling of the last three dims to `output_size` (`[d, h, w]`).
    #[track_caller]
    #[must_use]
    pub fn adaptive_avg_pool3d(&self, output_size: impl IntoSizes) -> Tensor {
        let args = vec![t(self), Value::IntList(output_size.into_sizes())];
        dispatch1(&pool3d::ADAPTIVE_AVG_POOL3D, args, here())
    }

    /// Bicubic resampling of the last two dims of `[N, C, H, W]` to `output_size` or by
    /// `scale_factors` (exactly one of them), as `F.interpolate(mode="bicubic")`.
    #[track_caller]
    #[must_use]
    pub fn upsample_bicubic2d(
        &self,
        output_size: Option<&[i64]>,
        align_corners: bool,
        scale_factors: Option<&[f64]>,
    ) -> Tensor {
        let args = resample_args(self, output_size, align_corners, scale_factors);
        dispatch1(&pooling::UPSAMPLE_BICUBIC2D_VEC, args, here())
    }

    /// Antialiased resampling of the last two dims of `[N, C, H, W]` to `output_size`
    /// or by `scale_factors` (exactly one of them), as `F.interpolate(mode="bilinear",
    /// antialias=True)` and torchvision's `Resize`: when shrinking, every source pixel
    /// an output pixel covers counts (PIL's resize). `cubic` uses Keys' cubic
    /// (`mode="bicubic"`) instead of the triangle.
    ///
    /// ```
    /// use ferrex::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 1, 4]);
    /// let half = x.upsample_antialiased(Some(&[1, 2]), false, None, false);
    /// let want = [12.0 / 7.0, 23.0 / 7.0];
    /// let got = half.to_vec::<f32>()?;
    /// assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6));
    /// # Ok::<(), ferrex::TensorError>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn upsample_antialiased(
        &self,
        output_size: Option<&[i64]>,
        align_corners: bool,
        scale_factors: Option<&[f64]>,
        cubic: bool,
    ) -> Tensor {
        let args = resample_args(self, output_size, align_corners, scale_factors);
        let op = if cubic {
            &pooling::UPSAMPLE_BICUBIC2D_AA_VEC
        } else {
            &pooling::UPSAMPLE_BILINEAR2D_AA_VEC
        };
        dispatch1(op, args, here())
    }

    /// The sampling grid `[N, H, W, 2]` of the affine maps `theta` (`[N, 2, 3]`) over an
    /// output of `size` (`[N, C, H, W]`), as `F.affine_grid`.
    #[track_caller]
    #[must_use]
    pub fn affine_grid(theta: &Tensor, size: impl IntoSizes, align_corners: bool) -> Tensor {
        let args = vec![
            t(theta),
            Value::IntList(size.into_sizes()),
            Value::Bool(align_corners),
        ];
        dispatch1(&grid_sample::AFFINE_GRID_GENERATOR, args, here())
    }

    /// `[N, C, H, W]` read at the points of `grid` (`[N, H_out, W_out, 2]`, x and y in
    /// [-1, 1]), as `F.grid_sample`: `mode` `"bilinear"`, `"nearest"` or `"bicubic"`,
    /// `padding_mode` `"zeros"`, `"border"` or `"reflection"`.
    #[track_caller]
    #[must_use]
    pub fn grid_sample(
        &self,
        grid: &Tensor,
        mode: &str,
        padding_mode: &str,
        align_corners: bool,
    ) -> Tensor {
        let find = |name: &str, list: [&str; 3]| list.iter().position(|m| *m == name);
        let modes = (
            find(mode, ["bilinear", "nearest", "bicubic"]),
            find(padding_mode, ["zeros", "border", "reflection"]),
        );
        let (Some(m), Some(p)) = modes else {
            return Tensor::from_error(crate::TensorError::Construct {
                what: "grid_sample",
                message: format!("unknown mode \"{mode}\" or padding_mode \"{padding_mode}\""),
            });
        };
        let args = vec![
            t(self),
            t(grid),
            int(m as i64),
            int(p as i64),
            Value::Bool(align_corners),
        ];
        dispatch1(&grid_sample::GRID_SAMPLER, args, here())
    }
}

/// The arguments of a `.vec` resampling with `align_corners` (bilinear, bicubic, their
/// antialiased forms): `(input, output_size?, align_corners, scale_factors?)`.
fn resample_args(
    x: &Tensor,
    output_size: Option<&[i64]>,
    align_corners: bool,
    scale_factors: Option<&[f64]>,
) -> Vec<Value> {
    vec![
        t(x),
        output_size.map(ints).unwrap_or(Value::None),
        Value::Bool(align_corners),
        scale_factors.map(floats).unwrap_or(Value::None),
    ]
}
