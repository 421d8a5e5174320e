//! `nn::Conv1d`, `nn::Conv2d`.

use crate::nn::functional as F;
use crate::nn::init::fan_in_uniform;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// 2-D convolution over `[N, C, H, W]`; weight `[out, in / groups, kh, kw]`.
#[export_module]
pub struct Conv2d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub stride: [i64; 2],
    pub padding: [i64; 2],
    pub dilation: [i64; 2],
    pub groups: i64,
}

impl Conv2d {
    /// A square-kernel convolution with stride 1, no padding, one group, and a bias,
    /// initialised as PyTorch does.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Conv2d {
        Conv2d::with_options(
            in_channels,
            out_channels,
            [kernel_size; 2],
            [1; 2],
            [0; 2],
            [1; 2],
            1,
            true,
        )
    }

    /// Every option of PyTorch's `Conv2d`.
    #[allow(clippy::too_many_arguments)]
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        stride: [i64; 2],
        padding: [i64; 2],
        dilation: [i64; 2],
        groups: usize,
        bias: bool,
    ) -> Conv2d {
        let per_group = in_channels / groups.max(1);
        let fan_in = per_group * kernel_size[0] * kernel_size[1];
        Conv2d {
            weight: fan_in_uniform(
                &[out_channels, per_group, kernel_size[0], kernel_size[1]],
                fan_in,
            ),
            bias: bias.then(|| fan_in_uniform(&[out_channels], fan_in)),
            stride,
            padding,
            dilation,
            groups: groups as i64,
        }
    }

    /// Sets the padding (builder style).
    pub fn padding(mut self, padding: usize) -> Conv2d {
        self.padding = [padding as i64; 2];
        self
    }

    /// Sets the stride (builder style).
    pub fn stride(mut self, stride: usize) -> Conv2d {
        self.stride = [stride as i64; 2];
        self
    }
}

#[export_module]
impl Conv2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            &self.stride,
            &self.padding,
            &self.dilation,
            self.groups,
        )
    }
}

/// 1-D convolution over `[N, C, L]`; weight `[out, in / groups, k]`.
#[export_module]
pub struct Conv1d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub stride: i64,
    pub padding: i64,
    pub dilation: i64,
    pub groups: i64,
}

impl Conv1d {
    /// Stride 1, no padding, one group, with a bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Conv1d {
        let fan_in = in_channels * kernel_size;
        Conv1d {
            weight: fan_in_uniform(&[out_channels, in_channels, kernel_size], fan_in),
            bias: Some(fan_in_uniform(&[out_channels], fan_in)),
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }

    /// Sets the padding (builder style).
    pub fn padding(mut self, padding: usize) -> Conv1d {
        self.padding = padding as i64;
        self
    }

    /// Sets the stride (builder style).
    pub fn stride(mut self, stride: usize) -> Conv1d {
        self.stride = stride as i64;
        self
    }
}

#[export_module]
impl Conv1d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::conv1d(
            x,
            &self.weight,
            self.bias.as_ref(),
            &[self.stride],
            &[self.padding],
            &[self.dilation],
            self.groups,
        )
    }
}
