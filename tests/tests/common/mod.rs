//! Models several test files use, defined once. (`tests/tests/common/` is a module, not a
//! test target.)
#![allow(dead_code)]

use ferrex::prelude::*;

/// The tutorial's MyModule.
#[export_module]
pub struct MyModule {
    pub lin: nn::Linear,
}

#[export_module]
impl MyModule {
    pub fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

/// A residual block with a buffer.
#[export_module]
pub struct Block {
    pub lin: nn::Linear,
    #[buffer]
    pub scale: Tensor,
}

#[export_module]
impl Block {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.lin.forward(x).relu();
        x + h * &self.scale
    }
}

/// A model that counts its calls in a buffer and scales its input by the count.
#[export_module]
pub struct Counter {
    #[buffer]
    pub count: Tensor,
}

#[export_module]
impl Counter {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.count.add_(1);
        x * &self.count
    }
}
