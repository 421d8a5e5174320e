//! Custom ops: registered with schema, meta and implementation, they trace as one node,
//! run eagerly and in the exported program, and decompose when given a decomposition.

use ferrex::error::OpError;
use ferrex::ops::{custom_op, OpArgs, OpDef};
use ferrex::prelude::*;
use ferrex::tensor::TensorMeta;
use std::sync::OnceLock;

fn same_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn scaled_relu(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![args.tensor(0)?.relu().mul(args.float(1)?)])
}

fn scaled_relu_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    scaled_relu(args)
}

fn op() -> &'static OpDef {
    static OP: OnceLock<&'static OpDef> = OnceLock::new();
    OP.get_or_init(|| {
        custom_op("testlib::scaled_relu(Tensor x, float scale=2.0) -> Tensor")
            .meta(same_meta)
            .implementation(scaled_relu)
            .decomposition(scaled_relu_decomposition)
            .register()
            .expect("registers once")
    })
}

#[export_module(strict = false)]
struct UsesCustom {}

#[export_module(strict = false)]
impl UsesCustom {
    fn forward(&self, x: &Tensor) -> Tensor {
        op().call(&[&x.sin()]).cos()
    }
}

#[test]
fn a_custom_op_traces_as_one_node_and_runs() {
    let ep = ferrex::export(&UsesCustom {}, (Tensor::randn([3, 3]),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::sin.default",
            "testlib::scaled_relu.default",
            "aten::cos.default"
        ]
    );
    assert!(ep
        .graph_code(0)
        .contains("let scaled_relu: f32[3, 3] = testlib::scaled_relu.default(sin);"));
    let x = Tensor::from_vec(vec![-1.0f32, 0.5, 2.0], [3]);
    let want: Vec<f32> = [-1.0f32, 0.5, 2.0]
        .iter()
        .map(|v| (v.sin().max(0.0) * 2.0).cos())
        .collect();
    let eager = UsesCustom {}.forward(&x).to_vec::<f32>().unwrap();
    let exported = ep.module().call((x.reshape([3]).copy(),)).unwrap_err();
    // Static shapes: [3] is not [3, 3].
    assert_eq!(
        exported.to_string(),
        "input `x`: expected 2 dimensions, got 1"
    );
    for (a, b) in eager.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    let x2 = Tensor::randn([3, 3]);
    let a = ep.module().call((x2.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let b = UsesCustom {}.forward(&x2).to_vec::<f32>().unwrap();
    assert_eq!(a, b);
    // Its decomposition replaces it.
    let core = ep.run_decompositions().unwrap();
    assert_eq!(
        core.op_targets(),
        [
            "aten::sin.default",
            "aten::relu.default",
            "aten::mul.Tensor",
            "aten::cos.default"
        ]
    );
}

#[test]
fn registration_errors_are_reported() {
    let err = custom_op("no_namespace(Tensor x) -> Tensor")
        .meta(same_meta)
        .implementation(scaled_relu)
        .register()
        .unwrap_err();
    assert!(err.0.contains("needs a namespace"), "{err}");
    let err = custom_op("testlib::no_meta(Tensor x) -> Tensor")
        .implementation(scaled_relu)
        .register()
        .unwrap_err();
    assert_eq!(
        err.0,
        "custom op `testlib::no_meta(Tensor x) -> Tensor` needs a meta function (.meta(…))"
    );
    let _ = op();
    let err = custom_op("testlib::scaled_relu(Tensor x, float scale=2.0) -> Tensor")
        .meta(same_meta)
        .implementation(scaled_relu)
        .register()
        .unwrap_err();
    assert_eq!(
        err.0,
        "an op named `testlib::scaled_relu.default` is already registered"
    );
}
