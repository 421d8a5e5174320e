// Free helpers marked `#[ferrex::export_fn]` may receive tensors: their bodies are
// checked like forward's. Called by path, through an import, or generically.
use ferrex::prelude::*;

mod helpers {
    use ferrex::prelude::*;

    #[ferrex::export_fn]
    pub fn swish(x: &Tensor) -> Tensor {
        x * x.sigmoid()
    }

    #[ferrex::export_fn]
    pub fn scale<T: Into<f64>>(x: &Tensor, by: T) -> Tensor {
        x * by.into()
    }
}

use helpers::scale;

#[export_fn]
fn residual(x: &Tensor, y: &Tensor) -> Tensor {
    helpers::swish(y) + x
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = scale::<f32>(x, 2.0);
        residual(x, &helpers::swish(&y))
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::randn([2, 3]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    let out = ep.module().call((x.clone(),)).expect("runs");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = out[0].to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}
