// Methods of the model in a second impl block marked `#[export_module(helpers)]`: forward
// calls them (with or without tensors, also as `Self::m`), and their bodies are checked.
use ferrex::prelude::*;

#[export_module]
struct Model {
    lin: nn::Linear,
    #[config]
    heads: usize,
}

impl Model {
    fn new() -> Self {
        Model {
            lin: nn::Linear::new(2, 2),
            heads: 4,
        }
    }
}

#[export_module(helpers)]
impl Model {
    fn act(&self, x: &Tensor) -> Tensor {
        x.relu() * self.scale()
    }

    fn scale(&self) -> f64 {
        1.0 / self.heads as f64
    }
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.act(&self.lin.forward(x)) + Self::scale(self)
    }
}

fn main() {
    let m = Model::new();
    let x = Tensor::randn([3, 2]);
    let ep = ferrex::export(&m, (Tensor::randn([3, 2]),)).expect("exports");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = ep.module().call((x,)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, want);
}
