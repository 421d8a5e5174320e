// ExportDB `static_mut_counter`: forward counts its calls in a global.
use ferrex::prelude::*;

static mut CALLS: u64 = 0;

#[export_module]
struct StaticMutCounter {}

#[export_module]
impl StaticMutCounter {
    fn forward(&self, x: &Tensor) -> Tensor {
        unsafe {
            CALLS += 1;
        }
        x.relu()
    }
}

fn main() {}
