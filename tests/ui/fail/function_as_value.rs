// Functions used as values: passed to an iterator adaptor, bound to a local, held in a field.
use ferrex::prelude::*;

fn halve(x: &Tensor) -> Tensor {
    x * 0.5
}

fn double(x: &Tensor) -> Tensor {
    x * 2.0
}

#[export_module]
struct Model {
    #[config]
    post: fn(&Tensor) -> Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, xs: &[Tensor]) -> Tensor {
        let halves: Vec<Tensor> = xs.iter().map(halve).collect();
        let f = double;
        let y = f(&Tensor::cat(&halves, 0));
        (self.post)(&y)
    }
}

fn main() {}
