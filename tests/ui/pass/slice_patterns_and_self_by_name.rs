// Slice patterns over a list of tensors (`rest @ ..` stays a list) and the impl's own
// associated functions called through the type's name.
use ferrex::prelude::*;

#[export_module]
struct SelfByName {}

#[export_module]
impl SelfByName {
    fn double(x: &Tensor) -> Tensor {
        x * 2.0
    }

    fn forward(&self, args: Vec<Tensor>) -> Tensor {
        match args.as_slice() {
            [x, rest @ ..] if !rest.is_empty() => SelfByName::double(x) + &rest[0],
            [x] => x.clone(),
            _ => Tensor::zeros([1]),
        }
    }
}

fn main() {
    let args = vec![Tensor::ones([2]), Tensor::full([2], 3.0)];
    let ep = ferrex::export(&SelfByName {}, (args,)).unwrap();
    assert_eq!(ep.op_targets(), ["aten::mul.Tensor", "aten::add.Tensor"]);
    let out = ep.module().call((vec![Tensor::ones([2]), Tensor::ones([2])],)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [3.0, 3.0]);
}
