// A helper type whose impl is `#[ferrex::export_fn]`: forward may call its methods — on a
// field, on a value built in forward, through a loop — and their bodies are checked.
use ferrex::prelude::*;

struct Scaler {
    by: f64,
}

#[ferrex::export_fn]
impl Scaler {
    fn apply(&self, x: &Tensor) -> Tensor {
        self.shift(&(x * self.by))
    }

    fn shift(&self, x: &Tensor) -> Tensor {
        x + 1.0
    }
}

#[export_module]
struct Model {
    #[config]
    scaler: Scaler,
    #[config]
    stages: Vec<Scaler>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.scaler.apply(x);
        let local = Scaler { by: 3.0 };
        let mut z = local.apply(&y);
        for s in &self.stages {
            z = s.apply(&z);
        }
        z
    }
}

fn main() {
    let m = Model {
        scaler: Scaler { by: 2.0 },
        stages: vec![Scaler { by: 0.5 }],
    };
    let x = Tensor::ones([2, 2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let out = ep.module().call((x.copy(),)).expect("runs");
    // ((1 * 2 + 1) * 3 + 1) * 0.5 + 1 = 6
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![6.0; 4]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), vec![6.0; 4]);
}
