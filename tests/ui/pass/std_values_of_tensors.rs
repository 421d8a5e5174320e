// Std containers and cells used in forward: a local map of tensors read back through
// `get(..).cloned()`, a `RefCell` built in forward (fresh at every call), an `Option` taken,
// and std methods of a config `Vec` of plain structs.
use ferrex::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

struct Stage {
    k: f64,
}

#[export_module]
struct Model {
    #[config]
    stages: Vec<Stage>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut m = HashMap::new();
        m.insert("a", x.relu());
        let a = m.get("a").cloned().unwrap_or_else(|| x.clone());
        let r = RefCell::new(a.clone());
        *r.borrow_mut() = &a * 2.0;
        let mut o: Option<Tensor> = None;
        if o.is_none() {
            o = Some(r.into_inner());
        }
        let first = self.stages.first().map(|s| s.k).unwrap_or(1.0);
        let total: f64 = self.stages.iter().map(|s| s.k).sum();
        o.take().unwrap_or_else(|| x.clone()) * first * total
    }
}

fn main() {
    let m = Model {
        stages: vec![Stage { k: 2.0 }, Stage { k: 3.0 }],
    };
    let x = Tensor::ones([2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // relu(1) * 2 * first (2) * total (5) = 20
    assert_eq!(got, vec![20.0, 20.0]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
}
