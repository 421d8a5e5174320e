// Optional, tuple and struct inputs: branching on whether an input is present is
// structure, not data.
use ferrex::module::{InputLeaf, Inputs};
use ferrex::prelude::*;

pub struct Pair {
    pub left: Tensor,
    pub right: Tensor,
    pub mix: f64,
}

impl Inputs for Pair {
    fn flatten_into(&self, path: &str, out: &mut Vec<InputLeaf>) {
        self.left.flatten_into(&format!("{path}_left"), out);
        self.right.flatten_into(&format!("{path}_right"), out);
        self.mix.flatten_into(&format!("{path}_mix"), out);
    }
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor, bias: Option<&Tensor>, ab: (Tensor, Tensor), p: &Pair) -> Tensor {
        let mut y = match bias {
            Some(b) => x + b,
            None => x.clone(),
        };
        if let Some(b) = bias {
            y = y - b.relu();
        }
        let (a, b) = ab;
        y = y + a * b;
        if p.mix > 0.5 {
            y + &p.left
        } else {
            y + &p.right
        }
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::randn([2, 3]);
    let bias = Tensor::randn([3]);
    let make = || {
        (
            x.clone(),
            Some(bias.clone()),
            (Tensor::randn([2, 3]), Tensor::randn([2, 3])),
            Pair {
                left: Tensor::randn([2, 3]),
                right: Tensor::randn([2, 3]),
                mix: 1.0,
            },
        )
    };
    let args = make();
    let ep = ferrex::export(&m, args).expect("exports");
    let (x2, b2, ab2, p2) = make();
    let want = m.forward(&x2, b2.as_ref(), (ab2.0.clone(), ab2.1.clone()), &p2);
    let out = ep.module().call((x2, b2, ab2, p2)).expect("runs");
    let got = out[0].to_vec::<f32>().unwrap();
    let want = want.to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}
