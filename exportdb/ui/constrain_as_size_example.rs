// ExportDB `constrain_as_size_example`: a size read out of a tensor with `item()`,
// bounded with asserts, then used to build a tensor.
use ferrex::prelude::*;

#[export_module]
struct ConstrainAsSizeExample {}

#[export_module]
impl ConstrainAsSizeExample {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = x.item::<i64>().unwrap_or(0);
        assert!(a >= 0);
        assert!(a <= 5);
        Tensor::zeros([a, 5])
    }
}

fn main() {}
