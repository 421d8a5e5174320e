//! `cond!`: data-dependent branches as one `cond` node with two subgraphs, and the
//! limits the tutorial lists, each checked.

use ferrex::cond;
use ferrex::prelude::*;

mod common;
use common::{body, joined, size_predicate_program, SizePredicate};
use expect_test::expect;
use ferrex::program::InputKind;

#[export_module]
struct Bad1Fixed {}

#[export_module]
impl Bad1Fixed {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

#[test]
fn cond_exports_one_node_with_two_subgraphs() {
    let ep = ferrex::export(&Bad1Fixed {}, (Tensor::randn([3, 3]),)).unwrap();
    expect![[r#"
        fn forward(x: f32[3, 3]) {
        let sum_1: f32[] = aten::sum.default(x);
        let gt: bool[] = aten::gt.Scalar(sum_1, 0.0);
        let cond = cond(gt, true_graph_0, false_graph_0, (x,));
        let getitem: f32[3, 3] = cond[0];
        return (getitem,);
        }
        fn true_graph_0(x: f32[3, 3]) {
        let sin: f32[3, 3] = aten::sin.default(x);
        return (sin,);
        }
        fn false_graph_0(x: f32[3, 3]) {
        let cos: f32[3, 3] = aten::cos.default(x);
        return (cos,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))));
    let ones = ep.module().call((Tensor::ones([3, 3]),)).unwrap();
    assert_eq!(ones[0].to_vec::<f32>().unwrap(), vec![1f32.sin(); 9]);
    let minus = ep.module().call((Tensor::full([3, 3], -1.0),)).unwrap();
    assert_eq!(minus[0].to_vec::<f32>().unwrap(), vec![(-1f32).cos(); 9]);
}

#[test]
fn cond_runs_eagerly() {
    let m = Bad1Fixed {};
    assert_eq!(
        m.forward(&Tensor::ones([2])).to_vec::<f32>().unwrap(),
        vec![1f32.sin(); 2]
    );
    assert_eq!(
        m.forward(&Tensor::full([2], -1.0)).to_vec::<f32>().unwrap(),
        vec![(-1f32).cos(); 2]
    );
}

#[export_module]
struct WithParams {
    lin: nn::Linear,
    #[buffer]
    scale: Tensor,
}

#[export_module]
impl WithParams {
    fn forward(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let bias = y * 2.0;
        cond!(
            x.mean().gt(0.0),
            |x| (self.lin.forward(&x), x.mul(&self.scale)),
            |x| (self.lin.forward(&x).neg(), x.add(&bias)),
            [x]
        )
    }
}

#[test]
fn branches_capture_parameters_and_outer_values_as_operands() {
    let m = WithParams {
        lin: nn::Linear::new(4, 4),
        scale: Tensor::full([4], 3.0),
    };
    let ep = ferrex::export(&m, (Tensor::ones([2, 4]), Tensor::ones([4]))).unwrap();
    let code = ep.graph_code(0);
    // Operands: x, then what either branch read from outside, in first-use order.
    assert!(
        code.contains("let cond = cond(gt, true_graph_0, false_graph_0, (x, p_lin_weight, p_lin_bias, b_scale, mul));"),
        "{code}"
    );
    assert!(
        code.contains("fn true_graph_0(x: f32[2, 4], p_lin_weight: f32[4, 4], p_lin_bias: f32[4], b_scale: f32[4], mul: f32[4]) {"),
        "{code}"
    );
    assert!(
        code.contains("let getitem_1: f32[2, 4] = cond[1];"),
        "{code}"
    );
    let kinds: Vec<InputKind> = ep
        .graph_signature()
        .input_specs
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            InputKind::Parameter,
            InputKind::Parameter,
            InputKind::Buffer,
            InputKind::UserInput,
            InputKind::UserInput
        ]
    );
    for sign in [1.0, -1.0] {
        let x = Tensor::full([2, 4], sign);
        let y = Tensor::randn([4]);
        let (a, b) = m.forward(&x, &y);
        let out = ep.module().call((x, y)).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
        assert_eq!(out[1].to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    }
}

#[export_module]
struct Mismatch {}

const MISMATCH_LINE: u32 = line!() + 5;

#[export_module]
impl Mismatch {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(
            x.sum().gt(0.0),
            |x| x.sin(),
            |x| x.sum_dim(&[0], false),
            [x]
        )
    }
}

#[test]
fn branches_must_agree_on_metadata() {
    let err = ferrex::export(&Mismatch {}, (Tensor::ones([3, 2]),)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "export failed while tracing forward: cond at tests/tests/control_flow.rs:{MISMATCH_LINE}:9: both \
             branches must return tensors with the same metadata, but the true branch returns \
             (f32[3, 2]) and the false branch returns (f32[2])"
        )
    );
}

#[export_module]
struct BadPred {}

#[export_module]
impl BadPred {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.gt(0.0), |x| x.sin(), |x| x.cos(), [x])
    }
}

#[export_module]
struct Mutates {}

#[export_module]
impl Mutates {
    fn forward(&self, x: &Tensor) -> Tensor {
        cond!(x.sum().gt(0.0), |x| x.add_(1.0), |x| x.cos(), [x])
    }
}

#[test]
fn predicates_have_one_element_and_branches_do_not_mutate() {
    let err = ferrex::export(&BadPred {}, (Tensor::ones([3]),))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the predicate must be a tensor with one element, got [3]"),
        "{err}"
    );
    let err = ferrex::export(&Mutates {}, (Tensor::ones([3]),))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the true branch mutates its operand 0; branches may not mutate their inputs"),
        "{err}"
    );
}

#[export_module]
struct ShapePredicate {}

#[export_module]
impl ShapePredicate {
    fn forward(&self, x: &Tensor) -> Tensor {
        let pred = x.dim() > 2 && x.size(2) > 10;
        cond!(pred, |x| x.cos(), |y| y.sin(), [x])
    }
}

#[test]
fn a_bool_predicate_picks_the_branch_at_export_time() {
    // ExportDB's cond_predicate: the shapes decide, so only the taken branch is traced.
    let ep = ferrex::export(&ShapePredicate {}, (Tensor::randn([6, 4, 3]),)).unwrap();
    assert_eq!(ep.op_targets(), ["aten::sin.default"]);
    assert!(ep.graph().subgraphs.is_empty());
}

#[export_module]
struct MapAdd {}

#[export_module]
impl MapAdd {
    fn forward(&self, xs: &Tensor, y: &Tensor) -> Tensor {
        ferrex::map!(|x, y| x + y, xs, [y])
    }
}

#[test]
fn map_exports_one_node_with_a_body_subgraph() {
    // ExportDB's dynamic_shape_map, as PyTorch prints it (names included).
    let ep = ferrex::export(&MapAdd {}, (Tensor::randn([3, 2]), Tensor::randn([2]))).unwrap();
    expect![[r#"
        fn forward(xs: f32[3, 2], y: f32[2]) {
        let map_impl = map_impl(body_graph_0, [xs], [y]);
        let getitem: f32[3, 2] = map_impl[0];
        return (getitem,);
        }
        fn body_graph_0(xs: f32[2], y: f32[2]) {
        let add: f32[2] = aten::add.Tensor(xs, y);
        return (add,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))));
    let xs = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]);
    let y = Tensor::from_slice(&[10.0f32, 20.0]);
    let out = ep.module().call((xs.copy(), y.copy())).unwrap();
    assert_eq!(
        out[0].to_vec::<f32>().unwrap(),
        [11.0, 22.0, 13.0, 24.0, 15.0, 26.0]
    );
    assert_eq!(
        MapAdd {}.forward(&xs, &y).to_vec::<f32>().unwrap(),
        [11.0, 22.0, 13.0, 24.0, 15.0, 26.0]
    );
}

#[test]
fn map_over_a_dynamic_dim_keeps_it_symbolic() {
    use ferrex::{Dim, DynamicShapes, Exporter};
    let ep = Exporter::new(&MapAdd {}, (Tensor::randn([3, 2]), Tensor::randn([2])))
        .dynamic_shapes(DynamicShapes::new().input("xs", [(0, Dim::new("n"))]))
        .run()
        .unwrap();
    assert!(ep
        .graph_code(0)
        .contains("let getitem: f32[s0, 2] = map_impl[0];"));
    let out = ep
        .module()
        .call((Tensor::ones([5, 2]), Tensor::ones([2])))
        .unwrap();
    assert_eq!(out[0].shape(), [5, 2]);
    // After decomposition the node and its body survive.
    let core = ep.run_decompositions().unwrap();
    assert_eq!(core.graph().subgraphs.len(), 1);
}

#[export_module]
struct NoOperands {}

#[export_module]
impl NoOperands {
    fn forward(&self, x: &Tensor) -> Tensor {
        let one = Tensor::ones([2]);
        cond!(x.sum().gt(0.0), || one.clone(), || one.neg(), [])
    }
}

#[test]
fn cond_without_operands() {
    let ep = ferrex::export(&NoOperands {}, (Tensor::ones([3]),)).unwrap();
    let out = ep.module().call((Tensor::full([3], -1.0),)).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), [-1.0, -1.0]);
}

#[test]
fn a_symbolic_size_predicate_keeps_both_branches() {
    // ExportDB's cond_operands: the predicate stays symbolic instead of a guard.
    let ep = size_predicate_program();
    // PyTorch's program for this model: the predicate is a SymBool value.
    expect![[r#"
        fn forward(x: f32[s0, 2], y: f32[2]) {
        let sym_size_int: Sym(s0) = aten::sym_size.int(x, 0);
        let gt: Sym(s0 > 2) = sym_size_int > 2;
        let cond = cond(gt, true_graph_0, false_graph_0, (x, y));
        let getitem: f32[s0, 2] = cond[0];
        return (getitem,);
        }
        fn true_graph_0(x: f32[s0, 2], y: f32[2]) {
        let add: f32[s0, 2] = aten::add.Tensor(x, y);
        return (add,);
        }
        fn false_graph_0(x: f32[s0, 2], y: f32[2]) {
        let sub: f32[s0, 2] = aten::sub.Tensor(x, y);
        return (sub,);
        }
    "#]]
    .assert_eq(&joined(&body(&ep.graph_code(0))));
    let big = ep
        .module()
        .call((Tensor::ones([4, 2]), Tensor::ones([2])))
        .unwrap();
    assert_eq!(big[0].to_vec::<f32>().unwrap(), [2.0; 8]);
    let small = ep
        .module()
        .call((Tensor::ones([2, 2]), Tensor::ones([2])))
        .unwrap();
    assert_eq!(small[0].to_vec::<f32>().unwrap(), [0.0; 4]);
    // Static sizes: the comparison is known, the branch picked at export time.
    let ep = ferrex::export(
        &SizePredicate {},
        (Tensor::randn([3, 2]), Tensor::randn([2])),
    )
    .unwrap();
    assert_eq!(ep.op_targets(), ["aten::add.Tensor"]);
}
