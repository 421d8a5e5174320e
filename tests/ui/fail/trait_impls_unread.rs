// Trait impls that run while forward runs, on a helper type whose inherent `impl` is
// marked: `Default` and `From` (by path and by a declared conversion) and operators (`+`,
// `-`, and `*` of a tensor by a user type). Marking the inherent block reads only that
// block; each of these impls may read a global, so each is an error at its use.
use ferrex::prelude::*;

#[derive(Clone, Copy)]
struct Gain {
    k: f64,
}

#[ferrex::export_fn]
impl Gain {
    fn k(&self) -> f64 {
        self.k
    }
}

impl Default for Gain {
    fn default() -> Gain {
        Gain { k: 2.0 }
    }
}

impl From<f64> for Gain {
    fn from(k: f64) -> Gain {
        Gain { k }
    }
}

impl std::ops::Add for Gain {
    type Output = Gain;
    fn add(self, o: Gain) -> Gain {
        Gain { k: self.k + o.k }
    }
}

impl std::ops::Neg for Gain {
    type Output = Gain;
    fn neg(self) -> Gain {
        Gain { k: -self.k }
    }
}

impl std::ops::Mul<Gain> for &Tensor {
    type Output = Tensor;
    fn mul(self, g: Gain) -> Tensor {
        self * g.k
    }
}

#[export_module]
struct Model {
    #[config]
    gain: Gain,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let d = Gain::default();
        let c: Gain = 3.0.into();
        let s = self.gain + d;
        let y = x * self.gain;
        y * (s.k() + c.k() + (-self.gain).k())
    }
}

fn main() {
    let m = Model { gain: Gain { k: 0.5 } };
    let x = Tensor::ones([2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // x * 0.5 * ((0.5 + 2) + 3 - 0.5) = 0.5 * 5 = 2.5
    assert_eq!(got, vec![2.5, 2.5]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
}
