// Values of types strict export reads: a helper type whose `impl` is marked, built in
// forward by its constructor and by a struct literal; iterators over config held in a
// local; a config enum matched and compared; a fresh `Cell` built inside forward (no state
// kept between calls).
use ferrex::prelude::*;
use std::cell::Cell;

struct Scale {
    k: f64,
}

#[ferrex::export_fn]
impl Scale {
    fn new(k: f64) -> Self {
        Scale { k }
    }

    fn apply(&self, x: &Tensor) -> Tensor {
        x * self.k
    }

    fn k(&self) -> f64 {
        self.k
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Act {
    Relu,
    Sigmoid,
}

#[export_module]
struct Model {
    #[config]
    gains: Vec<f64>,
    #[config]
    act: Act,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = Scale::new(2.0);
        let mut y = s.apply(x) * s.k() + x * Scale { k: 1.0 }.k();
        let mut it = self.gains.iter();
        while let Some(g) = it.next() {
            y = y * *g;
        }
        let fresh = Cell::new(1.0);
        fresh.set(fresh.get() + 1.0);
        let y = match self.act {
            Act::Relu => y.relu(),
            Act::Sigmoid => y.sigmoid(),
        };
        if self.act == Act::Relu {
            y * fresh.get()
        } else {
            y
        }
    }
}

fn main() {
    let m = Model {
        gains: vec![2.0, 3.0],
        act: Act::Relu,
    };
    let x = Tensor::ones([2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // (1 * 2 * 2 + 1 * 1) * 2 * 3 = 30, relu, times the fresh cell's 2.
    assert_eq!(got, vec![60.0, 60.0]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
}
