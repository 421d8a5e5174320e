// Every graph break of a body is reported, not only the first.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let scale = x.abs().sum().item::<f64>().unwrap();
        let mut y = x / scale;
        while y.amax(&[], false).item::<f32>().unwrap() > 1.0 {
            y = &y / 2.0;
        }
        println!("{:?}", y);
        y
    }
}

fn main() {}
