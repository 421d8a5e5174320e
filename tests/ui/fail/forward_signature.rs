// Signatures export cannot call: each gets the one message about forward's shape.
use ferrex::prelude::*;

#[export_module]
struct Async {}

#[export_module]
impl Async {
    async fn forward(&self, x: &Tensor) -> Tensor {
        x.relu()
    }
}

#[export_module]
struct Generic {}

#[export_module]
impl Generic {
    fn forward<K: Into<f64>>(&self, x: &Tensor, k: K) -> Tensor {
        x * k.into()
    }
}

#[export_module]
struct ImplTrait {}

#[export_module]
impl ImplTrait {
    fn forward(&self, x: &Tensor, k: impl Into<f64>) -> Tensor {
        x * k.into()
    }
}

#[export_module]
struct Pattern {}

#[export_module]
impl Pattern {
    fn forward(&self, (x, y): (Tensor, Tensor)) -> Tensor {
        x + y
    }
}

#[export_module]
struct Unsafe {}

#[export_module]
impl Unsafe {
    unsafe fn forward(&self, x: &Tensor) -> Tensor {
        x.relu()
    }
}

#[export_module]
struct ByValue {}

#[export_module]
impl ByValue {
    fn forward(self, x: &Tensor) -> Tensor {
        x.relu()
    }
}

#[export_module]
struct NoForward {}

#[export_module]
impl NoForward {
    fn run(&self, x: &Tensor) -> Tensor {
        x.relu()
    }
}

fn main() {}
