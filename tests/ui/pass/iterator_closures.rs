// Iterator adaptors and closures over tensors are traced through.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, xs: &[Tensor]) -> Tensor {
        let act = |t: &Tensor| t.relu();
        let scaled: Vec<Tensor> = xs
            .iter()
            .enumerate()
            .map(|(i, t)| act(t) * (i + 1) as f64)
            .collect();
        let ranks: usize = xs.iter().map(|t| t.dim()).sum();
        let total = scaled
            .iter()
            .skip(1)
            .fold(scaled[0].clone(), |acc, t| acc + t);
        if ranks == 2 * xs.len() {
            total
        } else {
            total.sin()
        }
    }
}

fn main() {
    let m = Model {};
    let xs = vec![Tensor::randn([2, 3]), Tensor::randn([2, 3])];
    let ep = ferrex::export(&m, (xs.clone(),)).expect("exports");
    let out = ep.module().call((xs.clone(),)).expect("runs");
    let want = m.forward(&xs).to_vec::<f32>().unwrap();
    let got = out[0].to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}
