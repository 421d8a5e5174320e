//! `nn::Conv1d`, `nn::Conv2d`, `nn::Conv3d`.

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

    /// Sets the dilation (builder style).
    pub fn dilation(mut self, dilation: usize) -> Conv2d {
        self.dilation = [dilation as i64; 2];
        self
    }

    /// Splits the channels into `groups` groups (builder style):
    /// `Conv2d::new(8, 8, 3).groups(2).padding(1)`. The weight is initialised anew for
    /// its new shape `[out, in / groups, kh, kw]`; channels that do not divide into the
    /// groups leave a weight carrying the error, which `forward` returns.
    pub fn groups(self, groups: usize) -> Conv2d {
        let shape = self.weight.shape();
        let (out, per_group, kh, kw) = match shape[..] {
            [o, p, h, w] => (o, p, h, w),
            _ => return self,
        };
        let in_channels = per_group * self.groups.max(1) as usize;
        let mut conv = Conv2d::with_options(
            in_channels,
            out,
            [kh, kw],
            self.stride,
            self.padding,
            self.dilation,
            groups,
            self.bias.is_some(),
        );
        if let Some(message) = groups_error(in_channels, out, groups) {
            conv.weight = Tensor::from_error(crate::TensorError::Construct {
                what: "Conv2d::groups",
                message,
            });
        }
        conv
    }

    /// Drops the bias (builder style), PyTorch's `bias=False`.
    pub fn without_bias(mut self) -> Conv2d {
        self.bias = None;
        self
    }
}

/// PyTorch's checks on `groups`.
fn groups_error(in_channels: usize, out_channels: usize, groups: usize) -> Option<String> {
    if groups == 0 {
        Some("groups must be a positive integer".into())
    } else if !in_channels.is_multiple_of(groups) {
        Some(format!(
            "in_channels ({in_channels}) must be divisible by groups ({groups})"
        ))
    } else if !out_channels.is_multiple_of(groups) {
        Some(format!(
            "out_channels ({out_channels}) must be divisible by groups ({groups})"
        ))
    } else {
        None
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

    /// Sets the dilation (builder style).
    pub fn dilation(mut self, dilation: usize) -> Conv1d {
        self.dilation = dilation as i64;
        self
    }

    /// Splits the channels into `groups` groups (builder style); the weight is
    /// initialised anew for its shape `[out, in / groups, k]` (see [`Conv2d::groups`]).
    pub fn groups(mut self, groups: usize) -> Conv1d {
        let shape = self.weight.shape();
        let (out, per_group, k) = match shape[..] {
            [o, p, k] => (o, p, k),
            _ => return self,
        };
        let in_channels = per_group * self.groups.max(1) as usize;
        let per_group = in_channels / groups.max(1);
        let fan_in = per_group * k;
        self.weight = match groups_error(in_channels, out, groups) {
            Some(message) => Tensor::from_error(crate::TensorError::Construct {
                what: "Conv1d::groups",
                message,
            }),
            None => fan_in_uniform(&[out, per_group, k], fan_in),
        };
        if self.bias.is_some() {
            self.bias = Some(fan_in_uniform(&[out], fan_in));
        }
        self.groups = groups as i64;
        self
    }

    /// Drops the bias (builder style), PyTorch's `bias=False`.
    pub fn without_bias(mut self) -> Conv1d {
        self.bias = None;
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

/// 3-D convolution over `[N, C, D, H, W]`; weight `[out, in / groups, kd, kh, kw]`.
///
/// ```
/// use ferrex::prelude::*;
///
/// let conv = ferrex::nn::Conv3d::new(2, 4, 3).padding(1).stride(2);
/// let y = conv.forward(&Tensor::randn([1, 2, 4, 6, 6]));
/// assert_eq!(y.shape(), [1, 4, 2, 3, 3]);
/// ```
#[export_module]
pub struct Conv3d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub stride: [i64; 3],
    pub padding: [i64; 3],
    pub dilation: [i64; 3],
    pub groups: i64,
}

impl Conv3d {
    /// A cubic kernel, stride 1, no padding, one group, with a bias, initialised as
    /// PyTorch does.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Conv3d {
        Conv3d::with_kernel(in_channels, out_channels, [kernel_size; 3], 1, true)
    }

    /// A `[kd, kh, kw]` kernel over `groups` channel groups.
    pub fn with_kernel(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 3],
        groups: usize,
        bias: bool,
    ) -> Conv3d {
        let per_group = in_channels / groups.max(1);
        let fan_in = per_group * kernel_size.iter().product::<usize>();
        let [kd, kh, kw] = kernel_size;
        let mut weight = fan_in_uniform(&[out_channels, per_group, kd, kh, kw], fan_in);
        if let Some(message) = groups_error(in_channels, out_channels, groups) {
            weight = Tensor::from_error(crate::TensorError::Construct {
                what: "Conv3d",
                message,
            });
        }
        Conv3d {
            weight,
            bias: bias.then(|| fan_in_uniform(&[out_channels], fan_in)),
            stride: [1; 3],
            padding: [0; 3],
            dilation: [1; 3],
            groups: groups as i64,
        }
    }

    /// Sets the padding (builder style).
    pub fn padding(mut self, padding: usize) -> Conv3d {
        self.padding = [padding as i64; 3];
        self
    }

    /// Sets the stride (builder style).
    pub fn stride(mut self, stride: usize) -> Conv3d {
        self.stride = [stride as i64; 3];
        self
    }

    /// Sets the dilation (builder style).
    pub fn dilation(mut self, dilation: usize) -> Conv3d {
        self.dilation = [dilation as i64; 3];
        self
    }

    /// Drops the bias (builder style), PyTorch's `bias=False`.
    pub fn without_bias(mut self) -> Conv3d {
        self.bias = None;
        self
    }
}

#[export_module]
impl Conv3d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::conv3d(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModuleExt;

    #[test]
    fn grouped_convolution_is_two_convolutions_side_by_side() {
        crate::manual_seed(3);
        let conv = Conv2d::new(8, 8, 3).groups(2).padding(1);
        assert_eq!(conv.weight.shape(), [8, 4, 3, 3]);
        assert_eq!((conv.groups, conv.padding), (2, [1, 1]));
        assert_eq!(
            conv.get_parameter("weight").map(|w| w.shape()),
            Some(vec![8, 4, 3, 3])
        );
        let x = Tensor::randn([1, 8, 5, 5]);
        let out = conv.forward(&x);
        assert_eq!(out.shape(), [1, 8, 5, 5]);
        // Independently: each half of the output channels sees only its half of the input.
        let half = |t: &Tensor, dim: i64, k: i64| t.narrow(dim, 4 * k, 4);
        let bias = conv.bias.clone().unwrap_or_else(|| Tensor::zeros([8]));
        let parts: Vec<Tensor> = (0..2)
            .map(|k| {
                F::conv2d(
                    &half(&x, 1, k),
                    &half(&conv.weight, 0, k),
                    Some(&half(&bias, 0, k)),
                    &[1, 1],
                    &[1, 1],
                    &[1, 1],
                    1,
                )
            })
            .collect();
        let expected = Tensor::cat(&parts, 1);
        assert!(out.max_abs_diff(&expected).unwrap() < 1e-5);
        assert!(out.allclose(&expected, 1e-5, 1e-6));
    }

    #[test]
    fn groups_that_do_not_divide_the_channels_fail_in_forward() {
        let conv = Conv2d::new(6, 8, 3).groups(4);
        let err = conv
            .forward(&Tensor::randn([1, 6, 5, 5]))
            .to_vec::<f32>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Conv2d::groups: in_channels (6) must be divisible by groups (4)"
        );
        let conv1 = Conv1d::new(4, 4, 3).groups(2).without_bias();
        assert_eq!(conv1.weight.shape(), [4, 2, 3]);
        assert!(conv1.bias.is_none());
        assert_eq!(conv1.forward(&Tensor::randn([1, 4, 6])).shape(), [1, 4, 4]);
    }
}
