// `is_traced` / `is_tracing()` are true while exporting and false when the model runs: a
// branch on them makes the program differ from the model.
use ferrex::prelude::*;
use ferrex::trace::is_tracing;

#[export_module]
struct Model {
    #[param]
    w: Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let scale = if self.w.is_traced() { 2.0 } else { 1.0 };
        let scale = if is_tracing() { scale } else { 3.0 };
        if x.is_traced() {
            x.relu() * scale
        } else {
            x.sigmoid()
        }
    }
}

fn main() {
    // Once the fix is pasted: the exported program computes what forward computes.
    let m = Model { w: Tensor::ones([2]) };
    let x = Tensor::from_vec(vec![-1.0f32, 2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, m.forward(&x).to_vec::<f32>().unwrap());
}
