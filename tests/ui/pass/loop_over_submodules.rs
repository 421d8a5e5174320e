// `for` over a list of submodules, and `fold` over it, unroll into the graph.
use ferrex::prelude::*;

#[export_module]
struct Mlp {
    layers: Vec<nn::Linear>,
    head: nn::Linear,
}

#[export_module]
impl Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if i + 1 < self.layers.len() {
                h = h.relu();
            }
        }
        let h = self
            .layers
            .iter()
            .take(1)
            .fold(h, |acc, layer| acc + layer.forward(x).sum());
        self.head.forward(&h)
    }
}

fn main() {
    let m = Mlp {
        layers: vec![nn::Linear::new(4, 4), nn::Linear::new(4, 4)],
        head: nn::Linear::new(4, 2),
    };
    let x = Tensor::randn([3, 4]);
    let ep = ferrex::export(&m, (x.clone(),)).expect("exports");
    let out = ep.module().call((x.clone(),)).expect("runs");
    let want = m.forward(&x).to_vec::<f32>().unwrap();
    let got = out[0].to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}
