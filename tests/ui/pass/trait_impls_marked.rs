// Trait impls that forward runs, each marked `#[ferrex::export_fn]`: their bodies are
// checked like forward's, and forward may use them — `Default` and `From` by path and by a
// declared conversion, `+` and `-` of a helper value, `*` of a tensor by one (an impl for
// `&Tensor`, marked on its right-hand side) — and `+=` on a helper built in forward.
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

#[ferrex::export_fn]
impl Default for Gain {
    fn default() -> Gain {
        Gain { k: 2.0 }
    }
}

#[ferrex::export_fn]
impl From<f64> for Gain {
    fn from(k: f64) -> Gain {
        Gain { k }
    }
}

#[ferrex::export_fn]
impl std::ops::Add for Gain {
    type Output = Gain;
    fn add(self, o: Gain) -> Gain {
        Gain { k: self.k + o.k }
    }
}

#[ferrex::export_fn]
impl std::ops::Neg for Gain {
    type Output = Gain;
    fn neg(self) -> Gain {
        Gain { k: -self.k }
    }
}

#[ferrex::export_fn]
impl std::ops::Mul<Gain> for &Tensor {
    type Output = Tensor;
    fn mul(self, g: Gain) -> Tensor {
        self * g.k
    }
}

#[ferrex::export_fn]
impl std::ops::AddAssign<f64> for Gain {
    fn add_assign(&mut self, by: f64) {
        self.k += by;
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
        let mut acc = Gain::default();
        acc += 1.0;
        y * (s.k() + c.k() + (-self.gain).k()) * acc.k() / 3.0
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
