// ExportDB `print_traced_tensor`: printing the values of tensors from forward.
use ferrex::prelude::*;

#[export_module]
struct PrintTracedTensor {}

#[export_module]
impl PrintTracedTensor {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.relu();
        println!("y = {:?}", y);
        eprintln!("x = {x}");
        y
    }
}

fn main() {}
