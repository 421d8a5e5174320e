//! The Core ATen ops that `run_decompositions()` lowers to and that PyTorch's core-IR
//! archives use: `convolution`, `max_pool2d_with_indices`, `mul.Scalar`,
//! `squeeze.dims`, `eq.Scalar`, `gt.Scalar`. Expected values were computed by hand
//! (and agree with PyTorch 2.15's eager results for the same calls).

use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{DType, SymInt, Tensor};

fn call(op: &str, args: Vec<Value>) -> Vec<Tensor> {
    let op = lookup(op).unwrap_or_else(|| panic!("{op} is registered"));
    run_eager(op, &args).unwrap()
}

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

fn t(data: &[f32], shape: &[usize]) -> Value {
    Value::Tensor(Tensor::from_vec(data.to_vec(), shape))
}

fn conv_args(stride: &[i64], padding: &[i64]) -> Vec<Value> {
    let x: Vec<f32> = (0..9).map(|i| i as f32).collect();
    vec![
        t(&x, &[1, 1, 3, 3]),
        t(&[1.0; 4], &[1, 1, 2, 2]),
        t(&[0.5], &[1]),
        ints(stride),
        ints(padding),
        ints(&[1, 1]),
        Value::Bool(false),
        ints(&[0, 0]),
        Value::Int(SymInt::Int(1)),
    ]
}

#[test]
fn convolution_sums_windows_plus_bias() {
    // 2x2 windows of 0..9 in a 3x3 grid: 0+1+3+4 = 8, 12, 20, 24; plus 0.5.
    let out = call("aten::convolution.default", conv_args(&[1, 1], &[0, 0]));
    assert_eq!(out[0].shape(), [1, 1, 2, 2]);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [8.5, 12.5, 20.5, 24.5]);
    // Stride 2, padding 1: the windows see {0}, {1, 2}, {3, 6}, {4, 5, 7, 8}.
    let out = call("aten::convolution.default", conv_args(&[2, 2], &[1, 1]));
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [0.5, 3.5, 9.5, 24.5]);
}

#[test]
fn convolution_transposed_and_bad_weights() {
    // Transposed: each input value spread over a 2x2 block of ones, overlaps summed —
    // out[y][x] = Σ x[y - ky][x - kx] over the taps inside the input, plus 0.5.
    let mut args = conv_args(&[1, 1], &[0, 0]);
    args[6] = Value::Bool(true);
    let op = lookup("aten::convolution.default").unwrap();
    let out = run_eager(op, &args).unwrap();
    assert_eq!(out[0].shape(), [1, 1, 4, 4]);
    let want: Vec<f32> = [
        0.0, 1.0, 3.0, 2.0, 3.0, 8.0, 12.0, 7.0, 9.0, 20.0, 24.0, 13.0, 6.0, 13.0, 15.0, 8.0,
    ]
    .iter()
    .map(|v| v + 0.5)
    .collect();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want);
    let mut args = conv_args(&[1, 1], &[0, 0]);
    args[1] = t(&[1.0; 4], &[4]);
    let err = run_eager(op, &args).unwrap_err();
    assert!(err.0.contains("3-D, 4-D or 5-D weight"), "{}", err.0);
}

const POOL_INPUT: [f32; 16] = [
    1.0, 5.0, 2.0, 0.0, //
    3.0, 4.0, 9.0, 1.0, //
    7.0, 7.0, 0.0, 2.0, //
    1.0, 8.0, 3.0, 6.0,
];

#[test]
fn max_pool2d_with_indices_gives_values_and_flat_plane_indices() {
    let x = t(&POOL_INPUT, &[1, 1, 4, 4]);
    let out = call(
        "aten::max_pool2d_with_indices.default",
        vec![x.clone(), ints(&[2, 2])],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [5.0, 9.0, 8.0, 6.0]);
    assert_eq!(out[1].dtype(), DType::I64);
    // The first maximum wins a tie (7 at 8 and 9 in the third window: 8 is not the max).
    assert_eq!(out[1].to_vec::<i64>().unwrap(), [1, 6, 13, 15]);
    // 3x3 windows, stride 2, padding 1: the last window's maximum is 9 at index 6.
    let out = call(
        "aten::max_pool2d_with_indices.default",
        vec![x, ints(&[3, 3]), ints(&[2, 2]), ints(&[1, 1])],
    );
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [5.0, 9.0, 8.0, 9.0]);
    assert_eq!(out[1].to_vec::<i64>().unwrap(), [1, 6, 13, 6]);
}

#[test]
fn max_pool2d_with_indices_matches_max_pool2d() {
    let x = Tensor::randn([2, 3, 7, 9]);
    let args = vec![
        Value::Tensor(x),
        ints(&[3, 2]),
        ints(&[2, 2]),
        ints(&[1, 0]),
    ];
    let with = call("aten::max_pool2d_with_indices.default", args.clone());
    let plain = call("aten::max_pool2d.default", args);
    assert_eq!(with[0].shape(), [2, 3, 4, 4]);
    assert_eq!(
        with[0].to_vec::<f32>().unwrap(),
        plain[0].to_vec::<f32>().unwrap()
    );
}

#[test]
fn mul_scalar_promotes_like_mul_tensor() {
    let x = Value::Tensor(Tensor::from_vec(vec![1i64, 2, 3], [3]));
    let out = call("aten::mul.Scalar", vec![x, Value::Float(0.5)]);
    assert_eq!(out[0].dtype(), DType::F32);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [0.5, 1.0, 1.5]);
}

#[test]
fn squeeze_dims_removes_the_listed_unit_dims() {
    let x = Value::Tensor(Tensor::zeros([1, 3, 1, 2]));
    let out = call("aten::squeeze.dims", vec![x.clone(), ints(&[0, 2, -1])]);
    assert_eq!(out[0].shape(), [3, 2]);
    let out = call("aten::squeeze.dims", vec![x.clone(), ints(&[-2])]);
    assert_eq!(out[0].shape(), [1, 3, 2]);
    let op = lookup("aten::squeeze.dims").unwrap();
    assert!(run_eager(op, &[x, ints(&[4])]).is_err());
}

#[test]
fn eq_and_gt_scalar_compare_with_a_number() {
    let x = t(&[f32::NEG_INFINITY, 0.0, 2.0], &[3]);
    let eq = call(
        "aten::eq.Scalar",
        vec![x.clone(), Value::Float(f64::NEG_INFINITY)],
    );
    assert_eq!(eq[0].to_vec::<bool>().unwrap(), [true, false, false]);
    let gt = call("aten::gt.Scalar", vec![x, Value::Int(SymInt::Int(0))]);
    assert_eq!(gt[0].to_vec::<bool>().unwrap(), [false, false, true]);
}

#[test]
fn split_with_sizes_cuts_the_given_lengths() {
    let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let out = call(
        "aten::split_with_sizes.default",
        vec![t(&x, &[2, 5]), ints(&[2, 3]), Value::Int(SymInt::Int(-1))],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [0.0, 1.0, 5.0, 6.0]);
    assert_eq!(
        out[1].to_vec::<f32>().unwrap(),
        [2.0, 3.0, 4.0, 7.0, 8.0, 9.0]
    );
    let op = lookup("aten::split_with_sizes.default").unwrap();
    let err = run_eager(
        op,
        &[t(&x, &[2, 5]), ints(&[2, 2]), Value::Int(SymInt::Int(1))],
    )
    .unwrap_err();
    assert!(err.0.contains("sum exactly to 5"), "{}", err.0);
}
