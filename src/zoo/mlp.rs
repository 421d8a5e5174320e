//! A three-layer perceptron: `Linear(20, 64) → ReLU → Linear(64, 32) → ReLU → Linear(32, 5)`,
//! named `fc1`, `fc2`, `fc3` as in the PyTorch reference model.

use ferrex::prelude::*;

#[export_module]
pub struct Mlp {
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
    pub fc3: nn::Linear,
}

impl Mlp {
    pub fn new(input: usize, hidden: [usize; 2], output: usize) -> Mlp {
        Mlp {
            fc1: nn::Linear::new(input, hidden[0]),
            fc2: nn::Linear::new(hidden[0], hidden[1]),
            fc3: nn::Linear::new(hidden[1], output),
        }
    }
}

#[export_module]
impl Mlp {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.fc1.forward(x).relu();
        let h = self.fc2.forward(&h).relu();
        self.fc3.forward(&h)
    }
}
