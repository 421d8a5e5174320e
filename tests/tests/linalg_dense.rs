//! Dense linear algebra (`linalg.inv` / `det` / `slogdet` / `solve` / `cholesky`,
//! `matrix_power`, the matrix norms without singular values): PyTorch 2.15's default-IR
//! program `tests/data/pt2_dense/dense.pt2` with both runners against PyTorch's values,
//! its core IR refused with a message naming what is missing, and the ops' errors.

mod common;

use common::pt2_corpus::{Corpus, Runner, ATOL};
use common::values::{assert_close, data};
use ferrex::ops::{lookup, run_eager, Value};
use ferrex::Tensor;

fn corpus() -> Corpus {
    Corpus::new("pt2_dense")
}

#[test]
fn default_ir_runs_in_both_runners() {
    for runner in [Runner::Interpreter, Runner::Compiled] {
        let diff = corpus().check_program("dense", false, runner);
        assert!(diff <= ATOL, "{diff}");
    }
}

/// PyTorch's core IR checks the factorizations' `info` through effect tokens
/// (`with_effects(token, _linalg_check_errors, …)`), which the loader names.
#[test]
fn core_ir_is_refused_with_what_it_lacks() {
    let err = ferrex::load(corpus().file("dense", true))
        .unwrap_err()
        .to_string();
    assert!(err.contains("torch.ops.higher_order.with_effects"), "{err}");
    assert!(
        err.contains("torch.ops.aten.linalg_inv_ex.default"),
        "{err}"
    );
}

fn call(op: &str, args: Vec<Value>) -> Result<Vec<Tensor>, String> {
    run_eager(lookup(op).unwrap(), &args).map_err(|e| e.to_string())
}

#[test]
fn singular_and_indefinite_matrices_are_errors() {
    let singular = Tensor::from_vec(vec![1.0f32, 2.0, 2.0, 4.0], [2, 2]);
    let t = |x: &Tensor| Value::Tensor(x.clone());
    let err = call("aten::linalg_inv", vec![t(&singular)]).unwrap_err();
    assert!(err.contains("The diagonal element 2 is zero"), "{err}");
    let det = call("aten::linalg_det", vec![t(&singular)]).unwrap();
    assert_eq!(data(&det[0]), [0.0]);
    let s = call("aten::linalg_slogdet", vec![t(&singular)]).unwrap();
    assert_eq!(
        (data(&s[0]), data(&s[1])),
        (vec![0.0], vec![f32::NEG_INFINITY])
    );
    let err = call("aten::linalg_cholesky", vec![t(&singular)]).unwrap_err();
    assert!(
        err.contains("the leading minor of order 2 is not positive-definite"),
        "{err}"
    );
    let b = Tensor::from_vec(vec![1.0f32, 1.0], [2]);
    let err = call("aten::linalg_solve", vec![t(&singular), t(&b)]).unwrap_err();
    assert!(err.contains("the input matrix is singular"), "{err}");
    let wide = Tensor::zeros([2, 3]);
    let err = call("aten::linalg_det", vec![t(&wide)]).unwrap_err();
    assert!(err.contains("must be batches of square matrices"), "{err}");
    let ints = Tensor::from_slice(&[1i64, 0, 0, 1]).reshape([2, 2]);
    let err = call("aten::linalg_inv", vec![t(&ints)]).unwrap_err();
    assert!(err.contains("Expected a floating point"), "{err}");
    let err = call(
        "aten::linalg_matrix_norm.str_ord",
        vec![t(&wide), Value::Str("nuc".into())],
    )
    .unwrap_err();
    assert!(err.contains("needs singular values"), "{err}");
}

/// A 2 × 2 solve and inverse against Cramer's rule.
#[test]
fn small_systems_match_cramers_rule() {
    let (a, b, c, d) = (3.0f64, 1.0, 2.0, 5.0);
    let m = Tensor::from_vec(vec![a as f32, b as f32, c as f32, d as f32], [2, 2]);
    let det = a * d - b * c;
    let t = |x: &Tensor| Value::Tensor(x.clone());
    let inv = call("aten::linalg_inv", vec![t(&m)]).unwrap();
    assert_close(
        &data(&inv[0]),
        &[d / det, -b / det, -c / det, a / det],
        1e-6,
        "inv",
    );
    let rhs = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
    let x = call("aten::linalg_solve", vec![t(&m), t(&rhs)]).unwrap();
    let want = [(1.0 * d - b * 2.0) / det, (a * 2.0 - c * 1.0) / det];
    assert_close(&data(&x[0]), &want, 1e-6, "solve");
    let p = call(
        "aten::linalg_matrix_power",
        vec![t(&m), Value::Int((-1i64).into())],
    )
    .unwrap();
    assert_close(
        &data(&p[0]),
        &[d / det, -b / det, -c / det, a / det],
        1e-6,
        "power -1",
    );
}
