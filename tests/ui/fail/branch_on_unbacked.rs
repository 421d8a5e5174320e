// A value read from tensor data with `sym_item()` may be used as a size, but a branch on
// it — through a comparison or a conversion to a plain integer — depends on data.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, n: &Tensor, x: &Tensor) -> Tensor {
        let a = match n.sym_item() {
            Ok(a) => a,
            Err(e) => return Tensor::from_error(e),
        };
        if a.guard_int() > 3 {
            return x.sin();
        }
        if a < 2 {
            return x.cos();
        }
        x.relu()
    }
}

fn main() {}
