// An uppercase alias of a module of this file (`use crate::blocks as B`): `B::f(x)` is a
// module's function, checked like `blocks::f(x)` — here not an `#[export_fn]`, so forward
// cannot call it with a tensor.
use ferrex::prelude::*;

mod blocks {
    use ferrex::prelude::*;

    pub fn double(x: &Tensor) -> Tensor {
        x * 2.0
    }
}

use crate::blocks as B;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        B::double(x)
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::from_vec(vec![1.0f32, -2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, vec![2.0, -4.0]);
}
