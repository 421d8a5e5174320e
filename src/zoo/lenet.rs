//! A LeNet-style CNN: `conv1 (1→6, 5x5, pad 2) → bn1 → ReLU → MaxPool(2) → conv2 (6→16,
//! 5x5) → ReLU → MaxPool(2) → flatten → fc1 (400→120) → ReLU → fc2 (120→10)`, named as in
//! the PyTorch reference model.

use ferrex::prelude::*;

#[export_module]
pub struct LeNet {
    pub conv1: nn::Conv2d,
    pub bn1: nn::BatchNorm2d,
    pub conv2: nn::Conv2d,
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
    pub pool: nn::MaxPool2d,
}

impl LeNet {
    pub fn new() -> LeNet {
        LeNet {
            conv1: nn::Conv2d::new(1, 6, 5).padding(2),
            bn1: nn::BatchNorm2d::new(6),
            conv2: nn::Conv2d::new(6, 16, 5),
            fc1: nn::Linear::new(400, 120),
            fc2: nn::Linear::new(120, 10),
            pool: nn::MaxPool2d::new(2),
        }
    }
}

impl Default for LeNet {
    fn default() -> LeNet {
        LeNet::new()
    }
}

#[export_module]
impl LeNet {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self
            .pool
            .forward(&self.bn1.forward(&self.conv1.forward(x)).relu());
        let h = self.pool.forward(&self.conv2.forward(&h).relu());
        let h = h.flatten(1, -1);
        self.fc2.forward(&self.fc1.forward(&h).relu())
    }
}
