// A `match` on a value read from a tensor, and a match guard on tensor data.
use ferrex::prelude::*;

#[export_module]
struct Model {
    mode: u8,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = match x.argmax(None, false).item::<i64>().unwrap() {
            0 => x.relu(),
            _ => x.sin(),
        };
        match self.mode {
            0 if y.mean().item::<f32>().unwrap() > 0.5 => y.cos(),
            _ => y,
        }
    }
}

fn main() {}
