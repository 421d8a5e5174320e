// Hand-written impls of std traits that forward runs without naming a function: `clone`,
// `*w` (`Deref`), `t[i]` (`Index`), `for v in &mut c` (`Iterator`), `==` (`PartialEq`) and
// `<` (`PartialOrd`). Any of them may read a global; each use is an error whose fix marks
// the impl (then read like forward). Derived impls (`Plain`) run only the fields' own.
use std::cmp::Ordering;

use ferrex::prelude::*;

struct Gain {
    k: f64,
}

impl Clone for Gain {
    fn clone(&self) -> Gain {
        Gain { k: self.k * 2.0 }
    }
}

#[derive(Clone, Copy, PartialEq)]
struct Plain {
    k: f64,
}

struct Wrap(Plain);

impl std::ops::Deref for Wrap {
    type Target = Plain;
    fn deref(&self) -> &Plain {
        &self.0
    }
}

struct Table(Vec<f64>);

impl std::ops::Index<usize> for Table {
    type Output = f64;
    fn index(&self, i: usize) -> &f64 {
        &self.0[i]
    }
}

struct Count {
    left: usize,
}

impl Iterator for Count {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        if self.left == 0 {
            None
        } else {
            self.left -= 1;
            Some(1.0)
        }
    }
}

#[derive(Clone, Copy)]
struct Level(f64);

impl PartialEq for Level {
    fn eq(&self, o: &Level) -> bool {
        self.0 == o.0
    }
}

impl PartialOrd for Level {
    fn partial_cmp(&self, o: &Level) -> Option<Ordering> {
        self.0.partial_cmp(&o.0)
    }
}

#[export_module]
struct Model {
    #[config]
    g: Gain,
    #[config]
    p: Plain,
    #[config]
    w: Wrap,
    #[config]
    t: Table,
    #[config]
    lv: Level,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let g = self.g.clone();
        let p = self.p.clone();
        let d = *self.w;
        let e = self.t[1];
        let mut c = Count { left: 2 };
        let mut n = 0.0;
        for v in &mut c {
            n += v;
        }
        let one = Level(1.0);
        let same = self.lv == one && p == self.p;
        let below = self.lv < one;
        let flags = if same { 100.0 } else { 0.0 } + if below { 1000.0 } else { 0.0 };
        x * (g.k + p.k + d.k + e + n + flags)
    }
}

fn main() {
    let m = Model {
        g: Gain { k: 1.0 },
        p: Plain { k: 3.0 },
        w: Wrap(Plain { k: 5.0 }),
        t: Table(vec![0.0, 7.0]),
        lv: Level(1.0),
    };
    let x = Tensor::ones([2]);
    let ep = ferrex::export(&m, (x.copy(),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // clone doubles: 2 + 3 + 5 + 7 + 2 (two items) + 100 (equal, not below)
    assert_eq!(got, vec![119.0, 119.0]);
    assert_eq!(m.forward(&x).to_vec::<f32>().unwrap(), got);
}
