//! The linear-algebra composites (`addbmm`, `addmv`, `dot`, `trace`, `tensordot`,
//! `kron`, `block_diag`, `cartesian_prod`, `cross`, `linalg_cross`, `bilinear` through
//! `_trilinear`), the margin and embedding losses and `empty_permuted`, each against
//! plain loops written from the ops' definitions, and their refusals of bad shapes and
//! arguments (errors, not panics). `tests/data/pt2_more/` (`linalg2`, `losses2`) runs
//! them against PyTorch's values.

mod common;

use common::values::{assert_close, data, tensor};
use ferrex::ops::{lookup, run_eager, Value};
use ferrex::{SymInt, Tensor};

fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

fn int(i: i64) -> Value {
    Value::Int(SymInt::Int(i))
}

fn t(x: &Tensor) -> Value {
    Value::Tensor(x.clone())
}

fn call(op: &str, args: &[Value]) -> Result<Vec<Tensor>, String> {
    let op = lookup(op).unwrap_or_else(|| panic!("no op {op}"));
    run_eager(op, args).map_err(|e| e.to_string())
}

/// The op's one result: its shape and values.
fn one(op: &str, args: &[Value]) -> (Vec<usize>, Vec<f32>) {
    let out = call(op, args).unwrap_or_else(|e| panic!("{op}: {e}"));
    (out[0].shape(), data(&out[0]))
}

/// The op's error (it must fail, not panic), checked to contain `want`.
fn refused(op: &str, args: &[Value], want: &str) {
    match call(op, args) {
        Ok(out) => panic!(
            "{op}: expected an error containing {want:?}, got {:?}",
            out[0].shape()
        ),
        Err(e) => assert!(e.contains(want), "{op}: {e:?} does not contain {want:?}"),
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn dot_and_trace_sum_products_and_the_diagonal() {
    let (a, b) = (tensor(&[5], 1), tensor(&[5], 2));
    let (av, bv) = (data(&a), data(&b));
    let want: f64 = av.iter().zip(&bv).map(|(x, y)| f64::from(x * y)).sum();
    let (shape, got) = one("aten::dot", &[t(&a), t(&b)]);
    assert!(shape.is_empty());
    assert_close(&got, &[want], 1e-5, "dot");
    refused(
        "aten::dot",
        &[t(&a), t(&tensor(&[4], 3))],
        "inconsistent tensor size",
    );
    refused(
        "aten::dot",
        &[t(&tensor(&[2, 5], 3)), t(&tensor(&[2, 5], 4))],
        "1D tensors expected",
    );

    // A rectangular matrix: the diagonal of its shorter side.
    let m = tensor(&[3, 4], 5);
    let mv = data(&m);
    let want: f64 = (0..3).map(|i| f64::from(mv[i * 4 + i])).sum();
    assert_close(&one("aten::trace", &[t(&m)]).1, &[want], 1e-5, "trace");
    refused(
        "aten::trace",
        &[t(&tensor(&[2, 2, 2], 6))],
        "expected a matrix",
    );
}

#[test]
fn addbmm_and_addmv_scale_and_add_the_products() {
    let (bsz, n, k, p) = (3, 2, 4, 5);
    let (x, b1, b2) = (
        tensor(&[n, p], 1),
        tensor(&[bsz, n, k], 2),
        tensor(&[bsz, k, p], 3),
    );
    let (xv, v1, v2) = (data(&x), data(&b1), data(&b2));
    let (beta, alpha) = (0.5, 2.0);
    let mut want = Vec::new();
    for i in 0..n {
        for j in 0..p {
            let mut s = 0.0f64;
            for b in 0..bsz {
                for q in 0..k {
                    s += f64::from(v1[(b * n + i) * k + q] * v2[(b * k + q) * p + j]);
                }
            }
            want.push(beta * f64::from(xv[i * p + j]) + alpha * s);
        }
    }
    let args = [
        t(&x),
        t(&b1),
        t(&b2),
        Value::Float(beta),
        Value::Float(alpha),
    ];
    let (shape, got) = one("aten::addbmm", &args);
    assert_eq!(shape, [n, p]);
    assert_close(&got, &want, 1e-4, "addbmm");
    // `self` broadcasts to the product's shape, never widens it.
    refused(
        "aten::addbmm",
        &[t(&tensor(&[3, n, p], 4)), t(&b1), t(&b2)],
        "does not broadcast",
    );
    refused(
        "aten::addbmm",
        &[t(&x), t(&b1), t(&tensor(&[bsz, 3, p], 4))],
        "cannot be multiplied",
    );

    let (s, mat, vec) = (tensor(&[3], 5), tensor(&[3, 4], 6), tensor(&[4], 7));
    let (sv, mv, vv) = (data(&s), data(&mat), data(&vec));
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let dot: f64 = (0..4).map(|q| f64::from(mv[i * 4 + q] * vv[q])).sum();
            2.0 * f64::from(sv[i]) + 0.5 * dot
        })
        .collect();
    let got = one(
        "aten::addmv",
        &[
            t(&s),
            t(&mat),
            t(&vec),
            Value::Float(2.0),
            Value::Float(0.5),
        ],
    )
    .1;
    assert_close(&got, &want, 1e-5, "addmv");
    refused(
        "aten::addmv",
        &[t(&s), t(&mat), t(&tensor(&[5], 8))],
        "size mismatch",
    );
    refused(
        "aten::addmv",
        &[t(&s), t(&vec), t(&vec)],
        "vector + matrix @ vector expected",
    );
}

#[test]
fn tensordot_contracts_the_listed_dims() {
    let (a, b) = (tensor(&[2, 3, 4], 1), tensor(&[4, 3, 5], 2));
    let (av, bv) = (data(&a), data(&b));
    let mut want = Vec::new();
    for i in 0..2 {
        for l in 0..5 {
            let mut s = 0.0f64;
            for j in 0..3 {
                for k in 0..4 {
                    s += f64::from(av[(i * 3 + j) * 4 + k] * bv[(k * 3 + j) * 5 + l]);
                }
            }
            want.push(s);
        }
    }
    let (shape, got) = one(
        "aten::tensordot",
        &[t(&a), t(&b), ints(&[1, 2]), ints(&[1, 0])],
    );
    assert_eq!(shape, [2, 5]);
    assert_close(&got, &want, 1e-5, "tensordot");

    // A contracted size 1 against n sums the n side (as ATen).
    let (c, d) = (tensor(&[2, 1], 3), tensor(&[3, 4], 4));
    let (cv, dv) = (data(&c), data(&d));
    let want: Vec<f64> = (0..2)
        .flat_map(|i| {
            let (cv, dv) = (&cv, &dv);
            (0..4).map(move |l| {
                f64::from(cv[i]) * (0..3).map(|k| f64::from(dv[k * 4 + l])).sum::<f64>()
            })
        })
        .collect();
    let (shape, got) = one("aten::tensordot", &[t(&c), t(&d), ints(&[1]), ints(&[0])]);
    assert_eq!(shape, [2, 4]);
    assert_close(&got, &want, 1e-5, "tensordot of a size-1 dim");

    refused(
        "aten::tensordot",
        &[t(&a), t(&b), ints(&[1]), ints(&[0])],
        "contracted dimensions need to match",
    );
    refused(
        "aten::tensordot",
        &[t(&a), t(&b), ints(&[1, 2]), ints(&[1])],
        "same length",
    );
    refused(
        "aten::tensordot",
        &[t(&a), t(&b), ints(&[2, 2]), ints(&[0, 0])],
        "appears multiple times",
    );
    refused(
        "aten::tensordot",
        &[t(&a), t(&b), ints(&[5]), ints(&[0])],
        "out of range",
    );
}

#[test]
fn kron_block_diag_and_cartesian_prod_place_every_element() {
    // kron of [2, 3] and [2] (a leading 1 added): out[i, 2j + l] = a[i, j] · b[l].
    let (a, b) = (tensor(&[2, 3], 1), tensor(&[2], 2));
    let (av, bv) = (data(&a), data(&b));
    let (shape, got) = one("aten::kron", &[t(&a), t(&b)]);
    assert_eq!(shape, [2, 6]);
    let mut want = vec![0.0; 12];
    for i in 0..2 {
        for j in 0..3 {
            for l in 0..2 {
                want[i * 6 + j * 2 + l] = f64::from(av[i * 3 + j] * bv[l]);
            }
        }
    }
    assert_close(&got, &want, 1e-6, "kron");

    // block_diag of a matrix, a vector (one row) and a scalar ([1, 1]).
    let (m, v, s) = (tensor(&[2, 2], 3), tensor(&[3], 4), Tensor::scalar(7.0f32));
    let (shape, got) = one(
        "aten::block_diag",
        &[Value::TensorList(vec![m.clone(), v.clone(), s])],
    );
    assert_eq!(shape, [4, 6]);
    let (mv, vv) = (data(&m), data(&v));
    let mut want = vec![0.0; 24];
    for i in 0..2 {
        for j in 0..2 {
            want[i * 6 + j] = f64::from(mv[i * 2 + j]);
        }
    }
    for j in 0..3 {
        want[2 * 6 + 2 + j] = f64::from(vv[j]);
    }
    want[3 * 6 + 5] = 7.0;
    assert_close(&got, &want, 0.0, "block_diag");
    refused(
        "aten::block_diag",
        &[Value::TensorList(vec![tensor(&[1, 2, 2], 5)])],
        "2 or fewer dimensions",
    );

    // cartesian_prod: every pair, the first vector's index slowest.
    let (x, y) = (tensor(&[2], 6), tensor(&[3], 7));
    let (xv, yv) = (data(&x), data(&y));
    let (shape, got) = one(
        "aten::cartesian_prod",
        &[Value::TensorList(vec![x.clone(), y.clone()])],
    );
    assert_eq!(shape, [6, 2]);
    let want: Vec<f64> = (0..2)
        .flat_map(|i| (0..3).flat_map(move |j| [i, j]))
        .enumerate()
        .map(|(k, ix)| f64::from(if k % 2 == 0 { xv[ix] } else { yv[ix] }))
        .collect();
    assert_close(&got, &want, 0.0, "cartesian_prod");
    let (shape, got) = one(
        "aten::cartesian_prod",
        &[Value::TensorList(vec![y.clone()])],
    );
    assert_eq!(shape, [3]);
    assert_close(&got, &f64s(&yv), 0.0, "cartesian_prod of one vector");
    refused(
        "aten::cartesian_prod",
        &[Value::TensorList(vec![x, tensor(&[2, 2], 8)])],
        "Expect a 1D vector",
    );
    refused(
        "aten::cartesian_prod",
        &[Value::TensorList(vec![])],
        "non-empty",
    );
}

/// `a × b` of 3-vectors.
fn cross3(a: &[f32], b: &[f32]) -> [f64; 3] {
    let (a, b) = (f64s(a), f64s(b));
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[test]
fn cross_products_along_a_dim_of_three() {
    // cross without a dim: the first dim of size 3 (dim 1 here).
    let (a, b) = (tensor(&[4, 3], 1), tensor(&[4, 3], 2));
    let (av, bv) = (data(&a), data(&b));
    let want: Vec<f64> = (0..4)
        .flat_map(|i| cross3(&av[i * 3..i * 3 + 3], &bv[i * 3..i * 3 + 3]))
        .collect();
    assert_close(
        &one("aten::cross", &[t(&a), t(&b), Value::None]).1,
        &want,
        1e-6,
        "cross",
    );
    assert_close(
        &one("aten::cross", &[t(&a), t(&b), int(1)]).1,
        &want,
        1e-6,
        "cross dim 1",
    );

    // linalg_cross along dim 0 of [3, 2] operands, one broadcast from [3, 1].
    let (c, d) = (tensor(&[3, 1], 3), tensor(&[3, 2], 4));
    let (cv, dv) = (data(&c), data(&d));
    let (shape, got) = one("aten::linalg_cross", &[t(&c), t(&d), int(0)]);
    assert_eq!(shape, [3, 2]);
    let cols: Vec<[f64; 3]> = (0..2)
        .map(|j| cross3(&cv, &[dv[j], dv[2 + j], dv[4 + j]]))
        .collect();
    let want: Vec<f64> = (0..3)
        .flat_map(|i| cols.iter().map(move |col| col[i]))
        .collect();
    assert_close(&got, &want, 1e-6, "linalg_cross");

    refused(
        "aten::linalg_cross",
        &[t(&a), t(&b), int(0)],
        "must have length 3",
    );
    refused(
        "aten::cross",
        &[t(&tensor(&[4, 2], 5)), t(&tensor(&[4, 2], 6)), Value::None],
        "no dimension of size 3",
    );
    refused(
        "aten::linalg_cross",
        &[t(&tensor(&[3], 5)), t(&a)],
        "same number of dimensions",
    );
}

/// Dims given for 0-dim operands are errors, not an index into no sizes.
#[test]
fn dims_of_zero_dim_operands_are_refused() {
    let s = Tensor::scalar(2.0f32);
    refused(
        "aten::linalg_cross",
        &[t(&s), t(&s), int(0)],
        "at least 1 dimension",
    );
    refused(
        "aten::tensordot",
        &[t(&s), t(&s), ints(&[0]), ints(&[0])],
        "out of range",
    );
    refused(
        "aten::_trilinear",
        &[
            t(&s),
            t(&s),
            t(&s),
            ints(&[]),
            ints(&[]),
            ints(&[]),
            ints(&[0]),
            int(0),
        ],
        "unroll_dim",
    );
    refused("aten::dot", &[t(&s), t(&s)], "1D tensors expected");
    refused("aten::trace", &[t(&s)], "expected a matrix");
}

#[test]
fn bilinear_is_the_form_x1_w_x2_plus_bias() {
    let (x1, x2, w, bias) = (
        tensor(&[2, 3, 4], 1),
        tensor(&[2, 3, 5], 2),
        tensor(&[2, 4, 5], 3),
        tensor(&[2], 4),
    );
    let (v1, v2, wv, bv) = (data(&x1), data(&x2), data(&w), data(&bias));
    let mut want = Vec::new();
    for n in 0..6 {
        for o in 0..2 {
            let mut s = f64::from(bv[o]);
            for i in 0..4 {
                for j in 0..5 {
                    s += f64::from(v1[n * 4 + i] * wv[(o * 4 + i) * 5 + j] * v2[n * 5 + j]);
                }
            }
            want.push(s);
        }
    }
    let (shape, got) = one("aten::bilinear", &[t(&x1), t(&x2), t(&w), t(&bias)]);
    assert_eq!(shape, [2, 3, 2]);
    assert_close(&got, &want, 1e-5, "bilinear");
    let no_bias: Vec<f64> = want
        .iter()
        .enumerate()
        .map(|(k, v)| v - f64::from(bv[k % 2]))
        .collect();
    assert_close(
        &one("aten::bilinear", &[t(&x1), t(&x2), t(&w), Value::None]).1,
        &no_bias,
        1e-5,
        "bilinear without bias",
    );

    refused(
        "aten::bilinear",
        &[t(&x2), t(&x2), t(&w), t(&bias)],
        "input1 size does not match weight size",
    );
    refused(
        "aten::bilinear",
        &[t(&x1), t(&x1), t(&w), t(&bias)],
        "input2 size does not match weight size",
    );
    refused(
        "aten::bilinear",
        &[t(&x1), t(&x2), t(&w), t(&tensor(&[3], 5))],
        "bias size does not match",
    );
    refused(
        "aten::bilinear",
        &[t(&x1), t(&tensor(&[3, 5], 6)), t(&w), t(&bias)],
        "input dimensions do not match",
    );
    refused(
        "aten::bilinear",
        &[t(&x1), t(&tensor(&[2, 4, 5], 6)), t(&w), t(&bias)],
        "batch dimensions do not match",
    );
    refused(
        "aten::_trilinear",
        &[
            t(&x1),
            t(&w),
            t(&x2),
            ints(&[1, 3]),
            ints(&[0]),
            ints(&[1, 2]),
            ints(&[2, 3]),
            int(9),
        ],
        "unroll_dim",
    );
}

/// A loss's values under each reduction: none as `unreduced`, then sum and mean.
fn check_reductions(op: &str, args: &dyn Fn(i64) -> Vec<Value>, unreduced: &[f64], tol: f64) {
    let (shape, got) = one(op, &args(0));
    assert_eq!(
        shape.iter().product::<usize>(),
        unreduced.len(),
        "{op} none"
    );
    assert_close(&got, unreduced, tol, &format!("{op} none"));
    let sum: f64 = unreduced.iter().sum();
    assert_close(&one(op, &args(2)).1, &[sum], tol, &format!("{op} sum"));
    let mean = sum / unreduced.len() as f64;
    assert_close(&one(op, &args(1)).1, &[mean], tol, &format!("{op} mean"));
    refused(op, &args(3), "not a valid value for reduction");
}

#[test]
fn embedding_and_ranking_losses_match_their_definitions() {
    let (x, y) = (tensor(&[3, 4], 1), tensor(&[3, 4], 2));
    let (xv, yv) = (f64s(&data(&x)), f64s(&data(&y)));
    let target = Tensor::from_vec(vec![1i64, -1, 1], [3]);
    let labels = [1.0, -1.0, 1.0];
    let margin = 0.2;
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let (r1, r2) = (&xv[i * 4..i * 4 + 4], &yv[i * 4..i * 4 + 4]);
            let dot: f64 = r1.iter().zip(r2).map(|(a, b)| a * b).sum();
            let n1: f64 = r1.iter().map(|a| a * a).sum::<f64>() + 1e-12;
            let n2: f64 = r2.iter().map(|a| a * a).sum::<f64>() + 1e-12;
            let cos = dot / (n1 * n2).sqrt();
            if labels[i] > 0.0 {
                1.0 - cos
            } else {
                (cos - margin).max(0.0)
            }
        })
        .collect();
    let args = |r: i64| vec![t(&x), t(&y), t(&target), Value::Float(margin), int(r)];
    check_reductions("aten::cosine_embedding_loss", &args, &want, 1e-5);
    refused(
        "aten::cosine_embedding_loss",
        &[
            t(&x),
            t(&y),
            t(&Tensor::from_vec(vec![1i64], [0usize; 0])),
            Value::Float(0.0),
            int(1),
        ],
        "0D target tensor expects 1D input tensors",
    );

    // hinge_embedding_loss with targets ±1 (the sign of y).
    let sign = Tensor::from_vec(
        yv.iter()
            .map(|&v| if v > 0.0 { 1.0f32 } else { -1.0 })
            .collect(),
        [3, 4],
    );
    let want: Vec<f64> = xv
        .iter()
        .zip(&yv)
        .map(|(&a, &s)| if s > 0.0 { a } else { (0.5 - a).max(0.0) })
        .collect();
    let args = |r: i64| vec![t(&x), t(&sign), Value::Float(0.5), int(r)];
    check_reductions("aten::hinge_embedding_loss", &args, &want, 1e-6);

    // margin_ranking_loss: max(-t (x1 - x2) + margin, 0).
    let (a, b) = (tensor(&[5], 3), tensor(&[5], 4));
    let lab = [1.0f32, -1.0, -1.0, 1.0, 1.0];
    let (av, bv) = (f64s(&data(&a)), f64s(&data(&b)));
    let want: Vec<f64> = (0..5)
        .map(|i| (-f64::from(lab[i]) * (av[i] - bv[i]) + 0.1).max(0.0))
        .collect();
    let tt = Tensor::from_vec(lab.to_vec(), [5]);
    let args = |r: i64| vec![t(&a), t(&b), t(&tt), Value::Float(0.1), int(r)];
    check_reductions("aten::margin_ranking_loss", &args, &want, 1e-6);
    refused(
        "aten::margin_ranking_loss",
        &[t(&a), t(&x), t(&tt)],
        "should have same dimension",
    );

    // soft_margin_loss: log(1 + exp(-y x)).
    let want: Vec<f64> = xv
        .iter()
        .zip(&yv)
        .map(|(a, b)| (-a * b).exp().ln_1p())
        .collect();
    let args = |r: i64| vec![t(&x), t(&y), int(r)];
    check_reductions("aten::soft_margin_loss", &args, &want, 1e-6);
}

#[test]
fn multi_margin_loss_sums_the_margins_of_the_other_classes() {
    let (n, c) = (3, 4);
    let x = tensor(&[n, c], 1);
    let xv = f64s(&data(&x));
    let target = Tensor::from_vec(vec![0i64, 3, 1], [3]);
    let ys = [0usize, 3, 1];
    let weight = Tensor::from_vec(vec![1.0f32, 2.0, 0.5, 1.0], [4]);
    let wv = [1.0, 2.0, 0.5, 1.0];
    for (p, margin, weighted) in [(1, 1.0, false), (2, 0.5, true)] {
        let per_frame: Vec<f64> = (0..n)
            .map(|i| {
                let y = ys[i];
                let s: f64 = (0..c)
                    .filter(|&k| k != y)
                    .map(|k| {
                        let z = (margin - xv[i * c + y] + xv[i * c + k]).max(0.0);
                        let z = if p == 2 { z * z } else { z };
                        if weighted {
                            z * wv[y]
                        } else {
                            z
                        }
                    })
                    .sum();
                s / c as f64
            })
            .collect();
        let w = if weighted { t(&weight) } else { Value::None };
        let args = |r: i64| {
            vec![
                t(&x),
                t(&target),
                int(p),
                Value::Float(margin),
                w.clone(),
                int(r),
            ]
        };
        check_reductions("aten::multi_margin_loss", &args, &per_frame, 1e-6);
    }
}

#[test]
fn multi_margin_loss_refuses_bad_targets_and_weights() {
    let x = tensor(&[3, 4], 1);
    let target = Tensor::from_vec(vec![0i64, 3, 1], [3]);
    let weight = Tensor::from_vec(vec![1.0f32, 2.0, 0.5, 1.0], [4]);
    let margin_args = |x: &Tensor, tg: &Tensor, p: i64| {
        vec![t(x), t(tg), int(p), Value::Float(1.0), Value::None, int(1)]
    };
    refused(
        "aten::multi_margin_loss",
        &margin_args(&x, &target, 3),
        "only p == 1 and p == 2",
    );
    refused(
        "aten::multi_margin_loss",
        &margin_args(&x, &Tensor::from_vec(vec![0i64, 1], [2]), 1),
        "inconsistent target size",
    );
    refused(
        "aten::multi_margin_loss",
        &margin_args(&tensor(&[2, 2, 2], 2), &target, 1),
        "Expected non-empty vector or matrix",
    );
    refused(
        "aten::multi_margin_loss",
        &[
            t(&x),
            t(&target),
            int(1),
            Value::Float(1.0),
            t(&tensor(&[3], 3)),
            int(1),
        ],
        "inconsistent weight size",
    );
    // A class index outside the classes is an error, not a read outside the input.
    for bad in [4i64, -5] {
        let tg = Tensor::from_vec(vec![0i64, bad, 1], [3]);
        let weighted = [t(&x), t(&tg), int(1), Value::Float(1.0), t(&weight), int(1)];
        assert!(
            call("aten::multi_margin_loss", &margin_args(&x, &tg, 1)).is_err(),
            "target {bad}"
        );
        assert!(
            call("aten::multi_margin_loss", &weighted).is_err(),
            "weighted target {bad}"
        );
    }
}

#[test]
fn poisson_nll_loss_with_log_inputs_and_the_stirling_term() {
    let x = tensor(&[2, 5], 1);
    let target = Tensor::from_vec(
        vec![0.0f32, 0.5, 1.0, 2.0, 3.5, 4.0, 0.2, 1.5, 7.0, 0.9],
        [2, 5],
    );
    let (xv, tv) = (f64s(&data(&x)), f64s(&data(&target)));
    let want: Vec<f64> = xv.iter().zip(&tv).map(|(a, y)| a.exp() - y * a).collect();
    let args = |r: i64| {
        vec![
            t(&x),
            t(&target),
            Value::Bool(true),
            Value::Bool(false),
            Value::Float(1e-8),
            int(r),
        ]
    };
    check_reductions("aten::poisson_nll_loss", &args, &want, 1e-5);

    // Rates (not logs), with Stirling's approximation where the target exceeds 1.
    let rate = x.abs().add(0.1);
    let rv = f64s(&data(&rate));
    let eps = 1e-3;
    let want: Vec<f64> = rv
        .iter()
        .zip(&tv)
        .map(|(&r, &y)| {
            let stirling = if y > 1.0 {
                y * y.ln() - y + 0.5 * (2.0 * std::f64::consts::PI * y).ln()
            } else {
                0.0
            };
            r - y * (r + eps).ln() + stirling
        })
        .collect();
    let args = |r: i64| {
        vec![
            t(&rate),
            t(&target),
            Value::Bool(false),
            Value::Bool(true),
            Value::Float(eps),
            int(r),
        ]
    };
    check_reductions("aten::poisson_nll_loss", &args, &want, 1e-5);
}

#[test]
fn triplet_margin_loss_with_norms_and_swap() {
    let (a, p, n) = (tensor(&[3, 4], 1), tensor(&[3, 4], 2), tensor(&[3, 4], 3));
    let (av, pv, nv) = (f64s(&data(&a)), f64s(&data(&p)), f64s(&data(&n)));
    let eps = 1e-6;
    let dist = |x: &[f64], y: &[f64], norm: f64| -> f64 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b + eps).abs().powf(norm))
            .sum::<f64>()
            .powf(1.0 / norm)
    };
    for (norm, margin, swap) in [(2.0, 1.0, false), (1.0, 0.5, true)] {
        let want: Vec<f64> = (0..3)
            .map(|i| {
                let r = i * 4..i * 4 + 4;
                let d_pos = dist(&av[r.clone()], &pv[r.clone()], norm);
                let mut d_neg = dist(&av[r.clone()], &nv[r.clone()], norm);
                if swap {
                    d_neg = d_neg.min(dist(&pv[r.clone()], &nv[r], norm));
                }
                (margin + d_pos - d_neg).max(0.0)
            })
            .collect();
        let args = |r: i64| {
            vec![
                t(&a),
                t(&p),
                t(&n),
                Value::Float(margin),
                Value::Float(norm),
                Value::Float(eps),
                Value::Bool(swap),
                int(r),
            ]
        };
        check_reductions("aten::triplet_margin_loss", &args, &want, 1e-5);
    }
    refused(
        "aten::triplet_margin_loss",
        &[t(&a), t(&p), t(&tensor(&[4], 4))],
        "same number of dimensions",
    );
}

#[test]
fn empty_permuted_checks_its_layout() {
    let (shape, got) = one("aten::empty_permuted", &[ints(&[2, 3]), ints(&[1, 0])]);
    assert_eq!(shape, [2, 3]);
    assert_eq!(got, [0.0; 6]);
    refused(
        "aten::empty_permuted",
        &[ints(&[2, 3]), ints(&[0, 0])],
        "more than once",
    );
    refused(
        "aten::empty_permuted",
        &[ints(&[2, 3]), ints(&[0])],
        "does not match the length",
    );
    refused(
        "aten::empty_permuted",
        &[ints(&[2, 3]), ints(&[0, 5])],
        "out of range",
    );
    refused(
        "aten::empty_permuted",
        &[ints(&[2, -3]), ints(&[0, 1])],
        "negative dimension",
    );
}

/// Integer operands give exact integer results of PyTorch's dtypes: the products keep
/// theirs, `trace` (a sum) is i64.
#[test]
fn integer_products_stay_exact_integers() {
    let ints_of = |v: &[i32], shape: &[usize]| Tensor::from_vec(v.to_vec(), shape);
    let (a, b) = (ints_of(&[1, 2, 3], &[3]), ints_of(&[4, -5, 6], &[3]));
    let out = call("aten::dot", &[t(&a), t(&b)]).unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), [12]);

    let m = ints_of(&[1, 2, 3, 4], &[2, 2]);
    let out = call("aten::trace", &[t(&m)]).unwrap();
    assert_eq!(out[0].to_vec::<i64>().unwrap(), [5]);

    // addbmm of [2, 2, 2] batches: Σ_b m @ m = 2 · [[7, 10], [15, 22]], plus 3 · self.
    let batch = ints_of(&[1, 2, 3, 4, 1, 2, 3, 4], &[2, 2, 2]);
    let args = [t(&m), t(&batch), t(&batch), int(3), int(1)];
    let out = call("aten::addbmm", &args).unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), [17, 26, 39, 56]);

    let args = [
        t(&a.narrow(0, 0, 2)),
        t(&m),
        t(&a.narrow(0, 0, 2)),
        int(1),
        int(2),
    ];
    let out = call("aten::addmv", &args).unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), [11, 24]);

    let out = call("aten::kron", &[t(&a), t(&b)]).unwrap();
    assert_eq!(
        out[0].to_vec::<i32>().unwrap(),
        [4, -5, 6, 8, -10, 12, 12, -15, 18]
    );
}

/// Operands a hostile call gives: 0-dim, empty, mismatched, integer and bool tensors.
fn hostile_tensors() -> [Tensor; 7] {
    [
        Tensor::scalar(1.5f32),
        tensor(&[0, 3], 1),
        tensor(&[2, 3], 2),
        tensor(&[3, 3, 3], 3),
        tensor(&[3], 4),
        Tensor::from_vec(vec![1i64, -1, 0, 3, 9], [5]),
        Tensor::from_vec(vec![true; 6], [2, 3]),
    ]
}

/// Dims, reductions and layouts out of range and at the extremes.
const HOSTILE_INTS: [i64; 9] = [-4, -1, 0, 1, 2, 3, 7, i64::MIN, i64::MAX];

/// Calls that must each give a result or an error (a panic fails the test), counted.
#[derive(Default)]
struct Sweep {
    ok: usize,
    err: usize,
}

impl Sweep {
    fn go(&mut self, op: &str, args: &[Value]) {
        match call(op, args) {
            Ok(_) => self.ok += 1,
            Err(_) => self.err += 1,
        }
    }

    /// Both kinds happened: the sweep reached the composites, not only the metas.
    fn check(&self) {
        assert!(
            self.ok > 10 && self.err > 100,
            "{} results, {} errors",
            self.ok,
            self.err
        );
    }
}

/// The ops of one or two operands, with hostile dims and reductions.
#[test]
fn hostile_pairs_are_errors_not_panics() {
    let tensors = hostile_tensors();
    let opt = |d: i64| if d == 7 { Value::None } else { int(d) };
    let list = |x: &Tensor, y: &Tensor| Value::TensorList(vec![x.clone(), y.clone()]);
    let mut sweep = Sweep::default();
    for x in &tensors {
        sweep.go("aten::trace", &[t(x)]);
        for y in &tensors {
            for op in ["aten::dot", "aten::kron", "aten::hinge_embedding_loss"] {
                sweep.go(op, &[t(x), t(y)]);
            }
            sweep.go("aten::block_diag", &[list(x, y)]);
            sweep.go("aten::cartesian_prod", &[list(x, y)]);
            for d in HOSTILE_INTS {
                sweep.go("aten::cross", &[t(x), t(y), opt(d)]);
                sweep.go("aten::linalg_cross", &[t(x), t(y), int(d)]);
                sweep.go("aten::soft_margin_loss", &[t(x), t(y), int(d)]);
                sweep.go("aten::tensordot", &[t(x), t(y), ints(&[d]), ints(&[1])]);
                let mm = [t(x), t(y), int(1), Value::Float(1.0), Value::None, int(d)];
                sweep.go("aten::multi_margin_loss", &mm);
                let (log, full) = (Value::Bool(false), Value::Bool(true));
                let poisson = [t(x), t(y), log, full, Value::Float(0.0), int(d)];
                sweep.go("aten::poisson_nll_loss", &poisson);
            }
        }
    }
    for d in HOSTILE_INTS {
        sweep.go("aten::empty_permuted", &[ints(&[2, 3]), ints(&[d, 0])]);
        let size = ints(&[d.clamp(-1, 3)]);
        sweep.go("aten::empty_permuted", &[size, ints(&[d])]);
    }
    sweep.check();
}

/// The ops of three operands; `_trilinear` with hostile expand and sum dims.
#[test]
fn hostile_triples_are_errors_not_panics() {
    let tensors = hostile_tensors();
    let mut sweep = Sweep::default();
    for x in &tensors {
        for y in &tensors {
            for z in &tensors {
                let three = [t(x), t(y), t(z)];
                for op in [
                    "aten::addmv",
                    "aten::addbmm",
                    "aten::bilinear",
                    "aten::cosine_embedding_loss",
                    "aten::margin_ranking_loss",
                ] {
                    sweep.go(op, &three);
                }
                let (one, zero) = (Value::Float(1.0), Value::Float(0.0));
                let options = [one.clone(), one, zero, Value::Bool(true)];
                sweep.go(
                    "aten::triplet_margin_loss",
                    &[&three[..], &options].concat(),
                );
                for d in &HOSTILE_INTS[..7] {
                    let (e, d) = (ints(&[*d, 1]), *d);
                    let dims = [e.clone(), ints(&[d]), e, ints(&[d]), int(d)];
                    sweep.go("aten::_trilinear", &[&three[..], &dims].concat());
                }
            }
        }
    }
    sweep.check();
}
