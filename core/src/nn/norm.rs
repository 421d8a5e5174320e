//! Normalisation layers: `BatchNorm2d` (inference), `LayerNorm`, `GroupNorm`.

use crate::nn::functional as F;
use crate::tensor::{DType, Tensor};
use ferrex_macros::export_module;

/// Batch norm over `[N, C, H, W]` with running statistics (inference mode, which is
/// what an exported program computes). Buffers as in PyTorch: `running_mean`,
/// `running_var`, `num_batches_tracked`.
#[export_module]
pub struct BatchNorm2d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Tensor,
    #[buffer]
    pub running_mean: Tensor,
    #[buffer]
    pub running_var: Tensor,
    #[buffer]
    pub num_batches_tracked: Tensor,
    pub eps: f64,
    pub momentum: f64,
}

impl BatchNorm2d {
    pub fn new(num_features: usize) -> BatchNorm2d {
        BatchNorm2d {
            weight: Tensor::ones([num_features]),
            bias: Tensor::zeros([num_features]),
            running_mean: Tensor::zeros([num_features]),
            running_var: Tensor::ones([num_features]),
            num_batches_tracked: Tensor::zeros_dtype(Vec::<usize>::new(), DType::I64),
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

#[export_module]
impl BatchNorm2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::batch_norm(
            x,
            Some(&self.running_mean),
            Some(&self.running_var),
            Some(&self.weight),
            Some(&self.bias),
            false,
            self.momentum,
            self.eps,
        )
    }
}

/// Layer norm over the trailing `normalized_shape` dims, with elementwise affine
/// `weight` (ones) and `bias` (zeros).
#[export_module]
pub struct LayerNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    pub normalized_shape: Vec<i64>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        LayerNorm {
            weight: Some(Tensor::ones(normalized_shape)),
            bias: Some(Tensor::zeros(normalized_shape)),
            normalized_shape: normalized_shape.iter().map(|&d| d as i64).collect(),
            eps: 1e-5,
        }
    }
}

#[export_module]
impl LayerNorm {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::layer_norm(
            x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }
}

/// Group norm: channels split into `num_groups` groups, each normalised.
#[export_module]
pub struct GroupNorm {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Tensor,
    pub num_groups: i64,
    pub eps: f64,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize) -> GroupNorm {
        GroupNorm {
            weight: Tensor::ones([num_channels]),
            bias: Tensor::zeros([num_channels]),
            num_groups: num_groups as i64,
            eps: 1e-5,
        }
    }
}

#[export_module]
impl GroupNorm {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::group_norm(
            x,
            self.num_groups,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
        )
    }
}
