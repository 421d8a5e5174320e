// Values beside tensors keep their own kind: zipped gains, a rank returned beside a tensor
// (destructured, or read as `pair.1`),
// a named format argument shadowing a tensor, `?` on an optional input or on config, `to_vec`
// of a config field.
use ferrex::prelude::*;

#[export_module]
struct Model {
    #[config]
    gains: Vec<f64>,
    #[config]
    offset: Option<f64>,
}

#[export_module]
impl Model {
    fn forward(&self, xs: &[Tensor], bias: Option<&Tensor>) -> Tensor {
        // `to_vec` of a config `Vec` is no tensor read.
        let gains = self.gains.to_vec();
        let mut acc = Tensor::zeros([2]) * gains.len() as f64;
        for (x, g) in xs.iter().zip(self.gains.iter()) {
            if *g > 0.5 {
                acc = acc + x * *g;
            }
        }
        let scaled: Vec<Tensor> = xs
            .iter()
            .zip(&self.gains)
            .map(|(x, g)| if g.abs() > 1.0 { x * *g } else { x.clone() })
            .collect();
        let pair = self.with_rank(&acc);
        let acc = if pair.1 > 1 { self.scale_by(pair) } else { acc };
        let (y, rank) = self.with_rank(&acc);
        println!("{x:?} at rank {rank}", x = y.sizes());
        let shifted = self.shifted(&y, bias).unwrap_or(y);
        shifted + Tensor::stack(&scaled, 0).sum_dim(&[0], false) * rank as f64
    }

    fn with_rank(&self, x: &Tensor) -> (Tensor, usize) {
        (x.relu(), x.dim())
    }

    fn scale_by(&self, p: (Tensor, usize)) -> Tensor {
        if p.1 > 2 {
            p.0 * 2.0
        } else {
            p.0
        }
    }

    fn shifted(&self, x: &Tensor, bias: Option<&Tensor>) -> Option<Tensor> {
        let b = bias?;
        let off = self.offset?;
        Some(x + b + off)
    }
}

fn main() {
    let m = Model {
        gains: vec![1.0, 2.0],
        offset: Some(0.5),
    };
    let xs = vec![Tensor::ones([2]), Tensor::ones([2])];
    let bias = Tensor::ones([2]);
    let ep = ferrex::export(&m, (xs.clone(), Some(bias.copy()))).expect("exports");
    let want = m.forward(&xs, Some(&bias)).to_vec::<f32>().unwrap();
    let got = ep.module().call((xs, Some(bias))).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, want);
}
