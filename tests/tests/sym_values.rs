//! SymInt and SymBool values as graph nodes, as PyTorch records them: sizes in op
//! arguments are `sym_size.int` / `_operator` nodes, a symbolic `cond` predicate is a
//! SymBool node; both runners evaluate them from the bound input sizes; they survive
//! `run_decompositions`, `ferrex::save` / `load` (as `as_sym_int` / `as_sym_bool` values)
//! and PyTorch's own archives load with them (`tests/data/pt2_sym/`, written by PyTorch
//! 2.15 with `gen_sym.py`).

use std::path::{Path, PathBuf};

use ferrex::prelude::*;

mod common;
use common::{body, joined, size_predicate_program};
use expect_test::expect;
use ferrex::{Dim, DynamicShapes, ExportedProgram, Exporter};

/// A fresh path in the temp dir, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(format!(
            "ferrex-sym-values-{}-{tag}.pt2",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn save_and_load(ep: &ExportedProgram, tag: &str) -> ExportedProgram {
    let path = TempPath::new(tag);
    ferrex::save(ep, &path.0).unwrap();
    ferrex::load(&path.0).unwrap()
}

fn pytorch_archive(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/pt2_sym/{name}.pt2"))
}

/// `(0..n).map(|i| i as f32 * scale)` as an `[rows, cols]` tensor.
fn ramp(rows: usize, cols: usize, scale: f32) -> (Tensor, Vec<f32>) {
    let v: Vec<f32> = (0..rows * cols).map(|i| i as f32 * scale).collect();
    (Tensor::from_vec(v.clone(), [rows, cols]), v)
}

#[export_module]
struct Resize {}

#[export_module]
impl Resize {
    fn forward(&self, x: &Tensor) -> Tensor {
        let n = x.size(0);
        let flat = x.reshape([n.clone() * 2, SymInt::Int(-1)]);
        let first = flat.slice(0, Some(1), Some(n.clone() + 1), 1);
        first + Tensor::arange(n - 1).sum()
    }
}

fn export_resize() -> ExportedProgram {
    Exporter::new(&Resize {}, (Tensor::randn([4, 6]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("n").min(2))]))
        .run()
        .unwrap()
}

/// `Resize` computed directly: rows 1..=n of `x` viewed as `[2n, 3]`, plus
/// `0 + 1 + … + (n - 2)`.
fn resize_expected(x: &[f32], n: usize) -> Vec<f32> {
    let offset: f32 = (0..n - 1).map(|i| i as f32).sum();
    x[3..3 + 3 * n].iter().map(|v| v + offset).collect()
}

#[test]
fn symbolic_sizes_in_arguments_are_sym_int_nodes_printed_as_pytorch_does() {
    let ep = export_resize();
    expect![[r#"
        fn forward(x: f32[s0, 6]) {
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let mul: Sym(2*s0) = sym_size_int * 2;
        let reshape: f32[2*s0, 3] = aten::reshape.default(x, [mul, -1]);
        let add: Sym(s0 + 1) = sym_size_int + 1;
        let slice_1: f32[s0, 3] = aten::slice.Tensor(reshape, 0, 1, add);
        let sub: Sym(s0 - 1) = sym_size_int - 1;
        let arange: i64[s0 - 1] = aten::arange.default(sub);
        let sum_1: i64[] = aten::sum.default(arange);
        let add_1: f32[s0, 3] = aten::add.Tensor(slice_1, sum_1);
        return (add_1,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))));
    // The size nodes print without a source line, like PyTorch's.
    assert!(ep
        .graph_code(0)
        .contains("    // No stacktrace found for following nodes\n    let sym_size_int"));
}

#[test]
fn both_runners_evaluate_sym_nodes_from_the_input_sizes() {
    let ep = export_resize();
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    for n in [2, 5] {
        let (x, data) = ramp(n, 6, 0.5);
        let want = resize_expected(&data, n);
        let eager = ep.module().call((x.copy(),)).unwrap();
        assert_eq!(eager[0].shape(), [n, 3]);
        assert_eq!(eager[0].to_vec::<f32>().unwrap(), want);
        let fast = compiled.call((x,)).unwrap();
        assert_eq!(fast[0].to_vec::<f32>().unwrap(), want);
    }
}

#[test]
fn run_decompositions_keeps_the_sym_nodes() {
    let core = export_resize().run_decompositions().unwrap();
    // Re-traced, the sizes are named again (one node per expression).
    expect![[r#"
        fn forward(x: f32[s0, 6]) {
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let mul: Sym(2*s0) = sym_size_int * 2;
        let view: f32[2*s0, 3] = aten::view.default(x, [mul, -1]);
        let add: Sym(s0 + 1) = sym_size_int + 1;
        let slice_1: f32[s0, 3] = aten::slice.Tensor(view, 0, 1, add);
        let sub: Sym(s0 - 1) = sym_size_int - 1;
        let arange: i64[s0 - 1] = aten::arange.start_step(0, sub);
        let sum_1: i64[] = aten::sum.dim_IntList(arange, []);
        let add_1: f32[s0, 3] = aten::add.Tensor(slice_1, sum_1);
        return (add_1,);
        }
    "#]]
    .assert_eq(&joined(&body(&core.graph_code(0))));
    let (x, data) = ramp(3, 6, 1.0);
    let out = core.module().call((x,)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), resize_expected(&data, 3));
}

#[test]
fn a_saved_program_keeps_its_sym_nodes() {
    let ep = export_resize();
    let loaded = save_and_load(&ep, "resize");
    assert_eq!(loaded.to_string(), ep.to_string());
    let (x, data) = ramp(4, 6, 0.25);
    let out = loaded.module().call((x,)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), resize_expected(&data, 4));
}

/// `x + y` (rows > 2) or `x - y`, row by row, computed directly.
fn cond_expected(x: &[f32], y: &[f32], rows: usize) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let w = y[i % y.len()];
            if rows > 2 {
                v + w
            } else {
                v - w
            }
        })
        .collect()
}

/// Runs `ep` at 2 and 5 rows with the interpreter and the compiled runtime.
fn check_cond_runs(ep: &ExportedProgram) {
    let compiled = ferrex_runtime::compile(ep).unwrap();
    let y = Tensor::from_vec(vec![10.0f32, 20.0], [2]);
    for rows in [2, 5] {
        let (x, data) = ramp(rows, 2, 1.0);
        let want = cond_expected(&data, &[10.0, 20.0], rows);
        let eager = ep.module().call((x.copy(), y.copy())).unwrap();
        assert_eq!(eager[0].to_vec::<f32>().unwrap(), want, "{rows} rows");
        let fast = compiled.call((x, y.copy())).unwrap();
        assert_eq!(fast[0].to_vec::<f32>().unwrap(), want, "{rows} rows");
    }
}

#[test]
fn a_symbolic_cond_predicate_is_a_sym_bool_node_in_every_form() {
    let ep = size_predicate_program();
    let forward = expect![[r#"
        fn forward(x: f32[s0, 2], y: f32[2]) {
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let gt: Sym(s0 > 2) = sym_size_int > 2;
        let cond = cond(gt, true_graph_0, false_graph_0, (x, y));
        let getitem: f32[s0, 2] = cond[0];
        return (getitem,);
        }
    "#]];
    forward.assert_eq(&joined(&body(&ep.graph_code(0))[..7]));
    check_cond_runs(&ep);
    let loaded = save_and_load(&ep, "cond");
    assert_eq!(loaded.to_string(), ep.to_string());
    check_cond_runs(&loaded);
    let core = ep.run_decompositions().unwrap();
    forward.assert_eq(&joined(&body(&core.graph_code(0))[..7]));
    check_cond_runs(&core);
}

#[test]
fn pytorch_sym_bool_predicates_load_and_run() {
    let path = pytorch_archive("symcond");
    let ep = ferrex::load(&path).unwrap();
    // PyTorch's node names and values, as PyTorch prints the program.
    expect![[r#"
        fn forward(x: f32[s77, 2], y: f32[2]) {
        let sym_size_int_1: Sym(s77) = aten::sym_size.int(x, 0);
        let gt: Sym(s77 > 2) = sym_size_int_1 > 2;
        let cond = cond(gt, true_graph_0, false_graph_0, (x, y));
        let getitem: f32[s77, 2] = cond[0];
        return (getitem,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))[..7]));
    check_cond_runs(&ep);
    let compiled = ferrex_runtime::load(&path).unwrap();
    let (x, data) = ramp(1, 2, 1.0);
    let out = compiled
        .call((x, Tensor::from_vec(vec![10.0f32, 20.0], [2])))
        .unwrap();
    assert_eq!(
        out[0].to_vec::<f32>().unwrap(),
        cond_expected(&data, &[10.0, 20.0], 1)
    );
    // Written back as PyTorch wrote it: `_operator.gt` on `as_sym_int`, its value an
    // `as_sym_bool` with its sympy relation, the predicate of `cond` that value.
    let json = serde_json::to_value(ferrex::serialize::pt2::program_json(&ep).unwrap()).unwrap();
    let graph = &json["graph_module"]["graph"];
    assert_eq!(
        graph["sym_bool_values"],
        serde_json::json!({"gt": {"as_expr": {
            "expr_str": "StrictGreaterThan(Symbol('s77', positive=True, integer=True), Integer(2))",
            "hint": null}}})
    );
    let gt = &graph["nodes"][1];
    assert_eq!(gt["target"], "_operator.gt");
    assert_eq!(
        gt["inputs"][0]["arg"],
        serde_json::json!({"as_sym_int": {"as_name": "sym_size_int_1"}})
    );
    assert_eq!(
        gt["outputs"],
        serde_json::json!([{"as_sym_bool": {"as_name": "gt"}}])
    );
    assert_eq!(
        graph["nodes"][2]["inputs"][0]["arg"],
        serde_json::json!({"as_sym_bool": {"as_name": "gt"}})
    );
    let again = save_and_load(&ep, "pytorch-cond");
    assert_eq!(again.to_string(), ep.to_string());
    check_cond_runs(&again);
}

#[test]
fn pytorch_sym_int_nodes_keep_their_names_through_save_and_load() {
    let ep = ferrex::load(pytorch_archive("symarith")).unwrap();
    expect![[r#"
        fn forward(x: f32[s77, 2]) {
        let sym_size_int_1: Sym(s77) = aten::sym_size.int(x, 0);
        let add: Sym(s77 + 1) = sym_size_int_1 + 1;
        let zeros: f32[s77 + 1, 3] = aten::zeros.default([add, 3], dtype=None, layout=None, device=None, pin_memory=False);
        let mul: Sym(2*s77) = sym_size_int_1 * 2;
        let reshape: f32[2*s77, 1] = aten::reshape.default(x, [mul, -1]);
        let sum_1: f32[] = aten::sum.default(reshape);
        let add_1: f32[s77 + 1, 3] = aten::add.Tensor(zeros, sum_1);
        return (add_1,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))));
    let again = save_and_load(&ep, "pytorch-arith");
    assert_eq!(again.to_string(), ep.to_string());
    // The SymInt values keep PyTorch's names and expressions.
    let json = serde_json::to_value(ferrex::serialize::pt2::program_json(&again).unwrap()).unwrap();
    let s77 = "Symbol('s77', positive=True, integer=True)";
    let value = |expr: String, hint: i64| serde_json::json!({"as_expr": {"expr_str": expr, "hint": {"as_int": hint}}});
    assert_eq!(
        json["graph_module"]["graph"]["sym_int_values"],
        serde_json::json!({
            "add": value(format!("Add(Integer(1), {s77})"), 5),
            "mul": value(format!("Mul(Integer(2), {s77})"), 8),
            "sym_size_int_1": value(s77.to_string(), 4),
        })
    );
    for rows in [1, 4] {
        let (x, data) = ramp(rows, 2, 1.0);
        let total: f32 = data.iter().sum();
        for program in [&ep, &again] {
            let out = program.module().call((x.copy(),)).unwrap();
            assert_eq!(out[0].shape(), [rows + 1, 3]);
            assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![total; (rows + 1) * 3]);
        }
    }
}

#[test]
fn run_decompositions_keeps_pytorchs_sym_node_names() {
    // PyTorch's core IR of this program keeps `sym_size_int_1`; a retrace would name it
    // `sym_size_int`.
    let core = ferrex::load(pytorch_archive("symarith"))
        .unwrap()
        .run_decompositions()
        .unwrap();
    let code = body(&core.graph_code(0));
    assert_eq!(
        code[1],
        "let sym_size_int_1: Sym(s77) = aten::sym_size.int(x, 0);"
    );
    assert_eq!(code[2], "let add: Sym(s77 + 1) = sym_size_int_1 + 1;");
    assert!(
        code.contains(&"let mul: Sym(2*s77) = sym_size_int_1 * 2;".to_string()),
        "{code:?}"
    );
}
