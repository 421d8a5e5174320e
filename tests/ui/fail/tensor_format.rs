// Printing a tensor's values from forward.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        println!("input: {:?}", x);
        let y = x.relu();
        println!("output: {y}");
        y
    }
}

fn main() {
    // Once the fix is pasted: the exported program computes what forward computes.
    let m = Model {};
    let x = Tensor::from_vec(vec![-1.0f32, 2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, m.forward(&x).to_vec::<f32>().unwrap());
}
