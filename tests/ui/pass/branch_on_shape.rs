// Branches, loops and asserts on sizes and `dim()` are allowed: sizes are known while
// exporting, and comparisons on them become guards of the program.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(x.dim() == 2, "expects a matrix");
        assert_eq!(x.size(1), 4);
        let mut y = if x.size(0) > 2 { x.relu() } else { x.sin() };
        for _ in 0..x.dim() {
            y = &y + 1.0;
        }
        let n = x.shape()[0];
        while y.dim() < 3 {
            y = y.unsqueeze(0);
        }
        y.reshape([n, 4])
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::randn([3, 4]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    let out = ep.module().call((x.clone(),)).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), m.forward(&x).to_vec::<f32>().unwrap());
}
