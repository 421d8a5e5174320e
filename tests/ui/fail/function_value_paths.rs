// Functions used as values where syntax cannot read them: a module's function passed to
// `map`, and a function field taken out of the model by destructuring.
use ferrex::prelude::*;

mod helpers {
    use ferrex::prelude::*;

    pub fn peek(x: &Tensor) -> Tensor {
        x * f64::from(x.sum().item::<f32>().unwrap_or(0.0))
    }
}

#[export_module]
struct Model {
    #[config]
    act: fn(&Tensor) -> Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let ys: Vec<Tensor> = [x.clone()].iter().map(helpers::peek).collect();
        let Model { act } = self;
        act(&ys[0])
    }
}

fn main() {}
