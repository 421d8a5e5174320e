//! Math ops beyond the PyTorch vectors in `op_vectors.rs`: the softmax composites
//! (decomposition = kernel, recorded whole when exported), multi-output reductions in a
//! graph, and the edge cases where PyTorch's semantics are easy to get wrong (NaN,
//! integer promotion, errors instead of panics).

use ferrex::ops::{reduction, OpArgs, OpDef, Value};
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, Exporter};

fn close(got: &Tensor, want: &Tensor, tol: f64) {
    assert_eq!(got.dtype(), want.dtype());
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_vec::<f64>().unwrap(), want.to_vec::<f64>().unwrap());
    for (i, (x, y)) in g.iter().zip(&w).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

fn f32s(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(data.to_vec(), shape)
}

/// The eager kernel's result and the decomposition's result for the same arguments.
fn kernel_and_decomposition(op: &'static OpDef, args: Vec<Value>) -> (Tensor, Tensor) {
    let kernel = Tensor::call_op(op, args.clone()).remove(0);
    let decompose = op.decomposition.expect("the op has a decomposition");
    let decomposed = decompose(&OpArgs::new(op, &args)).unwrap().remove(0);
    (kernel, decomposed)
}

#[test]
fn softmax_decompositions_equal_their_kernels() {
    let x = Tensor::randn([3, 4, 5]);
    let int = |v: i64| Value::Int(SymInt::Int(v));
    for dim in [0, 1, -1] {
        for op in [&reduction::SOFTMAX_INT, &reduction::LOG_SOFTMAX_INT] {
            let (k, d) = kernel_and_decomposition(op, vec![Value::Tensor(x.clone()), int(dim)]);
            close(&d, &k, 0.0);
            let args = vec![Value::Tensor(x.clone()), int(dim), Value::DType(DType::F64)];
            let (k, d) = kernel_and_decomposition(op, args);
            assert_eq!(k.dtype(), DType::F64);
            close(&d, &k, 0.0);
        }
        // The primitives decompose into amax / sub / exp / sum / div (/ log).
        for op in [&reduction::_SOFTMAX, &reduction::_LOG_SOFTMAX] {
            let args = vec![Value::Tensor(x.clone()), int(dim), Value::Bool(false)];
            let (k, d) = kernel_and_decomposition(op, args);
            close(&d, &k, 1e-6);
        }
    }
    let rows = x.softmax(-1).sum_dim(&[-1], false).to_vec::<f32>().unwrap();
    assert!(rows.iter().all(|s| (s - 1.0).abs() < 1e-6));
    close(&x.log_softmax(1).exp(), &x.softmax(1), 1e-6);
}

#[export_module]
struct Classifier {}

#[export_module]
impl Classifier {
    fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (values, indices) = F::log_softmax(x, -1).max_dim(-1, false);
        (F::softmax(&F::gelu(x, "tanh"), 1), values, indices)
    }
}

#[test]
fn export_records_softmax_whole_and_max_dim_as_two_outputs() {
    let x = Tensor::randn([4, 6]);
    let ep = ferrex::export(&Classifier {}, (x.copy(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::log_softmax.int",
            "aten::max.dim",
            "aten::gelu.default",
            "aten::softmax.int"
        ]
    );
    let out = ep.module().call((x.copy(),)).unwrap();
    let (values, indices) = x.log_softmax(-1).max_dim(-1, false);
    assert_eq!(out.len(), 3);
    close(&out[0], &x.gelu("tanh").softmax(1), 0.0);
    close(&out[1], &values, 0.0);
    assert_eq!(out[2].dtype(), DType::I64);
    assert_eq!(
        indices.to_vec::<i64>().unwrap(),
        out[2].to_vec::<i64>().unwrap()
    );
}

#[export_module]
struct MathMix {}

#[export_module]
impl MathMix {
    fn forward(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        let picked = Tensor::where_(&x.gt(0.0).logical_and(&y.lt(1.0)), x, y);
        (
            x.maximum(y).pow(2).log_softmax(-1),
            picked.amax(&[1], true),
            x.var_dim(&[1], 1, false).sqrt(),
            x.cumsum(0).clamp(Some(-1.0), None),
            x.min_dim(0, false).1,
        )
    }
}

#[test]
fn metas_keep_sizes_symbolic() {
    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("batch").min(2))]);
    let ep = Exporter::new(&MathMix {}, (Tensor::randn([4, 6]), Tensor::randn([6])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let code = ep.graph_code(0);
    for line in [
        "= aten::log_softmax.int(pow_1, -1);",
        "let amax: f32[s0, 1] = aten::amax.default(where, [1], True);",
        "let var: f32[s0] = aten::var.correction(x, [1]);",
        "let clamp: f32[s0, 6] = aten::clamp.default(cumsum, -1.0);",
        ": (f32[6], i64[6]) = aten::min.dim(x, 0);",
    ] {
        assert!(code.contains(line), "`{line}` not in\n{code}");
    }
    for batch in [2, 7] {
        let (x, y) = (Tensor::randn([batch, 6]), Tensor::randn([6]));
        let got = ep.module().call((x.copy(), y.copy())).unwrap();
        let want = MathMix {}.forward(&x, &y);
        let want = [want.0, want.1, want.2, want.3, want.4];
        for (g, w) in got.iter().zip(&want) {
            close(g, w, 0.0);
        }
    }
}

#[test]
fn nan_propagates_as_in_pytorch() {
    let nan = f32::NAN;
    let a = f32s(&[1.0, nan, 3.0, 0.5], &[4]);
    let b = f32s(&[2.0, 0.0, nan, 0.5], &[4]);
    let max = a.maximum(&b).to_vec::<f32>().unwrap();
    assert_eq!(max[0], 2.0);
    assert!(max[1].is_nan() && max[2].is_nan());
    let m = f32s(&[1.0, nan, 5.0, nan, 2.0, 0.0], &[2, 3]);
    let (values, indices) = m.max_dim(1, false);
    assert!(values.to_vec::<f32>().unwrap().iter().all(|v| v.is_nan()));
    assert_eq!(indices.to_vec::<i64>().unwrap(), [1, 0], "first NaN wins");
    assert!(m.amax(&[], false).item::<f32>().unwrap().is_nan());
    // Comparisons with NaN are false, except `ne`.
    assert_eq!(
        a.eq(&a).to_vec::<bool>().unwrap(),
        [true, false, true, true]
    );
    assert_eq!(
        a.ne(&a).to_vec::<bool>().unwrap(),
        [false, true, false, false]
    );
    // clamp keeps NaN; sign(NaN) is 0 as PyTorch computes it.
    assert!(a.clamp(Some(0.0), Some(1.0)).to_vec::<f32>().unwrap()[1].is_nan());
    assert_eq!(a.sign().to_vec::<f32>().unwrap(), [1.0, 0.0, 1.0, 1.0]);
}

#[test]
fn ties_pick_the_first_index() {
    let x = f32s(&[3.0, 1.0, 3.0, 1.0], &[4]);
    assert_eq!(x.argmax(None, false).item::<i64>().unwrap(), 0);
    assert_eq!(x.argmin(Some(0), true).to_vec::<i64>().unwrap(), [1]);
    let x = Tensor::arange(6).view([2, 3]);
    assert_eq!(x.argmax(None, true).shape(), [1, 1]);
    assert_eq!(x.argmax(None, false).item::<i64>().unwrap(), 5);
}

#[test]
fn integer_ops_follow_pytorch_promotion() {
    let i = Tensor::from_vec(vec![-7i64, -1, 0, 4, 9], [5]);
    // Python's modulo: the sign of the divisor.
    let three = Tensor::full([5], 3i64);
    assert_eq!(
        i.remainder(&three).to_vec::<i64>().unwrap(),
        [2, 2, 0, 1, 0]
    );
    assert_eq!(
        i.remainder(&three.neg()).to_vec::<i64>().unwrap(),
        [-1, -1, 0, -2, 0]
    );
    // int ** int stays int; int ** float is float.
    assert_eq!(i.pow(2).dtype(), DType::I64);
    assert_eq!(i.pow(2).to_vec::<i64>().unwrap(), [49, 1, 0, 16, 81]);
    assert_eq!(i.pow(0.5).dtype(), DType::F32);
    // Unary math promotes integers to the default float type where PyTorch does.
    assert_eq!(i.sqrt().dtype(), DType::F32);
    assert_eq!(i.abs().dtype(), DType::I64);
    assert_eq!(i.abs().to_vec::<i64>().unwrap(), [7, 1, 0, 4, 9]);
    // Reductions over integers: prod and cumsum give i64, comparisons bool.
    let small = Tensor::from_vec(vec![1i32, 2, 3, 4], [2, 2]);
    assert_eq!(small.prod_dim(1, false).dtype(), DType::I64);
    assert_eq!(small.prod_dim(1, false).to_vec::<i64>().unwrap(), [2, 12]);
    assert_eq!(small.cumsum(0).to_vec::<i64>().unwrap(), [1, 2, 4, 6]);
    assert_eq!(small.cumsum(0).dtype(), DType::I64);
    assert_eq!(
        small.gt(2.5).to_vec::<bool>().unwrap(),
        [false, false, true, true]
    );
    // clamp with float bounds promotes, as PyTorch does.
    assert_eq!(i.clamp(Some(0.0), None).dtype(), DType::F32);
    // Conversions: float → int truncates toward zero; → bool is `!= 0`.
    let f = f32s(&[-1.7, -0.2, 0.0, 2.9], &[4]);
    assert_eq!(
        f.to_dtype(DType::I64).to_vec::<i64>().unwrap(),
        [-1, 0, 0, 2]
    );
    assert_eq!(
        f.to_dtype(DType::Bool).to_vec::<bool>().unwrap(),
        [true, true, false, true]
    );
    assert!(
        f.to_dtype(DType::F32).same_tensor(&f),
        "no-op conversion aliases"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let i = Tensor::from_vec(vec![1i64, 2, 3], [3]);
    let zero = Tensor::zeros_dtype([3], DType::I64);
    let cases = [
        ("remainder by zero", i.remainder(&zero), "ZeroDivisionError"),
        ("negative int power", i.pow(-1), "negative integer powers"),
        ("silu of ints", i.silu(), "floating-point"),
        ("softmax of ints", i.softmax(0), "floating-point"),
        ("var of ints", i.var(), "floating point"),
        ("dim out of range", i.amax(&[3], false), "out of range"),
        ("non-bool condition", Tensor::where_(&i, &i, &i), "boolean"),
        ("clamp without bounds", i.clamp(None, None), "At least one"),
        (
            "unknown gelu",
            i.to_dtype(DType::F32).gelu("fast"),
            "approximate",
        ),
        (
            "empty max",
            Tensor::zeros([2, 0]).max_dim(1, false).0,
            "non-zero size",
        ),
    ];
    for (what, t, message) in cases {
        let err = t
            .error()
            .unwrap_or_else(|| panic!("{what}: expected an error"));
        assert!(
            err.to_string().contains(message),
            "{what}: `{err}` should mention `{message}`"
        );
    }
    // Both outputs of a failed two-output op carry the error.
    let (v, idx) = Tensor::zeros([2, 0]).max_dim(1, false);
    assert!(v.error().is_some() && idx.error().is_some());
}

/// `log_sigmoid` against `ln(1 / (1 + e^-x))` in f64 where that is exact enough, and
/// against its limits where it is not (`x` for very negative `x`, `-e^-x` for large `x`).
#[test]
fn log_sigmoid_matches_its_formula_and_limits() {
    let xs = [-4.0f64, -1.0, -0.25, 0.0, 0.5, 2.0, 10.0];
    let x = Tensor::from_vec(xs.to_vec(), [7]);
    let got = x.log_sigmoid().to_vec::<f64>().unwrap();
    for (g, v) in got.iter().zip(xs) {
        let want = (1.0 / (1.0 + (-v).exp())).ln();
        assert!(
            (g - want).abs() < 1e-12,
            "log_sigmoid({v}) = {g}, want {want}"
        );
    }
    let extremes = Tensor::from_vec(vec![-800.0f64, 50.0], [2]).log_sigmoid();
    let got = extremes.to_vec::<f64>().unwrap();
    assert_eq!(got[0], -800.0);
    assert!((got[1] + (-50.0f64).exp()).abs() < 1e-35, "{}", got[1]);
    // f32 in, f32 out; integers are refused like the other float-only activations.
    assert_eq!(f32s(&[0.0], &[1]).log_sigmoid().dtype(), DType::F32);
    let err = Tensor::from_vec(vec![1i64], [1])
        .log_sigmoid()
        .error()
        .unwrap()
        .to_string();
    assert!(
        err.contains("log_sigmoid is only implemented for floating-point tensors"),
        "{err}"
    );
}

#[test]
fn activations_match_their_formulas() {
    let x = f32s(&[-4.0, -1.0, -0.25, 0.0, 0.5, 2.0, 30.0], &[7]);
    let xs = x.to_vec::<f64>().unwrap();
    let check = |t: Tensor, f: &dyn Fn(f64) -> f64| {
        let want: Vec<f32> = xs.iter().map(|&v| f(v) as f32).collect();
        close(&t, &Tensor::from_vec(want, [7]), 1e-6);
    };
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    check(x.silu(), &|v| v * sig(v));
    check(F::relu6(&x), &|v: f64| v.clamp(0.0, 6.0));
    check(x.hardswish(), &|v: f64| v * (v + 3.0).clamp(0.0, 6.0) / 6.0);
    check(x.leaky_relu(0.1), &|v| if v > 0.0 { v } else { 0.1 * v });
    check(x.elu(1.0), &|v: f64| {
        if v > 0.0 {
            v
        } else {
            v.exp() - 1.0
        }
    });
    check(x.softplus(1.0, 20.0), &|v: f64| {
        if v > 20.0 {
            v
        } else {
            v.exp().ln_1p()
        }
    });
    // erf at known points (Abramowitz & Stegun, table 7.1).
    let e = f32s(&[0.5, 1.0, 2.0, 3.0, -1.0], &[5]).erf();
    let want = [0.5204999, 0.8427008, 0.9953223, 0.9999779, -0.8427008];
    for (g, w) in e.to_vec::<f32>().unwrap().iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
}

/// Elementwise ops over tensors large enough to be split over the thread pool and
/// written once into new buffers (an add, a subtraction, a product, a quotient, ReLU):
/// every element is the f32 operation on its operands, in order, with NaN kept.
#[test]
fn large_elementwise_ops_are_the_f32_operations_element_by_element() {
    let n = 3 * 65536 + 77;
    let xs: Vec<f32> = (0..n).map(|i| (i % 251) as f32 * 0.37 - 40.0).collect();
    let mut ys: Vec<f32> = (0..n).map(|i| (i % 113) as f32 * -0.59 + 31.0).collect();
    ys[n - 1] = f32::NAN;
    let (x, y) = (
        Tensor::from_vec(xs.clone(), [n]),
        Tensor::from_vec(ys.clone(), [n]),
    );
    let bits = |t: Tensor| -> Vec<u32> {
        t.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let each = |f: fn(f32, f32) -> f32| -> Vec<u32> {
        xs.iter()
            .zip(&ys)
            .map(|(&a, &b)| f(a, b).to_bits())
            .collect()
    };
    assert_eq!(bits(&x + &y), each(|a, b| a + b));
    assert_eq!(bits(&x - &y), each(|a, b| a - b));
    assert_eq!(bits(&x * &y), each(|a, b| a * b));
    assert_eq!(bits(&x / &y), each(|a, b| a / b));
    let relu = (&x - &y).relu();
    assert_eq!(
        bits(relu),
        each(|a, b| {
            let v = a - b;
            if v < 0.0 {
                0.0
            } else {
                v
            }
        })
    );
}

/// The same on small tensors (one thread, the slice loops) and with the second operand
/// one row repeated (a bias) or a number: every element is the f32 operation on its
/// operands, as PyTorch computes them, signed zeros and infinities included.
#[test]
fn small_and_broadcast_elementwise_ops_are_the_f32_operations() {
    let (rows, cols) = (7, 13);
    let mut xs: Vec<f32> = (0..rows * cols)
        .map(|i| (i % 17) as f32 * 0.731 - 5.3)
        .collect();
    xs[0] = -0.0;
    xs[1] = f32::INFINITY;
    let row: Vec<f32> = (0..cols).map(|j| j as f32 * -1.37 + 0.1).collect();
    let x = Tensor::from_vec(xs.clone(), [rows, cols]);
    let bits = |t: Tensor| -> Vec<u32> {
        assert_eq!(t.shape(), vec![rows, cols]);
        (t.to_vec::<f32>().unwrap().iter())
            .map(|v| v.to_bits())
            .collect()
    };
    let each = |ys: &dyn Fn(usize) -> f32, f: fn(f32, f32) -> f32| -> Vec<u32> {
        (xs.iter().enumerate())
            .map(|(i, &a)| f(a, ys(i)).to_bits())
            .collect()
    };
    let same: Vec<f32> = (0..rows * cols)
        .map(|i| (i % 5) as f32 * 0.3 - 0.6)
        .collect();
    let y_same = Tensor::from_vec(same.clone(), [rows, cols]);
    let y_row = Tensor::from_vec(row.clone(), [cols]);
    let by_same = |i: usize| same[i];
    let by_row = |i: usize| row[i % cols];
    for (y, ys) in [
        (&y_same, &by_same as &dyn Fn(usize) -> f32),
        (&y_row, &by_row),
    ] {
        assert_eq!(bits(&x + y), each(ys, |a, b| a + b));
        assert_eq!(bits(&x - y), each(ys, |a, b| a - b));
        assert_eq!(bits(&x * y), each(ys, |a, b| a * b));
        assert_eq!(bits(&x / y), each(ys, |a, b| a / b));
    }
    assert_eq!(bits(&x + 1.3), each(&|_| 1.3f32, |a, b| a + b));
    assert_eq!(bits(&x * 1.3), each(&|_| 1.3f32, |a, b| a * b));
}

/// An operand with one value per plane (`[n, c, 1, 1]`, `[c, 1, 1]`: a squeeze-excite
/// gate, a per-channel scale) against a `[n, c, h, w]` one, on either side of `-` and
/// `/` (which do not commute), large enough to split over the threads: every element is
/// the f32 operation on its two operands.
#[test]
fn per_plane_broadcasts_are_the_f32_operations_on_either_side() {
    let [n, c, h, w] = [4, 16, 37, 29];
    let plane = h * w;
    let len = n * c * plane;
    let xs: Vec<f32> = (0..len).map(|i| (i % 29) as f32 * 0.377 - 4.1).collect();
    let x = Tensor::from_vec(xs.clone(), [n, c, h, w]);
    let per_sample: Vec<f32> = (0..n * c).map(|i| i as f32 * 0.61 - 2.3).collect();
    let per_channel: Vec<f32> = (0..c).map(|i| i as f32 * -0.83 + 1.7).collect();
    let gates = [
        (
            Tensor::from_vec(per_sample.clone(), [n, c, 1, 1]),
            per_sample.clone(),
            n * c,
        ),
        (
            Tensor::from_vec(per_channel.clone(), [c, 1, 1]),
            per_channel.clone(),
            c,
        ),
    ];
    let bits = |t: Tensor| -> Vec<u32> {
        assert_eq!(t.shape(), vec![n, c, h, w]);
        (t.to_vec::<f32>().unwrap().iter())
            .map(|v| v.to_bits())
            .collect()
    };
    for (g, values, count) in &gates {
        let at = |i: usize| values[(i / plane) % count];
        let want = |f: fn(f32, f32) -> f32, gate_first: bool| -> Vec<u32> {
            (xs.iter().enumerate())
                .map(|(i, &v)| match gate_first {
                    true => f(at(i), v),
                    false => f(v, at(i)),
                })
                .map(f32::to_bits)
                .collect()
        };
        assert_eq!(bits(&x * g), want(|a, b| a * b, false));
        assert_eq!(bits(g * &x), want(|a, b| a * b, true));
        assert_eq!(bits(&x - g), want(|a, b| a - b, false));
        assert_eq!(bits(g - &x), want(|a, b| a - b, true));
        assert_eq!(bits(g / &x), want(|a, b| a / b, true));
        assert_eq!(bits(&x + g), want(|a, b| a + b, false));
    }
}

/// `amax`, `argmax`, `max.dim` and their minimum forms on rows longer than the kernels'
/// 16-lane blocks: the first position of a tie, a NaN anywhere wins (value and first
/// position), `-inf` rows, integers — against a plain scan.
#[test]
fn extremes_of_long_rows_match_a_plain_scan() {
    let n = 41;
    let mut rows: Vec<Vec<f32>> = (0..4)
        .map(|r| {
            (0..n)
                .map(|i| ((i * 7 + r * 3) % 23) as f32 - 11.0)
                .collect()
        })
        .collect();
    rows[1][5] = 50.0; // a tie: the first of the two is the argmax
    rows[1][33] = 50.0;
    rows[2][20] = f32::NAN;
    rows[2][37] = f32::NAN;
    rows[3] = vec![f32::NEG_INFINITY; n];
    rows[3][40] = -1e30;
    let x = f32s(&rows.concat(), &[4, n]);
    let plain = |row: &[f32], greater: bool| -> (f32, i64) {
        if let Some(i) = row.iter().position(|v| v.is_nan()) {
            return (f32::NAN, i as i64);
        }
        let mut best = (row[0], 0);
        for (i, &v) in row.iter().enumerate() {
            if (greater && v > best.0) || (!greater && v < best.0) {
                best = (v, i);
            }
        }
        (best.0, best.1 as i64)
    };
    for greater in [true, false] {
        let want: Vec<(f32, i64)> = rows.iter().map(|r| plain(r, greater)).collect();
        let (values, indices) = match greater {
            true => (x.amax(&[1], false), x.argmax(Some(1), false)),
            false => (x.amin(&[1], false), x.argmin(Some(1), false)),
        };
        let (v, i) = (
            values.to_vec::<f32>().unwrap(),
            indices.to_vec::<i64>().unwrap(),
        );
        for (r, (wv, wi)) in want.iter().enumerate() {
            assert!(
                v[r] == *wv || (v[r].is_nan() && wv.is_nan()),
                "row {r}: {} vs {wv}",
                v[r]
            );
            assert_eq!(i[r], *wi, "row {r} (greater: {greater})");
        }
    }
    assert_eq!(x.argmax(Some(1), false).to_vec::<i64>().unwrap()[1], 5);
    // Integers: exact, the first position of a tie (row 0 holds 0 at 0 and 17).
    let ints = Tensor::from_vec(
        (0..40i64).map(|i| (i * 13) % 17).collect::<Vec<_>>(),
        [2, 20],
    );
    assert_eq!(
        ints.argmax(Some(1), false).to_vec::<i64>().unwrap(),
        [13, 10]
    );
    assert_eq!(ints.amin(&[1], false).to_vec::<i64>().unwrap(), [0, 0]);
    assert_eq!(
        ints.argmin(Some(1), false).to_vec::<i64>().unwrap(),
        [0, 14]
    );
}

/// `where` with a mask broadcast over leading dims and either branch a one-element
/// tensor (`masked_fill`'s value) or a full tensor: each element from an independent loop.
#[test]
fn where_picks_each_element_whatever_its_branches_broadcast() {
    let (b, t) = (3usize, 5usize);
    let mask: Vec<bool> = (0..t * t).map(|i| (i % t) <= (i / t)).collect();
    let cond = Tensor::from_vec(mask.clone(), [t, t]);
    let x: Vec<f32> = (0..b * t * t).map(|i| i as f32 * 0.5 - 3.0).collect();
    let y: Vec<f32> = (0..b * t * t).map(|i| -(i as f32)).collect();
    let (xt, yt) = (f32s(&x, &[b, t, t]), f32s(&y, &[b, t, t]));
    let one = f32s(&[f32::NEG_INFINITY], &[]);
    let expect = |pick: &dyn Fn(usize) -> f32| -> Vec<f32> { (0..b * t * t).map(pick).collect() };
    let at = |i: usize| mask[i % (t * t)];
    let cases: [(&Tensor, &Tensor, Vec<f32>); 4] = [
        (&xt, &yt, expect(&|i| if at(i) { x[i] } else { y[i] })),
        (
            &xt,
            &one,
            expect(&|i| if at(i) { x[i] } else { f32::NEG_INFINITY }),
        ),
        (
            &one,
            &yt,
            expect(&|i| if at(i) { f32::NEG_INFINITY } else { y[i] }),
        ),
        (&one, &one, vec![f32::NEG_INFINITY; b * t * t]),
    ];
    for (k, (a, c, want)) in cases.into_iter().enumerate() {
        let got = Tensor::where_(&cond, a, c);
        let shape = if k == 3 { vec![t, t] } else { vec![b, t, t] };
        assert_eq!(got.shape(), shape, "case {k}");
        let want = if k == 3 { want[..t * t].to_vec() } else { want };
        assert_eq!(got.to_vec::<f32>().unwrap(), want, "case {k}");
    }
}
