// A method an extension trait adds to `Tensor`, on an input and on a parameter: its body is
// not ferrex's, and may read data.
use ferrex::prelude::*;

trait Peek {
    fn peek_first(&self) -> f32;
}

impl Peek for Tensor {
    fn peek_first(&self) -> f32 {
        self.to_vec::<f32>().map(|v| v[0]).unwrap_or(0.0)
    }
}

#[export_module]
struct Model {
    #[param]
    w: Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let first = x.peek_first();
        let w_first = self.w.peek_first();
        x * (first + w_first) as f64
    }
}

fn main() {}
