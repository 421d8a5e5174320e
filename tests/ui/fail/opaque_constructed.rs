// Values of types strict export has not read: built by a constructor (`Gain::new()`,
// `Gain::default()`), by a std conversion into a declared type (`Default::default()`,
// `.into()`), by a struct literal, passed as a parameter, or produced by
// `<G as Trait>::f()`. Each constructor and method may read a global.
use ferrex::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

static SEEN: AtomicU32 = AtomicU32::new(1);

struct Gain {
    k: f64,
}

impl Gain {
    fn new() -> Gain {
        Gain { k: f64::from(SEEN.fetch_add(1, Ordering::Relaxed)) }
    }

    fn level(&self) -> f64 {
        self.k * f64::from(SEEN.load(Ordering::Relaxed))
    }
}

impl Default for Gain {
    fn default() -> Gain {
        Gain::new()
    }
}

impl From<f64> for Gain {
    fn from(k: f64) -> Gain {
        Gain { k: k * f64::from(SEEN.load(Ordering::Relaxed)) }
    }
}

trait Source {
    fn value() -> f64;
}

impl Source for Gain {
    fn value() -> f64 {
        f64::from(SEEN.load(Ordering::Relaxed))
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
        let a = Gain::new();
        let b = Gain { k: 2.0 };
        let c: Gain = Default::default();
        let d: Gain = 2.0.into();
        let y = x * (a.k + b.level() + c.k + d.k + Gain::default().k + <Gain as Source>::value());
        self.scaled(&y, &self.gain)
    }

    fn scaled(&self, x: &Tensor, g: &Gain) -> Tensor {
        x * g.level()
    }
}

fn main() {}
