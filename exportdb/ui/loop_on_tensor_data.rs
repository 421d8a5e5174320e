// ExportDB `loop_on_tensor_data`: a `while` loop and a `loop` whose exit depends on
// tensor values.
use ferrex::prelude::*;

#[export_module]
struct LoopOnTensorData {}

#[export_module]
impl LoopOnTensorData {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = x.clone();
        while y.abs().amax(&[], false).item::<f32>().unwrap_or(0.0) > 1.0 {
            y = y / 2;
        }
        loop {
            if y.sum().item::<f32>().unwrap_or(0.0) < 10.0 {
                break;
            }
            y = y - 1;
        }
        y
    }
}

fn main() {}
