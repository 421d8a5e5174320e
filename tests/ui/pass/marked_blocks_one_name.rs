// Marked blocks that define one name for one type — `impl From<f64>` and `impl From<i32>`,
// two inherent blocks — each read, and the marker that says so emitted once (no E0119).
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

#[ferrex::export_fn]
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

#[ferrex::export_fn]
impl Gain {
    fn twice(&self) -> f64 {
        2.0 * self.k
    }
}

#[export_module]
struct Model {
    #[config]
    g: Gain,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = Gain::from(0.5);
        let b: Gain = 2.into();
        x * (a.k() + b.k() + self.g.twice())
    }
}

fn main() {
    let m = Model { g: Gain { k: 0.25 } };
    let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // 0.5 + 20 + 0.5 = 21
    assert_eq!(got, vec![21.0, 42.0]);
}
