// A user macro runs while forward runs even when it is given no tensor: its expansion may
// read state. A function held in a field, called through an alias, is opaque too.
use ferrex::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(1);

macro_rules! bump {
    () => {
        N.fetch_add(1, Ordering::SeqCst) as f64
    };
}

#[export_module]
struct Model {
    #[config]
    act: Box<dyn Fn(&Tensor) -> Tensor>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let f = &self.act;
        f(x) * bump!()
    }
}

fn main() {}
