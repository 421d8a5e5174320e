// `to_vec` on a field: a read of tensor data when the field is a tensor (decided by type).
use ferrex::prelude::*;

#[export_module]
struct Model {
    #[param]
    weight: Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let w = &self.weight;
        let first = self.weight.to_vec::<f32>().map(|v| v[0]).unwrap_or(0.0);
        let n = w.to_vec::<f32>().map(|v| v.len()).unwrap_or(0);
        x * (first as f64 + n as f64)
    }
}

fn main() {}
