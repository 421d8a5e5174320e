// Branches and matches on configuration fields and constants are traced through: the
// taken branch is kept in the graph.
use ferrex::prelude::*;

#[derive(Clone, Copy)]
enum Act {
    Relu,
    Sin,
}

#[export_module]
struct Model {
    lin: nn::Linear,
    act: Act,
    skip: bool,
    scale: f64,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        const BIAS: f64 = 0.5;
        let mut y = self.lin.forward(x);
        y = match self.act {
            Act::Relu => y.relu(),
            Act::Sin => y.sin(),
        };
        if self.skip {
            return y;
        }
        if self.scale != 1.0 && BIAS > 0.0 {
            y = y * self.scale + BIAS;
        }
        y
    }
}

fn main() {
    let m = Model {
        lin: nn::Linear::new(4, 3),
        act: Act::Sin,
        skip: false,
        scale: 2.0,
    };
    let x = Tensor::randn([2, 4]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    assert_eq!(
        ep.op_targets(),
        [
            "aten::linear.default",
            "aten::sin.default",
            "aten::mul.Tensor",
            "aten::add.Tensor"
        ]
    );
    let out = ep.module().call((x.clone(),)).expect("runs");
    let want = m.forward(&x);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
}
