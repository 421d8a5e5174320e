//! `nn::Linear`.

use crate::nn::functional as F;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// `y = x @ weight.T + bias`, weights `[out_features, in_features]`.
#[export_module]
pub struct Linear {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    /// A layer initialised as PyTorch does: weight and bias uniform in
    /// `[-1/sqrt(in), 1/sqrt(in)]` (kaiming-uniform with `a = sqrt(5)`).
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let uniform = |shape: &[usize]| Tensor::rand(shape).mul(2.0 * bound).sub(bound);
        Linear {
            weight: uniform(&[out_features, in_features]),
            bias: Some(uniform(&[out_features])),
            in_features,
            out_features,
        }
    }

    /// A layer without bias.
    pub fn no_bias(in_features: usize, out_features: usize) -> Linear {
        Linear {
            bias: None,
            ..Linear::new(in_features, out_features)
        }
    }

    /// A layer from given weights (`[out, in]`) and optional bias (`[out]`).
    pub fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Linear {
        let sizes = weight.sizes();
        let dim = |i: usize| sizes.get(i).map(|s| s.hint().max(0) as usize).unwrap_or(0);
        Linear {
            in_features: dim(1),
            out_features: dim(0),
            weight,
            bias,
        }
    }
}

#[export_module]
impl Linear {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::linear(x, &self.weight, self.bias.as_ref())
    }
}
