// Calls strict mode trusts without a marker: a custom-op registry function (its result is
// recorded, not frozen), std functions and methods of plain values, and functions and
// config types marked `#[ferrex::export_fn]` (read and checked).
use ferrex::error::OpError;
use ferrex::ops::{custom_op, OpArgs, OpDef};
use ferrex::prelude::*;
use ferrex::tensor::TensorMeta;
use std::cmp::max;
use std::sync::OnceLock;

fn meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn twice(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![args.tensor(0)?.mul(2.0)])
}

fn op() -> &'static OpDef {
    static OP: OnceLock<&'static OpDef> = OnceLock::new();
    OP.get_or_init(|| {
        custom_op("ui_pass::twice(Tensor x) -> Tensor")
            .meta(meta)
            .implementation(twice)
            .register()
            .expect("registers once")
    })
}

fn try_op() -> Result<&'static OpDef, OpError> {
    Ok(op())
}

#[ferrex::export_fn]
fn half() -> f64 {
    0.5
}

struct Config {
    eps: f64,
}

#[ferrex::export_fn]
impl Config {
    fn factor(&self) -> f64 {
        1.0 / (1.0 + self.eps)
    }
}

#[export_module]
struct Model {
    #[config]
    config: Config,
    #[config]
    name: String,
    #[config]
    dims: Vec<usize>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = op().call(&[&x.sin()]);
        let y = match try_op() {
            Ok(o) => o.call(&[&y]),
            Err(_) => y,
        };
        let n = max(self.dims.iter().product::<usize>(), 1);
        let k = if self.name.starts_with("big") { 2.0 } else { 1.0 };
        y * self.config.factor() * half() * f64::from(n as u32) * k * self.config.eps.sqrt()
    }
}

fn main() {
    let m = Model {
        config: Config { eps: 0.25 },
        name: "big".into(),
        dims: vec![2, 3],
    };
    let x = Tensor::randn([2, 2]);
    let ep = ferrex::export(&m, (Tensor::randn([2, 2]),)).expect("exports");
    let got = ep.module().call((x.copy(),)).expect("runs")[0].to_vec::<f32>().unwrap();
    // twice(twice(sin x)) * 0.8 * 0.5 * 6 * 2 * 0.5, computed apart.
    let want: Vec<f32> = x
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.sin() * 4.0 * 0.8 * 0.5 * 6.0 * 2.0 * 0.5)
        .collect();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
}
