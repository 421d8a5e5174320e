// A generic submodule marked `#[module]`: its parameters are found in every instantiation.
use ferrex::prelude::*;

#[export_module]
struct Residual<M: Module> {
    #[module]
    inner: M,
    #[config]
    scale: f64,
}

#[export_module]
impl<M: Module + Forward<Args = (Tensor,), Output = Tensor>> Residual<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        x + self.inner.forward_args((x.clone(),)) * self.scale
    }
}

fn main() {
    let m = Residual {
        inner: nn::Linear::new(3, 3),
        scale: 0.5,
    };
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["inner.weight", "inner.bias"]);
    let x = Tensor::randn([2, 3]);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    assert_eq!(ep.module().call((x,)).unwrap()[0].to_vec::<f32>().unwrap(), want);
}
