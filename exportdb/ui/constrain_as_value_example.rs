// ExportDB `constrain_as_value_example`: a value read out of a tensor with `item()`,
// bounded with asserts, then a branch that the bounds decide.
use ferrex::prelude::*;

#[export_module]
struct ConstrainAsValueExample {}

#[export_module]
impl ConstrainAsValueExample {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let a = x.item::<i64>().unwrap_or(0);
        assert!(a >= 0);
        assert!(a <= 5);
        if a < 6 {
            return y.sin();
        }
        y.cos()
    }
}

fn main() {}
