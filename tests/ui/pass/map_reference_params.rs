// `map!` bodies written for references: `|x: &Tensor, w: &Tensor|` receives each slice and
// the operands by reference, so code that calls submodules with `&Tensor` moves in
// unchanged, and a body may return its parameter itself.
use ferrex::map;
use ferrex::prelude::*;

#[export_module]
struct Model {
    lin: nn::Linear,
    w: Tensor,
}

#[export_module]
impl Model {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let a = map!(|x: &Tensor| self.lin.forward(x), xs);
        let b = map!(|x: &Tensor, w: &Tensor| x * w, xs, [self.w]);
        a + b + map!(|x: &Tensor| x, xs)
    }
}

fn main() {
    let m = Model {
        lin: nn::Linear::new(2, 2),
        w: Tensor::from_slice(&[2.0f32, 3.0]),
    };
    let xs = Tensor::randn([3, 2]);
    let ep = ferrex::export(&m, (Tensor::randn([3, 2]),)).expect("exports");
    let want = m.forward(&xs).to_vec::<f32>().unwrap();
    let got = ep.module().call((xs.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, want);
    // Independently: the middle term is xs * w, row by row.
    let rows = xs.to_vec::<f32>().unwrap();
    let lin = m.lin.forward(&xs).to_vec::<f32>().unwrap();
    let expect: Vec<f32> = (0..6).map(|i| lin[i] + rows[i] * [2.0, 3.0][i % 2] + rows[i]).collect();
    for (g, e) in got.iter().zip(&expect) {
        assert!((g - e).abs() < 1e-5, "{g} vs {e}");
    }
}
