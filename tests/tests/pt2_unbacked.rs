//! PyTorch 2.15 archives holding values read from tensor data (`tests/data/pt2_unbacked/`,
//! see its README): `item()` / `nonzero` give an unbacked `u0`, checked at run time by
//! `_assert_scalar` on `_operator` SymBool nodes. Both loaders read them in both IRs,
//! both runners reproduce PyTorch's outputs on every input set, an input outside the
//! checked range fails with PyTorch's message, and each program saves and loads again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;

use common::pt2_io::{io_file, leaves, max_diff};
use ferrex::{ExportedProgram, Tensor};

const ATOL: f64 = 1e-5;

/// `(program, input sets)`.
const PROGRAMS: &[(&str, &[&str])] = &[
    ("constrain_as_size", &["", "b_", "c_"]),
    ("constrain_as_value", &["", "b_"]),
    ("nonzero", &["", "b_"]),
    ("item_arith", &["", "b_"]),
];

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/pt2_unbacked/{file}"))
}

fn io(name: &str) -> HashMap<String, Tensor> {
    io_file(&data(&format!("{name}.io.safetensors")))
}

/// Runs every input set of `name` on `ep` (interpreter) and its compiled form, against
/// PyTorch's outputs.
fn check_against_pytorch(name: &str, sets: &[&str], ep: &ExportedProgram) {
    let io = io(name);
    let compiled = ferrex_runtime::compile(ep).unwrap();
    for prefix in sets {
        let inputs: Vec<Tensor> = (0..ep.arg_names().len())
            .map(|i| io[&format!("{prefix}in{i}")].clone())
            .collect();
        let want = &io[&format!("{prefix}out0")];
        let got = ep.module().call_flat(&leaves(ep, &inputs)).unwrap();
        assert!(
            max_diff(&got[0], want, name) <= ATOL,
            "{name} [{prefix}] interpreter"
        );
        let got = compiled.call_flat(&leaves(ep, &inputs)).unwrap();
        assert!(
            max_diff(&got[0], want, name) <= ATOL,
            "{name} [{prefix}] compiled"
        );
    }
}

#[test]
fn pytorch_unbacked_programs_run_in_both_irs_with_both_runners() {
    for (name, sets) in PROGRAMS {
        for ir in ["", ".core"] {
            let file = data(&format!("{name}{ir}.pt2"));
            let ep = ferrex::load(&file).unwrap_or_else(|e| panic!("{e}"));
            check_against_pytorch(name, sets, &ep);
            // The runtime's own loader reads it too.
            let io = io(name);
            let inputs: Vec<Tensor> = (0..ep.arg_names().len())
                .map(|i| io[&format!("in{i}")].clone())
                .collect();
            let loaded = ferrex_runtime::load(&file).unwrap_or_else(|e| panic!("{e}"));
            let got = loaded.call_flat(&leaves(&ep, &inputs)).unwrap();
            assert!(max_diff(&got[0], &io["out0"], name) <= ATOL, "{name}{ir}");
        }
    }
}

#[test]
fn the_programs_keep_pytorchs_nodes_and_range_constraints() {
    let ep = ferrex::load(data("constrain_as_size.pt2")).unwrap();
    let code = ep.graph_code(0);
    for line in [
        "let item: Sym(u0) = aten::item.default(x);",
        "let ge_1: Sym(u0 >= 0) = item >= 0;",
        "let le_1: Sym(u0 <= 5) = item <= 5;",
        "let zeros: f32[u0, 5] = aten::zeros.default([item, 5], dtype=None, layout=None, \
         device=None, pin_memory=False);",
        "let _assert_scalar_default_1: () = aten::_assert_scalar.default(le_1, \"Runtime \
         assertion failed for expression u0 <= 5 on node 'le_1'\");",
    ] {
        assert!(code.contains(line), "{line}\n{code}");
    }
    assert_eq!(ep.range_constraints().to_string(), "{u0: VR[0, 5]}");
    let core = ferrex::load(data("constrain_as_size.core.pt2")).unwrap();
    assert!(core
        .graph_code(0)
        .contains("let _local_scalar_dense: Sym(u0) = aten::_local_scalar_dense.default(x);"));
}

#[test]
fn a_value_outside_the_checked_range_fails_with_pytorchs_message() {
    for ir in ["", ".core"] {
        let file = data(&format!("constrain_as_size{ir}.pt2"));
        let ep = ferrex::load(&file).unwrap();
        let x = [Tensor::scalar(6i64)];
        let err = ep.module().call_flat(&leaves(&ep, &x)).unwrap_err();
        assert!(
            err.to_string()
                .contains("Runtime assertion failed for expression u0 <= 5 on node 'le_1'"),
            "{err}"
        );
        let compiled = ferrex_runtime::compile(&ep).unwrap();
        let err = compiled.call_flat(&leaves(&ep, &x)).unwrap_err();
        assert!(
            err.to_string()
                .contains("Runtime assertion failed for expression u0 <= 5 on node 'le_1'"),
            "{err}"
        );
    }
}

#[test]
fn unbacked_programs_save_and_load_again() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for (name, sets) in PROGRAMS {
        for ir in ["", ".core"] {
            let ep = ferrex::load(data(&format!("{name}{ir}.pt2"))).unwrap();
            let path = dir.join(format!("unbacked_again_{name}{ir}.pt2"));
            ferrex::save(&ep, &path).unwrap_or_else(|e| panic!("{name}{ir}: {e}"));
            let back = ferrex::load(&path).unwrap_or_else(|e| panic!("{name}{ir}: {e}"));
            assert_eq!(back.graph_code(0), ep.graph_code(0), "{name}{ir}");
            assert_eq!(
                back.range_constraints().to_string(),
                ep.range_constraints().to_string()
            );
            check_against_pytorch(name, sets, &back);
        }
    }
}
