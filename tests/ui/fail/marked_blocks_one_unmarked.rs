// Two impls of `From` for one type, one marked: which one `Gain::from(..)` or `.into()`
// runs is the compiler's choice, so neither is read until both are marked.
use ferrex::prelude::*;

#[derive(Clone, Copy)]
struct Gain {
    k: f64,
}

#[ferrex::export_fn]
impl From<f64> for Gain {
    fn from(k: f64) -> Gain {
        Gain { k }
    }
}

impl From<i32> for Gain {
    fn from(k: i32) -> Gain {
        Gain { k: f64::from(k) * 10.0 }
    }
}

#[ferrex::export_fn]
impl Gain {
    fn k(&self) -> f64 {
        self.k
    }
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = Gain::from(0.5);
        let b: Gain = 2.into();
        x * (a.k() + b.k())
    }
}

fn main() {
    let m = Model {};
    let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    assert_eq!(got, vec![20.5, 41.0]);
}
