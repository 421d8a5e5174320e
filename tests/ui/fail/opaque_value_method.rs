// Methods of values of the model whose type strict export cannot read, given no tensor:
// a helper holding an `Arc<Mutex<..>>`, through an alias, and a config struct's method.
// Each may read state that the graph would freeze.
use ferrex::prelude::*;
use std::sync::{Arc, Mutex};

struct Knob {
    value: Arc<Mutex<f64>>,
}

impl Knob {
    fn level(&self) -> f64 {
        *self.value.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Config {
    eps: f64,
}

impl Config {
    fn factor(&self) -> f64 {
        1.0 / (1.0 + self.eps)
    }
}

#[export_module]
struct Model {
    #[config]
    knob: Knob,
    #[config]
    config: Config,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x * self.knob.level();
        let knob = &self.knob;
        y * knob.level() * self.config.factor()
    }
}

fn main() {}
