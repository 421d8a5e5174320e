//! Fixtures of the step kinds around control flow and data: a `cond` on a SymBool of
//! the batch with a linear layer in each branch (captured weights, packed GEMMs inside
//! the branches), a `map` whose body holds a linear layer, values read from data
//! (`item`, its checks, a data-dependent size read by a planned step) and a SymInt
//! output beside a tensor one. `tests/control.rs` runs them; `tests/fixtures.rs` keeps
//! their archives and generated code fresh.

use ferrex::prelude::*;
use ferrex::{cond, ExportedProgram};

use super::Fixture;

/// `cond(batch > 4, relu(a(x)), b(x) * 2)`: both branches read their own weights.
#[ferrex::export_module]
pub struct Gate {
    a: ferrex::nn::Linear,
    b: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Gate {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(
            x.size(0).sym_gt(4),
            |x| self.a.forward(&x).relu(),
            |x| self.b.forward(&x) * 2.0,
            [x]
        )
    }
}

/// `map(|row, b| lin(row) + b, xs, [b])`: a linear layer per row, a bias passed whole.
#[ferrex::export_module]
pub struct Rows {
    lin: ferrex::nn::Linear,
}

#[ferrex::export_module]
impl Rows {
    fn forward(&self, xs: &Tensor, b: &Tensor) -> Tensor {
        ferrex::map!(|row, b| self.lin.forward(&row) + b, xs, [b])
    }
}

/// `n` rows of `x`'s sum plus one, `n` read from data and checked to be in `[0, 8]`.
#[ferrex::export_module]
pub struct Count {}

#[ferrex::export_module]
impl Count {
    fn forward(&self, n: &Tensor, x: &Tensor) -> (Tensor, Tensor) {
        let k = match n.sym_item() {
            Ok(k) => k,
            Err(e) => return (Tensor::from_error(e.clone()), Tensor::from_error(e)),
        };
        ferrex::check_is_size(&k);
        ferrex::check(k.sym_le(8));
        let rows = Tensor::ones([k, SymInt::from(3)]);
        ((rows * 2.0 + 1.0).sin(), x.relu())
    }
}

/// A tensor output and a SymInt one (`2 * batch + 1`), in that order.
#[ferrex::export_module]
pub struct Sized {}

#[ferrex::export_module]
impl Sized {
    fn forward(&self, x: &Tensor) -> (Tensor, SymInt) {
        (x.tanh(), x.size(0) * 2 + 1)
    }
}

fn export_dyn<M: ferrex::Forward>(m: &M, args: M::Args, input: &str) -> ExportedProgram {
    let batch = ferrex::Dim::new("batch").max(16);
    ferrex::Exporter::new(m, args)
        .dynamic_shapes(ferrex::DynamicShapes::new().input(input, [(0, batch)]))
        .run()
        .unwrap_or_else(|e| panic!("exporting failed: {e}"))
}

pub const CONTROL: &[Fixture] = &[
    Fixture {
        name: "cond_dyn",
        export: || {
            ferrex::manual_seed(61);
            let m = Gate {
                a: ferrex::nn::Linear::new(6, 4),
                b: ferrex::nn::Linear::new(6, 4),
            };
            export_dyn(&m, (Tensor::randn([3, 6]),), "x")
        },
    },
    Fixture {
        name: "map_dyn",
        export: || {
            ferrex::manual_seed(62);
            let m = Rows {
                lin: ferrex::nn::Linear::new(5, 3),
            };
            export_dyn(&m, (Tensor::randn([4, 5]), Tensor::randn([3])), "xs")
        },
    },
    Fixture {
        name: "item_b2",
        export: || {
            ferrex::manual_seed(63);
            let args = (Tensor::scalar(3i64), Tensor::randn([2, 3]));
            ferrex::export(&Count {}, args).unwrap_or_else(|e| panic!("exporting failed: {e}"))
        },
    },
    Fixture {
        name: "size_output_dyn",
        export: || {
            ferrex::manual_seed(64);
            export_dyn(&Sized {}, (Tensor::randn([3, 2]),), "x")
        },
    },
];
