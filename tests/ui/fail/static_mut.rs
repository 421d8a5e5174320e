// A global counter updated by forward.
use ferrex::prelude::*;

static mut CALLS: u32 = 0;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        unsafe {
            CALLS += 1;
        }
        x.relu()
    }
}

fn main() {}
