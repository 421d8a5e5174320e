// An `if` on data whose branch panics or exits is a check, not a branch: no `cond!` form.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.abs().sum().item::<f32>().unwrap_or(0.0) > 1e6 {
            panic!("diverged");
        }
        if x.sum().item::<f32>().unwrap_or(0.0).is_nan() {
            std::process::exit(1);
        }
        x.relu()
    }
}

fn main() {}
