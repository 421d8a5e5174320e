// The tutorial's Bad4: try/except is `catch_unwind` in Rust.
use ferrex::prelude::*;

#[export_module]
struct Bad4 {}

#[export_module]
impl Bad4 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = x.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            x = &x + 1.0;
            panic!("bad");
        }));
        if result.is_err() {
            x = &x + 2.0;
        }
        x
    }
}

fn main() {}
