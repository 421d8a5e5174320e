//! The special functions, selections, bucketing, `padding="same"` convolutions, `fold`
//! and `index_fill` added for PyTorch programs outside the corpus (pt2_more's `special`,
//! `ordering` and `same_pad` run them against PyTorch in both IRs): their values at
//! known points, their edge cases, and their errors, against independent computations.

mod common;

use common::values::{assert_close, data, tensor};
use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{DType, SymInt, Tensor};

fn call(op: &str, args: Vec<Value>) -> Result<Vec<Tensor>, String> {
    let op = lookup(op).unwrap_or_else(|| panic!("{op} is not registered"));
    run_eager(op, &args).map_err(|e| e.to_string())
}

fn t(x: &Tensor) -> Value {
    Value::Tensor(x.clone())
}

fn int(i: i64) -> Value {
    Value::Int(SymInt::Int(i))
}

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn i64s(t: &Tensor) -> Vec<i64> {
    t.to_dtype(DType::I64).to_vec::<i64>().unwrap()
}

/// Within 1e-13 of `want`, relatively (absolutely below 1: a value computed with
/// cancellation, as `ψ(−1/2) ≈ 0.036`, is good to the inputs' magnitude).
fn assert_rel(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-13 * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn special_functions_at_known_points() {
    let unary = |op: &str, x: &[f64]| -> Vec<f64> {
        let x = Tensor::from_vec(x.to_vec(), [x.len()]);
        f64s(&call(op, vec![t(&x)]).unwrap()[0])
    };
    // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(−1/2) = ψ(3/2) + 2 = 2 − γ − 2 ln 2 (reflection),
    // ψ(x + 1) = ψ(x) + 1/x far out; ATen's special values at 0 and the poles.
    let euler = 0.577_215_664_901_532_9;
    let ln2 = std::f64::consts::LN_2;
    let d = unary("aten::digamma", &[1.0, 0.5, -0.5, 30.0, 0.0, -0.0, -2.0]);
    assert_rel(d[0], -euler, "digamma(1)");
    assert_rel(d[1], -euler - 2.0 * ln2, "digamma(0.5)");
    assert_rel(d[2], 2.0 - euler - 2.0 * ln2, "digamma(-0.5)");
    let d29 = unary("aten::digamma", &[29.0])[0];
    assert_rel(d[3], d29 + 1.0 / 29.0, "digamma(30)");
    assert_eq!((d[4], d[5]), (f64::NEG_INFINITY, f64::INFINITY));
    assert!(d[6].is_nan());
    // I₀ as its series' first terms far from overflow, and I₀(0) = 1; even.
    let i = unary("aten::i0", &[0.0, 1.0, -1.0, 10.0, 800.0]);
    let series = |x: f64| {
        (0..60).fold((0.0, 1.0), |(s, term), k| {
            let k = f64::from(k);
            (s + term, term * (x * x / 4.0) / ((k + 1.0) * (k + 1.0)))
        })
    };
    assert_eq!(i[0], 1.0);
    assert_rel(i[1], series(1.0).0, "i0(1)");
    assert_eq!(i[1], i[2]);
    assert_rel(i[3], 2_815.716_628_466_254, "i0(10)");
    assert_eq!(i[4], f64::INFINITY);
    // erfc keeps its precision where 1 − erf(x) is 0; lgamma(1/2) = ln √π.
    let e = unary("aten::erfc", &[5.0, 0.0, -30.0]);
    let erfc5 = 1.537_459_794_428_034_8e-12;
    assert!((e[0] - erfc5).abs() <= 1e-13 * erfc5, "erfc(5): {}", e[0]);
    assert_eq!((e[1], e[2]), (1.0, 2.0));
    let l = unary("aten::lgamma", &[0.5, 1.0, 0.0]);
    assert_rel(l[0], 0.5 * std::f64::consts::PI.ln(), "lgamma(0.5)");
    assert_eq!((l[1], l[2]), (0.0, f64::INFINITY));
    // signbit sees −0.0; frac keeps the sign; sinc(0) = 1.
    let x = Tensor::from_vec(vec![-0.0f32, 0.0, -2.5, 3.25], [4]);
    let s = call("aten::signbit", vec![t(&x)]).unwrap()[0].to_vec::<bool>();
    assert_eq!(s.unwrap(), [true, false, true, false]);
    assert_eq!(
        data(&call("aten::frac", vec![t(&x)]).unwrap()[0]),
        [-0.0, 0.0, -0.5, 0.25]
    );
    let s = data(&call("aten::sinc", vec![t(&x)]).unwrap()[0]);
    assert_eq!(s[0], 1.0);
    let err = call("aten::frac", vec![t(&Tensor::from_slice(&[1i64]))]).unwrap_err();
    assert!(
        err.contains("\"frac_cpu\" not implemented for 'i64'"),
        "{err}"
    );
}

#[test]
fn xlogy_heaviside_and_eval_rrelu() {
    let x = Tensor::from_vec(vec![0.0f32, 2.0, 0.0, -1.0], [4]);
    let y = Tensor::from_vec(vec![f32::NAN, 3.0, 0.0, 0.5], [4]);
    let v = data(&call("aten::xlogy.Tensor", vec![t(&x), t(&y)]).unwrap()[0]);
    // NaN where y is NaN (even for x = 0), 0 where x = 0 (even for log 0).
    assert!(v[0].is_nan());
    assert_close(
        &v[1..],
        &[2.0 * 3f64.ln(), 0.0, -(0.5f64.ln())],
        1e-6,
        "xlogy",
    );
    let h = call(
        "aten::heaviside",
        vec![t(&x), t(&Tensor::from_slice(&[0.5f32]))],
    )
    .unwrap();
    assert_eq!(data(&h[0]), [0.5, 1.0, 0.5, 0.0]);
    let r = call("aten::rrelu", vec![t(&x)]).unwrap();
    assert_close(
        &data(&r[0]),
        &[0.0, 2.0, 0.0, -(0.125 + 1.0 / 3.0) / 2.0],
        1e-7,
        "rrelu",
    );
    let err = call(
        "aten::rrelu",
        vec![
            t(&x),
            Value::Float(0.1),
            Value::Float(0.3),
            Value::Bool(true),
        ],
    )
    .unwrap_err();
    assert!(err.contains("export the model in eval() mode"), "{err}");
}

#[test]
fn triangle_indices_match_a_loop() {
    let loop_indices = |row: i64, col: i64, offset: i64, upper: bool| {
        let mut out = (Vec::new(), Vec::new());
        for r in 0..row {
            for c in 0..col {
                if (upper && c - r >= offset) || (!upper && c - r <= offset) {
                    out.0.push(r);
                    out.1.push(c);
                }
            }
        }
        [out.0, out.1].concat()
    };
    for (row, col) in [(0, 3), (3, 0), (1, 1), (3, 4), (5, 2), (4, 7)] {
        for offset in [-6, -2, -1, 0, 1, 3, 8] {
            for (op, upper) in [("aten::tril_indices", false), ("aten::triu_indices", true)] {
                let got = call(op, vec![int(row), int(col), int(offset)]).unwrap();
                let want = loop_indices(row, col, offset, upper);
                assert_eq!(
                    got[0].shape(),
                    [2, want.len() / 2],
                    "{op}({row}, {col}, {offset})"
                );
                assert_eq!(i64s(&got[0]), want, "{op}({row}, {col}, {offset})");
            }
        }
    }
    // Huge sizes with an empty triangle are no long loop; a huge triangle is an error.
    let empty = call("aten::tril_indices", vec![int(i64::MAX / 4), int(0)]).unwrap();
    assert_eq!(empty[0].shape(), [2, 0]);
    let few = call(
        "aten::tril_indices",
        vec![int(1 << 40), int(2), int(-(1 << 40) + 1)],
    )
    .unwrap();
    assert_eq!(i64s(&few[0]), [(1 << 40) - 1, 0]);
    assert!(call("aten::tril_indices", vec![int(1 << 40), int(1 << 40)]).is_err());
    let err = call("aten::triu_indices", vec![int(-1), int(2)]).unwrap_err();
    assert!(err.contains("row must be non-negative"), "{err}");
}

#[test]
fn searchsorted_and_bucketize_edges() {
    let edges = Tensor::from_vec(vec![-1.0f32, 0.0, 0.0, 2.0], [4]);
    let x = Tensor::from_vec(vec![-3.0f32, 0.0, 1.0, 2.0, 9.0, f32::NAN], [6]);
    let b = call("aten::bucketize.Tensor", vec![t(&x), t(&edges)]).unwrap();
    // Before equal boundaries by default, after them with `right`; NaN after all.
    assert_eq!(i64s(&b[0]), [0, 1, 3, 3, 4, 4]);
    let kw = |right: bool| vec![t(&edges), t(&x), Value::Bool(false), Value::Bool(right)];
    assert_eq!(
        i64s(&call("aten::searchsorted.Tensor", kw(true)).unwrap()[0]),
        [0, 3, 3, 4, 4, 4]
    );
    // One sorted row per input row.
    let rows = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 10.0, 20.0, 30.0], [2, 3]);
    let v = Tensor::from_vec(vec![2.5f32, 0.0, 25.0, 31.0], [2, 2]);
    let r = call("aten::searchsorted.Tensor", vec![t(&rows), t(&v)]).unwrap();
    assert_eq!(i64s(&r[0]), [2, 0, 2, 3]);
    let i32s = call(
        "aten::searchsorted.Tensor",
        vec![t(&rows), t(&v), Value::Bool(true)],
    )
    .unwrap();
    assert_eq!(i32s[0].dtype(), DType::I32);
    let s = call(
        "aten::searchsorted.Scalar",
        vec![t(&edges), Value::Float(0.0)],
    )
    .unwrap();
    assert_eq!((s[0].shape(), i64s(&s[0])), (vec![], vec![1]));
    let mut bad = kw(true);
    bad.push(Value::Str("left".into()));
    let err = call("aten::searchsorted.Tensor", bad).unwrap_err();
    assert!(
        err.contains("side and right can't be set to opposites"),
        "{err}"
    );
    let err = call("aten::searchsorted.Tensor", vec![t(&rows), t(&x)]).unwrap_err();
    assert!(
        err.contains("first N-1 dimensions of boundaries tensor"),
        "{err}"
    );
    let err = call("aten::bucketize.Tensor", vec![t(&x), t(&rows)]).unwrap_err();
    assert!(
        err.contains("boundaries tensor must be 1 dimension, but got dim(2)"),
        "{err}"
    );
}

#[test]
fn histc_bins_ranges_and_errors() {
    let x = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 2.5, 3.0, -1.0, f32::NAN], [7]);
    let h = call(
        "aten::histc",
        vec![t(&x), int(3), Value::Float(0.0), Value::Float(3.0)],
    );
    // 3.0 (the maximum) in the last bin; −1 outside; NaN not counted.
    assert_eq!(data(&h.unwrap()[0]), [1.0, 2.0, 2.0]);
    // min == max: the data's range, [−1, 3].
    let h = call("aten::histc", vec![t(&x), int(4)]).unwrap();
    assert_eq!(data(&h[0]), [1.0, 1.0, 2.0, 2.0]);
    // One point: widened to [x − 1, x + 1].
    let one = Tensor::from_vec(vec![5.0f32; 3], [3]);
    assert_eq!(
        data(&call("aten::histc", vec![t(&one), int(2)]).unwrap()[0]),
        [0.0, 3.0]
    );
    let err = call("aten::histc", vec![t(&x), int(0)]).unwrap_err();
    assert!(err.contains("bins must be > 0"), "{err}");
    let err = call("aten::histc", vec![t(&Tensor::from_slice(&[1i64])), int(2)]).unwrap_err();
    assert!(err.contains("not implemented for 'i64'"), "{err}");
}

#[test]
fn selections_mode_kthvalue_quantile() {
    // mode: the most frequent value, the smallest of equally frequent ones, its last index.
    let x = Tensor::from_vec(vec![2.0f32, 1.0, 2.0, 1.0, 3.0, 5.0, 5.0, 4.0], [2, 4]);
    let m = call("aten::mode", vec![t(&x), int(1)]).unwrap();
    assert_eq!((data(&m[0]), i64s(&m[1])), (vec![1.0, 5.0], vec![3, 2]));
    let k = call(
        "aten::kthvalue",
        vec![t(&x), int(3), int(1), Value::Bool(true)],
    )
    .unwrap();
    assert_eq!(k[0].shape(), [2, 1]);
    // Equal values keep their index order (the sort is stable).
    assert_eq!((data(&k[0]), i64s(&k[1])), (vec![2.0, 5.0], vec![0, 1]));
    let err = call("aten::kthvalue", vec![t(&x), int(5), int(1)]).unwrap_err();
    assert!(
        err.contains("selected number k out of range for dimension 1"),
        "{err}"
    );
    // quantile over all elements: the sorted values' linear interpolation at q·(n − 1).
    let v = tensor(&[3, 5], 7);
    let mut sorted: Vec<f64> = data(&v).into_iter().map(f64::from).collect();
    sorted.sort_by(f64::total_cmp);
    let q = call("aten::quantile.scalar", vec![t(&v), Value::Float(0.3)]).unwrap();
    let rank: f64 = 0.3 * 14.0;
    let lo = sorted[rank as usize];
    let want = lo + (sorted[rank as usize + 1] - lo) * (rank - rank.floor());
    assert_close(&data(&q[0]), &[want], 1e-6, "quantile");
    let err = call("aten::quantile.scalar", vec![t(&v), Value::Float(1.5)]).unwrap_err();
    assert!(
        err.contains("q must be in the range [0, 1] but got 1.5"),
        "{err}"
    );
    let err = call(
        "aten::quantile.scalar",
        vec![
            t(&v),
            Value::Float(0.5),
            Value::None,
            Value::Bool(false),
            Value::Str("cubic".into()),
        ],
    )
    .unwrap_err();
    assert!(err.contains("interpolation must be one of"), "{err}");
}

#[test]
fn rot90_dstack_and_fills() {
    let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), [2, 3]);
    let r = call("aten::rot90", vec![t(&x)]).unwrap();
    // numpy.rot90([[0, 1, 2], [3, 4, 5]]) = [[2, 5], [1, 4], [0, 3]].
    assert_eq!(
        (r[0].shape(), data(&r[0])),
        (vec![3, 2], vec![2.0, 5.0, 1.0, 4.0, 0.0, 3.0])
    );
    let full = call("aten::rot90", vec![t(&x), int(4)]).unwrap();
    assert_eq!(data(&full[0]), data(&x));
    let err = call("aten::rot90", vec![t(&x), int(1), ints(&[1, -1])]).unwrap_err();
    assert!(
        err.contains("expected rotation dims to be different"),
        "{err}"
    );
    let d = call(
        "aten::dstack",
        vec![Value::TensorList(vec![x.clone(), x.clone()])],
    )
    .unwrap();
    assert_eq!(d[0].shape(), [2, 3, 2]);
    // index_fill with a 0-d tensor value; a vector value is refused.
    let fill = call(
        "aten::index_fill.int_Tensor",
        vec![
            t(&x),
            int(1),
            t(&Tensor::from_slice(&[2i64, 0])),
            t(&Tensor::scalar_tensor(-1.0, DType::F32)),
        ],
    )
    .unwrap();
    assert_eq!(data(&fill[0]), [-1.0, 1.0, -1.0, -1.0, 4.0, -1.0]);
    let err = call(
        "aten::index_fill.int_Tensor",
        vec![
            t(&x),
            int(1),
            t(&Tensor::from_slice(&[0i64])),
            t(&Tensor::from_slice(&[1.0f32])),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("only supports a 0-dimensional value tensor"),
        "{err}"
    );
}

/// `padding="same"` with an even kernel pads one more after than before: the same as
/// `constant_pad_nd` then a plain convolution.
#[test]
fn same_padding_pads_the_odd_one_after() {
    let x = tensor(&[1, 2, 4, 5], 1);
    let w = tensor(&[3, 2, 2, 4], 2);
    let same = call(
        "aten::conv2d.padding",
        vec![
            t(&x),
            t(&w),
            Value::None,
            ints(&[1]),
            Value::Str("same".into()),
        ],
    )
    .unwrap();
    let padded = x.pad([1, 2, 0, 1], 0.0);
    let plain = padded.conv2d(&w, None, &[1], &[0], &[1], 1);
    assert_eq!(same[0].shape(), [1, 3, 4, 5]);
    assert_eq!(data(&same[0]), data(&plain));
    let err = call(
        "aten::conv2d.padding",
        vec![
            t(&x),
            t(&w),
            Value::None,
            ints(&[2]),
            Value::Str("same".into()),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("not supported for strided convolutions"),
        "{err}"
    );
    let err = call(
        "aten::conv2d.padding",
        vec![
            t(&x),
            t(&w),
            Value::None,
            ints(&[1]),
            Value::Str("full".into()),
        ],
    )
    .unwrap_err();
    assert!(err.contains("Invalid padding string: 'full'"), "{err}");
}

/// `fold(unfold(x))` counts each pixel once per block that covers it.
#[test]
fn fold_sums_overlapping_blocks() {
    let ones = Tensor::ones([1, 1, 3, 3]);
    let cols = call(
        "aten::im2col",
        vec![
            t(&ones),
            ints(&[2, 2]),
            ints(&[1, 1]),
            ints(&[0, 0]),
            ints(&[1, 1]),
        ],
    )
    .unwrap();
    let back = call(
        "aten::col2im",
        vec![
            t(&cols[0]),
            ints(&[3, 3]),
            ints(&[2, 2]),
            ints(&[1, 1]),
            ints(&[0, 0]),
            ints(&[1, 1]),
        ],
    )
    .unwrap();
    assert_eq!(
        data(&back[0]),
        [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]
    );
    let err = call(
        "aten::col2im",
        vec![
            t(&cols[0]),
            ints(&[4, 4]),
            ints(&[2, 2]),
            ints(&[1, 1]),
            ints(&[0, 0]),
            ints(&[1, 1]),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("match the calculated number of sliding blocks 3 * 3 = 9"),
        "{err}"
    );
}
