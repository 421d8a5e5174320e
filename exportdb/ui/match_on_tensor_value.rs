// ExportDB `match_on_tensor_value`: a `match` on a value read out of a tensor.
use ferrex::prelude::*;

#[export_module]
struct MatchOnTensorValue {}

#[export_module]
impl MatchOnTensorValue {
    fn forward(&self, x: &Tensor) -> Tensor {
        match x.argmax(None, false).item::<i64>().unwrap_or(0) {
            0 => x.relu(),
            1 => x.sin(),
            _ => x.cos(),
        }
    }
}

fn main() {}
