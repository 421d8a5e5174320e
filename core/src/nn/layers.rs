//! Parameter-free layers: activations as modules, `Dropout`, `Identity`.

use crate::nn::functional as F;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// `max(x, 0)` as a module.
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU {}

#[export_module]
impl ReLU {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::relu(x)
    }
}

/// Returns its input.
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity {}

#[export_module]
impl Identity {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
}

/// Dropout: the identity in inference, which is what export captures. (Training-mode
/// dropout is not part of an exported inference graph.)
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct Dropout {
    pub p: f64,
}

impl Dropout {
    pub fn new(p: f64) -> Dropout {
        Dropout { p }
    }
}

#[export_module]
impl Dropout {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
}

/// GELU (`approximate = "none"` or `"tanh"`).
#[export_module]
#[derive(Clone, Debug)]
pub struct GELU {
    pub approximate: String,
}

impl Default for GELU {
    fn default() -> GELU {
        GELU {
            approximate: "none".into(),
        }
    }
}

#[export_module]
impl GELU {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::gelu(x, &self.approximate)
    }
}

/// `x * sigmoid(x)`.
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct SiLU {}

#[export_module]
impl SiLU {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::silu(x)
    }
}

/// `tanh(x)`.
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh {}

#[export_module]
impl Tanh {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::tanh(x)
    }
}

/// `1 / (1 + exp(-x))`.
#[export_module]
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid {}

#[export_module]
impl Sigmoid {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::sigmoid(x)
    }
}
