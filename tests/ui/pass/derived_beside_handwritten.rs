// Derived impls beside hand-written ones of other types in the same file: `clone`, `==`,
// indexing a std `Vec` of them, a `for` over `&Vec`, a `format!` of a derived `Debug`, and
// a `Cell` built in forward and bumped by a closure (fresh at every call) — none reads
// outside state, and none is an error, though `Other`'s hand-written `Clone`, `PartialEq`
// and `Display` would be at their uses.
use std::cell::Cell;

use ferrex::prelude::*;

#[derive(Clone, Copy, PartialEq, Debug)]
struct Opts {
    k: f64,
}

struct Other {
    k: f64,
}

impl Clone for Other {
    fn clone(&self) -> Other {
        Other { k: self.k + 1.0 }
    }
}

impl PartialEq for Other {
    fn eq(&self, o: &Other) -> bool {
        self.k == o.k
    }
}

impl std::fmt::Display for Other {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.k)
    }
}

#[export_module]
struct Model {
    #[config]
    o: Opts,
    #[config]
    list: Vec<Opts>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let o = self.o.clone();
        let first = self.list[0];
        let mut s = 0.0;
        for p in &self.list {
            s += p.k;
        }
        let same = o == self.o;
        let shown = format!("{o:?}");
        let c = Cell::new(0.0);
        let bump = || {
            c.set(c.get() + 1.0);
            c.get()
        };
        let bumps = bump() + bump();
        x * (o.k + first.k + s + if same { 10.0 } else { 0.0 } + bumps + shown.len() as f64)
    }
}

fn main() {
    let m = Model {
        o: Opts { k: 1.0 },
        list: vec![Opts { k: 2.0 }, Opts { k: 3.0 }],
    };
    let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // 1 + 2 + (2 + 3) + 10 + (1 + 2) + len("Opts { k: 1.0 }") = 21 + 15 = 36
    assert_eq!(got, vec![36.0, 72.0]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
    let unused = Other { k: 1.0 };
    assert!(unused.clone() != unused && !unused.to_string().is_empty());
}
