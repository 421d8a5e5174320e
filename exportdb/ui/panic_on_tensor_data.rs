// ExportDB `panic_on_tensor_data`: `assert!` and `unreachable!` whose outcome or message
// depends on tensor values.
use ferrex::prelude::*;

#[export_module]
struct PanicOnTensorData {}

#[export_module]
impl PanicOnTensorData {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(x.amin(&[], false).item::<f32>().unwrap_or(0.0) >= 0.0, "x must be non-negative");
        if x.dim() != 2 {
            unreachable!("x has {} dims, expected 2 (max {})", x.dim(), x.amax(&[], false).item::<f32>().unwrap_or(0.0));
        }
        x.sqrt()
    }
}

fn main() {}
