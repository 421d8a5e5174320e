// Shadowed and reassigned bindings keep being tensors, or plain values.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + 1.0;
        let x = x.relu();
        let n = x.dim();
        let n = n * 2;
        let mut y = x.clone();
        if n == 4 {
            y = &y * 2.0;
        }
        let x = (x, y);
        let (a, b) = x;
        a + b
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::randn([2, 3]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    let out = ep.module().call((x.clone(),)).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), m.forward(&x).to_vec::<f32>().unwrap());
}
