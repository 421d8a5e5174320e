// Functions of `nn::functional` imported by name, or called through an alias of the
// module (`use ferrex::nn::functional as Fx`), are ferrex ops too.
use ferrex::nn::functional as Fx;
use ferrex::nn::functional::{gelu, relu};
use ferrex::prelude::*;

#[export_module]
struct Act {}

#[export_module]
impl Act {
    fn forward(&self, x: &Tensor) -> Tensor {
        Fx::sigmoid(&gelu(&relu(x), "tanh"))
    }
}

fn main() {
    let x = Tensor::randn([4]);
    let ep = ferrex::export(&Act {}, (x.copy(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        ["aten::relu.default", "aten::gelu.default", "aten::sigmoid.default"]
    );
    let want = Act {}.forward(&x).to_vec::<f32>().unwrap();
    assert_eq!(ep.module().call((x,)).unwrap()[0].to_vec::<f32>().unwrap(), want);
}
