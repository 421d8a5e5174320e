//! Views in exported programs: a write through a `transpose` / `narrow` / `unsqueeze`
//! view reaches the tensor it was taken from, and a view taken before the write reads
//! it — functionalized into the inverse views and scatters PyTorch's core IR records,
//! so that the exported program, compiled or interpreted, computes what the eager model
//! (and PyTorch's shared memory) does.

use ferrex::prelude::*;

mod common;
use common::normalize_lines;
use expect_test::expect;

#[export_module]
struct ViewWrites {}

#[export_module]
impl ViewWrites {
    fn forward(&self, cache: &Tensor, x: &Tensor) -> Tensor {
        // cache: [batch, feature, time]; x: [batch, time, feature].
        let y = cache.relu();
        let first = y.select(2, 0);
        y.transpose(1, 2).narrow(1, 0, 2).copy_(x);
        y.unsqueeze(0).mul_(2.0);
        first + y.sum_dim(&[2], false)
    }
}

/// The model's result written out: `y = relu(cache)` with time steps 0 and 1 replaced by
/// `x`, doubled; `first` is `y[:, :, 0]` after the writes.
fn by_hand(cache: &[f32], x: &[f32]) -> Vec<f32> {
    let (b, f, t) = (2, 4, 3);
    let mut y: Vec<f32> = cache.iter().map(|v| v.max(0.0)).collect();
    for i in 0..b {
        for j in 0..f {
            for k in 0..2 {
                y[(i * f + j) * t + k] = x[(i * 2 + k) * f + j];
            }
        }
    }
    let y: Vec<f32> = y.iter().map(|v| v * 2.0).collect();
    let mut out = Vec::new();
    for i in 0..b {
        for j in 0..f {
            let row = &y[(i * f + j) * t..(i * f + j + 1) * t];
            out.push(row[0] + row.iter().sum::<f32>());
        }
    }
    out
}

#[test]
fn writes_through_views_are_exported_as_pytorch_functionalizes_them() {
    ferrex::manual_seed(3);
    let (cache, x) = (Tensor::randn([2, 4, 3]), Tensor::randn([2, 2, 4]));
    let want = by_hand(&cache.to_vec::<f32>().unwrap(), &x.to_vec::<f32>().unwrap());
    let eager = ViewWrites {}.forward(&cache, &x).to_vec::<f32>().unwrap();
    let ep = ferrex::export(&ViewWrites {}, (cache.copy(), x.copy())).unwrap();
    expect![[r#"
        ExportedProgram:
            fn forward(cache: f32[2, 4, 3], x: f32[2, 2, 4]) {
                // File: tests/tests/views_write_through.rs:LINE in ViewWrites::forward, code: let y = cache.relu();
                let relu: f32[2, 4, 3] = aten::relu.default(cache);

                // File: tests/tests/views_write_through.rs:LINE in ViewWrites::forward, code: y.transpose(1, 2).narrow(1, 0, 2).copy_(x);
                let transpose: f32[2, 3, 4] = aten::transpose.int(relu, 1, 2);
                let narrow: f32[2, 2, 4] = aten::narrow.default(transpose, 1, 0, 2);
                let copy: f32[2, 2, 4] = aten::copy.default(narrow, x);
                let slice_scatter: f32[2, 3, 4] = aten::slice_scatter.default(transpose, copy, 1, 0, 2);
                let transpose_1: f32[2, 4, 3] = aten::transpose.int(slice_scatter, 1, 2);

                // File: tests/tests/views_write_through.rs:LINE in ViewWrites::forward, code: y.unsqueeze(0).mul_(2.0);
                let unsqueeze: f32[1, 2, 4, 3] = aten::unsqueeze.default(transpose_1, 0);
                let mul: f32[1, 2, 4, 3] = aten::mul.Tensor(unsqueeze, 2.0);
                let squeeze: f32[2, 4, 3] = aten::squeeze.dim(mul, 0);

                // File: tests/tests/views_write_through.rs:LINE in ViewWrites::forward, code: first + y.sum_dim(&[2], false)
                let sum_1: f32[2, 4] = aten::sum.dim_IntList(squeeze, [2]);
                let select: f32[2, 4] = aten::select.int(squeeze, 2, 0);
                let add: f32[2, 4] = aten::add.Tensor(select, sum_1);
                return (add,);
            }

        Graph signature:
            # inputs
            cache: USER_INPUT
            x: USER_INPUT

            # outputs
            add: USER_OUTPUT

        Range constraints: {}
    "#]]
    .assert_eq(&normalize_lines(&ep.to_string()));
    let interpreted = ep.module().call((cache.copy(), x.copy())).unwrap();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert!(
        compiled.stats().fallback_ops.is_empty(),
        "{}",
        compiled.describe()
    );
    let compiled = compiled.call((cache.copy(), x.copy())).unwrap();
    for got in [
        eager,
        interpreted[0].to_vec().unwrap(),
        compiled[0].to_vec().unwrap(),
    ] {
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }
}
