// Methods of the annotated impl that forward calls are checked too, and allowed.
use ferrex::prelude::*;

#[export_module]
struct Block {
    lin: nn::Linear,
    residual: bool,
}

#[export_module]
impl Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.project(x);
        let y = Self::activate(&y);
        if self.residual {
            self.add_residual(x, &y)
        } else {
            y
        }
    }

    fn project(&self, x: &Tensor) -> Tensor {
        self.lin.forward(x)
    }

    fn activate(x: &Tensor) -> Tensor {
        F::relu(x)
    }

    fn add_residual(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x + y
    }
}

fn main() {
    let m = Block {
        lin: nn::Linear::new(4, 4),
        residual: true,
    };
    let x = Tensor::randn([2, 4]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    let out = ep.module().call((x.clone(),)).expect("runs");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = out[0].to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}
