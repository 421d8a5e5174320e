// A value read from tensor data with `sym_item()` is a symbolic value (`u0`), not data:
// strict mode lets it be checked (`ferrex::check`, `check_is_size`), computed with and used
// as a size. The program reads it with `aten::item` and checks the bounds when it runs.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, n: &Tensor, x: &Tensor) -> Tensor {
        let a = match n.sym_item() {
            Ok(a) => a,
            Err(e) => return Tensor::from_error(e),
        };
        ferrex::check_is_size(&a);
        ferrex::check(a.sym_le(4));
        let rows = a.add(&SymInt::from(1));
        Tensor::ones([rows, SymInt::from(2)]) * x.sum()
    }
}

fn main() {
    let ep = ferrex::export(&Model {}, (Tensor::scalar(3i64), Tensor::ones([2]))).expect("exports");
    let text = ep.to_string();
    assert!(text.contains("aten::item.default(n)"), "{text}");
    assert!(text.contains("aten::_assert_scalar.default"), "{text}");
    let out = ep.module().call((Tensor::scalar(1i64), Tensor::ones([2]))).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [2.0; 4]);
    // Outside the checked range: the program's run-time assertion fails.
    assert!(ep.module().call((Tensor::scalar(9i64), Tensor::ones([2]))).is_err());
}
