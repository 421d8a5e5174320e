//! Dynamic shapes, as the tutorial's "Constraints/Dynamic Shapes" section uses them:
//! symbolic sizes in the graph, range constraints, run-time guards, shared and derived
//! dims, constraint violations with suggested fixes.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, ExportError, Exporter, RunError};

mod common;
use common::normalize_lines;
use expect_test::expect;

/// The 1-based line of this file whose code (trimmed) is `code`.
fn line_of(code: &str) -> usize {
    include_str!("dynamic_shapes.rs")
        .lines()
        .position(|l| l.trim() == code)
        .map_or(0, |i| i + 1)
}

#[export_module]
struct SliceRelu {}

#[export_module]
impl SliceRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.slice_from(1, 2).relu()
    }
}

#[export_module]
struct MatMul {}

#[export_module]
impl MatMul {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x.matmul(y)
    }
}

#[export_module]
struct Derived2 {}

#[export_module]
impl Derived2 {
    fn forward(&self, z: &Tensor, y: &Tensor) -> Tensor {
        z.slice_from(0, 1) + y.slice(0, Some(1), None::<i64>, 3)
    }
}

#[export_module]
struct Branchy {}

#[export_module]
impl Branchy {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        if x.size(0) <= 16 {
            return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));
        }
        y.clone()
    }
}

fn slice_relu_program() -> ferrex::ExportedProgram {
    let shapes = DynamicShapes::new().input(
        "x",
        [
            (0, Dim::new("inp1_dim0")),
            (1, Dim::new("inp1_dim1").min(4).max(18)),
        ],
    );
    Exporter::new(&SliceRelu {}, (Tensor::randn([10, 10, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap()
}

#[test]
fn symbolic_sizes_flow_through_the_graph() {
    let ep = slice_relu_program();
    let code = ep.graph_code(0);
    assert!(
        code.starts_with("fn forward(x: f32[s0, s1, 2]) {"),
        "{code}"
    );
    assert!(
        code.contains("let slice_1: f32[s0, s1 - 2, 2] = aten::slice.Tensor(x, 1, 2);"),
        "{code}"
    );
    assert!(
        code.contains("let relu: f32[s0, s1 - 2, 2] = aten::relu.default(slice_1);"),
        "{code}"
    );
    assert_eq!(
        ep.range_constraints().to_string(),
        "{s0: VR[0, int_oo], s1: VR[4, 18]}"
    );
}

#[test]
fn guards_are_checked_when_the_program_runs() {
    let ep = slice_relu_program();
    let out = ep.module().call((Tensor::randn([5, 5, 2]),)).unwrap();
    assert_eq!(out[0].shape(), [5, 3, 2]);
    let err = |shape: [usize; 3]| {
        ep.module()
            .call((Tensor::randn(shape),))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err([8, 1, 2]), "Guard failed: x.size()[1] >= 4, but got 1");
    assert_eq!(
        err([8, 20, 2]),
        "Guard failed: x.size()[1] <= 18, but got 20"
    );
    assert_eq!(err([8, 8, 3]), "Guard failed: x.size()[2] == 2, but got 3");
    // Data is right too: relu of the slice.
    let x = Tensor::randn([3, 6, 2]);
    let got = ep.module().call((x.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    let mut want = Vec::new();
    for i in 0..3 {
        for j in 2..6 {
            for k in 0..2 {
                want.push(xs[i * 12 + j * 2 + k].max(0.0));
            }
        }
    }
    assert_eq!(got, want);
}

#[test]
fn shared_dims_are_one_symbol() {
    let inner = Dim::new("inner_dim");
    let shapes = DynamicShapes::new()
        .input("x", [(0, Dim::new("inp2_dim0")), (1, inner.clone())])
        .input("y", [(0, inner), (1, Dim::new("inp3_dim1"))]);
    let ep = Exporter::new(&MatMul {}, (Tensor::randn([4, 8]), Tensor::randn([8, 2])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    assert!(ep
        .graph_code(0)
        .starts_with("fn forward(x: f32[s0, s1], y: f32[s1, s2]) {"));
    assert!(ep
        .graph_code(0)
        .contains("let matmul: f32[s0, s2] = aten::matmul.default(x, y);"));
    let out = ep
        .module()
        .call((Tensor::randn([2, 16]), Tensor::randn([16, 4])))
        .unwrap();
    assert_eq!(out[0].shape(), [2, 4]);
    let err = ep
        .module()
        .call((Tensor::randn([4, 8]), Tensor::randn([4, 2])))
        .unwrap_err();
    assert!(matches!(err, RunError::Guard { .. }));
    assert_eq!(
        err.to_string(),
        "Guard failed: y.size()[0] == x.size()[1], but got 4 and 8"
    );
}

#[test]
fn derived_dims_are_affine_in_one_symbol() {
    let dx = Dim::new("dx").min(3).max(6);
    let shapes = DynamicShapes::new()
        .input("z", [(0, &dx + 1)])
        .input("y", [(0, &dx * 3 + 1)]);
    let ep = Exporter::new(&Derived2 {}, (Tensor::randn([4]), Tensor::randn([10])))
        .dynamic_shapes(shapes)
        .run()
        .unwrap();
    let code = ep.graph_code(0);
    assert!(
        code.starts_with("fn forward(z: f32[s0 + 1], y: f32[3*s0 + 1]) {"),
        "{code}"
    );
    assert!(
        code.contains("let slice_2: f32[s0] = aten::slice.Tensor(y, 0, 1, None, 3);"),
        "{code}"
    );
    assert_eq!(
        ep.range_constraints().to_string(),
        "{s0 + 1: VR[4, 7], 3*s0 + 1: VR[10, 19], s0: VR[3, 6]}"
    );
    let out = ep
        .module()
        .call((Tensor::randn([7]), Tensor::randn([19])))
        .unwrap();
    assert_eq!(out[0].shape(), [6]);
    let err = ep
        .module()
        .call((Tensor::randn([4]), Tensor::randn([11])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Guard failed: y.size()[0] == 3*z.size()[0] - 2, but got 11 and 10"
    );
    let err = ep
        .module()
        .call((Tensor::randn([8]), Tensor::randn([22])))
        .unwrap_err();
    assert_eq!(err.to_string(), "Guard failed: z.size()[0] <= 7, but got 8");
}

#[test]
fn constraint_violations_come_with_suggested_fixes() {
    let all = |name: &str| -> Vec<(usize, Dim)> {
        (0..2)
            .map(|i| (i, Dim::new(format!("{name}_dim{i}"))))
            .collect()
    };
    let shapes = DynamicShapes::new()
        .input("x", all("inp4"))
        .input("y", all("inp5"));
    let err = Exporter::new(
        &Branchy {},
        (Tensor::randn([8, 16]), Tensor::randn([16, 32])),
    )
    .dynamic_shapes(shapes)
    .run()
    .unwrap_err();
    assert!(matches!(err, ExportError::ConstraintViolation { .. }));
    assert_eq!(
        err.to_string(),
        "Constraints violated (inp4_dim0, inp5_dim0, inp5_dim1)! For more information, run with FERREX_LOG=\"+dynamic\".
  - The values of inp5_dim0 = y.size()[0] and inp4_dim1 = x.size()[1] must always be equal.
  - Not all values of inp4_dim0 = x.size()[0] in the specified range [0, int_oo] satisfy the generated guard x.size()[0] <= 16.
  - Not all values of inp5_dim1 = y.size()[1] in the specified range [0, int_oo] satisfy the generated guard 16 <= y.size()[1].
Suggested fixes:
  let inp5_dim0 = inp4_dim1.clone();
  let inp4_dim0 = Dim::new(\"inp4_dim0\").max(16);
  let inp5_dim1 = Dim::new(\"inp5_dim1\").min(16);"
    );

    // Following the fixes, the export succeeds and the branch taken is sound.
    let shared = Dim::new("shared_dim");
    let fixed = DynamicShapes::new()
        .input(
            "x",
            [(0, Dim::new("inp4_dim0").max(16)), (1, shared.clone())],
        )
        .input("y", [(0, shared), (1, Dim::new("inp5_dim1").min(16))]);
    let ep = Exporter::new(
        &Branchy {},
        (Tensor::randn([8, 16]), Tensor::randn([16, 32])),
    )
    .dynamic_shapes(fixed)
    .run()
    .unwrap();
    assert_eq!(
        ep.range_constraints().to_string(),
        "{s0: VR[0, 16], s1: VR[0, int_oo], s2: VR[16, int_oo]}"
    );
    let out = ep
        .module()
        .call((Tensor::randn([4, 32]), Tensor::randn([32, 64])))
        .unwrap();
    assert_eq!(out[0].shape(), [4, 16]);
    let err = ep
        .module()
        .call((Tensor::randn([20, 32]), Tensor::randn([32, 64])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Guard failed: x.size()[0] <= 16, but got 20"
    );
}

#[test]
fn specialising_a_dynamic_dim_is_a_violation() {
    #[export_module]
    struct Specialises {}

    #[export_module]
    impl Specialises {
        fn forward(&self, x: &Tensor) -> Tensor {
            // Forcing a concrete shape specialises the dim to its example value.
            let n = x.shape()[0];
            x.reshape([n as i64, -1])
        }
    }

    let err = Exporter::new(&Specialises {}, (Tensor::randn([8, 4]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("batch"))]))
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Constraints violated (batch)! For more information, run with FERREX_LOG=\"+dynamic\".
  - batch = x.size()[0] was marked dynamic, but the program specialised it to the constant 8 (guard x.size()[0] == 8 and 4*x.size()[0] == 32).
Suggested fixes:
  // batch: drop it from dynamic_shapes; the program needs it to be 8"
    );
}

#[test]
fn bad_specifications_are_errors() {
    let shapes = DynamicShapes::new().input("z", [(0, Dim::new("d"))]);
    let err = Exporter::new(&SliceRelu {}, (Tensor::randn([10, 10, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "export failed: dynamic_shapes names `z`, which is not an input (inputs: x)"
    );

    let shapes = DynamicShapes::new().input("x", [(0, Dim::new("d").min(11))]);
    let err = Exporter::new(&SliceRelu {}, (Tensor::randn([10, 10, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "export failed: x.size()[0] = 10: `d` = 10 is not in its range [11, int_oo]"
    );

    let shapes = DynamicShapes::new().input("x", [(3, Dim::new("d"))]);
    let err = Exporter::new(&SliceRelu {}, (Tensor::randn([10, 10, 2]),))
        .dynamic_shapes(shapes)
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "export failed: dynamic_shapes gives dim 3 of `x`, which has only 3 dims"
    );
}

#[test]
fn symbolic_sizes_build_tensors_and_are_outputs() {
    #[export_module]
    struct Sizes {}

    #[export_module]
    impl Sizes {
        fn forward(&self, x: &Tensor) -> (Tensor, SymInt) {
            let n = x.size(0);
            (Tensor::zeros([n.clone() * 2]), n + 1)
        }
    }

    let ep = Exporter::new(&Sizes {}, (Tensor::randn([3, 2]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    // The sizes in arguments and outputs are SymInt values, as PyTorch records them
    // (with no stack trace for a size returned, as PyTorch's `scalar_output` case).
    let code = ep.graph_code(0);
    let at = format!(
        "// File: tests/tests/dynamic_shapes.rs:{} in Sizes::forward,",
        line_of("(Tensor::zeros([n.clone() * 2]), n + 1)")
    );
    assert!(code.contains(&at), "{at} in\n{code}");
    expect![[r#"
        fn forward(x: f32[s0, 2]) {
            // No stacktrace found for following nodes
            let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);

            // File: tests/tests/dynamic_shapes.rs:LINE in Sizes::forward, code: (Tensor::zeros([n.clone() * 2]), n + 1)
            let mul: Sym(2*s0) = sym_size_int * 2;
            let zeros: f32[2*s0] = aten::zeros.default([mul]);

            // No stacktrace found for following nodes
            let add: Sym(s0 + 1) = sym_size_int + 1;
            return (zeros, add);
        }
    "#]]
    .assert_eq(&normalize_lines(&code));
    // The size returned is the SymInt node `add`, as in PyTorch's signature.
    assert!(
        ep.to_string()
            .contains("    # outputs\n    zeros: USER_OUTPUT\n    add: USER_OUTPUT\n"),
        "{ep}"
    );
    let out = ep.module().call((Tensor::randn([5, 2]),)).unwrap();
    assert_eq!(out[0].shape(), [10]);
    assert_eq!(out[1].item::<i64>().unwrap(), 6);
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    let out = compiled.call((Tensor::randn([7, 2]),)).unwrap();
    assert_eq!(out[0].shape(), [14]);
    assert_eq!(out[1].item::<i64>().unwrap(), 8);
}

#[test]
fn a_size_can_be_an_operand_and_stays_symbolic() {
    #[export_module]
    struct AddLen {}

    #[export_module]
    impl AddLen {
        fn forward(&self, x: &Tensor) -> Tensor {
            x + x.size(0)
        }
    }

    let ep = Exporter::new(&AddLen {}, (Tensor::zeros([3]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    let code = ep.graph_code(0);
    let at = format!(
        "// File: tests/tests/dynamic_shapes.rs:{} in AddLen::forward,",
        line_of("x + x.size(0)")
    );
    assert!(code.contains(&at), "{at} in\n{code}");
    expect![[r#"
        fn forward(x: f32[s0]) {
            // No stacktrace found for following nodes
            let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);

            // File: tests/tests/dynamic_shapes.rs:LINE in AddLen::forward, code: x + x.size(0)
            let add: f32[s0] = aten::add.Tensor(x, sym_size_int);
            return (add,);
        }
    "#]]
    .assert_eq(&normalize_lines(&code));
    let out = ep.module().call((Tensor::zeros([5]),)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [5.0; 5]);
}

#[test]
fn every_guard_that_narrows_a_dim_is_reported() {
    #[export_module]
    struct NarrowsTwice {}

    #[export_module]
    impl NarrowsTwice {
        fn forward(&self, x: &Tensor) -> Tensor {
            if x.size(0) != 16 && x.size(0) >= 2 {
                return x.sin();
            }
            x.cos()
        }
    }

    let err = Exporter::new(&NarrowsTwice {}, (Tensor::randn([8]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("batch"))]))
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Constraints violated (batch)! For more information, run with FERREX_LOG=\"+dynamic\".
  - Not all values of batch = x.size()[0] in the specified range [0, int_oo] satisfy the generated guard 2 <= x.size()[0].
  - Not all values of batch = x.size()[0] in the specified range [0, int_oo] satisfy the generated guard x.size()[0] != 16.
Suggested fixes:
  let batch = Dim::new(\"batch\").min(2);"
    );
}

#[test]
fn a_dim_narrowed_at_both_ends_is_reported_as_one_range() {
    #[export_module]
    struct Window {}

    #[export_module]
    impl Window {
        fn forward(&self, x: &Tensor) -> Tensor {
            // Two guards on one dim, `x.size()[0] > 2` and `2*x.size()[0] <= 33`: the range
            // they leave is [3, 16].
            if x.size(0) > 2 && x.size(0) * 2 <= 33 {
                return x.sin();
            }
            x.cos()
        }
    }

    let err = Exporter::new(&Window {}, (Tensor::randn([8]),))
        .dynamic_shapes(DynamicShapes::new().input("x", [(0, Dim::new("batch").max(64))]))
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Constraints violated (batch)! For more information, run with FERREX_LOG=\"+dynamic\".
  - Not all values of batch = x.size()[0] in the specified range [0, 64] satisfy the generated guard 3 <= x.size()[0] and x.size()[0] <= 16.
Suggested fixes:
  let batch = Dim::new(\"batch\").min(3).max(16);"
    );
}
