// Hand-written impls found wherever the file holds them and however they are reached:
// `Display` through a `format!` placeholder (inline and positional), `Deref` of a type of a
// nested module (named from forward's module), `Index` behind `&`, `Clone` of a generic
// type, and a generic helper bound by a trait of the file (`G: Scale`), whose impls run per
// instantiation. Each is an error whose fix marks the impl.
use std::fmt;

use ferrex::prelude::*;

mod cfg {
    pub struct Plain {
        pub k: f64,
    }

    pub struct Wrap(pub Plain);

    impl std::ops::Deref for Wrap {
        type Target = Plain;
        fn deref(&self) -> &Plain {
            &self.0
        }
    }
}

struct Label(f64);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

struct Table(Vec<f64>);

impl std::ops::Index<usize> for Table {
    type Output = f64;
    fn index(&self, i: usize) -> &f64 {
        &self.0[i]
    }
}

struct Boxed<T> {
    v: T,
}

impl<T: Copy> Clone for Boxed<T> {
    fn clone(&self) -> Self {
        Boxed { v: self.v }
    }
}

trait Scale {
    fn scale(&self) -> f64;
}

struct Half;

impl Scale for Half {
    fn scale(&self) -> f64 {
        0.5
    }
}

#[ferrex::export_fn]
fn scaled<G: Scale>(g: &G, x: &Tensor) -> Tensor {
    x * g.scale()
}

#[export_module]
struct Model {
    #[config]
    w: cfg::Wrap,
    #[config]
    label: Label,
    #[config]
    t: Table,
    #[config]
    b: Boxed<f64>,
    #[config]
    half: Half,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let p = &*self.w;
        let shown = format!("{}", self.label);
        let label = self.label.0;
        println!("label {shown} {label}");
        let r = &self.t[0];
        let b = self.b.clone();
        scaled(&self.half, x) * (p.k + *r + b.v + shown.len() as f64)
    }
}

fn main() {
    let m = Model {
        w: cfg::Wrap(cfg::Plain { k: 1.0 }),
        label: Label(7.0),
        t: Table(vec![2.0]),
        b: Boxed { v: 3.0 },
        half: Half,
    };
    let x = Tensor::from_vec(vec![2.0f32, 4.0], [2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // x * 0.5 * (1 + 2 + 3 + len("7") = 1)
    assert_eq!(got, vec![7.0, 14.0]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
}
