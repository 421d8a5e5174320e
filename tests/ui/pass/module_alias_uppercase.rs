// An uppercase alias of a module of this file (`use crate::blocks as B`): `B::f(x)` is the
// module's `#[export_fn]`, read like `blocks::f(x)`, and `B::f` as a value too.
use ferrex::prelude::*;

mod blocks {
    use ferrex::prelude::*;

    #[ferrex::export_fn]
    pub fn shift(x: &Tensor) -> Tensor {
        x + 1.0
    }
}

use crate::blocks as B;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor, xs: Vec<Tensor>) -> Tensor {
        let ys: Vec<Tensor> = xs.iter().map(B::shift).collect();
        B::shift(x) * &ys[0]
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::from_vec(vec![1.0f32, -2.0], [2]);
    let y = Tensor::from_vec(vec![3.0f32, 0.5], [2]);
    let ep = ferrex::export(&m, (x.copy(), vec![y.copy()])).expect("exports");
    let got = ep.module().call((x.copy(), vec![y.copy()])).expect("runs")[0]
        .to_vec::<f32>()
        .unwrap();
    // (x + 1) * (y + 1)
    assert_eq!(got, vec![2.0 * 4.0, -1.0 * 1.5]);
}
