// On a graph break the macro still emits the model and its impls: the rest of the crate
// type-checks, and the only error is the graph break.
use ferrex::prelude::*;

#[export_module]
struct Model {
    lin: nn::Linear,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.lin.forward(x);
        if y.mean().item::<f32>().unwrap() > 0.5 {
            y.relu()
        } else {
            y.sigmoid()
        }
    }
}

fn main() {
    let m = Model {
        lin: nn::Linear::new(4, 2),
    };
    let ep = ferrex::export(&m, (Tensor::randn([3, 4]),));
    let _ = ep.map(|ep| ep.module().call((Tensor::randn([3, 4]),)));
}
