//! Values read from tensor data while exporting (unbacked symbols, `u0`): `sym_item`,
//! `ferrex::check` / `check_is_size` recorded as run-time assertions that both runners
//! check, comparisons decided from the checked ranges, PyTorch's error for the ones that
//! are not, and the `assume_constant` escape hatch.

use ferrex::prelude::*;
use ferrex::{ExportError, RunError};

mod common;
use common::{joined, normalize_lines};
use expect_test::expect;

/// `zeros([n, 5])` for `n = x.item()` in `[0, 5]` — ExportDB's constrain_as_size_example.
#[export_module]
struct ZerosOfItem {}

#[export_module(strict = false)]
impl ZerosOfItem {
    fn forward(&self, x: &Tensor) -> Tensor {
        let n = match x.sym_item() {
            Ok(n) => n,
            Err(e) => return Tensor::from_error(e),
        };
        ferrex::check_is_size(&n);
        ferrex::check(n.sym_le(5));
        Tensor::zeros([n.clone(), SymInt::from(5)]) + Tensor::ones([n, SymInt::from(1)])
    }
}

fn zeros_program() -> ferrex::ExportedProgram {
    ferrex::export(&ZerosOfItem {}, (Tensor::scalar(4i64),)).expect("exports")
}

/// The 1-based line of this file containing `needle`.
fn line_of(needle: &str) -> u32 {
    include_str!("unbacked.rs")
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u32 + 1)
        .unwrap_or(0)
}

fn graph_lines(ep: &ferrex::ExportedProgram) -> Vec<String> {
    ep.graph_code(0)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(String::from)
        .collect()
}

#[test]
fn item_is_an_unbacked_symbol_bounded_by_checks() {
    let ep = zeros_program();
    // Sizes read from data name the `item` node, as PyTorch's `zeros([item, 5])`.
    let size_line = line_of("ferrex::check_is_size(&n);");
    let le_line = line_of("ferrex::check(n.sym_le(5));");
    let lines = graph_lines(&ep);
    // Each assertion names the line of its check (the snapshot has them as `LINE`).
    for (at, line) in [(3, size_line), (5, le_line)] {
        let site = format!(" at tests/tests/unbacked.rs:{line}\");");
        assert!(lines[at].ends_with(&site), "{site} in {lines:?}");
    }
    expect![[r#"
        fn forward(x: i64[]) {
        let item: Sym(u0) = aten::item.default(x);
        let ge: Sym(u0 >= 0) = item >= 0;
        let _assert_scalar: () = aten::_assert_scalar.default(ge, "Runtime assertion failed for expression u0 >= 0 at tests/tests/unbacked.rs:LINE");
        let le: Sym(u0 <= 5) = item <= 5;
        let _assert_scalar_1: () = aten::_assert_scalar.default(le, "Runtime assertion failed for expression u0 <= 5 at tests/tests/unbacked.rs:LINE");
        let zeros: f32[u0, 5] = aten::zeros.default([item, 5]);
        let ones: f32[u0, 1] = aten::ones.default([item, 1]);
        let add: f32[u0, 5] = aten::add.Tensor(zeros, ones);
        return (add,);
        }
    "#]]
    .assert_eq(&normalize_lines(&joined(&lines)));
    assert_eq!(ep.range_constraints().to_string(), "{u0: VR[0, 5]}");
}

#[test]
fn both_runners_read_the_value_and_check_it() {
    let ep = zeros_program();
    let compiled = ferrex_runtime::compile(&ep).expect("compiles");
    for n in [0i64, 3, 5] {
        let out = ep.module().call((Tensor::scalar(n),)).expect("runs");
        assert_eq!(out[0].shape(), [n as usize, 5]);
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0; 5 * n as usize]);
        let fast = compiled.call((Tensor::scalar(n),)).expect("runs");
        assert_eq!(fast[0].shape(), [n as usize, 5]);
    }
    let le_line = line_of("ferrex::check(n.sym_le(5));");
    let expected = format!(
        "Runtime assertion failed for expression u0 <= 5 at tests/tests/unbacked.rs:{le_line}"
    );
    let err = ep.module().call((Tensor::scalar(6i64),)).unwrap_err();
    assert!(matches!(err, RunError::Kernel { .. }));
    assert!(err.to_string().ends_with(&expected), "{err}");
    let err = compiled.call((Tensor::scalar(6i64),)).unwrap_err();
    assert!(err.to_string().ends_with(&expected), "{err}");
    let err = ep.module().call((Tensor::scalar(-1i64),)).unwrap_err();
    assert!(
        err.to_string()
            .contains("Runtime assertion failed for expression u0 >= 0"),
        "{err}"
    );
}

#[test]
fn a_comparison_the_checks_decide_needs_no_guard() {
    #[export_module]
    struct Decided {}

    #[export_module(strict = false)]
    impl Decided {
        fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
            let a = match x.sym_item() {
                Ok(a) => a,
                Err(e) => return Tensor::from_error(e),
            };
            ferrex::check(a.sym_ge(0));
            ferrex::check(a.sym_le(5));
            if a < 6 {
                return y.sin();
            }
            y.cos()
        }
    }

    let y = Tensor::from_slice(&[0.5f32, 1.0]);
    let ep = ferrex::export(&Decided {}, (Tensor::scalar(4i64), y.copy())).expect("exports");
    assert!(ep.guards().is_empty());
    assert_eq!(
        ep.op_targets(),
        [
            "aten::item.default",
            "aten::_assert_scalar.default",
            "aten::_assert_scalar.default",
            "aten::sin.default",
        ]
    );
    let out = ep.module().call((Tensor::scalar(2i64), y)).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [0.5f32.sin(), 1f32.sin()]);
}

#[test]
fn an_undecided_comparison_is_pytorchs_error_with_the_check_to_add() {
    #[export_module]
    struct Undecided {}

    #[export_module(strict = false)]
    impl Undecided {
        fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
            let undecided = match x.sym_item() {
                Ok(a) => a,
                Err(e) => return Tensor::from_error(e),
            };
            ferrex::check(undecided.sym_ge(0));
            if undecided < 3 {
                return y.sin();
            }
            y.cos()
        }
    }

    let err = ferrex::export(&Undecided {}, (Tensor::scalar(4i64), Tensor::ones([2]))).unwrap_err();
    assert!(matches!(err, ExportError::GuardOnDataDependent(_)));
    let item_line = line_of("let undecided = match x.sym_item() {");
    let if_line = line_of("if undecided < 3 {");
    assert_eq!(
        err.to_string(),
        format!(
            "export failed: Could not guard on data-dependent expression u0 < 3 (unhinted: \
             u0 < 3).  (Size-like symbols: none)\n  \
             at tests/tests/unbacked.rs:{if_line}:16, code: if undecided < 3 {{\n  \
             u0 is the value of `x.sym_item()` at tests/tests/unbacked.rs:{item_line}, in the \
             range [0, int_oo]\n  \
             help: if `u0 < 3` always holds, say so before this line with \
             `ferrex::check(v.sym_lt(3))`, where `v` is the value holding `u0`; the program \
             then checks it when it runs\n  \
             help: or keep both outcomes in the graph with `cond!` on a tensor predicate"
        )
    );
}

#[test]
fn forcing_an_unbacked_value_to_an_integer_is_an_error() {
    #[export_module]
    struct Forced {}

    #[export_module(strict = false)]
    impl Forced {
        fn forward(&self, x: &Tensor) -> Tensor {
            let a = match x.sym_item() {
                Ok(a) => a,
                Err(e) => return Tensor::from_error(e),
            };
            ferrex::check_is_size(&a);
            Tensor::zeros([a.guard_int(), 2])
        }
    }

    let err = ferrex::export(&Forced {}, (Tensor::scalar(4i64),)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "export failed: Could not extract specialized integer from data-dependent \
             expression u0 (unhinted: u0).  (Size-like symbols: u0)"
        ),
        "{text}"
    );
}

#[test]
fn item_needs_one_integer_element() {
    #[export_module]
    struct FloatItem {}

    #[export_module(strict = false)]
    impl FloatItem {
        fn forward(&self, x: &Tensor) -> Tensor {
            let item = x.sym_item();
            match item {
                Ok(_) => x.clone(),
                Err(e) => Tensor::from_error(e),
            }
        }
    }

    let err = ferrex::export(&FloatItem {}, (Tensor::ones([2]),)).unwrap_err();
    let line = line_of("let item = x.sym_item();");
    assert_eq!(
        err.to_string(),
        format!(
            "export failed while tracing forward: aten::item at \
             tests/tests/unbacked.rs:{line}:26: a Tensor with 2 elements cannot be converted \
             to Scalar"
        )
    );
    // Eagerly, the value itself.
    assert_eq!(Tensor::scalar(7i64).sym_item().unwrap().as_int(), Some(7));
}

#[test]
fn assume_constant_bakes_the_example_value_in() {
    #[export_module]
    struct Head {}

    #[export_module(strict = false)]
    impl Head {
        fn forward(&self, x: &Tensor, n: &Tensor) -> Tensor {
            let end = ferrex::assume_constant(|| n.item::<i64>().unwrap_or(0));
            x.slice(0, None::<i64>, Some(end), 1)
        }
    }

    let x = Tensor::from_slice(&[1f32, 2.0, 3.0]);
    let ep = ferrex::export(&Head {}, (x.copy(), Tensor::scalar(2i64))).expect("exports");
    assert_eq!(
        graph_lines(&ep)[1],
        "let slice_1: f32[2] = aten::slice.Tensor(x, 0, None, 2);"
    );
    let line = line_of("let end = ferrex::assume_constant(");
    assert_eq!(ep.assumed_constants().len(), 1);
    assert_eq!(
        ep.assumed_constants()[0].to_string(),
        format!(
            "2 from tests/tests/unbacked.rs:{line}, code: let end = \
             ferrex::assume_constant(|| n.item::<i64>().unwrap_or(0));"
        )
    );
    assert!(ep.to_string().contains(
        "Assumed constants (computed at export from the example inputs):\n    2 from tests/"
    ));
    // The value is the example's: another `n` does not change the program.
    let out = ep
        .module()
        .call((x.copy(), Tensor::scalar(3i64)))
        .expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [1.0, 2.0]);
    // Saved, the graph holds the constant (as PyTorch's does) and ferrex's extras the
    // record of where it came from.
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("assumed.pt2");
    ferrex::save(&ep, &path).expect("saves");
    let back = ferrex::load(&path).expect("loads");
    assert_eq!(back.assumed_constants(), ep.assumed_constants());
    assert_eq!(graph_lines(&back), graph_lines(&ep));
    let out = back.module().call((x, Tensor::scalar(3i64))).expect("runs");
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [1.0, 2.0]);
}

#[test]
fn assume_constant_cannot_read_values_computed_in_forward() {
    #[export_module]
    struct ReadsIntermediate {}

    #[export_module(strict = false)]
    impl ReadsIntermediate {
        fn forward(&self, x: &Tensor) -> Tensor {
            let s = x.sum();
            let n = ferrex::assume_constant(|| s.item::<f32>().unwrap_or(0.0));
            x * n as f64
        }
    }

    let err = ferrex::export(&ReadsIntermediate {}, (Tensor::ones([2]),)).unwrap_err();
    assert!(matches!(err, ExportError::DataDependent { .. }), "{err}");
}

#[test]
fn data_dependent_output_sizes_are_unbacked() {
    #[export_module]
    struct Positive {}

    #[export_module]
    impl Positive {
        fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
            let picked = x.masked_select(&x.gt(0.0)) * 2.0;
            let where_ = x.nonzero();
            (picked, where_)
        }
    }

    let x = Tensor::from_slice(&[1f32, -2.0, 3.0, 0.0]);
    let ep = ferrex::export(&Positive {}, (x.copy(),)).expect("exports");
    expect![[r#"
        fn forward(x: f32[4]) {
        let gt: bool[4] = aten::gt.Scalar(x, 0.0);
        let masked_select: f32[u0] = aten::masked_select.default(x, gt);
        let mul: f32[u0] = aten::mul.Tensor(masked_select, 2.0);
        let nonzero: i64[u1, 1] = aten::nonzero.default(x);
        return (mul, nonzero);
        }
    "#]]
    .assert_eq(&joined(&graph_lines(&ep)));
    assert_eq!(
        ep.range_constraints().to_string(),
        "{u0: VR[0, 4], u1: VR[0, 4]}"
    );
    let compiled = ferrex_runtime::compile(&ep).expect("compiles");
    for data in [
        [1f32, -2.0, 3.0, 0.0],
        [-1.0, -2.0, -3.0, 0.0],
        [5.0, 6.0, 7.0, 8.0],
    ] {
        let x = Tensor::from_slice(&data);
        let expected: Vec<f32> = data.iter().filter(|v| **v > 0.0).map(|v| v * 2.0).collect();
        let nonzero: Vec<i64> = (0..4).filter(|&i| data[i as usize] != 0.0).collect();
        for out in [
            ep.module().call((x.copy(),)).expect("runs"),
            compiled.call((x.copy(),)).expect("runs"),
        ] {
            assert_eq!(out[0].to_vec::<f32>().unwrap(), expected);
            assert_eq!(out[1].shape(), [nonzero.len(), 1]);
            assert_eq!(out[1].to_vec::<i64>().unwrap(), nonzero);
        }
    }
}

#[test]
fn programs_with_unbacked_values_round_trip_through_pt2() {
    let ep = zeros_program();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("unbacked_round_trip.pt2");
    ferrex::save(&ep, &path).expect("saves");
    let back = ferrex::load(&path).expect("loads");
    // The same program: `item` a SymInt value, the checks `_operator` SymBools.
    assert_eq!(graph_lines(&back), graph_lines(&ep));
    assert_eq!(back.range_constraints().to_string(), "{u0: VR[0, 5]}");
    let compiled = ferrex_runtime::compile(&back).expect("compiles");
    for n in [0i64, 3, 5] {
        let out = back.module().call((Tensor::scalar(n),)).expect("runs");
        assert_eq!(out[0].shape(), [n as usize, 5]);
        let out = compiled.call((Tensor::scalar(n),)).expect("runs compiled");
        assert_eq!(out[0].shape(), [n as usize, 5]);
    }
    let err = back.module().call((Tensor::scalar(6i64),)).unwrap_err();
    assert!(
        err.to_string().contains(
            "Runtime assertion failed for expression u0 <= 5 at tests/tests/unbacked.rs:"
        ),
        "{err}"
    );
    assert!(compiled.call((Tensor::scalar(-1i64),)).is_err());
}

#[test]
fn boolean_mask_indexing_selects_an_unbacked_number_of_rows() {
    #[export_module]
    struct PositiveRows {}

    #[export_module]
    impl PositiveRows {
        fn forward(&self, x: &Tensor) -> Tensor {
            let keep = x.sum_dim(&[1], false).gt(0.0);
            x.index(&[Some(&keep)])
        }
    }

    let x = Tensor::from_slice(&[1f32, 2.0, -3.0, -4.0, 5.0, 6.0]).reshape([3, 2]);
    let ep = ferrex::export(&PositiveRows {}, (x.copy(),)).expect("exports");
    let lines = graph_lines(&ep);
    assert!(
        lines.contains(&"let nonzero: i64[u0, 1] = aten::nonzero.default(gt);".to_string()),
        "{lines:?}"
    );
    assert_eq!(
        lines[lines.len() - 3],
        "let index: f32[u0, 2] = aten::index.Tensor(x, [select]);"
    );
    for (data, rows) in [
        (
            vec![1f32, 2.0, -3.0, -4.0, 5.0, 6.0],
            vec![1f32, 2.0, 5.0, 6.0],
        ),
        (vec![-1.0, -2.0, -3.0, -4.0, -5.0, -6.0], vec![]),
    ] {
        let x = Tensor::from_slice(&data).reshape([3, 2]);
        let eager = PositiveRows {}.forward(&x);
        let out = ep.module().call((x,)).expect("runs");
        assert_eq!(out[0].shape(), [rows.len() / 2, 2]);
        assert_eq!(out[0].to_vec::<f32>().unwrap(), rows);
        assert_eq!(eager.to_vec::<f32>().unwrap(), rows);
    }
}
