// `cond!` branches written for references: `|x: &Tensor|` passes the operands by reference,
// so code that calls submodules with `&Tensor` moves into a branch unchanged; a branch may
// return its operand itself.
use ferrex::prelude::*;
use ferrex::cond;

#[export_module]
struct Model {
    a: nn::Linear,
    b: nn::Linear,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = cond!(
            x.sum().gt(0.0),
            |x: &Tensor| self.a.forward(x),
            |x: &Tensor| self.b.forward(x),
            [x]
        );
        cond!(y.mean().lt(0.0), |y: &Tensor| y.relu(), |y: &Tensor| y, [y])
    }
}

fn main() {
    let m = Model {
        a: nn::Linear::new(3, 3),
        b: nn::Linear::new(3, 3),
    };
    let x = Tensor::randn([2, 3]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = ep.module().call((x,)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, want);
}
