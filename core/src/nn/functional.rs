//! Functional forms of the layers (`torch.nn.functional`), usually imported as `F`.

use ferrex_macros::export_fn;

use crate::tensor::Tensor;

/// Strict mode's answer for `Fx::relu(x)` through an alias of this module (`use
/// ferrex::nn::functional as Fx`): its functions are ferrex's (`strict.rs`, `OwnerOf`).
#[doc(hidden)]
pub fn __ferrex_owner() -> crate::__private::FerrexFunctions {
    crate::__private::FerrexFunctions
}

/// The marker of this module's functions for strict mode's result checks (`OwnerOf`).
#[doc(hidden)]
pub fn __ferrex_marker<const H: u64>(
) -> core::marker::PhantomData<crate::__private::FerrexFunctions> {
    core::marker::PhantomData
}

/// `max(x, 0)`.
#[track_caller]
#[export_fn]
pub fn relu(x: &Tensor) -> Tensor {
    x.relu()
}

/// In-place relu: `x` itself is updated and returned (PyTorch's `relu(x, inplace=True)`).
/// Takes the tensor by value so it can wrap an expression, `F::relu_(lin.forward(&x))`.
#[track_caller]
#[export_fn]
pub fn relu_(x: Tensor) -> Tensor {
    x.relu_()
}

/// `x @ weight.T + bias`.
#[track_caller]
#[export_fn]
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    x.linear(weight, bias)
}

// ----- activations and softmax (ops in `ops/activation.rs`, `ops/reduction.rs`) -------

/// `1 / (1 + exp(-x))`.
#[track_caller]
#[export_fn]
pub fn sigmoid(x: &Tensor) -> Tensor {
    x.sigmoid()
}

#[track_caller]
#[export_fn]
pub fn tanh(x: &Tensor) -> Tensor {
    x.tanh()
}

/// `x * sigmoid(x)`.
#[track_caller]
#[export_fn]
pub fn silu(x: &Tensor) -> Tensor {
    x.silu()
}

/// GELU with `approximate` `"none"` (exact, PyTorch's default) or `"tanh"`.
#[track_caller]
#[export_fn]
pub fn gelu(x: &Tensor, approximate: &str) -> Tensor {
    x.gelu(approximate)
}

/// `x * tanh(softplus(x))`.
#[track_caller]
#[export_fn]
pub fn mish(x: &Tensor) -> Tensor {
    x.mish()
}

/// `x * relu6(x + 3) / 6`.
#[track_caller]
#[export_fn]
pub fn hardswish(x: &Tensor) -> Tensor {
    x.hardswish()
}

/// `relu6(x + 3) / 6`.
#[track_caller]
#[export_fn]
pub fn hardsigmoid(x: &Tensor) -> Tensor {
    x.hardsigmoid()
}

/// `x` for `x > 0`, else `negative_slope * x` (PyTorch's default slope is 0.01).
#[track_caller]
#[export_fn]
pub fn leaky_relu(x: &Tensor, negative_slope: f64) -> Tensor {
    x.leaky_relu(negative_slope)
}

/// `x` for `x > 0`, else `alpha * (exp(x) - 1)` (PyTorch's default alpha is 1).
#[track_caller]
#[export_fn]
pub fn elu(x: &Tensor, alpha: f64) -> Tensor {
    x.elu(alpha)
}

/// Clamps into `[min_val, max_val]` (PyTorch's defaults are -1 and 1).
#[track_caller]
#[export_fn]
pub fn hardtanh(x: &Tensor, min_val: f64, max_val: f64) -> Tensor {
    x.hardtanh(min_val, max_val)
}

/// `min(max(x, 0), 6)`, recorded as `hardtanh(x, 0, 6)` as in PyTorch.
#[track_caller]
#[export_fn]
pub fn relu6(x: &Tensor) -> Tensor {
    x.hardtanh(0.0, 6.0)
}

/// `log(1 + exp(beta * x)) / beta`, linear where `beta * x > threshold` (PyTorch's
/// defaults are 1 and 20).
#[track_caller]
#[export_fn]
pub fn softplus(x: &Tensor, beta: f64, threshold: f64) -> Tensor {
    x.softplus(beta, threshold)
}

/// `exp(x) / sum(exp(x))` along `dim`.
#[track_caller]
#[export_fn]
pub fn softmax(x: &Tensor, dim: i64) -> Tensor {
    x.softmax(dim)
}

/// `log(softmax(x))` along `dim`, computed stably.
#[track_caller]
#[export_fn]
pub fn log_softmax(x: &Tensor, dim: i64) -> Tensor {
    x.log_softmax(dim)
}

// ----- convolution, pooling, normalisation, attention (ops in `ops/conv.rs`,
// `ops/pooling.rs`, `ops/normalization.rs`, `ops/attention.rs`, `ops/indexing.rs`) ------

/// A failed tensor for an option the functional form does not support.
#[track_caller]
fn unsupported(op: &str, message: String) -> Tensor {
    Tensor::failed(crate::error::TensorError::Op {
        op: op.to_string(),
        message,
        at: crate::error::SourceLocation::from_caller(std::panic::Location::caller()),
    })
}

/// 1-D convolution (`[N, C, L]` input, `[O, C/groups, k]` weight).
#[track_caller]
#[export_fn]
pub fn conv1d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    groups: i64,
) -> Tensor {
    input.conv1d(weight, bias, stride, padding, dilation, groups)
}

/// 2-D convolution (`[N, C, H, W]` input, `[O, C/groups, kh, kw]` weight).
#[track_caller]
#[export_fn]
pub fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    groups: i64,
) -> Tensor {
    input.conv2d(weight, bias, stride, padding, dilation, groups)
}

/// 2-D max pooling; `stride` `None` means `kernel_size`.
#[track_caller]
#[export_fn]
pub fn max_pool2d(
    input: &Tensor,
    kernel_size: &[i64],
    stride: Option<&[i64]>,
    padding: &[i64],
    dilation: &[i64],
    ceil_mode: bool,
) -> Tensor {
    input.max_pool2d(
        kernel_size,
        stride.unwrap_or(&[]),
        padding,
        dilation,
        ceil_mode,
    )
}

/// 2-D average pooling; `stride` `None` means `kernel_size`.
#[track_caller]
#[export_fn]
pub fn avg_pool2d(
    input: &Tensor,
    kernel_size: &[i64],
    stride: Option<&[i64]>,
    padding: &[i64],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> Tensor {
    input.avg_pool2d(
        kernel_size,
        stride.unwrap_or(&[]),
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )
}

/// Average pooling to a fixed output size `[oh, ow]`.
#[track_caller]
#[export_fn]
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: &[i64]) -> Tensor {
    input.adaptive_avg_pool2d(output_size)
}

/// 3-D convolution of `[N, C, D, H, W]` with weight `[C_out, C_in / groups, kd, kh,
/// kw]`.
#[track_caller]
#[export_fn]
pub fn conv3d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    groups: i64,
) -> Tensor {
    input.conv3d(weight, bias, stride, padding, dilation, groups)
}

/// 3-D max pooling; `stride` `None` means `kernel_size`.
#[track_caller]
#[export_fn]
pub fn max_pool3d(
    input: &Tensor,
    kernel_size: &[i64],
    stride: Option<&[i64]>,
    padding: &[i64],
    dilation: &[i64],
    ceil_mode: bool,
) -> Tensor {
    let stride = stride.unwrap_or(&[]);
    input.max_pool3d(kernel_size, stride, padding, dilation, ceil_mode)
}

/// 3-D average pooling; `stride` `None` means `kernel_size`.
#[track_caller]
#[export_fn]
pub fn avg_pool3d(
    input: &Tensor,
    kernel_size: &[i64],
    stride: Option<&[i64]>,
    padding: &[i64],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> Tensor {
    let stride = stride.unwrap_or(&[]);
    input.avg_pool3d(
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )
}

/// Average pooling to a fixed output size `[od, oh, ow]`.
#[track_caller]
#[export_fn]
pub fn adaptive_avg_pool3d(input: &Tensor, output_size: &[i64]) -> Tensor {
    input.adaptive_avg_pool3d(output_size)
}

/// The sampling grid `[N, H, W, 2]` of the affine maps `theta` (`[N, 2, 3]`) for an
/// output of `size` `[N, C, H, W]`.
#[track_caller]
#[export_fn]
pub fn affine_grid(theta: &Tensor, size: &[i64], align_corners: bool) -> Tensor {
    Tensor::affine_grid(theta, size, align_corners)
}

/// `input` read at the points of `grid` (x and y in [-1, 1]): `mode` `"bilinear"`,
/// `"nearest"` or `"bicubic"`; `padding_mode` `"zeros"`, `"border"` or `"reflection"`.
///
/// ```
/// use ferrex::prelude::*;
/// use ferrex::nn::functional as F;
///
/// // The identity map samples the image back.
/// let x = Tensor::from_vec((0..12).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 4]);
/// let theta = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0], [1, 2, 3]);
/// let grid = F::affine_grid(&theta, &[1, 1, 3, 4], false);
/// let y = F::grid_sample(&x, &grid, "bilinear", "zeros", false);
/// assert!(y.allclose(&x, 1e-6, 1e-5));
/// assert_eq!(y.to_vec::<f32>()?[..4], [0.0, 1.0, 2.0, 3.0]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[track_caller]
#[export_fn]
pub fn grid_sample(
    input: &Tensor,
    grid: &Tensor,
    mode: &str,
    padding_mode: &str,
    align_corners: bool,
) -> Tensor {
    input.grid_sample(grid, mode, padding_mode, align_corners)
}

/// Layer norm over the trailing `normalized_shape` dims.
#[track_caller]
#[export_fn]
pub fn layer_norm(
    input: &Tensor,
    normalized_shape: &[i64],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    input.layer_norm(normalized_shape, weight, bias, eps)
}

/// Group norm with `num_groups` groups of channels.
#[track_caller]
#[export_fn]
pub fn group_norm(
    input: &Tensor,
    num_groups: i64,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    input.group_norm(num_groups, weight, bias, eps)
}

/// Batch norm (PyTorch's argument order); only inference (`training = false`) is
/// supported.
#[track_caller]
#[allow(clippy::too_many_arguments)]
#[export_fn]
pub fn batch_norm(
    input: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Tensor {
    input.batch_norm(
        weight,
        bias,
        running_mean,
        running_var,
        training,
        momentum,
        eps,
    )
}

/// The rows of `weight` picked by the integer tensor `input`.
#[track_caller]
#[export_fn]
pub fn embedding(input: &Tensor, weight: &Tensor) -> Tensor {
    Tensor::embedding(weight, input)
}

/// Bags of rows of `weight` reduced by `mode` (`"sum"`, `"mean"`, `"max"`), as
/// `F.embedding_bag` with 1-D `input` and `offsets`: bag `b` runs from `offsets[b]` to
/// the next offset (the last to the end).
///
/// ```
/// use ferrex::prelude::*;
/// use ferrex::nn::functional as F;
///
/// let weight = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]);
/// let ids = Tensor::from_vec(vec![0i64, 2, 1], [3]);
/// let offsets = Tensor::from_vec(vec![0i64, 2], [2]);
/// let bags = F::embedding_bag(&ids, &weight, &offsets, "mean", None);
/// assert_eq!(bags.to_vec::<f32>()?, [3.0, 4.0, 3.0, 4.0]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[track_caller]
#[export_fn]
pub fn embedding_bag(
    input: &Tensor,
    weight: &Tensor,
    offsets: &Tensor,
    mode: &str,
    per_sample_weights: Option<&Tensor>,
) -> Tensor {
    Tensor::embedding_bag(
        weight,
        input,
        offsets,
        mode,
        per_sample_weights,
        false,
        None,
    )
}

/// Pads `input`: `pad` lists `(left, right)` pairs from the last dim backwards. `mode`
/// is `"constant"` (with `value`, default 0: `aten::constant_pad_nd`), `"reflect"`,
/// `"replicate"` or `"circular"` (`aten::pad`, as PyTorch's `F.pad` records it).
///
/// ```
/// use ferrex::prelude::*;
///
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [1, 3]);
/// let at = |mode| F::pad(&x, &[2, 1], mode, None).to_vec::<f32>();
/// assert_eq!(at("reflect")?, [3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
/// assert_eq!(at("replicate")?, [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
/// assert_eq!(at("circular")?, [2.0, 3.0, 1.0, 2.0, 3.0, 1.0]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[track_caller]
#[export_fn]
pub fn pad(input: &Tensor, pad: &[i64], mode: &str, value: Option<f64>) -> Tensor {
    if mode == "constant" {
        return input.pad(pad, value.unwrap_or(0.0));
    }
    input.pad_mode(pad, mode, value)
}

/// Resizes a `[N, C, H, W]` input to `size` or by `scale_factor` (exactly one), with
/// `mode = "nearest"` or `"bilinear"` (PyTorch's default `align_corners=False`; for
/// `True`, [`Tensor::upsample_bilinear2d`]).
///
/// ```
/// use ferrex::prelude::*;
///
/// let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0], [1, 1, 2, 2]);
/// let up = F::interpolate(&x, None, Some(&[2.0]), "bilinear");
/// assert_eq!(up.shape(), [1, 1, 4, 4]);
/// assert_eq!(up.to_vec::<f32>()?[..4], [0.0, 0.25, 0.75, 1.0]);
/// # Ok::<(), ferrex::TensorError>(())
/// ```
#[track_caller]
#[export_fn]
pub fn interpolate(
    input: &Tensor,
    size: Option<&[i64]>,
    scale_factor: Option<&[f64]>,
    mode: &str,
) -> Tensor {
    if !["nearest", "bilinear", "bicubic"].contains(&mode) {
        return unsupported(
            "interpolate",
            format!(
                "interpolation mode \"{mode}\" is not supported (only \"nearest\", \"bilinear\" and \"bicubic\")"
            ),
        );
    }
    // One value stands for every spatial dim, as in PyTorch.
    let size = size.map(|s| {
        if s.len() == 1 {
            vec![s[0]; 2]
        } else {
            s.to_vec()
        }
    });
    let scale = scale_factor.map(|s| {
        if s.len() == 1 {
            vec![s[0]; 2]
        } else {
            s.to_vec()
        }
    });
    match mode {
        "bilinear" => return input.upsample_bilinear2d(size.as_deref(), false, scale.as_deref()),
        "bicubic" => return input.upsample_bicubic2d(size.as_deref(), false, scale.as_deref()),
        _ => {}
    }
    input.upsample_nearest2d(size.as_deref(), scale.as_deref())
}

/// `softmax(query @ keyᵀ * scale + attn_mask) @ value`; `dropout_p` must be 0.
#[track_caller]
#[allow(clippy::too_many_arguments)]
#[export_fn]
pub fn scaled_dot_product_attention(
    query: &Tensor,
    key: &Tensor,
    value: &Tensor,
    attn_mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    enable_gqa: bool,
) -> Tensor {
    query.scaled_dot_product_attention(
        key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa,
    )
}
